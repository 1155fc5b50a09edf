import json

import pytest
from click.testing import CliRunner

from autorecipe.cli import main
from events.segments import list_segments


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "demo"
    result = CliRunner().invoke(main, ["synth", str(path), "--trials", "60", "--seed", "2"])
    assert result.exit_code == 0, result.output
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_help_teaches_the_commands():
    out = invoke("--help").output
    for word in ("replay", "log", "export", "RUN_DIR"):
        assert word in out


def test_replay_prints_leaderboard_chain_and_digest(run_dir):
    out = invoke("replay", run_dir).output
    assert "leaderboard" in out and "best lineage (root → best)" in out and "digest" in out
    data = json.loads(invoke("replay", run_dir, "--json").output)
    assert data["best_chain"][0] == "t000000" and data["best_chain"][-1] == data["best"]["trial_id"]
    assert data["digest"] in out
    early = json.loads(invoke("replay", run_dir, "--json", "--until", 30).output)
    assert early["events"] == 30 and early["digest"] != data["digest"]


def test_log_filters_by_type_and_stream(run_dir):
    out = invoke("log", run_dir, "--type", "trial.evaluated", "--limit", 3).output.strip().split("\n")
    assert len(out) == 3 and all(" trial.evaluated " in line for line in out)
    lines = invoke("log", run_dir, "--stream", "trial/t000001", "--json").output.strip().split("\n")
    records = [json.loads(line) for line in lines]
    assert {r["stream"] for r in records} == {"trial/t000001"}
    assert [r["stream_version"] for r in records] == list(range(len(records)))


def test_export_writes_tsv(run_dir, tmp_path):
    out = tmp_path / "results.tsv"
    assert invoke("export", run_dir, "--tsv", "-o", out).exit_code == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "commit\tval_bpb\tmemory_gb\tstatus\tdescription" and len(rows) > 50
    ref = invoke("export", run_dir, "--tsv", "--format", "reference").output.splitlines()
    assert ref[0].startswith("exp_id\ttimestamp\tspecialist") and len(ref) == len(rows)


def test_errors_are_clear(tmp_path, run_dir):
    result = invoke("replay", tmp_path / "nothing")
    assert result.exit_code == 2 and "not a run directory" in result.output
    assert invoke("synth", run_dir).exit_code == 2  # never writes into an existing log


def test_corrupt_log_is_reported_with_segment_and_offset(tmp_path):
    path = tmp_path / "run"
    invoke("synth", path, "--trials", "20")
    seg = list_segments(path / "log")[0][1]
    buf = bytearray(seg.read_bytes())
    buf[200] ^= 1
    seg.write_bytes(bytes(buf))
    result = invoke("replay", path)
    assert result.exit_code == 2 and seg.name in result.output and "event offset" in result.output
