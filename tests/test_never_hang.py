"""A run never hangs and never collides with another: on a real Ray, an exception inside each
actor kind's unit of work ends that unit with a recorded outcome and the run finishes (or stops
with a reason) in bounded time; two runs whose directories share a basename, at the same time,
get the verdicts each gets alone."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import ray

from actors.config import RunConfig
from actors.eventlog import LOG_RESOURCE
from autorecipe.launch import launch
from events import LogReader, RunState
from tests.faulty import RaisingProposer

pytestmark = [pytest.mark.slow, pytest.mark.faults]
BOUND_S = 150  # generous: a loaded 2-core machine; a hang is forever


@pytest.fixture(scope="module")
def ray_address():
    os.environ["DRYRUN_EVAL_DELAY_S"] = "0.3"  # inherited by the workers: a verdict takes a moment
    ray.init(address="local", num_cpus=2, resources={LOG_RESOURCE: 1}, object_store_memory=128 * 1024**2,
             include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        os.environ.pop("DRYRUN_EVAL_DELAY_S", None)


def _records(run: Path):
    return list(LogReader(run / "log").iter_records())


def _bounded(fn, *args, **kwargs):
    box = {}

    def target():
        try:
            box["done"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(BOUND_S)
    assert not t.is_alive(), f"the run did not finish within {BOUND_S} s: it hangs"
    assert "error" not in box, box.get("error")
    return box["done"]


def _stop(run: Path):
    (req,) = [r.event for r in _records(run) if r.type == "run.stop_requested"]
    assert [r.type for r in _records(run)][-1] == "run.stopped"
    return req


def _verdict(run: Path, tid: str):
    return [r.event for r in _records(run) if r.type == "trial.evaluated" and r.event.trial_id == tid][-1]


def test_an_evaluator_that_raises_on_one_trial_aborts_that_trial_and_the_run_goes_on(ray_address, tmp_path):
    run = tmp_path / "run"
    _bounded(launch, run, RunConfig(env="tests.faulty:EVALUATOR_RAISES", runner="zero", trials=3, executors=1,
                                    agents=["alpha"]), echo=lambda m: None)
    bad = _verdict(run, "t0001")
    assert bad.verdict == "harness_abort" and "KeyError" in bad.checks[0].evidence and "missing.txt" in bad.feedback
    assert _verdict(run, "t0000").verdict == "valid"
    assert _stop(run).reason == "trial_budget"


def test_an_evaluator_that_cannot_be_imported_stops_the_run_with_the_reason(ray_address, tmp_path):
    run = tmp_path / "run"
    _bounded(launch, run, RunConfig(env="tests.faulty:EVALUATOR_MISSING", runner="zero", trials=3, executors=1),
             echo=lambda m: None)
    base = _verdict(run, "t0000")
    assert base.verdict == "harness_abort" and "ModuleNotFoundError" in base.checks[0].evidence
    stop = _stop(run)
    assert stop.reason == "baseline_failed" and "cannot be loaded" in stop.detail


def test_an_executor_exception_inside_a_trial_is_lost_retried_once_then_aborted(ray_address, tmp_path):
    run = tmp_path / "run"  # a tier's budget names a phase that does not exist: every attempt raises
    _bounded(launch, run, RunConfig(env="tests.faulty:BUDGET_TYPO", runner="sandbox", trials=3, executors=1),
             echo=lambda m: None)
    records = _records(run)
    lost = [r.event for r in records if r.type == "trial.lost"]
    assert [(e.trial_id, e.attempt) for e in lost] == [("t0000", 1), ("t0000", 2)]
    assert all("KeyError" in e.reason and "train" in e.reason for e in lost)
    base = _verdict(run, "t0000")
    assert base.verdict == "harness_abort" and "KeyError" in base.checks[0].evidence
    assert _stop(run).reason == "baseline_failed"


def test_a_proposer_that_raises_stops_its_specialist_and_the_run_with_a_reason(ray_address, tmp_path):
    run = tmp_path / "run"
    _bounded(launch, run, RunConfig(env="dryrun", runner="zero", trials=3, executors=1, agents=["alpha"]),
             proposers={"alpha": RaisingProposer()}, echo=lambda m: None)
    ended = [r.event for r in _records(run) if r.type == "agent.session_ended"]
    assert [e.outcome for e in ended] == ["error", "failed"]
    assert all("RuntimeError" in e.detail for e in ended)
    stop = _stop(run)
    assert stop.reason == "error" and "the proposer's own bug" in stop.detail


def test_with_every_evaluator_gone_the_watchdog_closes_the_run_naming_what_is_stuck(ray_address, tmp_path):
    run = tmp_path / "run"
    config = RunConfig(env="dryrun", runner="zero", trials=4, executors=1, agents=["alpha"])
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("done", launch(run, config, echo=lambda m: None)), daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # a trial has run and its verdict takes 0.3 s: now
        if (run / "log").is_dir() and any(r.type == "trial.executed" for r in _records(run)):
            break
        time.sleep(0.02)
    run_id = _records(run)[0].event.run_id
    ray.kill(ray.get_actor(f"{run_id}/evaluator/0"), no_restart=True)  # gone for good, mid-evaluation
    t.join(BOUND_S)
    assert not t.is_alive(), f"the run did not finish within {BOUND_S} s: it hangs"
    records = _records(run)
    ran = {r.event.trial_id for r in records if r.type == "trial.executed"}
    judged = {r.event.trial_id for r in records if r.type == "trial.evaluated"}
    cancelled = {r.event.trial_id: r.event.reason for r in records if r.type == "trial.cancelled"}
    waiting = ran - judged
    assert waiting, "every trial that ran was judged before the kill: the test did not test the watchdog"
    assert all("no evaluator is left" in cancelled.get(tid, "") for tid in waiting), cancelled
    assert records[-1].type == "run.stopped"


def _verdicts(run: Path) -> list[tuple]:
    st = RunState().apply_all(_records(run))
    return sorted((r.trial_id, r.attempt, r.verdict, r.score) for r in st.trials.rows.values())


def test_two_runs_with_one_basename_at_once_get_the_verdicts_each_gets_alone(ray_address, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTORECIPE_SCRATCH", str(tmp_path / "scratch"))  # one scratch root, as by default
    # 2-second sandboxed trials, so the two runs' work dirs exist at the same time
    config = RunConfig(env="dryrun", env_options={"delay_s": "1.5"}, runner="sandbox", trials=3, executors=1,
                       agents=["alpha"])
    alone = tmp_path / "alone" / "run1"
    _bounded(launch, alone, config, echo=lambda m: None)
    expected = _verdicts(alone)
    assert len(expected) == 4 and all(v[1] == 1 and v[2] not in (None, "harness_abort") for v in expected)
    runs = [tmp_path / "a" / "run1", tmp_path / "b" / "run1"]
    threads = [threading.Thread(target=_bounded, args=(launch, r, config), kwargs={"echo": lambda m: None})
               for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * BOUND_S)
    for r in runs:
        assert _verdicts(r) == expected, f"{r}: another run with the same basename changed its verdicts"
        assert not [x for x in _records(r) if x.type == "trial.lost"]
    assert not os.listdir(tmp_path / "scratch"), "work dirs were left behind"
