"""The chat-mini evaluator: CORE-mini from the judge's counts (the judge ran in its own process,
as another user than the recipe, and sent the recipe's model server candidates without saying
which was gold), centered per task by its random baseline and averaged, as nanochat's CORE is.

Priority, first match wins:
  1. disqualified          a forbidden behaviour was reported (held-out tasks, network, ...)
  2. preflight_crash       the smoke run (3 steps, a checkpoint) failed
  3. train_budget_overrun  training used more CPU than the cap
  4. eval_budget_overrun   the eval phase used more CPU than its budget
  5. crash                 train or eval failed, or wrote no results
  6. disqualified          the checkpoint's depth is not the fixed depth, or the served
                           distributions are not normalized or not causal
  7. valid                 score = CORE-mini (higher is better)
"""

from __future__ import annotations

from pathlib import Path

from environments.chat_mini.prepare import RANDOM_BASELINE
from environments.spec import Tier
from evaluators.verdict import (
    SINGLE_PROCESS_FORBIDDEN,
    budget_check,
    clock_check,
    early_verdict,
    judged,
    judged_repeats,
    phases_ran,
    probe_checks,
    refused,
    self_report_check,
    verdict,
)
from events import BlobStore, Check, TrialEvaluated, TrialExecuted

NAME, VERSION = "chat-mini", "2"
NORMALIZATION_TOL, CAUSALITY_TOL = 1e-3, 1e-4
FORBIDDEN = SINGLE_PROCESS_FORBIDDEN


def evaluate(executed: TrialExecuted, blobs: BlobStore, data: Path, tier: Tier) -> TrialEvaluated:
    early, checks = early_verdict(executed, blobs, NAME, VERSION, FORBIDDEN, "3 steps and a checkpoint",
                                  "Shorten the horizon or speed up steps.")
    if early:
        return early
    phases = {p.name: p for p in executed.phases}
    # the eval phase runs as two processes ("eval:0", "eval:1"); a run recorded before, as one
    eval_names = tuple(name for name in phases if name.partition(":")[0] == "eval") or ("eval",)
    overrun = next((phases[n] for n in eval_names if n in phases and phases[n].timed_out), None)
    if overrun is not None:
        checks.append(budget_check(overrun))
        return verdict(executed, NAME, VERSION, "eval_budget_overrun",
                       f"Evaluation ran over budget: {checks[-1].evidence}.", checks)
    crashed = phases_ran(executed, blobs, NAME, VERSION, ("train", *eval_names), checks)
    if crashed:
        return crashed
    train = phases["train"]
    result, why = judged_counts(executed, blobs)
    if result is None:
        return verdict(executed, NAME, VERSION, "crash", f"Crash: {why}.", checks)
    depth, fixed = result["depth"], int(tier.limits["depth"])
    checks.append(Check(name="depth", passed=depth == fixed and result["config"]["depth"] == fixed,
                        measured=float(depth), limit=float(fixed),
                        evidence=f"checkpoint has {depth} blocks (config says {result['config']['depth']}); fixed at {fixed}"))
    metrics = {"train_s": train.cpu_s, "eval_s": sum(phases[n].cpu_s for n in eval_names)}
    centered = []
    for task, rb in RANDOM_BASELINE.items():
        counts = result["tasks"].get(task, {"n": 0, "correct": 0})
        acc = counts["correct"] / counts["n"] if counts["n"] else 0.0
        metrics[f"{task}_acc"] = acc
        centered.append((acc - rb) / (1 - rb))
        metrics[f"{task}_centered"] = centered[-1]
    core = sum(centered) / len(centered)
    metrics["core"] = core
    checks += probe_checks(result, NORMALIZATION_TOL, CAUSALITY_TOL, f"{result['probes']} sequences")
    checks.append(self_report_check(executed, blobs))
    checks.append(clock_check(executed))
    disqualified = refused(executed, NAME, VERSION, checks, metrics)
    if disqualified:
        return disqualified
    detail = ", ".join(f"{t} {metrics[f'{t}_acc']:.3f}" for t in RANDOM_BASELINE)
    return verdict(executed, NAME, VERSION, "valid",
                   f"Valid: CORE-mini {core:.4f} ({detail}); train {train.cpu_s:.1f} s CPU of a "
                   f"{train.budget_s:.0f} s cap.", checks, score=core, metrics=metrics)


def judged_counts(executed: TrialExecuted, blobs: BlobStore) -> tuple[dict | None, str]:
    """The judges' result, put together from each eval process's items (judge/chat_judge.py): the
    counts added, the worst normalization error, each probe compared with its original. A run
    recorded before the eval ran as two processes has the judge's own comparison in core.json."""
    if "judge/core.json" in executed.outputs:
        return judged(executed, blobs, "core.json")
    halves, causal, why = judged_repeats(executed, blobs, "core")
    if halves is None:
        return None, why
    tasks: dict[str, dict[str, int]] = {}
    for half in halves:
        for task, c in half["tasks"].items():
            total = tasks.setdefault(task, {"n": 0, "correct": 0})
            total["n"] += c["n"]
            total["correct"] += c["correct"]
    return {**halves[0], "tasks": tasks, "causality_diff": causal,
            "normalization_error": max(h["normalization_error"] for h in halves)}, ""
