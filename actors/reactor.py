"""The loop every actor is: read the records after my offset, fold them, react, append.

A Reactor owns a RunState folded from the log and nothing else: after a restart it reads the
log from the start and is where it was. `react()` looks at the state and returns the events to
append (or performs one long action, such as running a trial, and returns what it measured).
Appends are idempotent: an event's id is fixed before the first attempt, so a retry after a lost
reply stores nothing twice; a refused expected version means another actor got there first,
so the reactor folds what it missed and decides again.

No Ray here: the actors in actors/ray_actors.py wrap a Reactor, and the local loop steps
several in one process.
"""

from __future__ import annotations

import time
import uuid
from typing import Sequence

from actors.config import RunConfig
from actors.log_client import LogClient
from events import NO_STREAM, Event, NewEvent, Record, RunState, WrongExpectedVersion, new_event_id

IDLE_MIN_S = 0.002
REACT_EVERY_S = 1.0  # with no news, decide again this often anyway (deadlines are decisions in time)
ID_NAMESPACE = uuid.UUID("6f1d2a4e-4d1c-4a8e-9f43-7c6b1e0a5d21")


def fact_id(run_id: str, *parts) -> str:
    """The id of an event that can happen at most once (the verdict on trial t0007, attempt 1):
    every producer, in every incarnation, names it the same, so the log keeps one."""
    return str(uuid.uuid5(ID_NAMESPACE, "/".join([run_id, *map(str, parts)])))


class Reactor:
    role = "reactor"
    idle_max_s = 0.01  # the longest nap between looks at the log; a role with many actors naps longer

    def __init__(self, log: LogClient, name: str, incarnation: int = 0):
        self.log = log
        self.name = name
        self.producer = f"{name}#{incarnation}"
        self.state = RunState()
        self.versions: dict[str, int] = {}
        self.idle_s = IDLE_MIN_S
        self.on_record = None  # a callable seeing each record after it is folded (progress output)
        self._dirty = True  # react on the next step even without news
        self._last_react = 0.0
        self._config: RunConfig | None = None

    # -- folding -----------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Fold every record the log has after my offset; how many there were."""
        n = 0
        while True:
            records, nxt = self.log.read(self.state.next_offset, 1000)
            for rec in records:
                if rec.offset < self.state.next_offset:
                    continue
                self.versions[rec.stream] = rec.stream_version
                self.state.apply(rec)
                self.observe(rec)
                if self.on_record is not None:
                    self.on_record(rec)
                n += 1
            if len(records) < 1000:  # a short read is the end of the log
                return n

    def observe(self, record: Record) -> None:
        """Called for each record after it is folded; reactors that remember more override it."""

    @property
    def config(self) -> RunConfig:
        """The run's configuration, as RunStarted recorded it (read once RunStarted is folded)."""
        if self._config is None:
            if self.state.run.run_id is None:
                raise RuntimeError(f"{self.name}: no RunStarted folded yet, so no configuration")
            self._config = RunConfig.from_dict(self.state.run.config)
        return self._config

    def version(self, stream: str) -> int:
        return self.versions.get(stream, NO_STREAM)

    # -- appending ---------------------------------------------------------------------------

    def event(self, event: Event, stream: str, expected: int | None = None, event_id: str | None = None,
              causation_id: str | None = None) -> NewEvent:
        return NewEvent(event=event, stream=stream, event_id=event_id or new_event_id(), producer=self.producer,
                        causation_id=causation_id, expected_version=expected, wall_time_ns=time.time_ns())

    def append(self, batch: Sequence[NewEvent]) -> bool:
        """Append the batch and fold it; False when an expected version was stale (someone else
        acted first; the state is caught up either way)."""
        try:
            self.log.append(batch)
        except WrongExpectedVersion:
            self.catch_up()
            return False
        self.catch_up()
        return True

    # -- the loop ----------------------------------------------------------------------------

    def react(self) -> list[NewEvent] | bool:
        """Decide from the state: events to append, or True after acting on its own."""
        raise NotImplementedError

    def finished(self) -> bool:
        return self.state.run.stopped is not None

    def step(self) -> bool:
        """One turn: catch up, react, append. True when this reactor acted. Merely seeing news does
        not count: a reactor that saw records and had nothing to do backs off like an idle one, or
        sixty idle executors would spin on every record the others append."""
        seen = self.catch_up()
        if self.finished():
            return False
        now = time.monotonic()
        if not seen and not self._dirty and now - self._last_react < REACT_EVERY_S:
            return False  # nothing new since a react that did nothing: it would do nothing again
        acted = self.react()
        self._last_react = now
        if isinstance(acted, list):
            if acted:
                self.append(acted)
            acted = bool(acted)
        self._dirty = acted
        return acted

    def run(self, should_exit=lambda: False) -> dict:
        """Step until the run has stopped, sleeping with backoff while nothing happens."""
        while not should_exit():
            if self.step():
                self.idle_s = IDLE_MIN_S
                continue
            if self.finished():
                break
            time.sleep(self.idle_s)
            self.idle_s = min(self.idle_s * 2, self.idle_max_s)
        return {"name": self.name, "offset": self.state.next_offset}
