"""The airbench96 adapter against a stand-in for the reference harness's airbench96_faster.py
(tests/fixtures/upstream/airbench): cold seeded processes timed by the executor, the accuracy
gate, and every outcome the task's classifier can produce, each caused by an edit to the recipe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autorecipe.local_trial import local_trial, prepared_data
from environments import registry
from environments.edits import apply_edits
from environments.spec import Edit
from events import BlobStore

FIXTURE = Path(__file__).parent / "fixtures" / "upstream" / "airbench"
S = "airbench96_faster.py"
OPTIONS = dict(seeds="3", seed_s="3", smoke_s="10")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("ab")
    upstream, data = root / "airbench", root / "cifar"
    shutil.copytree(FIXTURE, upstream)
    (data / "cifar-10-batches-py").mkdir(parents=True)  # no download here: the batches are pre-staged
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (data / "cifar-10-batches-py" / name).write_bytes(b"\x80\x04 cifar stand-in")
    spec = registry.get("airbench96", {**OPTIONS, "upstream": str(upstream), "data": str(data)})
    prepared = prepared_data(spec, root=root / "prepared", log=lambda m: None)
    blobs = BlobStore(root / "blobs")

    def trial(*edits):
        return local_trial(spec, "full", apply_edits(spec.baseline_code(), list(edits)), blobs, root / "work", prepared)

    return trial


def test_a_valid_run_is_scored_by_the_executors_clock_over_cold_seeds(bench):
    executed, ev = bench()
    assert ev.verdict == "valid", ev.feedback
    runs = [p for p in executed.phases if p.name.startswith("run:")]
    assert [p.name for p in runs] == ["run:0", "run:1", "run:2"]
    assert ev.score == pytest.approx(sum(p.wall_s for p in runs) / 3)
    assert ev.score > 45 * 0.01  # every epoch's sleep, plus start-up: measured from outside
    assert executed.gpu_s == pytest.approx(sum(p.wall_s for p in executed.phases))  # one GPU, held throughout
    noise = sum((s * 7919) % 11 - 5 for s in range(3)) * 0.0001 / 3  # the stand-in's seed noise, seeds 0..2
    assert ev.metrics["accuracy"] == pytest.approx(0.9612 + noise, abs=1e-9)


def test_fewer_epochs_are_faster_and_still_pass_the_gate(bench):
    _, base = bench()
    # 15 of 45 epochs (0.15 s a seed) is well clear of a cold process's start-up jitter (~0.03 s)
    _, ev = bench(Edit(S, "EPOCHS = 45", "EPOCHS = 30"))
    assert ev.verdict == "valid" and ev.metrics["accuracy"] >= 0.96
    assert ev.score < base.score


@pytest.mark.parametrize("edits,status,evidence", [
    ([Edit(S, 'os.path.join(data, name)', 'os.path.join(data, name + ".bin")')], "preflight_crash", "no such file"),
    ([Edit(S, "EPOCH_S = 0.01", "EPOCH_S = 0.1")], "train_budget_overrun", "cap 3 s per seed"),
    ([Edit(S, "CRASH_ON_SEED = -1", "CRASH_ON_SEED = 2")], "crash", "run:2 failed: runtimeerror: cuda out of memory"),
    ([Edit(S, "REPORT = True", "REPORT = False")], "crash", "wrote no result line"),
    ([Edit(S, '"smoke": smoke}', '"smoke": True}')], "crash", "smoke=true"),
    ([Edit(S, "EPOCHS = 45", "EPOCHS = 15")], "disqualified", "gate 0.96"),
], ids=["smoke-crash", "seed-timeout", "seed-crash", "no-report", "smoke-report", "gate"])
def test_each_failure_gets_its_label_and_evidence(bench, edits, status, evidence):
    executed, ev = bench(*edits)
    assert ev.verdict == status, ev.feedback
    text = (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()
    assert evidence.lower() in text, text
    assert ev.score is None
