"""The parameter-golf adapter against a stand-in for the baseline train_gpt.py that prints the
real script's lines in its order and writes its files (tests/fixtures/upstream/parameter-golf): a
valid run and every outcome the task's classifier can produce, each caused by an edit to the
recipe, run for real (torchrun on 2 CPU ranks, in the sandbox, under the executor's watchdogs);
then what records do differently (DATA_DIR, `train_time: Tms`, a TTT line scored last, record
variables, pyminify, packed code, a wrapper-shipped train_gpt.py, data elsewhere)."""

from __future__ import annotations

import base64
import lzma
import shutil
import sys
from pathlib import Path

import pytest

from actors.sandbox import TERM_GRACE_S
from agents.changes import apply_edits
from autorecipe.local_trial import local_trial, prepared_data
from environments import registry
from environments.spec import Edit
from events import BlobStore

FIXTURE = Path(__file__).parent / "fixtures" / "upstream" / "parameter-golf"
R = "train_gpt.py"
# seconds scaled down from 600/600 so a trial takes a few seconds; the rules are the same. Start-up
# (torchrun and two ranks importing torch) took over 13 s on a 2-core machine at load 7: 20 s of
# slack; the eval cap is 6 s for the same reason (writing a 16 MB artifact).
STARTUP_S = 20
OPTIONS = dict(gpus="2", train_s="1.5", eval_s="6", startup_s=str(STARTUP_S), tolerance_s="0.5", smoke_s="20",
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

    def trial(*edits, options=None):
        s = spec if options is None else registry.get("parameter-golf", {**OPTIONS, "upstream": str(upstream),
                                                                          **options})
        code = apply_edits(s.baseline_code(), list(edits))
        return local_trial(s, "full", code, blobs, root / "work", data)

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
    ([Edit(R, "EVAL_MS = 150", "EVAL_MS = 30000")], "eval_budget_overrun", "evaluation ran"),
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
        assert eval_stage.timed_out and eval_stage.wall_s < 6 + TERM_GRACE_S + 4  # not its 30 s
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


def test_the_smoke_run_waits_for_the_compressed_artifact_not_the_raw_total(golf):
    """The baseline prints `Total submission size: N` for the raw .pt before it writes the .ptz
    (train_gpt.py:1074 then 1083-1092): stopping there left no artifact, every trial a preflight_crash."""
    executed, ev = golf()
    smoke = golf.blobs.get(executed.outputs["logs/smoke"]).decode()
    assert "Total submission size: " in smoke and "Total submission size int8+zlib:" in smoke
    assert "smoke_pack_bytes: total=" in smoke and "final_int8_zlib_roundtrip" not in smoke
    assert ev.verdict == "valid"


def test_a_record_reading_data_dir_finds_the_data(golf):
    executed, ev = golf(Edit(R, 'DATA_FROM = "DATA_PATH"', 'DATA_FROM = "DATA_DIR"'))
    assert ev.verdict == "valid", ev.feedback


def test_train_time_with_a_space_is_read_and_checked(golf):
    spaced = Edit(R, "SPACED = False", "SPACED = True")
    executed, ev = golf(spaced, Edit(R, "LAST_STEP_EXTRA_MS = 0", "LAST_STEP_EXTRA_MS = 900"))
    assert ev.verdict == "train_budget_overrun", ev.feedback
    assert "logged train_time" in ev.feedback


def test_record_variables_pass_and_the_records_last_line_is_scored(golf):
    """TTT_ENABLED=1 makes the record print a legal TTT line after the round trip; that is the
    record's score (submission.json), not the round trip."""
    executed, ev = golf(options={"env.TTT_ENABLED": "1"})
    assert ev.verdict == "valid", ev.feedback
    assert ev.score == pytest.approx(1.19250007) and "legal_ttt_exact" in ev.feedback
    executed, ev = golf(options={"env.TTT_ENABLED": "1", "score_line": "final_int8_zlib_roundtrip_exact"})
    assert ev.score == pytest.approx(1.2243657)


def test_pyminify_is_on_the_trials_path_and_packed_code_is_counted(golf):
    executed, ev = golf(Edit(R, "NEEDS_PYMINIFY = False", "NEEDS_PYMINIFY = True"), options={"code": "pyminify+lzma"})
    assert ev.verdict == "valid", ev.feedback
    raw = len((golf.upstream / R).read_bytes())
    assert 0 < ev.metrics["code_bytes"] < raw / 2  # minified + lzma + base85, not the raw file
    sys.path.insert(0, str(Path(golf.spec.root) / "harness"))
    import pg_pack

    bindir = Path(sys.executable).parent
    edited = (golf.upstream / R).read_bytes().replace(b"NEEDS_PYMINIFY = False", b"NEEDS_PYMINIFY = True")
    assert ev.metrics["code_bytes"] == pg_pack.counted_bytes(edited, "pyminify+lzma",  # the trial's code, edited
                                                             pg_pack.DEFAULT_FLAGS, str(bindir / "pyminify"))


def test_record_options_are_checked(golf):
    for bad, why in [({"env.ttt": "1"}, "capitals"), ({"env.DATA_DIR": "/x"}, "set by the harness"),
                     ({"env.SEED": "1"}, "set by the harness"), ({"code": "zip"}, "one of auto"),
                     ({"score_line": "a b"}, "line's name")]:
        with pytest.raises(ValueError, match=why):
            registry.get("parameter-golf", {**OPTIONS, "upstream": str(golf.upstream), **bad})


def test_a_record_shipped_as_a_wrapper_is_unpacked_and_counted_as_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTORECIPE_DATA", str(tmp_path / "cache"))
    upstream = tmp_path / "pg"
    shutil.copytree(FIXTURE, upstream)
    source = (FIXTURE / R).read_bytes().replace(b'"VOCAB_SIZE", 1024', b'"VOCAB_SIZE", 8192')
    packed = lzma.compress(source, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])
    record = upstream / "records" / "track_10min_16mb" / "2026-04-09_wrapped"
    record.mkdir(parents=True)
    (record / R).write_bytes(b'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("' + base64.b85encode(packed)
                             + b'"),format=L.FORMAT_RAW,filters=[{"id":L.FILTER_LZMA2}]))\n')
    spec = registry.get("parameter-golf", {"upstream": str(upstream), "record": str(record.relative_to(upstream))})
    assert spec.baseline_code()[R] == source  # specialists edit the source, not the blob
    tier = spec.tier("full")
    assert tier.env["AUTORECIPE_PG_CODE_RULE"] == "lzma-raw" and tier.env["AUTORECIPE_PG_VARIANT"] == "sp8192"
    (check,) = spec.preflight(spec.baseline_code(), tier)
    assert check.passed and check.measured < len(source) / 2


def test_data_elsewhere_is_downloaded_there(tmp_path):
    upstream = tmp_path / "pg"
    shutil.copytree(FIXTURE, upstream)
    options = {**OPTIONS, "upstream": str(upstream), "data": str(tmp_path / "elsewhere"), "data_repo": "kevclark/x"}
    spec = registry.get("parameter-golf", options)
    said = []
    prepared_data(spec, root=tmp_path / "prepared", log=said.append)
    assert (tmp_path / "elsewhere" / "datasets" / "fineweb10B_sp1024" / "fineweb_val_000000.bin").exists()
    assert not (upstream / "data" / "datasets").exists()
    assert any("MATCHED_FINEWEB_REPO_ID=kevclark/x" in m for m in said)


def test_prepare_dry_run_and_envs_tell_what_to_clone_run_and_pass(tmp_path):
    from click.testing import CliRunner

    from autorecipe.cli import main

    upstream = tmp_path / "pg"
    shutil.copytree(FIXTURE, upstream)
    record = upstream / "records" / "track_10min_16mb" / "r"
    record.mkdir(parents=True)
    shutil.copy(FIXTURE / R, record / R)
    (record / "README.md").write_text("```bash\nSEED=42 QK_GAIN_INIT=5.25 TTT_ENABLED=1 \\\n"
                                      "  torchrun --standalone --nproc_per_node=8 train_gpt.py\n```\n")
    out = CliRunner().invoke(main, ["prepare", "parameter-golf", "--env-opt", f"upstream={upstream}", "--env-opt",
                                    "record=records/track_10min_16mb/r", "--env-opt", "env.TTT_ENABLED=1",
                                    "--dry-run"])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "git clone https://github.com/openai/parameter-golf" in text
    assert "code bytes by the raw rule; variant sp1024; scored line: last" in text
    assert "env.QK_GAIN_INIT=5.25" in text and "env.SEED" not in text  # the harness owns the seed
    assert "record variables passed to every phase: TTT_ENABLED=1" in text
    assert text.rstrip().endswith("data/cached_challenge_fineweb.py --variant sp1024 --train-shards 80)")
    envs = CliRunner().invoke(main, ["envs"]).output
    assert "env.NAME" in envs and "score_line" in envs and "CaseOps" in envs and "git clone" in envs
