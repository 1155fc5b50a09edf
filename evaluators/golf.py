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
    judged_repeats,
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

    # the eval phase runs as two processes ("eval:0", "eval:1"); a run recorded before, as one
    eval_names = tuple(name for name in phases if name.partition(":")[0] == "eval") or ("eval",)
    crashed = phases_ran(executed, blobs, NAME, VERSION, ("train", "pack", *eval_names), checks, timed_out_ran=True)
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

    evals = [phases[name] for name in eval_names]
    eval_s = sum(p.cpu_s for p in evals)
    overrun = next((p for p in evals if p.timed_out), None)
    if overrun is not None:
        checks.append(budget_check(overrun))
        return verdict(executed, NAME, VERSION, "eval_budget_overrun",
                       f"Evaluation ran over budget: {checks[-1].evidence}.", checks, metrics=metrics)
    result, why = judged_halves(executed, blobs)
    if result is None:
        return verdict(executed, NAME, VERSION, "crash", f"Crash: {why}.", checks)
    checks += probe_checks(result, NORMALIZATION_TOL, CAUSALITY_TOL, f"{result.get('probes', 8)} windows")
    checks.append(self_report_check(executed, blobs))
    checks.append(clock_check(executed))
    bpb = result["nats"] / math.log(2) / result["scored_tokens"]
    metrics |= {"val_bpb": bpb, "eval_s": eval_s, "scored_bytes": float(result["scored_tokens"])}
    disqualified = refused(executed, NAME, VERSION, checks, metrics)
    if disqualified:
        return disqualified
    return verdict(executed, NAME, VERSION, "valid",
                   f"Valid: {bpb:.4f} bits per byte over {result['scored_tokens']:,} held-out bytes; "
                   f"artifact {total:,} of {cap:,} bytes; train {train.cpu_s:.1f} s, eval {eval_s:.1f} s CPU.",
                   checks, score=bpb, metrics=metrics)



def judged_halves(executed: TrialExecuted, blobs: BlobStore) -> tuple[dict | None, str]:
    """The judges' result, put together from each eval process's half (judge/golf_judge.py): nats
    added with math.fsum (the same sum whichever process served which window), the tokens added,
    the worst normalization error, each probe compared with its original. A run recorded before
    the eval ran as two processes has the judge's own comparison in judge/eval.json."""
    if "judge/eval.json" in executed.outputs:
        return judged(executed, blobs, "eval.json")
    halves, causal, why = judged_repeats(executed, blobs, "eval")
    if halves is None:
        return None, why
    return {"nats": math.fsum(n for h in halves for n in h["window_nats"]),
            "scored_tokens": sum(h["scored_tokens"] for h in halves), "context": halves[0]["context"],
            "normalization_error": max(h["normalization_error"] for h in halves), "causality_diff": causal,
            "probes": halves[0]["probes"]}, ""
