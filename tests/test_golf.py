"""golf-mini end to end on the micro tier: the baseline, every fault, the known-good edits and
evaluator purity."""

import msgspec
import pytest

from autorecipe.local_trial import evaluator_of, local_trial
from environments.edits import apply_edits
from environments.golf_mini.faults import FAULTS
from environments.golf_mini.techniques import KNOWN_GOOD
from environments.registry import get
from events import BlobStore

SPEC = get("golf-mini")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(golf_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("golf")
    return {"data": golf_data, "blobs": BlobStore(root / "blobs"), "scratch": root / "work"}


def trial(env, code, **kw):
    return local_trial(SPEC, "micro", code, env["blobs"], env["scratch"], env["data"], **kw)


@pytest.fixture(scope="module")
def baseline(env):
    return trial(env, SPEC.baseline_code())


def test_baseline_is_valid_near_the_byte_cap(baseline):
    executed, ev = baseline
    assert ev.verdict == "valid", ev.feedback
    cap = SPEC.tier("micro").limits["artifact_bytes"]
    assert 0.95 * cap <= ev.metrics["artifact_bytes"] <= cap
    assert 2.5 < ev.score < 4.5  # bits per byte of a 3-second byte-level model
    assert [p.name for p in executed.phases] == ["smoke", "train", "pack", "eval"]
    assert "data/val_000.bin" not in str(executed.outputs)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_gets_exactly_its_status_and_evidence(env, name):
    expected, edits, needle = FAULTS[name]
    _, ev = trial(env, apply_edits(SPEC.baseline_code(), edits), trial_id=name)
    text = (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()
    assert ev.verdict == expected, ev.feedback
    assert needle.lower() in text, ev.feedback


def test_size_overflow_is_reported_in_bytes(env):
    _, ev = trial(env, apply_edits(SPEC.baseline_code(), FAULTS["size_blocked"][1]), trial_id="size")
    check = next(c for c in ev.checks if c.name == "artifact_bytes")
    over = int(check.measured - check.limit)
    assert over > 0 and f"over by {over:,}" in check.evidence and f"{over:,} bytes over" in ev.feedback


@pytest.mark.parametrize("name", sorted(KNOWN_GOOD))
def test_known_good_edits_beat_the_baseline(env, baseline, name):
    _, base = baseline
    _, ev = trial(env, apply_edits(SPEC.baseline_code(), KNOWN_GOOD[name]), trial_id=name)
    assert ev.verdict == "valid", ev.feedback
    assert ev.score < base.score - SPEC.noise_margin, (ev.score, base.score)


def test_evaluator_is_pure(env, baseline):
    executed, first = baseline
    again = evaluator_of(SPEC)(executed, BlobStore(env["blobs"].root), env["data"], SPEC.tier("micro"))
    assert msgspec.msgpack.encode(again) == msgspec.msgpack.encode(first)
