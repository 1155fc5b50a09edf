"""Shared builders: small, explicit events for tests that are about the log, not the loop."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from events import (
    EventStore,
    Fingerprint,
    KeepRule,
    NewEvent,
    Phase,
    RunStarted,
    TrialClaimed,
    TrialEvaluated,
    TrialExecuted,
    TrialProposed,
)

_ids = itertools.count()


def eid(prefix: str = "e") -> str:
    return f"{prefix}{next(_ids):08d}"


def new(event, stream: str, expected=None, event_id: str | None = None, producer: str = "test") -> NewEvent:
    return NewEvent(event=event, stream=stream, event_id=event_id or eid(), producer=producer,
                    expected_version=expected, wall_time_ns=1)


def run_started(direction: str = "minimize", margin: float = 0.0) -> RunStarted:
    return RunStarted(run_id="r", environment="golf-mini", tier="micro", config={"a": 1}, seed=7,
                      keep_rule=KeepRule(metric="val_bpb", direction=direction, noise_margin=margin),
                      fingerprint=Fingerprint(hostname="h", platform="p", python="3.11"))


def proposed(tid: str, parent: str | None = None, agent: str = "opt") -> TrialProposed:
    return TrialProposed(trial_id=tid, agent=agent, surface=agent, parent_id=parent, hypothesis=f"idea {tid}",
                         expected_delta=-0.01)


def claimed(tid: str, attempt: int = 1) -> TrialClaimed:
    return TrialClaimed(trial_id=tid, attempt=attempt, executor="x0")


def executed(tid: str, attempt: int = 1, cpu: float = 2.0) -> TrialExecuted:
    return TrialExecuted(trial_id=tid, attempt=attempt, executor="x0",
                         phases=[Phase(name="train", exit_code=0, wall_s=cpu, cpu_s=cpu),
                                 Phase(name="eval", exit_code=0, wall_s=1.0, cpu_s=1.0)])


def evaluated(tid: str, score: float | None, verdict: str = "valid", attempt: int = 1) -> TrialEvaluated:
    return TrialEvaluated(trial_id=tid, attempt=attempt, evaluator="ev", evaluator_version="1",
                          verdict=verdict, score=score)


def lifecycle(tid: str, score: float | None, parent: str | None = None, verdict: str = "valid",
              agent: str = "opt") -> list[NewEvent]:
    s = f"trial/{tid}"
    return [new(proposed(tid, parent, agent), s, -1), new(claimed(tid), s, 0), new(executed(tid), s, 1),
            new(evaluated(tid, score, verdict), s, 2)]


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory) -> Path:
    """A folder the whole session shares: with pytest-xdist, every worker's (the workers' own
    temporary folders are inside it); without, this process's."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def data_root(shared_root):
    """One prepared data root for the whole session (downloads cached as usual): preparing is
    safe from every process at once, and each environment is prepared once."""
    root = shared_root / "data"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def harness(data_root, shared_root, tmp_path_factory):
    """harness(name): an environment ready for trials, made once per session; its baseline is
    run once for all the session's workers."""
    from tests.envs import Harness

    made = {}

    def get(name: str) -> Harness:
        if name not in made:
            made[name] = Harness(name, data_root, tmp_path_factory.mktemp(name), shared=shared_root)
        return made[name]

    return get


@pytest.fixture(scope="session")
def airbench_data(harness):
    return harness("airbench-mini").data


@pytest.fixture
def store(tmp_path):
    s = EventStore(tmp_path / "log")
    yield s
    s.close()


def read_all(store, page: int = 1000) -> list:
    """Every record of an open store, a page at a time (the consumer's loop)."""
    out, nxt = [], 0
    while True:
        records, nxt = store.read(nxt, limit=page)
        if not records:
            return out
        out += records
