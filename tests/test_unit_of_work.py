"""The one rule for every actor, without Ray: an exception inside a unit of work ends that unit
with a recorded outcome (retried once, then given up), and an actor whose run() raised picks up
what it had left open when run() is called again."""

import pytest

import actors.shell as executor_module  # where the shell runs trials
from actors.config import RunConfig
from actors.evaluator import Evaluator
from actors.executor import Executor
from actors.judge import judge
from actors.log_client import LocalLog
from actors.start import run_started
from actors.supervisor import Supervisor
from environments import registry
from events import EventStore, Fingerprint, RunDir, RunState, TrialExecuted

SPEC = registry.get("dryrun")


def _loop(tmp_path, runner="zero"):
    store = EventStore(tmp_path / "log", fsync=False)
    log = LocalLog(store, RunDir(tmp_path).blobs())
    config = RunConfig(env="dryrun", runner=runner, trials=1, agents=[])
    store.append([run_started("u", config, SPEC, Fingerprint(hostname="h", platform="p", python="3"))])
    return store, log


def _records(tmp_path):
    return list(RunDir(tmp_path).reader().iter_records())


def test_an_exception_inside_a_trial_loses_the_attempt_and_the_retry_runs(tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("AUTORECIPE_DATA", str(data_root))
    from environments.data import prepared_data

    data = prepared_data(SPEC, log=lambda m: None)
    real, calls = executor_module.run_trial, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the node's disk went away for a moment")
        return real(*args, **kwargs)

    monkeypatch.setattr(executor_module, "run_trial", flaky)
    store, log = _loop(tmp_path, runner="sandbox")
    sup = Supervisor(log, [], SPEC.baseline_code())
    ex = Executor(log, SPEC, "executor/0", data, tmp_path / "scratch")
    ev = Evaluator(log, SPEC, "evaluator/0", data)
    for _ in range(20):
        for r in (sup, ex, ev):
            r.step()
    st = RunState().apply_all(_records(tmp_path))
    lost = [r.event for r in _records(tmp_path) if r.type == "trial.lost"]
    assert len(lost) == 1 and "RuntimeError: the node's disk went away" in lost[0].reason
    assert st.trials.rows["t0000"].attempt == 2 and st.trials.rows["t0000"].verdict == "valid"
    store.close()


def test_an_executor_whose_run_raised_recovers_its_claim_when_run_again(tmp_path):
    store, log = _loop(tmp_path)

    class Failing(LocalLog):
        armed = True

        def append(self, batch):
            if self.armed and any(isinstance(e.event, TrialExecuted) for e in batch):
                Failing.armed = False
                raise ConnectionError("the log did not answer")
            return super().append(batch)

    flaky = Failing(store, RunDir(tmp_path).blobs())
    sup = Supervisor(log, [], SPEC.baseline_code())
    ex = Executor(flaky, SPEC, "executor/0", None, tmp_path / "scratch")
    sup.step()
    with pytest.raises(ConnectionError):
        for _ in range(5):
            ex.step()
    ex.run(should_exit=lambda: True)  # what the driver does after run() raised: call it again
    ev = Evaluator(log, SPEC, "evaluator/0", None)
    for _ in range(20):
        for r in (sup, ex, ev):
            r.step()
    lost = [r.event for r in _records(tmp_path) if r.type == "trial.lost"]
    assert [(e.trial_id, e.attempt) for e in lost] == [("t0000", 1)]
    assert RunState().apply_all(_records(tmp_path)).trials.rows["t0000"].verdict == "valid"
    store.close()


def test_an_evaluation_that_raises_once_is_tried_again_and_twice_is_a_harness_abort():
    executed = TrialExecuted(trial_id="t1", attempt=1, executor="x", phases=[], outputs={})
    failures = []

    def once(*args):
        if not failures:
            failures.append(1)
            raise OSError("a blob read failed")
        return "judged"

    assert judge(once, executed, None, None, None) == "judged"

    def always(*args):
        raise KeyError("out/pred.npy")

    verdict = judge(always, executed, None, None, None)
    assert verdict.verdict == "harness_abort" and verdict.trial_id == "t1"
    assert "KeyError" in verdict.feedback and "out/pred.npy" in verdict.checks[0].evidence
    assert "test_unit_of_work.py" in verdict.checks[0].evidence  # where it was raised
