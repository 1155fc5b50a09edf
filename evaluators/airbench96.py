"""The Airbench96 evaluator: time from the executor's clocks, accuracy from the runs' reports.

Each seed's report is the fork's result file, run_seed{N}.jsonl, one JSON line with status,
accuracy, train_s, warmup_s, runs, smoke and kill_reason and no seed field
(multi_agent_cifar/airbench96.py:799-808 in cxcscmu/Auto-Research-Recipes): the seed is the N in
the name, which the harness chose and printed before the script started. A seed's report counts
when, as in the fork's run_classify.py:144-171, its status is "OK", smoke is false and the
accuracy finite; and here also when it covers one run (RUNS=1; a mean over several runs in one
process is another measurement). Its train_s and warmup_s are the script's own and not read.

Priority, first match wins (the reference harness's OK / DISQUALIFIED / CRASH / TIMEOUT /
PREFLIGHT_CRASH, in our labels):
  1. preflight_crash       the smoke run (one seed, one epoch) failed
  2. train_budget_overrun  a seed's process passed its wall cap
  3. crash                 a seed failed, or its run_seed{N}.jsonl is missing, not OK, a smoke
                           report, over several runs, or not a finite accuracy (all N must pass)
  4. disqualified          mean accuracy below the gate (the time is not a score then)
  5. valid                 score = mean wall seconds per seed process (lower is better)
"""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

from environments.spec import Tier
from evaluators.verdict import failed, log_text, run_failure, smoke_verdict, verdict
from events import BlobStore, Check, TrialEvaluated, TrialExecuted

NAME, VERSION = "airbench96", "2"
SEED_LINE = re.compile(r"^autorecipe-seed: (\d+) result=(\S+)", re.M)


def evaluate(executed: TrialExecuted, blobs: BlobStore, data: Path, tier: Tier) -> TrialEvaluated:
    early, checks = smoke_verdict(executed, blobs, NAME, VERSION, "one seed, one epoch")
    if early:
        return early
    phases = {p.name: p for p in executed.phases}

    n = int(tier.limits["seeds"])
    runs = [phases.get(f"run:{k}") if n > 1 else phases.get("run") for k in range(n)]
    labels = [f"run:{k}" if n > 1 else "run" for k in range(n)]
    over = [(label, p) for label, p in zip(labels, runs) if p is not None and p.timed_out]
    if over:
        label, p = over[0]
        checks.append(Check(name="seed_wall_cap", passed=False, measured=p.wall_s, limit=p.budget_s,
                            evidence=f"{label} ran {p.wall_s:.1f} s wall; cap {p.budget_s:.0f} s per seed"))
        return _v(executed, "train_budget_overrun", f"A seed ran over: {checks[-1].evidence}.", checks)
    accuracies = []
    for label, p in zip(labels, runs):
        log = log_text(executed, blobs, label)
        problem = _seed_problem(executed, blobs, label, p, log)
        if isinstance(problem, str):
            checks.append(Check(name="seeds_pass", passed=False, evidence=f"{label}: {problem}"))
            return _v(executed, "crash", f"Crash: {label} {problem}; all {n} seeds must pass.", checks)
        accuracies.append(problem)
    times = [p.wall_s for p in runs]
    mean_acc, gate = statistics.fmean(accuracies), tier.limits["gate"]
    spread = statistics.stdev(accuracies) if n > 1 else 0.0
    metrics = {"accuracy": mean_acc, "acc_std": spread, "n_seeds": float(n), "wall_s_std":
               statistics.stdev(times) if n > 1 else 0.0}
    checks.append(Check(name="accuracy_gate", passed=mean_acc >= gate, measured=mean_acc, limit=gate,
                        evidence=f"mean accuracy {mean_acc:.5f} (std {spread:.5f}) over {n} seeds; gate {gate}"))
    if mean_acc < gate:
        return _v(executed, "disqualified", f"Disqualified: {checks[-1].evidence}. Back off: more epochs or a "
                  "milder change.", checks, metrics)
    score = statistics.fmean(times)
    metrics["train_s"] = score
    return _v(executed, "valid", f"Valid: {score:.3f} s mean wall per seed over {n} cold processes "
              f"(min {min(times):.3f}, max {max(times):.3f}); accuracy {mean_acc:.5f}.", checks, metrics, score=score)


def _seed_problem(executed, blobs, label, p, log) -> float | str:
    """The seed's accuracy, or what is wrong with it."""
    if p is None:
        return "did not run"
    if failed(p):
        return f"failed: {run_failure(p, log)}"
    said = SEED_LINE.search(log)
    ref = executed.outputs.get(f"out/{said[2]}") if said else None
    if said is None:
        return "has no launcher line (autorecipe-seed: N result=...)"
    if ref is None:
        return f"wrote no {said[2]} (into full_eval_results/<dir>/, as MAGENT_SEED={said[1]})"
    try:
        rows = [json.loads(line) for line in blobs.get(ref).decode().splitlines() if line.strip()]
    except ValueError as exc:
        return f"wrote an unreadable {said[2]} ({exc})"
    if len(rows) != 1 or not isinstance(rows[0], dict):
        return f"wrote {len(rows)} lines in {said[2]}, not one JSON object"
    row = rows[0]
    acc = row.get("accuracy")
    if row.get("status") != "OK" or row.get("smoke") is not False:
        return f"reported status={row.get('status')!r} smoke={row.get('smoke')!r} in {said[2]}"
    if row.get("runs") != 1:
        return f"reported runs={row.get('runs')!r} in {said[2]}; one run per process (RUNS=1)"
    if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not math.isfinite(acc) or not 0 <= acc <= 1:
        return f"reported accuracy {acc!r} in {said[2]}"
    return float(acc)


def _v(executed, status, feedback, checks, metrics=None, score=None) -> TrialEvaluated:
    return verdict(executed, NAME, VERSION, status, feedback, checks, score=score, metrics=metrics)
