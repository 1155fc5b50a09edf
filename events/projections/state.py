"""RunState: every projection of a run, folded from its records in log order.

The same fold serves a live actor (apply records as they arrive), replay (apply all of them from
the segments) and the CLI. `digest()` hashes a canonical encoding of the whole state, so two
folds of the same log agree byte for byte, in any process.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable

import msgspec

from events.envelope import Record
from events.projections.agents import Agents, AgentStats
from events.projections.folded import VIEWS
from events.projections.ledger import Ledger, Spend
from events.projections.queue import Queue
from events.projections.trials import RUNNABLE, BestPoint, TrialRow, Trials
from events.schema import (
    AgentSessionStarted,
    BudgetCharged,
    KeepRule,
    LlmExchanged,
    RunStarted,
    RunStopped,
    RunStopRequested,
    TrialCancelled,
    TrialClaimed,
    TrialEvaluated,
    TrialExecuted,
    TrialLost,
    TrialProposed,
    TrialRetried,
)


class RunInfo(msgspec.Struct, kw_only=True, gc=False):
    run_id: str | None = None
    environment: str | None = None
    tier: str | None = None
    seed: int | None = None
    keep_rule: KeepRule | None = None
    config: dict = {}
    started_wall_ns: int | None = None
    stop_requested: str | None = None  # the reason
    in_flight: str | None = None
    stopped: str | None = None


class Snapshot(msgspec.Struct, kw_only=True, gc=False):
    """The canonical form of a RunState: what the digest hashes and `--json` prints."""

    applied: int
    next_offset: int
    run: RunInfo
    trials: list[TrialRow]
    best_id: str | None
    best_history: list[BestPoint]
    agents: list[AgentStats]
    ledger: Spend
    ledger_by_agent: dict[str, Spend]
    queue: list[str]
    ignored: int


_encoder = msgspec.msgpack.Encoder()


class RunState:
    def __init__(self) -> None:
        self.run = RunInfo()
        self.trials = Trials()
        self.agents = Agents()
        self.ledger = Ledger()
        self.queue = Queue()
        self.applied = 0
        self.next_offset = 0
        self._handlers = {
            RunStarted: self._run_started,
            RunStopRequested: self._stop_requested,
            RunStopped: self._stopped,
            TrialProposed: self._proposed,
            TrialClaimed: self._claimed,
            TrialExecuted: self._executed,
            TrialEvaluated: self._evaluated,
            TrialLost: self._lost,
            TrialRetried: self._retried,
            TrialCancelled: self._cancelled,
            AgentSessionStarted: self._session,
            LlmExchanged: self.ledger.llm,
            BudgetCharged: self.ledger.charged,
        }
        self._handlers.update({view: self._handlers[t] for t, view in VIEWS.items() if t in self._handlers})

    @property
    def handlers(self) -> dict[type, Callable[[Record, Any], None]]:
        """The fold's handler for each event type (and its lean view), for a reader that
        dispatches records itself (replay's fused loop); `applied` and `next_offset` are then
        the caller's to set."""
        return self._handlers

    def apply(self, record: Record) -> None:
        if record.offset < self.next_offset:
            return  # at-least-once delivery: seen already
        handler = self._handlers.get(type(record.event))
        if handler is not None:  # unknown and uninteresting events are skipped
            handler(record, record.event)
        self.applied += 1
        self.next_offset = record.offset + 1

    def apply_all(self, records: Iterable[Record]) -> "RunState":
        """`apply` for each record, inlined: replay spends most of its time in this loop."""
        handlers, nxt, applied = self._handlers, self.next_offset, self.applied
        for record in records:
            if record.offset < nxt:
                continue
            handler = handlers.get(type(record.event))
            if handler is not None:
                handler(record, record.event)
            applied += 1
            nxt = record.offset + 1
        self.applied, self.next_offset = applied, nxt
        return self

    # -- handlers ----------------------------------------------------------------------------

    def _run_started(self, rec: Record, ev: RunStarted) -> None:
        if self.run.run_id is not None:
            return
        self.run = RunInfo(run_id=ev.run_id, environment=ev.environment, tier=ev.tier, seed=ev.seed,
                           keep_rule=ev.keep_rule, config=ev.config, started_wall_ns=rec.wall_time_ns)
        self.trials.keep_rule = ev.keep_rule

    def _stop_requested(self, rec: Record, ev: RunStopRequested) -> None:
        if self.run.stop_requested is None:
            self.run.stop_requested, self.run.in_flight = ev.reason, ev.in_flight

    def _stopped(self, rec: Record, ev: RunStopped) -> None:
        if self.run.stopped is None:
            self.run.stopped = ev.reason

    def _proposed(self, rec: Record, ev: TrialProposed) -> None:
        row = self.trials.proposed(rec, ev)
        if row:
            self.agents.proposed(row)
            self.queue.push(row.trial_id, rec.offset)

    def _claimed(self, rec: Record, ev: TrialClaimed) -> None:
        if self.trials.claimed(rec, ev):
            self.queue.drop(ev.trial_id)

    def _executed(self, rec: Record, ev: TrialExecuted) -> None:
        done = self.trials.executed(rec, ev)
        if done:
            row, cpu_s = done
            self.ledger.compute(row.agent, cpu_s, ev.gpu_s)

    def _evaluated(self, rec: Record, ev: TrialEvaluated) -> None:
        row = self.trials.evaluated_(rec, ev)
        if row:
            self.queue.drop(row.trial_id)
            self.agents.evaluated(row, self.trials.keep_rule.direction)

    def _lost(self, rec: Record, ev: TrialLost) -> None:
        self.trials.lost(rec, ev)

    def _retried(self, rec: Record, ev: TrialRetried) -> None:
        row = self.trials.rows.get(ev.trial_id)
        aborted = row.status if row is not None and row.verdict == "harness_abort" else None
        row = self.trials.retried(rec, ev)
        if row and row.phase == RUNNABLE:
            if aborted:
                self.agents.unevaluated(row, aborted)
            self.queue.push(row.trial_id, rec.offset)

    def _cancelled(self, rec: Record, ev: TrialCancelled) -> None:
        if self.trials.cancelled(rec, ev):
            self.queue.drop(ev.trial_id)

    def _session(self, rec: Record, ev: AgentSessionStarted) -> None:
        stats = self.agents.by_agent.get(ev.agent) or self.agents.of(ev.agent)
        stats.sessions += 1

    # -- canonical form ----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return Snapshot(
            applied=self.applied,
            next_offset=self.next_offset,
            run=self.run,
            trials=list(self.trials.rows.values()),
            best_id=self.trials.best_id,
            best_history=self.trials.best_history,
            agents=list(self.agents.by_agent.values()),
            ledger=self.ledger.total,
            ledger_by_agent=self.ledger.by_agent,
            queue=self.queue.oldest(),
            ignored=self.trials.ignored,
        )

    def canonical_bytes(self) -> bytes:
        return _encoder.encode(self.snapshot())

    def digest(self) -> str:
        return hashlib.sha256(self.canonical_bytes()).hexdigest()
