"""The parameter-golf adapter against a stand-in for a record's train_gpt.py that reproduces
upstream's log lines, artifact file and timings (tests/fixtures/upstream/parameter-golf): a valid
run and every outcome the task's classifier can produce, each caused by an edit to the recipe,
run for real (torchrun on 2 CPU ranks, in the sandbox, under the executor's watchdogs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autorecipe.local_trial import local_trial, prepared_data
from environments import registry
from environments.edits import apply_edits
from environments.spec import Edit
from events import BlobStore

FIXTURE = Path(__file__).parent / "fixtures" / "upstream" / "parameter-golf"
R = "train_gpt.py"
# seconds scaled down from 600/600 so a trial takes a few seconds; the rules are the same. Start-up
# (torchrun and two ranks importing torch) took over 4 s on a loaded 2-core machine: 10 s of slack.
STARTUP_S = 10
OPTIONS = dict(gpus="2", train_s="1.5", eval_s="3", startup_s=str(STARTUP_S), tolerance_s="0.5", smoke_s="20",
               smoke_train_s="0.3", smoke_steps="50", train_shards="1")


@pytest.fixture(scope="module")
def golf(tmp_path_factory):
    root = tmp_path_factory.mktemp("pg")
    upstream = root / "parameter-golf"
    shutil.copytree(FIXTURE, upstream)
    spec = registry.get("parameter-golf", {**OPTIONS, "upstream": str(upstream)})
    said = []
    data = prepared_data(spec, root=root / "prepared", log=said.append)
    blobs = BlobStore(root / "blobs")

    def trial(*edits):
        code = apply_edits(spec.baseline_code(), list(edits))
        return local_trial(spec, "full", code, blobs, root / "work", data)

    trial.spec, trial.said, trial.blobs, trial.upstream = spec, said, blobs, upstream
    return trial


def test_prepare_runs_the_upstream_download_on_this_node(golf):
    assert any("data/cached_challenge_fineweb.py --variant sp1024 --train-shards 1" in m for m in golf.said)
    assert (golf.upstream / "data" / "datasets" / "fineweb10B_sp1024" / "fineweb_val_000000.bin").exists()


def test_a_valid_run_is_scored_from_the_round_trip_line_and_the_files(golf):
    executed, ev = golf()
    assert ev.verdict == "valid", ev.feedback
    assert ev.score == pytest.approx(1.2243657)
    code = len((golf.upstream / R).read_bytes())
    assert ev.metrics["code_bytes"] == code and ev.metrics["model_bytes"] == 15_815_847
    assert ev.metrics["artifact_bytes"] == code + 15_815_847
    stages = {p.name: p for p in executed.phases}
    assert set(stages) == {"smoke", "train", "eval"}
    assert 1.5 <= ev.metrics["train_s"] <= 2.0  # the logged train_time, stopped by the wallclock cap
    assert stages["eval"].wall_s < stages["train"].wall_s


@pytest.mark.parametrize("edits,status,evidence", [
    ([Edit(R, 'CRASH_IN = ""', 'CRASH_IN = "train"')], "preflight_crash", "illegal memory access"),
    ([Edit(R, "MODEL_BYTES = 15_815_847", "MODEL_BYTES = 15_999_000")], "size_blocked", "full run was skipped"),
    ([Edit(R, "GROWTH_BYTES_PER_S = 0", "GROWTH_BYTES_PER_S = 200_000")], "size_blocked", "over by"),
    ([Edit(R, "LAST_STEP_EXTRA_MS = 0", "LAST_STEP_EXTRA_MS = 900")], "train_budget_overrun", "logged train_time"),
    ([Edit(R, "HONOUR_WALLCLOCK = True", "HONOUR_WALLCLOCK = False")], "train_budget_overrun", "watchdog"),
    ([Edit(R, 'CRASH_IN = ""', 'CRASH_IN = "eval"')], "crash", "shape mismatch"),
    ([Edit(R, "PRINT_ROUNDTRIP = True", "PRINT_ROUNDTRIP = False")], "crash", "incomplete"),
    ([Edit(R, "EVAL_MS = 150", "EVAL_MS = 8000")], "eval_budget_overrun", "evaluation ran"),
], ids=["smoke-crash", "smoke-size-gate", "size-from-files", "train-time-logged", "train-watchdog", "crash",
        "incomplete", "eval-watchdog"])
def test_each_failure_gets_its_label_and_evidence(golf, edits, status, evidence):
    executed, ev = golf(*edits)
    assert ev.verdict == status, ev.feedback
    text = (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()
    assert evidence.lower() in text, text
    assert ev.score is None
    if status == "eval_budget_overrun":  # killed at its own cap, not at the end of the whole run
        eval_stage = next(p for p in executed.phases if p.name == "eval")
        assert eval_stage.timed_out and eval_stage.wall_s < 3 + 2.5
    if "watchdog" in evidence and status == "train_budget_overrun":
        train = next(p for p in executed.phases if p.name == "train")
        assert train.timed_out and train.wall_s < 1.5 + STARTUP_S + 2.5


def test_options_are_checked_at_build_time(tmp_path):
    with pytest.raises(ValueError, match="option upstream is required"):
        registry.get("parameter-golf", {})
    with pytest.raises(ValueError, match="unknown option.*gpu_count"):
        registry.get("parameter-golf", {"upstream": str(FIXTURE), "gpu_count": "8"})
    with pytest.raises(ValueError, match="option gpus='eight'"):
        registry.get("parameter-golf", {"upstream": str(FIXTURE), "gpus": "eight"})
    with pytest.raises(ValueError, match="does not exist"):
        registry.get("parameter-golf", {"upstream": str(tmp_path)})
