"""The airbench-mini evaluator: time from the executor's measurements (each seed's cgroup CPU
counter: every process it started, however), accuracy from the predictions against test labels
that never left the evaluator's side.

Priority, first match wins:
  1. disqualified  a forbidden behaviour was reported (held-out data, network, writes outside
                   the work dir, harness edits, extra processes) or threads were oversubscribed
  2. preflight_crash  the smoke run (seed 0, one epoch) failed
  3. train_budget_overrun  a seed's CPU time exceeded the per-seed budget
  4. crash         a seed failed or its predictions are missing or malformed
  5. disqualified  mean accuracy is below the gate (the margin is the evidence)
  6. valid         score = mean CPU seconds per seed (lower is better)
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from environments.spec import Tier
from evaluators.verdict import (
    SINGLE_PROCESS_FORBIDDEN,
    VIOLATIONS,
    clock_check,
    failed,
    legality_checks,
    load_npy,
    phase_failure,
    self_report_check,
    verdict,
)
from events import BlobStore, Check, TrialEvaluated, TrialExecuted

NAME, VERSION = "airbench-mini", "2"
FORBIDDEN = SINGLE_PROCESS_FORBIDDEN
THREAD_SLACK = 1.25


def evaluate(executed: TrialExecuted, blobs: BlobStore, data: Path, tier: Tier) -> TrialEvaluated:
    labels = np.load(data / "heldout" / "test_labels.npy")
    seeds = tier.repeats["train"]
    gate = tier.limits["gate"]
    threads = int(tier.env.get("AUTORECIPE_THREADS", "1"))
    checks = legality_checks(executed, blobs, FORBIDDEN)
    phases = {p.name: p for p in executed.phases}

    oversubscribed = [p for p in executed.phases if p.cpu_s > p.wall_s * threads * THREAD_SLACK + 0.2]
    checks.append(Check(name="threads_within_limit", passed=not oversubscribed, limit=float(threads),
                        evidence=", ".join(f"{p.name}: {p.cpu_s:.2f} s CPU in {p.wall_s:.2f} s wall" for p in oversubscribed)))
    broken = [c for c in checks if not c.passed]
    if broken:
        what = "; ".join(f"{VIOLATIONS.get(c.name[3:], c.name)} ({c.evidence})" for c in broken)
        return verdict(executed, NAME, VERSION, "disqualified", f"Disqualified: {what}.", checks)

    smoke = phases.get("smoke")
    smoke_ok = smoke is not None and not failed(smoke) and not smoke.timed_out
    checks.append(Check(name="smoke", passed=smoke_ok, evidence="" if smoke_ok else phase_failure(executed, blobs, "smoke")))
    if not smoke_ok:
        return verdict(executed, NAME, VERSION, "preflight_crash",
                       f"The smoke run (seed 0, one epoch) failed: {checks[-1].evidence}. No full run was spent.", checks)

    runs = [phases.get(f"train:{s}") if seeds > 1 else phases.get("train") for s in range(seeds)]
    over = [p for p in runs if p is not None and p.timed_out]
    for p in over:
        checks.append(Check(name=f"budget_{p.name}", passed=False, measured=p.cpu_s, limit=p.budget_s,
                            evidence=f"{p.name}: {p.cpu_s:.2f} s CPU ({p.wall_s:.2f} s wall) against a "
                                     f"{p.budget_s:.2f} s CPU budget" + (", killed by the watchdog" if p.signal else "")))
    if over:
        return verdict(executed, NAME, VERSION, "train_budget_overrun",
                       f"Over the per-seed budget: {checks[-1].evidence}. Cut work per seed.", checks)

    accuracies, problem = _accuracies(executed, blobs, runs, labels)
    checks.append(Check(name="all_seeds_predicted", passed=not problem, measured=float(len(accuracies)),
                        limit=float(seeds), evidence=problem))
    if problem:
        return verdict(executed, NAME, VERSION, "crash", f"Crash: {problem}.", checks)

    accuracy = statistics.fmean(accuracies)
    cpu = [p.cpu_s for p in runs]
    metrics = {"accuracy": accuracy, "acc_std": statistics.pstdev(accuracies), "acc_min": min(accuracies),
               "n_seeds": float(seeds), "cpu_s": statistics.fmean(cpu), "cpu_s_std": statistics.pstdev(cpu),
               "wall_s": statistics.fmean(p.wall_s for p in runs)}
    margin = accuracy - gate
    checks.append(Check(name="accuracy_gate", passed=margin >= 0, measured=accuracy, limit=gate,
                        evidence=f"mean accuracy {accuracy:.4f} over {seeds} seeds, gate {gate:.4f}, margin {margin:+.4f}"))
    checks.append(self_report_check(executed, blobs))
    checks.append(clock_check(executed))
    if margin < 0:
        return verdict(executed, NAME, VERSION, "disqualified",
                       f"Below the accuracy gate: {checks[-3].evidence}. Recover accuracy before cutting time.",
                       checks, metrics=metrics)
    return verdict(executed, NAME, VERSION, "valid",
                   f"Valid: {metrics['cpu_s']:.3f} s CPU per seed (wall {metrics['wall_s']:.3f} s); "
                   f"{checks[-3].evidence}.", checks, score=metrics["cpu_s"], metrics=metrics)


def _accuracies(executed: TrialExecuted, blobs: BlobStore, runs: list, labels: np.ndarray) -> tuple[list[float], str]:
    """Each seed's accuracy, in order, up to the first seed that did not run, failed or wrote no
    usable predictions: (the accuracies, what went wrong or "")."""
    seeds = len(runs)
    accuracies, problem = [], ""
    for s, p in enumerate(runs):
        name = f"train:{s}" if seeds > 1 else "train"
        if p is None:
            problem = f"seed {s} never ran (an earlier seed failed)"
            break
        if failed(p):
            problem = f"seed {s}: {phase_failure(executed, blobs, name)}"
            break
        pred = _predictions(executed, blobs, s, len(labels))
        if isinstance(pred, str):
            problem = f"seed {s}: {pred}"
            break
        accuracies.append(float((pred == labels).mean()))
    return accuracies, problem


def _predictions(executed: TrialExecuted, blobs: BlobStore, seed: int, n: int):
    ref = executed.outputs.get(f"out/pred_{seed}.npy")
    if ref is None:
        return "wrote no predictions"
    pred = load_npy(blobs.get(ref))
    if isinstance(pred, str):
        return f"unreadable predictions: {pred}"
    if pred.shape != (n,) or not np.issubdtype(pred.dtype, np.integer):
        return f"predictions of shape {pred.shape} and type {pred.dtype}, expected ({n},) integers"
    return pred
