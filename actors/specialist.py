"""A specialist: one per surface. When it has room (fewer than `max_in_flight` trials of its own
unjudged) it opens a session: renders the lineage view, asks its proposer, applies the edit to
the parent's code, checks syntax and surface, and appends the session and the trial in one
batch. Trial ids are handed out in log order (t0001, t0002, ...): two specialists racing for the
same id are told apart by the trial stream's expected version, and the loser tries again with
the next one, so the trial budget is never overshot.
"""

from __future__ import annotations

import itertools
import random
import time

import orjson

from actors.config import BASELINE_ID, trial_id
from actors.failures import evidence
from actors.reactor import Reactor, fact_id
from agents.changes import EditError, make_change, surface_violations
from agents.lineage_view import build_view, render
from agents.proposer import Context, Outcome, Proposal, Proposer
from environments.spec import EnvironmentSpec
from events import (
    NO_STREAM,
    AgentSessionEnded,
    AgentSessionStarted,
    LlmExchanged,
    Record,
    TrialEvaluated,
    TrialProposed,
    Usage,
)
from events.projections.trials import CANCELLED, EVALUATED

PREFLIGHT = "preflight"
PREFLIGHT_VERSION = "1"
PROPOSER_TRIES = 2  # a proposer that raises gets one more session; then this specialist stops ("failed")
RAISED_RETRY_S = 1.0  # that one more session comes soon: a bug is not an outage to wait out
MAX_ID_RACES = 20  # another specialist took the trial id: the same proposal, the next id
FIRST_BACKOFF_S, MAX_BACKOFF_S = 30.0, 900.0  # after a model call failed for good (the reference's schedule)


STOPS_AGENT = ("quota", "endpoint_down", "window_too_small", "failed")  # this agent proposes no more (until --resume)


class RunStopping(Exception):
    """Raised out of a session's record callback once the run is stopping."""


class Specialist(Reactor):
    role = "specialist"

    def __init__(self, log, spec: EnvironmentSpec, agent: str, proposer: Proposer, incarnation: int = 0):
        super().__init__(log, f"agent/{agent}", incarnation)
        self.spec, self.agent, self.proposer = spec, agent, proposer
        self.specialist = spec.specialist(agent)
        self.sessions = 0
        self.exhausted_at: int | None = None  # offset of my last "nothing to propose"
        self.last_verdict_at = -1
        self._code: dict[str, bytes] = {}
        self.open_session: str | None = None
        self.recovered = False
        self.stopped = False  # out of quota: this agent proposes no more
        self.retry_at, self.backoff = 0.0, 0.0
        self.raised = 0  # sessions in a row whose proposer raised
        self.others_open: set[str] = set()  # sessions of other specialists under way

    def observe(self, rec: Record) -> None:
        ev = rec.event
        if isinstance(ev, AgentSessionStarted) and ev.agent != self.agent:
            self.others_open.add(ev.session_id)
        elif isinstance(ev, AgentSessionEnded) and ev.agent != self.agent:
            self.others_open.discard(ev.session_id)
        if isinstance(ev, AgentSessionStarted) and ev.agent == self.agent:
            self.sessions += 1
            self.open_session = ev.session_id
        elif isinstance(ev, AgentSessionEnded) and ev.agent == self.agent:
            self.open_session = None
            self.exhausted_at = rec.offset if ev.outcome == "exhausted" else None
            self.stopped = self.stopped or ev.outcome in STOPS_AGENT
        elif isinstance(ev, TrialEvaluated):
            self.last_verdict_at = rec.offset

    def code_of(self, tid: str | None) -> dict[str, bytes]:
        row = self.state.trials.rows[tid or BASELINE_ID]
        out = {}
        for path, ref in row.code.items():
            if ref.sha256 not in self._code:
                self._code[ref.sha256] = self.log.get_blob(ref)
            out[path] = self._code[ref.sha256]
        return out

    def ready(self) -> bool:
        run, rows = self.state.run, self.state.trials.rows
        if run.run_id is None or run.stop_requested:
            return False
        base = rows.get(BASELINE_ID)
        if base is None or base.phase != EVALUATED or self.state.trials.best_id is None:
            return False  # first the baseline's score: every proposal is measured against it
        left = self.config.trials - (len(rows) - 1)
        if left <= 0 or left <= len(self.others_open):
            return False  # the sessions under way can use every trial left: a new one would be cut short
        mine = sum(1 for r in rows.values() if r.agent == self.agent and r.phase not in (EVALUATED, CANCELLED))
        if mine >= self.config.max_in_flight:
            return False
        # after "nothing to propose", wait for new evidence
        return self.exhausted_at is None or self.last_verdict_at > self.exhausted_at

    def run(self, should_exit=lambda: False) -> dict:
        self.recovered = False  # called again after it raised: a session it left open is abandoned
        return super().run(should_exit)

    def react(self):
        if not self.recovered:
            self.recovered = True
            if self.open_session is not None:  # an earlier incarnation died mid-session
                sid = self.open_session
                return [self.event(AgentSessionEnded(session_id=sid, agent=self.agent, outcome="abandoned",
                                                     detail="the specialist restarted during the session"),
                                   self.stream, event_id=fact_id(self.state.run.run_id, "session-ended", sid))]
        if self.stopped or time.monotonic() < self.retry_at or not self.ready():
            return []
        run, cfg = self.state.run, self.config
        session = self.sessions + 1
        session_id = fact_id(run.run_id, "session", self.agent, session)
        view = build_view(self.state.trials.rows, self.state.trials.best_id, self.agent, self.spec.metric,
                          self.spec.direction, lineage=cfg.lineage)
        started = AgentSessionStarted(
            session_id=session_id, agent=self.agent, proposer=self.proposer.kind,
            model=getattr(getattr(self.proposer, "endpoint", None), "model", None),
            lineage_view=self.log.put_blob(render(view, self.specialist.brief).encode()),
            view_offset=self.state.next_offset)
        if not self.append([self.event(started, self.stream, expected=self.version(self.stream),
                                       event_id=fact_id(run.run_id, "session-started", self.agent, session))]):
            return True  # the log moved (another incarnation of me?): decide again
        ctx = Context(spec=self.spec, specialist=self.specialist, view=view, code_of=self.code_of,
                      rng=random.Random(f"{run.seed}/{self.agent}/{session}"), session=session,
                      extra={"tier": run.tier})
        calls = itertools.count(1)
        try:
            if self.proposer.kind == "llm":
                result = self.proposer.propose(ctx, record=lambda ex: self._record(ex, session_id, next(calls)))
            else:
                result = self.proposer.propose(ctx)
        except RunStopping as exc:
            result = Outcome(None, "stopped", str(exc))
        except Exception as exc:  # noqa: BLE001 - a proposer's bug ends its session, not the specialist
            self.raised += 1
            why = f"the proposer raised {evidence(exc)}"
            if self.raised >= PROPOSER_TRIES:  # the same bug again: waiting would never end
                result = Outcome(None, "failed", f"{why}; {self.raised} sessions in a row: this specialist stops"[:1000])
            else:
                result = Outcome(None, "error", why[:1000])
        else:
            self.raised = 0
        outcome = result if isinstance(result, Outcome) else Outcome(result, "submitted" if result else "exhausted")
        for _ in range(MAX_ID_RACES):
            if outcome.proposal is not None and len(self.state.trials.rows) - 1 >= self.config.trials:
                # others used the last of the budget while this session ran: nothing is proposed
                outcome = Outcome(None, "budget_used", "the trial budget was used up during the session",
                                  turns=outcome.turns)
            if self.append(self._conclude(session_id, outcome)):
                break
        if outcome.outcome == "error" and self.raised:
            self.backoff, self.retry_at = 0.0, time.monotonic() + RAISED_RETRY_S
        return True

    @property
    def stream(self) -> str:
        return f"agent/{self.agent}"

    def _record(self, ex, session_id: str, seq: int) -> None:
        """A model exchange, in the log before the session acts on it."""
        request = self.log.put_blob(orjson.dumps(ex.request))
        response = self.log.put_blob(orjson.dumps(ex.response)) if ex.response is not None else None
        u = ex.usage
        ev = LlmExchanged(session_id=session_id, agent=self.agent, call_seq=seq, provider=self.proposer.endpoint.name,
                          model=ex.model, request=request, request_hash=ex.request_hash, response=response,
                          usage=Usage(input_tokens=u.input, cached_input_tokens=u.cached_input, output_tokens=u.output,
                                      reasoning_tokens=u.reasoning, estimated=u.estimated),
                          cost_usd=ex.cost_usd, latency_s=round(ex.latency_s, 6),
                          http_status=ex.attempts[-1].status if ex.attempts else None, error=ex.error,
                          outcome=ex.outcome, attempts=len(ex.attempts), queued_s=round(ex.queued_s, 6))
        self.append([self.event(ev, self.stream, event_id=fact_id(self.state.run.run_id, "llm", session_id, seq))])
        self.catch_up()
        if self.state.run.stop_requested:  # the run is stopping: end the session now, recorded, not killed
            raise RunStopping(f"the run stopped during the session ({self.state.run.stop_requested})")

    def _conclude(self, session_id: str, outcome: Outcome) -> list:
        """The session's last batch: the trial it produced (if any) and its end."""
        run, cfg = self.state.run, self.config
        if outcome.outcome in STOPS_AGENT:
            self.stopped = True
        elif outcome.outcome == "error":
            self.backoff = min(self.backoff * 2, MAX_BACKOFF_S) if self.backoff else FIRST_BACKOFF_S
            self.retry_at = time.monotonic() + self.backoff
        else:
            self.backoff = 0.0
        proposal = outcome.proposal
        if proposal is None and outcome.outcome != "invalid_edit":
            ended = AgentSessionEnded(session_id=session_id, agent=self.agent, outcome=outcome.outcome,
                                      detail=outcome.detail or "nothing left to try from the current lineage",
                                      turns=outcome.turns)
            return [self.event(ended, self.stream)]
        tid = trial_id(len(self.state.trials.rows))
        verdict, feedback, violations, code, diff, hashes = None, "", [], {}, None, {}
        if proposal is None:  # the model never produced a usable edit
            verdict, feedback = "invalid_edit", outcome.detail
            proposal = Proposal(parent_id=outcome.parent_id, hypothesis="(the session ended without a submission)",
                                edits=())
        else:
            try:
                parent = self.code_of(proposal.parent_id)
                change = make_change(parent, proposal.edits)
                violations = surface_violations(change, self.specialist.surface)
                if violations and cfg.surface_mode == "strict":
                    verdict, feedback = "out_of_surface", "; ".join(violations)
                code = {p: self.log.put_blob(data) for p, data in change.code.items()}
                diff = self.log.put_blob(change.diff.encode())
                hashes = dict(parent_sha256=change.parent_sha256, code_sha256=change.child_sha256)
            except (EditError, KeyError) as exc:
                verdict, feedback = "invalid_edit", str(exc)
        proposed = TrialProposed(
            trial_id=tid, agent=self.agent, surface=self.agent, parent_id=proposal.parent_id,
            hypothesis=proposal.hypothesis, expected_delta=proposal.expected_delta, code=code, diff=diff,
            notes=proposal.notes, session_id=session_id, technique=proposal.technique,
            surface_violations=violations, **hashes)
        batch = [self.event(proposed, f"trial/{tid}", expected=NO_STREAM)]
        if verdict:  # judged before it runs: nothing to execute
            batch.append(self.event(TrialEvaluated(trial_id=tid, attempt=1, evaluator=PREFLIGHT,
                                                   evaluator_version=PREFLIGHT_VERSION, verdict=verdict,
                                                   feedback=feedback), f"trial/{tid}"))
        ended = AgentSessionEnded(session_id=session_id, agent=self.agent, outcome=verdict or "submitted",
                                  trial_id=tid, turns=outcome.turns, detail=outcome.detail)
        batch.append(self.event(ended, self.stream, event_id=fact_id(run.run_id, "session-ended", session_id)))
        return batch
