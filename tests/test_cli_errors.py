"""The usual mistakes at the command line: each is one clear message and a non-zero exit, never a
traceback (unless --debug), and every problem `replay --verify` finds is listed, not the first."""

import os

import pytest
from click.testing import CliRunner

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from autorecipe.cli import main
from environments import registry
from events import EventStore, NewEvent, RunDir, RunStarted, TrialExecuted
from events.segments import list_segments

SPEC = registry.get("dryrun")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(result, *words):
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.startswith("error: ") or "Error: " in result.output, result.output
    for w in words:
        assert w in result.output, result.output


@pytest.fixture
def stopped_run(tmp_path):
    path = tmp_path / "run"
    run_local(path, SPEC, RunConfig(env="dryrun", runner="zero", fsync=False, trials=4),
              {a.name: LibraryProposer() for a in SPEC.specialists})
    return path


def _outputs(run):
    return [r.event for r in RunDir(run).reader().iter_records() if isinstance(r.event, TrialExecuted)]


def test_verify_lists_every_missing_and_damaged_blob(stopped_run):
    executed = _outputs(stopped_run)
    blobs = RunDir(stopped_run).blobs()
    gone = executed[1].outputs["out/knobs.py"]
    damaged = executed[2].outputs["out/knobs.py"]
    assert gone.sha256 != damaged.sha256
    blobs.path_of(gone.sha256).unlink()
    blobs.path_of(damaged.sha256).write_bytes(b"A = 1\n")
    result = invoke("replay", stopped_run, "--verify")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "is not in" in result.output and "is damaged" in result.output  # both, not the first
    assert executed[1].trial_id in result.output and executed[2].trial_id in result.output


def test_verify_fails_a_stopped_run_whose_log_was_cut_to_half(stopped_run):
    assert invoke("replay", stopped_run, "--verify").exit_code == 0
    (_, segment), = list_segments(stopped_run / "log")
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) // 2])
    result = invoke("replay", stopped_run, "--verify")
    assert result.exit_code == 1 and "COMMITTED says" in result.output and "missing" in result.output


def test_show_on_a_folder_that_is_not_a_run(tmp_path):
    _one_line_error(invoke("show", tmp_path, "t0000"), "is not a run directory")


def test_a_second_driver_on_a_live_run_is_refused_clearly(stopped_run, tmp_path):
    live = tmp_path / "live"
    with EventStore(live / "log"), EventStore(stopped_run / "log"):  # as the run's EventLog holds it
        _one_line_error(invoke("run", live, "--resume"), "open for writing by another process")
        _one_line_error(invoke("run", stopped_run, "--env", "dryrun"), "the run is live")


def test_resume_refuses_the_flags_it_would_ignore(stopped_run):
    result = invoke("run", stopped_run, "--resume", "--env", "dryrun", "--trials", "9")
    assert result.exit_code == 2 and "--env" in result.output and "--trials" in result.output
    assert "would" in result.output and "ignore" in result.output and "fork" in result.output


def test_verify_of_a_run_whose_environment_package_is_gone(stopped_run, tmp_path):
    moved = tmp_path / "moved"
    with EventStore(moved / "log", fsync=False) as store:
        for r in RunDir(stopped_run).reader().iter_records():
            ev = r.event
            if isinstance(ev, RunStarted):
                ev = RunStarted(**{**{f: getattr(ev, f) for f in ev.__struct_fields__},
                                   "config": {**ev.config, "env": "gone_pkg.envs:SPEC"}})
            store.append([NewEvent(event=ev, stream=r.stream, event_id=r.event_id, producer=r.producer,
                                   wall_time_ns=r.wall_time_ns)])
    os.symlink(stopped_run / "blobs", moved / "blobs")
    assert invoke("replay", moved).exit_code == 0  # the log alone needs no environment
    result = invoke("replay", moved, "--verify")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "gone_pkg" in result.output and "PYTHONPATH" in result.output


def test_trial_exits_non_zero_unless_the_verdict_is_valid(tmp_path):
    broken = tmp_path / "knobs.py"
    broken.write_text((SPEC.root / "recipe" / "knobs.py").read_text().replace("B = 1.0", "C = 1.0"))
    result = invoke("trial", "dryrun", "--recipe", broken, "--scratch", tmp_path / "scratch")
    assert result.exit_code == 1 and "verdict   crash" in result.output


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(stopped_run, monkeypatch):
    import autorecipe.render

    def boom(*a, **k):
        raise RuntimeError("a bug in the summary")

    monkeypatch.setattr(autorecipe.render, "summary_text", boom)
    result = invoke("replay", stopped_run)
    assert result.exit_code == 2 and result.output.startswith("error: RuntimeError: a bug in the summary")
    assert "--debug" in result.output
    debug = invoke("--debug", "replay", stopped_run)
    assert isinstance(debug.exception, RuntimeError)


def test_llm_endpoints_with_bad_values_are_refused_before_the_run(tmp_path):
    config = tmp_path / "llm.toml"
    config.write_text('[endpoints.local]\nbase_url = "not a url"\nmodel = "m"\nmax_concurrency = -3\n')
    result = invoke("run", tmp_path / "run", "--env", "dryrun", "--llm-config", config, "--llm", "local")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "base_url 'not a url'" in result.output and "max_concurrency = -3" in result.output
    assert str(config) in result.output and not (tmp_path / "run").exists()
    result = invoke("run", tmp_path / "run", "--env", "dryrun", "--llm", "vllm:m", "--llm-base-url", "localhost:8000")
    assert result.exit_code == 2 and "base_url 'localhost:8000'" in result.output
