"""The loop every actor is: read the records after my offset, fold them, decide, append.

A Reactor owns a RunState folded from the log and nothing else: after a restart it reads the
log from the start and is where it was. `react()` decides from that state and returns either
the events to append (an `Append`) or one piece of work (a `Work`: run this trial, evaluate this
execution, open this session); the work's result comes back through `concluded(work, result)`,
which returns the events that record it. Neither appends, stores a blob or calls a model: the
shell (actors/shell.py) does, for every reactor alike, in the Ray actors and the local loop.

Appends are idempotent: an event's id is fixed before the first attempt, so a retry after a lost
reply stores nothing twice; a refused expected version means another actor got there first,
so the reactor folds what it missed and decides again.

No Ray here: the actors in actors/ray_actors.py wrap a Reactor, and the local loop steps
several in one process.
"""

from __future__ import annotations

import time
import uuid

from actors import shell
from actors.config import RunConfig
from actors.decisions import Append, Decision, Work
from actors.log_client import LogClient
from events import NO_STREAM, Event, NewEvent, Record, RunState, new_event_id

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
        self.idle_s = shell.IDLE_MIN_S
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

    # -- events ------------------------------------------------------------------------------

    def event(self, event: Event, stream: str, expected: int | None = None, event_id: str | None = None,
              causation_id: str | None = None) -> NewEvent:
        return NewEvent(event=event, stream=stream, event_id=event_id or new_event_id(), producer=self.producer,
                        causation_id=causation_id, expected_version=expected, wall_time_ns=time.time_ns())

    def fact(self, event: Event, stream: str, *key, expected: int | None = None) -> NewEvent:
        """An event that can happen at most once, named by `key` within the run (fact_id), appended
        at `expected` where that is given: every incarnation of every producer names it the same,
        so the log keeps one however often it is tried."""
        return self.event(event, stream, expected=expected, event_id=fact_id(self.state.run.run_id, *key))

    # -- deciding ----------------------------------------------------------------------------

    def react(self) -> Decision:
        """Decide from the state: the events to append, or one piece of work."""
        raise NotImplementedError

    def concluded(self, work: Work, result) -> Append:
        """The events that record what `work` came to (called again, on the caught-up state,
        when the log refused them because another actor got there first)."""
        raise NotImplementedError

    def out_raced(self, work: Work, result) -> Append:
        """What to record once `work.races` conclusions were all refused; nothing by default."""
        return Append()

    def finished(self) -> bool:
        return self.state.run.stopped is not None

    # -- the shell's entry points, for the Ray actors, the local loop and the driver ---------

    def step(self) -> bool:
        return shell.step(self)

    def run(self, should_exit=lambda: False) -> dict:
        return shell.run(self, should_exit)

    def commit(self, decision: Append) -> bool:
        """Store the blobs and append the events (see shell.commit); False when refused."""
        return shell.commit(self, decision)
