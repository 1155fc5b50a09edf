"""airbench-mini end to end on the micro tier: the baseline, every fault, the known-good edits,
hostile recipes, evaluator purity and data preparation."""

import json
import subprocess
import sys

import msgspec
import pytest

from autorecipe.local_trial import evaluator_of, local_trial, prepared_data
from environments.airbench_mini.faults import FAULTS
from environments.airbench_mini.techniques import KNOWN_GOOD
from environments.data import prepared
from environments.edits import apply_edits
from environments.registry import get
from events import BlobStore

SPEC = get("airbench-mini")


@pytest.fixture(scope="module")
def env(airbench_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("airbench")
    return {"data": airbench_data, "blobs": BlobStore(root / "blobs"), "scratch": root / "work"}


def trial(env, code, tier="micro", **kw):
    return local_trial(SPEC, tier, code, env["blobs"], env["scratch"], env["data"], **kw)


def evidence(ev) -> str:
    return (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()


@pytest.fixture(scope="module")
def baseline(env):
    return trial(env, SPEC.baseline_code())


def test_baseline_is_valid_near_the_gate(baseline):
    executed, ev = baseline
    assert ev.verdict == "valid", ev.feedback
    assert 0.965 <= ev.metrics["accuracy"] < 0.99 and ev.score == ev.metrics["cpu_s"] > 0
    assert [p.name for p in executed.phases] == ["smoke", "train:0", "train:1", "train:2"]
    assert {c.name for c in ev.checks} >= {"accuracy_gate", "no_read_protected", "no_network", "smoke"}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_gets_exactly_its_status_and_evidence(env, name):
    expected, edits, needle = FAULTS[name]
    _, ev = trial(env, apply_edits(SPEC.baseline_code(), edits))
    assert ev.verdict == expected, ev.feedback
    assert needle.lower() in evidence(ev), ev.feedback
    assert ev.score is None


def test_byte_exact_numbers_in_the_evidence(env):
    _, ev = trial(env, apply_edits(SPEC.baseline_code(), FAULTS["gate_miss"][1]))
    gate = next(c for c in ev.checks if c.name == "accuracy_gate")
    assert gate.limit == 0.965 and gate.measured < 0.965 and f"margin {gate.measured - 0.965:+.4f}" in gate.evidence


@pytest.mark.parametrize("name", sorted(KNOWN_GOOD))
def test_known_good_edits_beat_the_baseline(env, baseline, name):
    _, base = baseline
    _, ev = trial(env, apply_edits(SPEC.baseline_code(), KNOWN_GOOD[name]))
    assert ev.verdict == "valid", ev.feedback
    assert ev.score < base.score - SPEC.noise_margin, (ev.score, base.score)


def test_hostile_recipes_leave_no_trace_and_the_executor_goes_on(env):
    code = apply_edits(SPEC.baseline_code(), FAULTS["edit_harness"][1] + FAULTS["write_outside"][1][:0])
    executed, ev = trial(env, code, keep_work=True, trial_id="hostile")
    work = env["scratch"] / "hostile-a1"
    assert ev.verdict == "disqualified"
    assert (work / "harness" / "run_seed.py").read_bytes() == (SPEC.root / "harness" / "run_seed.py").read_bytes()
    assert not (env["scratch"] / "escaped.txt").exists()
    _, again = trial(env, SPEC.baseline_code(), trial_id="after")
    assert again.verdict == "valid"


def test_evaluator_is_pure(env, baseline):
    executed, first = baseline
    again = evaluator_of(SPEC)(executed, BlobStore(env["blobs"].root), env["data"], SPEC.tier("micro"))
    assert msgspec.msgpack.encode(again) == msgspec.msgpack.encode(first)
    code = ("import sys, msgspec; from events import BlobStore, TrialExecuted; from environments.registry import get;"
            "from autorecipe.local_trial import evaluator_of; spec = get('airbench-mini');"
            "ex = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=TrialExecuted);"
            "ev = evaluator_of(spec)(ex, BlobStore(sys.argv[1]), __import__('pathlib').Path(sys.argv[2]), spec.tier('micro'));"
            "sys.stdout.buffer.write(msgspec.msgpack.encode(ev))")
    out = subprocess.run([sys.executable, "-c", code, str(env["blobs"].root), str(env["data"])],
                         input=msgspec.msgpack.encode(executed), capture_output=True, check=True)
    assert out.stdout == msgspec.msgpack.encode(first)


def test_prepare_is_idempotent_and_survives_interruption(env, tmp_path, monkeypatch):
    import environments.airbench_mini.prepare as prep

    real = prep.build

    def interrupted(out, cache, log=print):
        real(out, cache, log)
        raise KeyboardInterrupt

    monkeypatch.setattr(prep, "build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepared_data(SPEC, root=tmp_path, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []  # nothing half-made is left to look finished
    monkeypatch.setattr(prep, "build", real)
    folder = prepared_data(SPEC, root=tmp_path, log=lambda m: None)
    record = prepared(folder)
    assert record["train"] == 1297 and record["test"] == 500
    said = []
    assert prepared_data(SPEC, root=tmp_path, log=said.append) == folder and "already prepared" in said[0]
    assert (folder / "heldout").stat().st_mode & 0o777 == 0o700
    assert json.loads((folder / "PREPARED").read_text())["csv_sha256"].startswith("6ebb3d2f")
