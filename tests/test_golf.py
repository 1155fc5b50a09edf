"""golf-mini specifics (the shared promises are in test_env_contract.py): the baseline sits near
the byte cap, and a size overflow is reported in bytes."""

import pytest

from environments.golf_mini.faults import FAULTS

pytestmark = pytest.mark.slow


def test_baseline_is_valid_near_the_byte_cap(harness):
    env = harness("golf-mini")
    executed, ev = env.baseline
    cap = env.spec.tier("micro").limits["artifact_bytes"]
    assert 0.95 * cap <= ev.metrics["artifact_bytes"] <= cap
    assert 2.5 < ev.score < 4.5  # bits per byte of a 3-second byte-level model
    assert [p.name for p in executed.phases] == ["smoke", "train", "pack", "eval:0", "eval:1"]
    assert "val_000" not in str(executed.outputs)


def test_size_overflow_is_reported_in_bytes(harness):
    env = harness("golf-mini")
    _, ev = env.trial(env.edited(FAULTS["size_blocked"][1]), trial_id="size")
    check = next(c for c in ev.checks if c.name == "artifact_bytes")
    over = int(check.measured - check.limit)
    assert over > 0 and f"over by {over:,}" in check.evidence and f"{over:,} bytes over" in ev.feedback
