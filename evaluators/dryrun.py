"""dryrun's evaluator: the score is a known function of the recipe's constants.

    loss = (A - 3)^2 + (B + 1)^2 + 64 / WIDTH + (16 - PRECISION) / 40
    bytes = WIDTH * PRECISION * 100, at most the tier's size_cap

A seeded re-run (`autorecipe confirm`) adds the seed's noise, up to +-0.005, to the loss: a
claim can then be tested at no cost. The loop's own trials are never seeded.

Priority: a phase that failed (crash), then a recipe that cannot be read (crash), then the size
cap (size_blocked, with the overflow), then valid.
"""

from __future__ import annotations

import ast
import os
import time

from evaluators.verdict import verdict
from events import Check, TrialEvaluated, TrialExecuted

NAME, VERSION = "dryrun", "1"
KNOBS = ("A", "B", "WIDTH", "PRECISION")


def knobs(source: str) -> dict[str, float]:
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in KNOBS:
                out[node.targets[0].id] = float(ast.literal_eval(node.value))
    missing = [k for k in KNOBS if k not in out]
    if missing:
        raise ValueError(f"knobs.py does not set {', '.join(missing)}")
    return out


def evaluate(executed: TrialExecuted, blobs, data, tier) -> TrialEvaluated:
    # A stand-in for an evaluator that takes a while (fault tests kill one mid-evaluation).
    time.sleep(float(os.environ.get("DRYRUN_EVAL_DELAY_S", "0")))
    failed = next((p for p in executed.phases if p.exit_code != 0 or p.timed_out), None)
    if failed is not None:
        return verdict(executed, NAME, VERSION, "crash", f"phase {failed.name} failed (exit {failed.exit_code})", [])
    ref = executed.outputs.get("out/knobs.py")
    try:
        k = knobs(blobs.get(ref).decode()) if ref else None
    except (ValueError, SyntaxError) as exc:
        return verdict(executed, NAME, VERSION, "crash", f"unreadable recipe: {exc}", [])
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
    return verdict(executed, NAME, VERSION, "valid", f"loss {loss:.4f}", [size_check], score=loss, metrics=metrics)
