"""The driver's no-progress watchdog: an open trial nobody left can move is named, and nothing
else is."""

import tempfile

from autorecipe.watchdog import live_roles, stuck
from events import EventStore, RunState
from tests.conftest import claimed, evaluated, executed, new, proposed, run_started

ALL = {"specialist": 1, "executor": 1, "evaluator": 1}


def _state(*events) -> RunState:
    batch = [new(run_started(), "run", -1)] + [new(e, f"trial/{e.trial_id}") for e in events]
    with tempfile.TemporaryDirectory() as d, EventStore(d, fsync=False) as store:  # folded as the driver folds it
        store.append(batch)
        records, _ = store.read(0, 100)
    return RunState().apply_all(records)


def test_a_trial_that_ran_with_no_evaluator_left_is_stuck():
    st = _state(proposed("t0000"), claimed("t0000"), executed("t0000"))
    assert stuck(st, ALL) is None
    found = stuck(st, {**ALL, "evaluator": 0})
    assert found.trials == ("t0000",) and "be judged" in found.detail and "no evaluator" in found.detail


def test_a_runnable_trial_with_no_executor_left_is_stuck():
    st = _state(proposed("t0000"), proposed("t0001"))
    found = stuck(st, {**ALL, "executor": 0})
    assert set(found.trials) == {"t0000", "t0001"} and "no executor" in found.detail
    assert stuck(st, {**ALL, "evaluator": 0}) is None  # nobody needs an evaluator yet


def test_no_open_trial_and_no_specialist_is_stuck_without_trials_to_cancel():
    st = _state(proposed("t0000"), claimed("t0000"), executed("t0000"))
    assert stuck(st, {**ALL, "specialist": 0}) is None  # a trial is still being judged
    done = _state(proposed("t0000"), claimed("t0000"), executed("t0000"), evaluated("t0000", 1.0))
    found = stuck(done, {**ALL, "specialist": 0})
    assert found.trials == () and "no specialist" in found.detail


def test_live_roles_count_what_the_driver_has_not_given_up_on():
    actors = {"agent/a": 1, "executor/0": 1, "executor/1": 1, "evaluator/0": 1}
    roles = {"agent/": "specialist", "executor/": "executor", "evaluator/": "evaluator"}
    assert live_roles(actors, {"executor/0", "evaluator/0"}, roles) == {"specialist": 1, "executor": 1, "evaluator": 0}
