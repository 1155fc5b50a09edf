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
    if phases.get("eval") is not None and phases["eval"].timed_out:
        checks.append(budget_check(phases["eval"]))
        return verdict(executed, NAME, VERSION, "eval_budget_overrun",
                       f"Evaluation ran over budget: {checks[-1].evidence}.", checks)
    crashed = phases_ran(executed, blobs, NAME, VERSION, ("train", "eval"), checks)
    if crashed:
        return crashed
    train = phases["train"]
    result, why = judged(executed, blobs, "core.json")
    if result is None:
        return verdict(executed, NAME, VERSION, "crash", f"Crash: {why}.", checks)
    depth, fixed = result["depth"], int(tier.limits["depth"])
    checks.append(Check(name="depth", passed=depth == fixed and result["config"]["depth"] == fixed,
                        measured=float(depth), limit=float(fixed),
                        evidence=f"checkpoint has {depth} blocks (config says {result['config']['depth']}); fixed at {fixed}"))
    metrics = {"train_s": train.cpu_s, "eval_s": phases["eval"].cpu_s}
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
