"""The golf-mini evaluator: bits per byte from the judge's nats over the held-out bytes (the judge
ran in its own process, as another user than the recipe, and drove the recipe's model as a
server); bytes recomputed from the stored artifact blobs; legality from the judge's probes, and
the audit reports as evidence.

Priority, first match wins:
  1. disqualified        a forbidden behaviour was reported (held-out data, network, writes
                         outside the work dir, harness edits, extra processes)
  2. preflight_crash     the smoke run (3 steps, export) failed
  3. train_budget_overrun  the train phase used more CPU than its budget
  4. crash               train, pack or eval failed, their outputs are missing, or the model
                         server broke the judge's protocol
  5. size_blocked        packed code + compressed model > the decimal byte cap (overflow as evidence)
  6. eval_budget_overrun the eval phase used more CPU than its budget
  7. disqualified        a probe failed: distributions not normalized, or not causal
  8. valid               score = val_bpb (lower is better)
"""

from __future__ import annotations

import math
from pathlib import Path

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

NAME, VERSION = "golf-mini", "2"
FORBIDDEN = SINGLE_PROCESS_FORBIDDEN
NORMALIZATION_TOL, CAUSALITY_TOL = 1e-3, 1e-4


def evaluate(executed: TrialExecuted, blobs: BlobStore, data: Path, tier: Tier) -> TrialEvaluated:
    early, checks = early_verdict(executed, blobs, NAME, VERSION, FORBIDDEN, "3 steps and an export",
                                  "Keep the self-stop on the CPU clock.")
    if early:
        return early
    phases = {p.name: p for p in executed.phases}

    crashed = phases_ran(executed, blobs, NAME, VERSION, ("train", "pack", "eval"), checks, timed_out_ran=True)
    if crashed:
        return crashed
    train = phases["train"]
    missing = [f for f in ("model.bin", "code.xz") if f"out/{f}" not in executed.outputs]
    if missing:
        return verdict(executed, NAME, VERSION, "crash", f"Crash: no {', '.join(missing)} was written.", checks)

    code_bytes = executed.outputs["out/code.xz"].size
    model_bytes = executed.outputs["out/model.bin"].size
    total, cap = code_bytes + model_bytes, int(tier.limits["artifact_bytes"])
    checks.append(Check(name="artifact_bytes", passed=total <= cap, measured=float(total), limit=float(cap),
                        evidence=f"{total:,} bytes = code {code_bytes:,} + model {model_bytes:,}; cap {cap:,}"
                                 + (f"; over by {total - cap:,}" if total > cap else f"; {cap - total:,} to spare")))
    metrics = {"artifact_bytes": float(total), "code_bytes": float(code_bytes), "model_bytes": float(model_bytes),
               "train_s": train.cpu_s}
    if total > cap:
        return verdict(executed, NAME, VERSION, "size_blocked",
                       f"Size blocked: the artifact is {total - cap:,} bytes over the {cap:,}-byte cap "
                       f"(code {code_bytes:,}, model {model_bytes:,}). Cut bytes: fewer parameters, fewer bits, "
                       "or a better compressor.", checks, metrics=metrics)

    evals = phases["eval"]
    if evals.timed_out:
        checks.append(budget_check(evals))
        return verdict(executed, NAME, VERSION, "eval_budget_overrun",
                       f"Evaluation ran over budget: {checks[-1].evidence}.", checks, metrics=metrics)
    result, why = judged(executed, blobs, "eval.json")
    if result is None:
        return verdict(executed, NAME, VERSION, "crash", f"Crash: {why}.", checks)
    checks += probe_checks(result, NORMALIZATION_TOL, CAUSALITY_TOL, f"{result.get('probes', 8)} windows")
    checks.append(self_report_check(executed, blobs))
    checks.append(clock_check(executed))
    bpb = result["nats"] / math.log(2) / result["scored_tokens"]
    metrics |= {"val_bpb": bpb, "eval_s": evals.cpu_s, "scored_bytes": float(result["scored_tokens"])}
    disqualified = refused(executed, NAME, VERSION, checks, metrics)
    if disqualified:
        return disqualified
    return verdict(executed, NAME, VERSION, "valid",
                   f"Valid: {bpb:.4f} bits per byte over {result['scored_tokens']:,} held-out bytes; "
                   f"artifact {total:,} of {cap:,} bytes; train {train.cpu_s:.1f} s, eval {evals.cpu_s:.1f} s CPU.",
                   checks, score=bpb, metrics=metrics)
