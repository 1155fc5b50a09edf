"""The loop's reactors stepped in one process (no Ray): determinism, verdicts before execution,
the trial budget, the library policy and the stop conditions."""

import msgspec
import pytest

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from autorecipe.verify import verify_run
from environments import registry
from events import EventStore, RunDir, RunState
from tests.loop_scripts import scripts

SPEC = registry.get("dryrun")
FP = None


def _run(path, proposers=None, **cfg):
    config = RunConfig(env="dryrun", runner="zero", fsync=False, **{"trials": 8, **cfg})
    from events import Fingerprint

    run_local(path, SPEC, config, proposers or scripts(), executors=2,
              fingerprint=Fingerprint(hostname="h", platform="p", python="3"))
    rd = RunDir(path)
    records = list(rd.reader().iter_records())
    audit = verify_run(path)  # every run here passes replay --verify, its verdicts re-derived
    assert audit.divergences == [] and audit.verdicts_checked >= 1, audit.divergences
    return records, RunState().apply_all(records)


def _domain(records):
    """Each record's stream, type and payload; ids (the run's, the sessions') and times aside."""
    out = []
    for r in records:
        payload = msgspec.to_builtins(r.event)
        payload.pop("run_id", None)
        payload.pop("session_id", None)
        if r.type == "run.started":
            payload.pop("fingerprint")
        out.append((r.stream, r.stream_version, r.type, payload))
    return out


def test_same_seed_same_events_in_the_same_order(tmp_path):
    a, sa = _run(tmp_path / "a")
    b, sb = _run(tmp_path / "b")
    assert len(a) > 40
    assert _domain(a) == _domain(b)
    rows = lambda s: [(r.trial_id, r.parent_id, r.agent, r.status, r.score) for r in s.trials.rows.values()]  # noqa: E731
    assert rows(sa) == rows(sb)
    assert sa.trials.best_history == sb.trials.best_history


def test_scripted_run_labels_each_failure_and_stops_at_the_budget(tmp_path):
    _, st = _run(tmp_path / "r")
    rows = st.trials.rows
    by_hyp = {r.hypothesis: r for r in rows.values()}
    assert by_hyp["twice the width"].status == "size_blocked"
    assert "over by" in by_hyp["twice the width"].feedback
    assert by_hyp["reach into beta"].status == "out_of_surface" and "beta" in by_hyp["reach into beta"].feedback
    assert by_hyp["reach into beta"].phase == "evaluated" and by_hyp["reach into beta"].executor is None
    assert by_hyp["a search that is not there"].status == "invalid_edit"
    assert len(rows) == 1 + 8  # the baseline and exactly the budget
    assert st.run.stopped == "trial_budget"
    assert all(r.phase == "evaluated" for r in rows.values())
    best = st.trials.best
    assert best.score < rows["t0000"].score


def test_audit_mode_records_the_violation_and_runs_the_trial(tmp_path):
    _, st = _run(tmp_path / "r", surface_mode="audit")
    row = next(r for r in st.trials.rows.values() if r.hypothesis == "reach into beta")
    assert row.status in ("keep", "discard") and row.surface_violations


def test_library_turns_a_size_failure_into_a_paired_edit_and_reaches_the_optimum(tmp_path):
    _, st = _run(tmp_path / "r", proposers={a.name: LibraryProposer() for a in SPEC.specialists}, trials=40)
    rows = list(st.trials.rows.values())
    blocked = [r for r in rows if r.status == "size_blocked"]
    assert blocked
    for r in blocked:  # the same agent's next trial pairs the idea with a "smaller" edit
        nxt = next(x for x in rows if x.agent == r.agent and x.proposed_offset > r.evaluated_offset)
        assert nxt.technique == r.technique + "+precision=8", (r.technique, nxt.technique)
    assert st.trials.best.score == 1.2  # A=3, B=-1, WIDTH=64 with PRECISION=8
    tried = [(r.parent_id, r.technique) for r in rows]
    assert len(tried) == len(set(tried))  # nothing proposed twice on the same parent
    assert st.run.stopped == "exhausted"


def test_without_lineage_the_library_cannot_learn_from_failures(tmp_path):
    _, st = _run(tmp_path / "r", proposers={a.name: LibraryProposer() for a in SPEC.specialists}, trials=30,
                 lineage=False)
    rows = list(st.trials.rows.values())
    repeats = [(r.parent_id, r.technique) for r in rows]
    assert len(repeats) != len(set(repeats))  # blind to history, it repeats itself


def test_patience_stops_the_run(tmp_path):
    records, st = _run(tmp_path / "r", proposers={a.name: LibraryProposer() for a in SPEC.specialists}, trials=40,
                       patience=3)
    assert st.run.stopped == "patience"
    stop = next(r for r in records if r.type == "run.stop_requested")
    at_stop = RunState().apply_all(r for r in records if r.offset < stop.offset)
    assert at_stop.trials.evaluated - at_stop.trials.best_history[-1].evaluated >= 3
    assert not any(r.type == "trial.proposed" for r in records if r.offset > stop.offset)
    assert len(st.trials.rows) - 1 < 40


def test_a_session_that_loses_the_last_trial_slot_to_another_proposes_nothing(tmp_path):
    """Two specialists race for the last trial of the budget: the slower one ends its session
    without a trial, and the budget is exact (found on a two-node cluster)."""
    from actors.evaluator import Evaluator
    from actors.executor import Executor
    from actors.log_client import LocalLog
    from actors.specialist import Specialist
    from actors.start import run_started
    from actors.supervisor import Supervisor
    from events import Fingerprint

    store = EventStore(tmp_path / "log", fsync=False)
    log = LocalLog(store, RunDir(tmp_path).blobs())
    config = RunConfig(env="dryrun", runner="zero", trials=1)
    store.append([run_started("race", config, SPEC, Fingerprint(hostname="h", platform="p", python="3"))])
    beta = Specialist(log, SPEC, "beta", scripts()["beta"])

    class Racing:
        kind = "scripted"
        model = provider = None

        def propose(self, ctx):
            beta.step()  # beta sees alpha's session under way for the last trial: it opens none
            assert beta.sessions == 0 and beta.others_open
            beta.others_open.clear()  # as on another node that has not yet read alpha's session_started
            beta._dirty = True
            beta.step()  # beta's whole session happens while alpha's is under way
            return scripts()["alpha"].propose(ctx)

    alpha = Specialist(log, SPEC, "alpha", Racing())
    loop = [Supervisor(log, ["alpha", "beta"], SPEC.baseline_code()), Executor(log, SPEC, "executor/0", None, tmp_path),
            Evaluator(log, SPEC, "evaluator/0", None)]
    for _ in range(10):
        for r in loop:
            r.step()
    alpha.step()
    st = RunState().apply_all(RunDir(tmp_path).reader().iter_records())
    assert sorted(st.trials.rows) == ["t0000", "t0001"] and st.trials.rows["t0001"].agent == "beta"
    ended = [r.event for r in RunDir(tmp_path).reader().iter_records() if r.type == "agent.session_ended"]
    assert [(e.agent, e.outcome) for e in ended] == [("beta", "submitted"), ("alpha", "budget_used")]
    store.close()


@pytest.mark.faults
def test_a_damaged_recipe_blob_is_never_run_and_ends_as_harness_abort(tmp_path):
    from actors.executor import Executor
    from actors.log_client import LocalLog
    from actors.start import run_started
    from actors.supervisor import Supervisor

    rd = RunDir(tmp_path / "run")
    config = RunConfig(env="dryrun", runner="zero", fsync=False, trials=4)
    with rd.store(fsync=False) as store:
        log = LocalLog(store, rd.blobs())
        store.append([run_started("r", config, SPEC)])
        Supervisor(log, ["alpha", "beta"], SPEC.baseline_code()).step()  # proposes the baseline
        (ref,) = RunState().apply_all(store.read(0, 100)[0]).trials.rows["t0000"].code.values()
        path = rd.blobs().path_of(ref.sha256)
        path.write_bytes(path.read_bytes().replace(b"A = ", b"A =  "))  # one byte more: a damaged copy
        executor = Executor(log, SPEC, "executor/0", None, tmp_path / "work")
        executor.step()
        executor.step()
        records = list(rd.reader().iter_records())
    types = [r.type for r in records if r.stream == "trial/t0000"]
    assert "trial.executed" not in types
    assert types[-5:] == ["trial.lost", "trial.retried", "trial.claimed", "trial.lost", "trial.evaluated"]
    verdict = records[-1].event
    assert verdict.verdict == "harness_abort" and "is damaged" in verdict.feedback and ref.sha256 in verdict.feedback
