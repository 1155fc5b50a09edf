"""The reactor contract: a reactor decides (events to append, or one piece of work) and only the
shell (actors/shell.py) appends, stores blobs, runs trials, judges and asks proposers. Checked
twice: by reading the reactor modules, and by running whole loops over a log that refuses any
append or blob put that does not come through the shell. Each check is shown to catch a breach."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import actors.local_loop as local_loop
from actors.config import RunConfig
from actors.decisions import Append
from actors.evaluator import Evaluator
from actors.executor import Executor
from actors.local_loop import run_local
from actors.log_client import LocalLog
from actors.specialist import MAX_ID_RACES, Specialist
from actors.start import run_started
from actors.supervisor import Supervisor
from agents.library import LibraryProposer
from environments import registry
from events import EventStore, Fingerprint, RunDir, RunState, TrialProposed, WrongExpectedVersion
from tests.loop_scripts import scripts

SPEC = registry.get("dryrun")
ROOT = Path(__file__).resolve().parent.parent
PERFORMERS = ("actors.shell", "actors.trial_runner", "actors.zero_work")  # the shell and the work it runs
LOG_CLIENTS = ("actors.log_client",)  # BlobsVia: the blob store the shell hands a trial
REACTOR_MODULES = ("actors.reactor", "actors.specialist", "actors.executor", "actors.evaluator",
                   "actors.supervisor", "actors.attempts", "actors.decisions")
# what only the shell may do: write to the log or the blob store, run a trial, judge, ask a proposer
FORBIDDEN_CALLS = {"append": ("log", "store"), "put_blob": None, "put": None, "put_text": None, "propose": None,
                   "run_trial": None, "zero_work": None, "judge": None}


def breaches(source: str) -> list[str]:
    """Calls in `source` that only the shell may make: `log.append(...)` (on anything named log
    or store), any `put_blob`/`put`/`put_text`, `propose`, `run_trial`, `zero_work`, `judge`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name not in FORBIDDEN_CALLS:
            continue
        receivers = FORBIDDEN_CALLS[name]
        if receivers is not None:
            if not isinstance(func, ast.Attribute):
                continue
            owner = func.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if owner_name not in receivers:
                continue
        found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_reactor_module_appends_stores_runs_or_asks_a_proposer():
    for module in REACTOR_MODULES:
        path = ROOT / (module.replace(".", "/") + ".py")
        assert breaches(path.read_text()) == [], f"{path} does what only the shell may do"


def test_the_reading_check_catches_a_reactor_that_appends_on_its_own():
    rogue = ("class Rogue(Reactor):\n    def react(self):\n        self.log.append([self.event(e, 's')])\n"
             "        ref = self.log.put_blob(b'x')\n        return self.proposer.propose(ctx)\n")
    assert len(breaches(rogue)) == 3
    assert breaches("def react(self):\n    batch = []\n    batch.append(1)\n    return Append(batch)\n") == []


class DirectAppend(BaseException):
    """A BaseException, so no `except Exception` on the way (a trial's, a proposer's) hides it."""


def _caller_is_the_shell() -> bool:
    """Whether the code that called the log (past any log client in between) is the shell or the
    work it performs."""
    frame = sys._getframe(3)  # past this function, _check and the append or put_blob
    while frame is not None and frame.f_globals.get("__name__") in LOG_CLIENTS:
        frame = frame.f_back
    return frame is not None and frame.f_globals.get("__name__") in PERFORMERS


class ShellOnlyLog(LocalLog):
    calls = 0

    def append(self, batch):
        self._check("append")
        return super().append(batch)

    def put_blob(self, data):
        self._check("put_blob")
        return super().put_blob(data)

    def _check(self, what: str) -> None:
        if not _caller_is_the_shell():
            raise DirectAppend(f"{what} called by a reactor, not through the shell")
        ShellOnlyLog.calls += 1


@pytest.fixture
def shell_only(monkeypatch):
    monkeypatch.setattr(local_loop, "LocalLog", ShellOnlyLog)
    ShellOnlyLog.calls = 0


def _run(path: Path, proposers: dict, runner: str = "zero", data: Path | None = None, **kw):
    config = RunConfig(env="dryrun", runner=runner, fsync=False, agents=list(proposers), **kw)
    run_local(path, SPEC, config, proposers, data=data, scratch=path.parent / f"{path.name}-work", executors=2)
    return RunState().apply_all(RunDir(path).reader().iter_records())


def test_whole_runs_append_only_through_the_shell(tmp_path, shell_only):
    st = _run(tmp_path / "scripted", scripts(), trials=8)
    assert st.run.stopped and len(st.trials.rows) == 9
    st = _run(tmp_path / "library", {a.name: LibraryProposer() for a in SPEC.specialists}, trials=6)
    assert st.run.stopped and ShellOnlyLog.calls > 50


def test_sandboxed_trials_store_their_outputs_only_through_the_shell(tmp_path, shell_only, monkeypatch, data_root):
    monkeypatch.setenv("AUTORECIPE_DATA", str(data_root))
    from environments.data import prepared_data

    data = prepared_data(SPEC, log=lambda m: None)
    st = _run(tmp_path / "r", {"alpha": scripts()["alpha"]}, runner="sandbox", data=data, trials=2)
    assert st.run.stopped and st.trials.rows["t0001"].phase == "evaluated"


def test_llm_sessions_record_their_exchanges_only_through_the_shell(tmp_path, shell_only):
    from agents.llm.config import Endpoint
    from agents.llm.session import LLMProposer
    from tests.fake_llm_server import FakeLLM
    from tests.llm_responders import climber

    with FakeLLM(responder=climber) as fake:
        ep = Endpoint(name="fake", api="openai_chat", base_url=fake.base_url, model="fake-model", retries=1)
        st = _run(tmp_path / "r", {"alpha": LLMProposer(ep)}, trials=2)
    assert st.run.stopped and st.ledger.total.llm_calls >= 2


def test_the_running_check_catches_a_reactor_that_appends_on_its_own(tmp_path):
    store = EventStore(tmp_path / "log", fsync=False)
    log = ShellOnlyLog(store, RunDir(tmp_path).blobs())
    store.append([run_started("rogue", RunConfig(env="dryrun", runner="zero", trials=1), SPEC,
                              Fingerprint(hostname="h", platform="p", python="3"))])

    class Rogue(Supervisor):
        def react(self):
            self.log.put_blob(b"decided and stored at once")
            return Append()

    with pytest.raises(DirectAppend):
        Rogue(log, [], SPEC.baseline_code()).step()
    Supervisor(log, [], SPEC.baseline_code()).step()  # the same through the shell is fine
    store.close()


def test_a_session_that_loses_every_trial_id_race_still_ends_recorded(tmp_path):
    """Another specialist takes each next trial id first, every time: the session gives up after
    MAX_ID_RACES tries, and its end is in the log all the same."""
    store = EventStore(tmp_path / "log", fsync=False)
    tries = []

    class AlwaysTaken(LocalLog):
        def append(self, batch):
            for e in batch:
                if isinstance(e.event, TrialProposed) and e.event.agent == "alpha":
                    tries.append(e.event.trial_id)
                    raise WrongExpectedVersion(e.stream, e.expected_version, 0, e.event_id)
            return super().append(batch)

    log = AlwaysTaken(store, RunDir(tmp_path).blobs())
    store.append([run_started("races", RunConfig(env="dryrun", runner="zero", trials=3), SPEC,
                              Fingerprint(hostname="h", platform="p", python="3"))])
    loop = [Supervisor(log, ["alpha"], SPEC.baseline_code()), Executor(log, SPEC, "executor/0", None, tmp_path),
            Evaluator(log, SPEC, "evaluator/0", None)]
    for _ in range(10):
        for r in loop:
            r.step()
    alpha = Specialist(log, SPEC, "alpha", scripts()["alpha"])
    alpha.step()
    records = list(RunDir(tmp_path).reader().iter_records())
    ended = [r.event for r in records if r.type == "agent.session_ended"]
    assert len(tries) == MAX_ID_RACES
    assert [(e.agent, e.outcome, e.trial_id) for e in ended] == [("alpha", "error", None)]
    assert "took the next trial id" in ended[0].detail
    assert alpha.open_session is None
    store.close()
