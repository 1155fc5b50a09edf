"""The NanoChat-D12 evaluator, from the upstream runs' logs.

Priority, first match wins (the reference harness's OK / DISQUALIFIED / CRASH / TIMEOUT /
PREFLIGHT_CRASH, in our labels):
  1. preflight_crash       the preflight (3 iterations, no eval) failed
  2. train_budget_overrun  training passed the wall cap (the watchdog killed it)
  3. crash                 training failed, or left no checkpoint
  4. disqualified          the checkpoint does not have 12 transformer blocks
  5. eval_budget_overrun   the CORE run passed its budget
  6. crash                 the CORE run failed, or printed no CORE metric
  7. valid                 score = CORE (higher is better); val bpb kept as a metric when logged
"""

from __future__ import annotations

import re
from pathlib import Path

from environments.spec import Tier
from evaluators.verdict import failed, log_text, run_failure, smoke_verdict, verdict
from events import BlobStore, Check, TrialEvaluated, TrialExecuted

NAME, VERSION = "nanochat-d12", "1"
DEPTH = re.compile(r"^autorecipe-depth: blocks=(\d+)", re.M)
# numbers as Python's float() reads them, so no line the recipe prints makes the evaluator raise
CORE = re.compile(r"^CORE metric: ([-+]?(?:\d+\.?\d*|\.\d+))(?![\d.])", re.M)
VAL_BPB = re.compile(r"Validation bpb: ((?:\d+\.?\d*|\.\d+))(?![\d.])")


def evaluate(executed: TrialExecuted, blobs: BlobStore, data: Path, tier: Tier) -> TrialEvaluated:
    early, checks = smoke_verdict(executed, blobs, NAME, VERSION, "the preflight: 3 iterations on one GPU, no eval")
    if early:
        return early
    phases = {p.name: p for p in executed.phases}

    train, train_log = phases.get("train"), log_text(executed, blobs, "train")
    bpbs = VAL_BPB.findall(train_log)
    metrics = {"train_s": train.wall_s if train else 0.0} | ({"val_bpb": float(bpbs[-1])} if bpbs else {})
    if train is not None and train.timed_out:
        checks.append(Check(name="wall_cap", passed=False, measured=train.wall_s, limit=train.budget_s,
                            evidence=f"training ran {train.wall_s:.0f} s wall; cap {train.budget_s:.0f} s"))
        return _v(executed, "train_budget_overrun", f"Training passed the wall cap: {checks[-1].evidence}. Spend "
                  "less of the horizon (target param-data ratio) or make steps faster.", checks, metrics)
    if train is None or failed(train):
        why = run_failure(train, train_log)
        checks.append(Check(name="train", passed=False, evidence=why))
        return _v(executed, "crash", f"Crash in training: {why}.", checks, metrics)

    evals, eval_log = phases.get("eval"), log_text(executed, blobs, "eval")
    depth = DEPTH.search(eval_log)
    if depth is None:
        return _v(executed, "crash", "Crash: training left no checkpoint to evaluate.", checks, metrics)
    blocks, want = int(depth[1]), int(tier.limits["depth"])
    checks.append(Check(name="depth", passed=blocks == want, measured=float(blocks), limit=float(want),
                        evidence=f"{blocks} transformer blocks in the checkpoint; the rule is {want}"))
    if blocks != want:
        return _v(executed, "disqualified", f"Disqualified: {checks[-1].evidence}. Depth is fixed; change the "
                  "model within it.", checks, metrics)
    if evals.timed_out:
        checks.append(Check(name="eval_budget", passed=False, measured=evals.wall_s, limit=evals.budget_s,
                            evidence=f"CORE ran {evals.wall_s:.0f} s wall; budget {evals.budget_s:.0f} s"))
        return _v(executed, "eval_budget_overrun", f"The CORE evaluation ran over: {checks[-1].evidence}.", checks,
                  metrics)
    scores = CORE.findall(eval_log)
    if failed(evals) or not scores:
        why = run_failure(evals, eval_log) if failed(evals) else "no 'CORE metric:' line"
        return _v(executed, "crash", f"Crash in the CORE evaluation: {why}.", checks, metrics)
    core = float(scores[-1])
    metrics |= {"core": core, "eval_s": evals.wall_s}
    return _v(executed, "valid", f"Valid: CORE {core:.4f} at depth {blocks}; training {metrics['train_s']:.0f} s "
              f"of the {train.budget_s:.0f} s cap" + (f"; val bpb {metrics['val_bpb']:.4f}" if bpbs else "") + ".",
              checks, metrics, score=core)


def _v(executed, status, feedback, checks, metrics=None, score=None) -> TrialEvaluated:
    return verdict(executed, NAME, VERSION, status, feedback, checks, score=score, metrics=metrics)
