"""dryrun's evaluator: the score is a known function of the recipe's constants.

    loss = (A - 3)^2 + (B + 1)^2 + 64 / WIDTH + (16 - PRECISION) / 40
    bytes = WIDTH * PRECISION * 100, at most the tier's size_cap

A seeded re-run (`autorecipe confirm`) adds the seed's noise, up to +-0.005, to the loss: a
claim can then be tested at no cost. The loop's own trials are never seeded.

Priority: a forbidden behaviour reported by the harness's audit (disqualified), a phase over its
wall budget (train_budget_overrun), a phase that failed (crash, with the recipe's traceback), a
recipe that cannot be read (crash), the size cap (size_blocked, with the overflow), then valid.
Score-like lines the recipe printed are never read (a check says how many there were).
"""

from __future__ import annotations

import ast
import math
import os
import time

from environments.source import literal_value, parse
from evaluators.verdict import (
    SINGLE_PROCESS_FORBIDDEN,
    VIOLATIONS,
    failed,
    legality_checks,
    phase_failure,
    self_report_check,
    verdict,
)
from events import Check, TrialEvaluated, TrialExecuted

NAME, VERSION = "dryrun", "2"
FORBIDDEN = SINGLE_PROCESS_FORBIDDEN
KNOBS = ("A", "B", "WIDTH", "PRECISION")


def knobs(source: str) -> dict[str, float]:
    out = {}
    for node in parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in KNOBS:
                out[node.targets[0].id] = float(literal_value(node.value))
    missing = [k for k in KNOBS if k not in out]
    if missing:
        raise ValueError(f"knobs.py does not set {', '.join(missing)}")
    # the loss is a function of these: an infinite knob, or a width or precision of 0 or less,
    # would score (a division by zero, or a loss below any real recipe's), not describe a model
    bad = [f"{k} = {v!r}" for k, v in out.items() if not math.isfinite(v) or (k in ("WIDTH", "PRECISION") and v <= 0)]
    if bad:
        raise ValueError(f"knobs.py sets {', '.join(bad)}: knobs are finite, WIDTH and PRECISION above 0")
    return out


def evaluate(executed: TrialExecuted, blobs, data, tier) -> TrialEvaluated:
    # A stand-in for an evaluator that takes a while (fault tests kill one mid-evaluation).
    time.sleep(float(os.environ.get("DRYRUN_EVAL_DELAY_S", "0")))
    legal = legality_checks(executed, blobs, FORBIDDEN)
    broken = [c for c in legal if not c.passed]
    if broken:
        what = "; ".join(f"{VIOLATIONS[c.name[3:]]} ({c.evidence})" for c in broken)
        return verdict(executed, NAME, VERSION, "disqualified", f"Disqualified: {what}.", legal)
    late = next((p for p in executed.phases if p.timed_out), None)
    if late is not None:
        over = Check(name=f"{late.name}_budget", passed=False, measured=late.wall_s, limit=late.budget_s,
                     evidence=f"{late.wall_s:.2f} s wall against a {late.budget_s:g} s wall budget"
                              + (f", killed by the watchdog (signal {late.signal})" if late.signal else ""))
        return verdict(executed, NAME, VERSION, "train_budget_overrun", f"Over budget: {over.evidence}.", [over])
    broken = next((p for p in executed.phases if failed(p)), None)
    if broken is not None:
        why = phase_failure(executed, blobs, broken.name)
        return verdict(executed, NAME, VERSION, "crash",
                       f"phase {broken.name} failed (exit {broken.exit_code}): {why}", [])
    ref = executed.outputs.get("out/knobs.py")
    try:
        k = knobs(blobs.get(ref).decode()) if ref else None
    except Exception as exc:  # noqa: BLE001 - whatever the recipe wrote, its own crash, never the evaluator's
        return verdict(executed, NAME, VERSION, "crash", f"unreadable recipe: {type(exc).__name__}: {exc}", [])
    if k is None:
        return verdict(executed, NAME, VERSION, "crash", "no out/knobs.py", [])
    size = k["WIDTH"] * k["PRECISION"] * 100
    cap = float(tier.limits["size_cap"])
    loss = (k["A"] - 3) ** 2 + (k["B"] + 1) ** 2 + 64 / k["WIDTH"] + (16 - k["PRECISION"]) / 40
    seed = executed.outputs.get("out/seed.txt")
    if seed is not None:
        loss += ((int(blobs.get(seed)) * 7919) % 101 - 50) * 1e-4
    size_check = Check(name="artifact_bytes", passed=size <= cap, measured=size, limit=cap,
                       evidence=f"size={size:,.0f} limit={cap:,.0f}" + (f" over by {size - cap:,.0f}" if size > cap else ""))
    metrics = {"loss": loss, "artifact_bytes": size}
    if size > cap:
        return verdict(executed, NAME, VERSION, "size_blocked", size_check.evidence, [size_check], metrics=metrics)
    forged = self_report_check(executed, blobs)
    checks = [size_check] + ([forged] if forged.measured else [])
    return verdict(executed, NAME, VERSION, "valid", f"loss {loss:.4f}", checks, score=loss, metrics=metrics)
