"""replay --verify: a run from the suite passes; a forged verdict, a swapped recipe and a trial
that slipped out of its surface are divergences."""

import msgspec
from click.testing import CliRunner

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from autorecipe.cli import main
from autorecipe.verify import verify_run
from environments import registry
from events import EventStore, NewEvent, RunDir, TrialEvaluated, TrialProposed

SPEC = registry.get("dryrun")


def _run(path):
    config = RunConfig(env="dryrun", runner="zero", fsync=False, trials=12)
    run_local(path, SPEC, config, {a.name: LibraryProposer() for a in SPEC.specialists})
    return path


def _copy(src, dst, change):
    """The run's records rewritten into a fresh log, `change(record)` giving each event: the
    frames are valid, so only an audit of content can tell."""
    with EventStore(dst / "log", fsync=False) as store:
        for r in RunDir(src).reader().iter_records():
            store.append([NewEvent(event=change(r), stream=r.stream, event_id=r.event_id, producer=r.producer,
                                   wall_time_ns=r.wall_time_ns)])
    (dst / "blobs").symlink_to(src / "blobs")
    return dst


def test_a_run_from_the_loop_verifies_clean(tmp_path):
    run = _run(tmp_path / "r")
    audit = verify_run(run)
    assert audit.divergences == [] and audit.verdicts_checked >= 12 and audit.trials_checked >= 13
    result = CliRunner().invoke(main, ["replay", str(run), "--verify"])
    assert result.exit_code == 0 and "0 divergence(s)" in result.output


def test_a_forged_verdict_is_a_divergence(tmp_path):
    run = _run(tmp_path / "r")

    victim = next(r.event.trial_id for r in RunDir(run).reader().iter_records()
                  if isinstance(r.event, TrialEvaluated) and r.event.trial_id != "t0000" and r.event.score is not None)

    def forge(r):
        ev = r.event
        if isinstance(ev, TrialEvaluated) and ev.trial_id == victim:
            return msgspec.structs.replace(ev, score=ev.score - 5.0)
        return ev

    forged = _copy(run, tmp_path / "forged", forge)
    audit = verify_run(forged)
    assert [d.trial_id for d in audit.divergences] == [victim]
    assert "score" in audit.divergences[0].what
    result = CliRunner().invoke(main, ["replay", str(forged), "--verify"])
    assert result.exit_code == 1 and victim in result.output


def test_a_swapped_recipe_is_a_divergence(tmp_path):
    run = _run(tmp_path / "r")
    other = RunDir(run).blobs().put(b"A = 3.0\nWIDTH = 32\nPRECISION = 16\nB = -1.0\n")

    def swap(r):
        ev = r.event
        if isinstance(ev, TrialProposed) and ev.trial_id == "t0002":
            return msgspec.structs.replace(ev, code={"knobs.py": other})
        return ev

    audit = verify_run(_copy(run, tmp_path / "swapped", swap))
    assert any(d.trial_id == "t0002" and "code_sha256" in d.what for d in audit.divergences)


def test_show_prints_a_trial_with_its_diff_and_verdict(tmp_path):
    run = _run(tmp_path / "r")
    result = CliRunner().invoke(main, ["show", str(run), "t0001"])
    assert result.exit_code == 0, result.output
    assert "t0001  by" in result.output and "verdict" in result.output and "+++ b/knobs.py" in result.output
    missing = CliRunner().invoke(main, ["show", str(run), "t9999"])
    assert missing.exit_code != 0 and "no trial" in missing.output


def test_report_writes_figures_tables_and_the_surface_audit(tmp_path):
    run = _run(tmp_path / "r")
    result = CliRunner().invoke(main, ["report", str(run)])
    assert result.exit_code == 0, result.output
    out = run / "report"
    for name in ("best_vs_trials.png", "best_vs_compute.png", "statuses.png", "predicted_vs_realized.png",
                 "lineage.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    audit = (out / "surface_audit.tsv").read_text().splitlines()
    assert audit[0].startswith("agent\ttrials") and {line.split("\t")[0] for line in audit[1:]} == {"alpha", "beta"}
    assert all(line.endswith("1.000") for line in audit[1:])  # the library never leaves its surface
    assert (out / "results.tsv").read_text().count("\n") >= 12
