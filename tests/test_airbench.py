"""airbench-mini specifics (the shared promises are in test_env_contract.py): the baseline at the
gate, exact evidence, hostile recipes leave no trace, purity across processes, data preparation."""

import json
import subprocess
import sys

import msgspec
import pytest

from actors.sandbox import isolation_available
from autorecipe.local_trial import prepared_data
from environments.airbench_mini.faults import FAULTS
from environments.data import prepared
from environments.registry import get

SPEC = get("airbench-mini")


@pytest.fixture(scope="module")
def env(harness):
    return harness("airbench-mini")


def test_baseline_sits_just_above_the_gate(env):
    executed, ev = env.baseline
    assert 0.965 <= ev.metrics["accuracy"] < 0.99 and ev.score == ev.metrics["cpu_s"] > 0
    assert [p.name for p in executed.phases] == ["smoke", "train:0", "train:1", "train:2"]
    assert {c.name for c in ev.checks} >= {"accuracy_gate", "no_read_protected", "no_network", "smoke"}


def test_byte_exact_numbers_in_the_evidence(env):
    _, ev = env.trial(env.edited(FAULTS["gate_miss"][1]), trial_id="gate")
    gate = next(c for c in ev.checks if c.name == "accuracy_gate")
    assert gate.limit == 0.965 and gate.measured < 0.965 and f"margin {gate.measured - 0.965:+.4f}" in gate.evidence


def test_hostile_recipes_leave_no_trace_and_the_executor_goes_on(env):
    executed, ev = env.trial(env.edited(FAULTS["edit_harness"][1]), keep_work=True, trial_id="hostile")
    work = env.scratch / "hostile-a1"
    assert ev.verdict == "disqualified"
    assert (work / "harness" / "run_seed.py").read_bytes() == (SPEC.root / "harness" / "run_seed.py").read_bytes()
    _, again = env.trial(SPEC.baseline_code(), trial_id="after")
    assert again.verdict == "valid"


@pytest.mark.skipif(not isolation_available(), reason="without root the trial is the executor's user, and may write "
                    "where that user may (README, what the sandbox enforces)")
def test_a_recipe_writing_beside_its_work_dir_is_refused_and_leaves_nothing(env):
    escaped = env.scratch / "escaped.txt"
    escaped.unlink(missing_ok=True)
    _, ev = env.trial(env.edited(FAULTS["write_outside"][1]), trial_id="outside")
    assert ev.verdict == "disqualified" and not escaped.exists()


def test_the_evaluator_gives_the_same_bytes_in_another_process(env):
    executed, first = env.baseline
    code = ("import sys, msgspec; from events import BlobStore, TrialExecuted; from environments.registry import get;"
            "from autorecipe.local_trial import evaluator_of; spec = get('airbench-mini');"
            "ex = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=TrialExecuted);"
            "ev = evaluator_of(spec)(ex, BlobStore(sys.argv[1]), __import__('pathlib').Path(sys.argv[2]), spec.tier('micro'));"
            "sys.stdout.buffer.write(msgspec.msgpack.encode(ev))")
    out = subprocess.run([sys.executable, "-c", code, str(env.blobs.root), str(env.data)],
                         input=msgspec.msgpack.encode(executed), capture_output=True, check=True)
    assert out.stdout == msgspec.msgpack.encode(first)


def test_prepare_is_idempotent_and_survives_interruption(tmp_path, monkeypatch):
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
