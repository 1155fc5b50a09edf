"""replay --verify: a run from the suite passes; a forged verdict, a swapped recipe and a trial
that slipped out of its surface are divergences."""

import msgspec
from click.testing import CliRunner

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.changes import make_change
from agents.library import LibraryProposer
from autorecipe.cli import main
from autorecipe.report import write_report
from autorecipe.surface_audit import touch
from autorecipe.verify import verify_run
from environments import registry
from environments.spec import Edit
from events import EventStore, NewEvent, RunDir, TrialEvaluated, TrialProposed, replay
from tests.loop_scripts import scripts

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
    touches = [line.split("\t") for line in (out / "surface_touches.tsv").read_text().splitlines()]
    assert touches[0] == ["trial", "agent", "status", "owns", "touched", "surfaces", "unowned", "in_surface"]
    assert len(touches) - 1 == sum(int(line.split("\t")[1]) for line in audit[1:])  # a row per diff counted
    assert all(t[3] == f"knobs.py:{t[1]}" and t[5] == t[1] and t[6] == "" and t[7] == "yes" for t in touches[1:])


def test_the_report_names_the_surfaces_a_diff_reached_into(tmp_path):
    run = tmp_path / "r"
    run_local(run, SPEC, RunConfig(env="dryrun", runner="zero", fsync=False, trials=8), scripts())
    out = write_report(run)
    rows = {t[0]: t for t in (line.split("\t") for line in (out / "surface_touches.tsv").read_text().splitlines())}
    reach = next(r.trial_id for r in replay(run).trials.rows.values() if r.hypothesis == "reach into beta")
    assert rows[reach][1:] == ["alpha", "out_of_surface", "knobs.py:alpha", "knobs.py:beta", "beta", "", "no"]
    audit = {line.split("\t")[0]: line.split("\t") for line in (out / "surface_audit.tsv").read_text().splitlines()}
    assert audit["alpha"][3] == "1" and audit["beta"][3] == "0"  # the per-agent summary counts it too


def test_a_diff_is_cut_into_pieces_and_each_given_its_owners():
    surfaces = {s.name: s.surface for s in SPEC.specialists}
    knobs = (SPEC.root / "recipe" / "knobs.py").read_bytes()
    both = make_change({"knobs.py": knobs}, [Edit("knobs.py", "A = 0.0", "A = 1.0"), Edit("knobs.py", "B = 1.0", "B = 2.0"),
                                             Edit("knobs.py", "nothing trains.", "nothing trains!")])
    t = touch("t1", "beta", "discard", both, surfaces)
    assert t.pieces == ("knobs.py", "knobs.py:alpha", "knobs.py:beta")  # the docstring is outside every region
    assert t.surfaces == ("alpha", "beta") and t.unowned == ("knobs.py",) and not t.in_surface
    own = touch("t2", "beta", "keep", make_change({"knobs.py": knobs}, [Edit("knobs.py", "B = 1.0", "B = 2.0")]), surfaces)
    assert own.surfaces == ("beta",) and own.unowned == () and own.in_surface


def test_fork_without_start_only_writes_the_new_run(tmp_path):
    run = _run(tmp_path / "r")
    cut = next(r.offset for r in RunDir(run).reader().iter_records() if r.type == "trial.evaluated")
    result = CliRunner().invoke(main, ["fork", str(run), "--at", str(cut), str(tmp_path / "f")])
    assert result.exit_code == 0 and "autorecipe run --resume" in result.output, result.output
    forked = replay(tmp_path / "f")
    assert forked.next_offset == cut and not forked.run.stopped  # written, not continued
    wrong = CliRunner().invoke(main, ["fork", str(run), "--at", str(cut), str(tmp_path / "g"), "--address", "auto"])
    assert wrong.exit_code == 2 and "only with --start" in wrong.output and not (tmp_path / "g").exists()


def test_the_report_draws_no_empty_figure_and_cuts_hypotheses_at_a_word(tmp_path):
    import msgspec

    from autorecipe.report import hypothesis_label
    from events import EventStore
    from tests.conftest import lifecycle, new, run_started

    assert hypothesis_label("raise the Muon learning rate on matrix params and warm down longer", 40) == \
        "raise the Muon learning rate on matrix …"
    assert hypothesis_label("short") == "short" and hypothesis_label("   ") == ""
    run = tmp_path / "r"
    with EventStore(run / "log", fsync=False) as store:  # nobody stated an expected delta
        batch = [new(run_started(), "run", -1)]
        for i in range(3):
            events = lifecycle(f"t{i}", 2.0 - i / 10, f"t{i - 1}" if i else None)
            events[0] = msgspec.structs.replace(events[0], event=msgspec.structs.replace(events[0].event,
                                                                                       expected_delta=None))
            batch += events
        store.append(batch)
    out = write_report(run)
    assert not (out / "predicted_vs_realized.png").exists()
    assert "No predicted-vs-realized figure" in (out / "report.md").read_text()
    assert (out / "best_vs_trials.png").read_bytes()[:4] == b"\x89PNG"
