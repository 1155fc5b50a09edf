"""What only a live view needs, folded beside RunState (which it leaves alone, so digests stay
as they are): each trial's progress curve, the agent sessions with their model calls, and the
run's fingerprint. The gateway folds it; nothing that decides anything reads it."""

from __future__ import annotations

import msgspec

from events.envelope import Record
from events.schema import (
    AgentSessionEnded,
    AgentSessionStarted,
    Fingerprint,
    LlmExchanged,
    RunStarted,
    TrialProgress,
    TrialRetried,
)

CURVE_POINTS = 2000  # per trial: past this, every other point is dropped (the curve keeps its shape)


class ProgressPoint(msgspec.Struct, kw_only=True, gc=False):
    offset: int
    attempt: int
    phase: str
    elapsed_s: float
    budget_s: float | None = None
    step: int | None = None
    total_steps: int | None = None
    metrics: dict[str, float] = {}


class Session(msgspec.Struct, kw_only=True, gc=False):
    session_id: str
    agent: str
    proposer: str
    model: str | None
    started_offset: int
    started_wall_ns: int
    outcome: str | None = None
    trial_id: str | None = None
    turns: int = 0
    detail: str = ""
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    latency_s: float = 0.0
    errors: int = 0
    exchanges: list[dict] = []  # per call: seq, model, tokens, cost, latency, status, request/response blobs


class LiveState:
    def __init__(self) -> None:
        self.progress: dict[str, list[ProgressPoint]] = {}
        self.sessions: dict[str, Session] = {}
        self.fingerprint: Fingerprint | None = None
        self._handlers = {TrialProgress: self._progress, TrialRetried: self._retried,
                          AgentSessionStarted: self._session_started, AgentSessionEnded: self._session_ended,
                          LlmExchanged: self._llm, RunStarted: self._run_started}

    def apply_all(self, records) -> None:
        handlers = self._handlers
        for rec in records:
            handler = handlers.get(type(rec.event))
            if handler is not None:  # the other types are not live-only
                handler(rec, rec.event)

    def _retried(self, rec: Record, ev: TrialRetried) -> None:
        self.progress.pop(ev.trial_id, None)  # a new attempt draws a new curve

    def _session_started(self, rec: Record, ev: AgentSessionStarted) -> None:
        self.sessions.setdefault(ev.session_id, Session(
            session_id=ev.session_id, agent=ev.agent, proposer=ev.proposer, model=ev.model,
            started_offset=rec.offset, started_wall_ns=rec.wall_time_ns))

    def _session_ended(self, rec: Record, ev: AgentSessionEnded) -> None:
        s = self.sessions.get(ev.session_id)
        if s is not None:
            s.outcome, s.trial_id, s.turns, s.detail = ev.outcome, ev.trial_id, ev.turns, ev.detail

    def _run_started(self, rec: Record, ev: RunStarted) -> None:
        if self.fingerprint is None:
            self.fingerprint = ev.fingerprint

    def _progress(self, rec: Record, ev: TrialProgress) -> None:
        curve = self.progress.setdefault(ev.trial_id, [])
        if curve and curve[-1].attempt != ev.attempt:
            curve.clear()
        curve.append(ProgressPoint(offset=rec.offset, attempt=ev.attempt, phase=ev.phase, elapsed_s=ev.elapsed_s,
                                   budget_s=ev.budget_s, step=ev.step, total_steps=ev.total_steps,
                                   metrics=ev.metrics))
        if len(curve) > CURVE_POINTS:
            del curve[1:-1:2]

    def _llm(self, rec: Record, ev: LlmExchanged) -> None:
        s = self.sessions.get(ev.session_id)
        if s is None:
            return
        u = ev.usage
        s.calls += 1
        s.input_tokens += u.input_tokens
        s.output_tokens += u.output_tokens + u.reasoning_tokens
        s.usd += ev.cost_usd
        s.latency_s += ev.latency_s
        s.errors += ev.error is not None
        s.exchanges.append({"offset": rec.offset, "call_seq": ev.call_seq, "model": ev.model,
                            "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                            "cost_usd": ev.cost_usd, "latency_s": ev.latency_s, "http_status": ev.http_status,
                            "error": ev.error, "request": ev.request.sha256,
                            "response": ev.response.sha256 if ev.response else None})

    def latest(self, trial_id: str) -> ProgressPoint | None:
        curve = self.progress.get(trial_id)
        return curve[-1] if curve else None
