"""A specialist: one per surface. When it has room (fewer than `max_in_flight` trials of its own
unjudged) it opens a session: renders the lineage view, asks its proposer, applies the edit to
the parent's code, checks syntax and surface, and appends the session and the trial in one
batch. Trial ids are handed out in log order (t0001, t0002, ...): two specialists racing for the
same id are told apart by the trial stream's expected version, and the loser tries again with
the next one, so the trial budget is never overshot.
"""

from __future__ import annotations

import random
import time

import orjson

from actors.config import BASELINE_ID, trial_id
from actors.decisions import Append, Session
from actors.failures import evidence
from actors.reactor import Reactor, fact_id
from agents.changes import EditError, make_change, surface_violations
from agents.lineage_view import build_view, render
from agents.proposer import STOPS_FOR_GOOD, Context, Outcome, Proposal, Proposer
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
from events.streams import agent_stream, trial_stream

PREFLIGHT = "preflight"
PREFLIGHT_VERSION = "1"
PROPOSER_TRIES = 2  # a proposer that raises gets one more session; then this specialist stops ("failed")
RAISED_RETRY_S = 1.0  # that one more session comes soon: a bug is not an outage to wait out
MAX_ID_RACES = 20  # another specialist took the trial id: the same proposal, the next id
FIRST_BACKOFF_S, MAX_BACKOFF_S = 30.0, 900.0  # after a model call failed for good (the reference's schedule)
# The longest wait a server's Retry-After is honoured for (a rate-limit window); one that asks for
# more ("inf", a date in 9999) is waited out this long, and counts toward FAILING_SESSIONS.
MAX_ASKED_WAIT_S = 3600.0
# sessions in a row that failed at the endpoint before this specialist stops ("endpoint_failing"):
# on the back-off above, about 1.8 hours of a server that answers every call with an error
FAILING_SESSIONS = 12
# Sessions in a row that end at a limit with nothing submitted (no trial, so no budget spent):
# a model that never finishes would otherwise start sessions, and record their calls, for ever.
FRUITLESS_SESSIONS = 12


STOPS_AGENT = STOPS_FOR_GOOD + ("failed",)  # this agent proposes no more (until --resume)


class RunStopping(Exception):
    """Raised out of a session's record callback once the run is stopping."""


class Specialist(Reactor):
    role = "specialist"

    def __init__(self, log, spec: EnvironmentSpec, agent: str, proposer: Proposer, incarnation: int = 0):
        super().__init__(log, f"agent/{agent}", incarnation)  # the actor's name, as the driver knows it
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
        self.failing = 0  # sessions in a row that ended in an error from the model's endpoint
        self.fruitless = 0  # sessions in a row that ended at a limit, nothing submitted
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
                return Append([self._ended(AgentSessionEnded(session_id=sid, agent=self.agent, outcome="abandoned",
                                                             detail="the specialist restarted during the session"))])
        if self.stopped or time.monotonic() < self.retry_at or not self.ready():
            return Append()
        run, cfg = self.state.run, self.config
        session = self.sessions + 1
        session_id = fact_id(run.run_id, "session", self.agent, session)
        view = build_view(self.state.trials.rows, self.state.trials.best_id, self.agent, self.spec.metric,
                          self.spec.direction, lineage=cfg.lineage)
        claim = Append()
        started = AgentSessionStarted(
            session_id=session_id, agent=self.agent, proposer=self.proposer.kind, model=self.proposer.model,
            lineage_view=claim.blob(render(view, self.specialist.brief).encode()), view_offset=self.state.next_offset)
        claim.events.append(self.fact(started, self.stream, "session-started", self.agent, session,
                                      expected=self.version(self.stream)))
        ctx = Context(spec=self.spec, specialist=self.specialist, view=view, code_of=self.code_of,
                      rng=random.Random(f"{run.seed}/{self.agent}/{session}"), session=session, tier=run.tier)
        # a refused session start: the log moved (another incarnation of me?), so decide again
        return Session(claim=claim, races=MAX_ID_RACES, session_id=session_id, ctx=ctx)

    @property
    def stream(self) -> str:
        return agent_stream(self.agent)

    def exchanged(self, work: Session, ex, seq: int) -> Append:
        """A model exchange, in the log before the session acts on it."""
        out = Append()
        request = out.blob(orjson.dumps(ex.request))
        response = out.blob(orjson.dumps(ex.response)) if ex.response is not None else None
        u = ex.usage
        ev = LlmExchanged(session_id=work.session_id, agent=self.agent, call_seq=seq, provider=self.proposer.provider,
                          model=ex.model, request=request, request_hash=ex.request_hash, response=response,
                          usage=Usage(input_tokens=u.input, cached_input_tokens=u.cached_input, output_tokens=u.output,
                                      reasoning_tokens=u.reasoning, estimated=u.estimated),
                          cost_usd=ex.cost_usd, latency_s=round(ex.latency_s, 6),
                          http_status=ex.attempts[-1].status if ex.attempts else None, error=ex.error,
                          outcome=ex.outcome, attempts=len(ex.attempts), queued_s=round(ex.queued_s, 6))
        out.events.append(self.fact(ev, self.stream, "llm", work.session_id, seq))
        return out

    def after_exchange(self) -> None:
        """The run is stopping: end the session now, recorded, not killed."""
        if self.state.run.stop_requested:
            raise RunStopping(f"the run stopped during the session ({self.state.run.stop_requested})")

    def outcome_of(self, result) -> Outcome:
        """How the session ended, from what the proposer returned or raised; and when this
        specialist may open its next one."""
        if isinstance(result, RunStopping):
            outcome = Outcome(None, "stopped", str(result))
        elif isinstance(result, Exception):
            self.raised += 1
            why = f"the proposer raised {evidence(result)}"
            if self.raised >= PROPOSER_TRIES:  # the same bug again: waiting would never end
                outcome = Outcome(None, "failed", f"{why}; {self.raised} sessions in a row: this specialist stops"[:1000])
            else:
                outcome = Outcome(None, "error", why[:1000])
        else:
            self.raised = 0
            outcome = result if isinstance(result, Outcome) else Outcome(result, "submitted" if result else "exhausted")
            self.failing = self.failing + 1 if outcome.outcome == "error" else 0
            self.fruitless = self.fruitless + 1 if outcome.outcome == "limit" else 0
            if self.fruitless >= FRUITLESS_SESSIONS:
                outcome = Outcome(None, "no_submission", f"{self.fruitless} sessions in a row ended without a "
                                  f"submit, the last with: {outcome.detail}; the model does not finish within the "
                                  "session's limits: raise them in --llm-config, or try another model, and --resume"
                                  [:1000], turns=outcome.turns)
            if self.failing >= FAILING_SESSIONS:  # a server that errs on every call: no outage ends by itself here
                outcome = Outcome(None, "endpoint_failing", f"{self.failing} sessions in a row failed at the model's "
                                  f"endpoint, the last with: {outcome.detail}; fix the endpoint and --resume"[:1000],
                                  turns=outcome.turns)
        if outcome.outcome in STOPS_AGENT:
            self.stopped = True
        elif outcome.outcome == "error" and self.raised:  # a bug is not an outage to wait out
            self.backoff, self.retry_at = 0.0, time.monotonic() + RAISED_RETRY_S
        elif outcome.outcome == "error":
            self.backoff = min(self.backoff * 2, MAX_BACKOFF_S) if self.backoff else FIRST_BACKOFF_S
            asked = min(outcome.retry_after_s or 0.0, MAX_ASKED_WAIT_S)
            self.retry_at = time.monotonic() + max(self.backoff, asked)
        else:
            self.backoff = 0.0
        return outcome

    def concluded(self, work: Session, outcome: Outcome) -> Append:
        """The session's last batch: the trial it produced (if any) and its end. The trial id is
        the next in log order; when another specialist took it first, this is asked again."""
        if outcome.proposal is not None and len(self.state.trials.rows) - 1 >= self.config.trials:
            # others used the last of the budget while this session ran: nothing is proposed
            outcome = Outcome(None, "budget_used", "the trial budget was used up during the session",
                              turns=outcome.turns)
        proposal = outcome.proposal
        if proposal is None and outcome.outcome != "invalid_edit":
            ended = AgentSessionEnded(session_id=work.session_id, agent=self.agent, outcome=outcome.outcome,
                                      detail=outcome.detail or "nothing left to try from the current lineage",
                                      turns=outcome.turns)
            return Append([self._ended(ended)])
        out = Append()
        tid = trial_id(len(self.state.trials.rows))
        verdict, feedback, violations, code, diff, hashes = None, "", [], {}, None, {}
        if proposal is None:  # the model never produced a usable edit
            verdict, feedback = "invalid_edit", outcome.detail
            proposal = Proposal(parent_id=outcome.parent_id, hypothesis="(the session ended without a submission)",
                                edits=())
        else:
            try:
                change = make_change(self.code_of(proposal.parent_id), proposal.edits)
                violations = surface_violations(change, self.specialist.surface)
                if violations and self.config.surface_mode == "strict":
                    verdict, feedback = "out_of_surface", "; ".join(violations)
                code = {p: out.blob(data) for p, data in change.code.items()}
                diff = out.blob(change.diff.encode())
                hashes = dict(parent_sha256=change.parent_sha256, code_sha256=change.child_sha256)
            except (EditError, KeyError) as exc:
                verdict, feedback = "invalid_edit", str(exc)
        proposed = TrialProposed(
            trial_id=tid, agent=self.agent, surface=self.agent, parent_id=proposal.parent_id,
            hypothesis=proposal.hypothesis, expected_delta=proposal.expected_delta, code=code, diff=diff,
            notes=proposal.notes, session_id=work.session_id, technique=proposal.technique,
            surface_violations=violations, **hashes)
        out.events.append(self.event(proposed, trial_stream(tid), expected=NO_STREAM))
        if verdict:  # judged before it runs: nothing to execute
            judged = TrialEvaluated(trial_id=tid, attempt=1, evaluator=PREFLIGHT, evaluator_version=PREFLIGHT_VERSION,
                                    verdict=verdict, feedback=feedback)
            out.events.append(self.fact(judged, trial_stream(tid), "evaluated", tid, 1))
        out.events.append(self._ended(AgentSessionEnded(session_id=work.session_id, agent=self.agent,
                                                        outcome=verdict or "submitted", trial_id=tid,
                                                        turns=outcome.turns, detail=outcome.detail)))
        return out

    def out_raced(self, work: Session, outcome: Outcome) -> Append:
        """Every trial id this session tried was taken first: it ends, recorded, with no trial."""
        ended = AgentSessionEnded(session_id=work.session_id, agent=self.agent, outcome="error", turns=outcome.turns,
                                  detail=f"another specialist took the next trial id {work.races} times in a row")
        return Append([self._ended(ended)])

    def _ended(self, ended: AgentSessionEnded):
        """A session's end, once per session however it ended."""
        return self.fact(ended, self.stream, "session-ended", ended.session_id)
