import io

import numpy as np

from evaluators.verdict import crash_from_log, legality_checks, log_text, verdict

FORBIDDEN = ("read_protected", "network", "write_outside", "edit_harness", "spawn")


def evaluate(executed, blobs, data, tier):
    checks = legality_checks(executed, blobs, FORBIDDEN)
    if not all(c.passed for c in checks):
        return verdict(executed, "polyfit", "1", "disqualified", "A forbidden behaviour was reported.", checks)
    failed = next((p for p in executed.phases if p.exit_code != 0 or p.timed_out), None)
    if failed is not None:
        crash = crash_from_log(log_text(executed, blobs, failed.name))
        status = "preflight_crash" if failed.name == "smoke" else (
            "train_budget_overrun" if failed.timed_out else "crash")
        return verdict(executed, "polyfit", "1", status, f"{failed.name}: {crash.describe() if crash else 'failed'}", checks)
    pred = np.load(io.BytesIO(blobs.get(executed.outputs["out/pred.npy"])))
    mse = float(np.mean((pred - np.load(data / "heldout" / "y_test.npy")) ** 2))
    return verdict(executed, "polyfit", "1", "valid", f"test MSE {mse:.4f}", checks, score=mse, metrics={"mse": mse})
