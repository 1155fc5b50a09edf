"""A specialist: one per surface. When it has room (fewer than `max_in_flight` trials of its own
unjudged) it opens a session: renders the lineage view, asks its proposer, applies the edit to
the parent's code, checks syntax and surface, and appends the session and the trial in one
batch. Trial ids are handed out in log order (t0001, t0002, ...): two specialists racing for the
same id are told apart by the trial stream's expected version, and the loser tries again with
the next one, so the trial budget is never overshot.
"""

from __future__ import annotations

import random

from actors.config import BASELINE_ID, RunConfig, trial_id
from actors.reactor import Reactor, fact_id
from agents.changes import EditError, make_change, surface_violations
from agents.lineage_view import build_view, render
from agents.proposer import Context, Proposer
from environments.spec import EnvironmentSpec
from events import (
    NO_STREAM,
    AgentSessionEnded,
    AgentSessionStarted,
    Record,
    TrialEvaluated,
    TrialProposed,
)
from events.projections.trials import CANCELLED, EVALUATED

PREFLIGHT = "preflight"
PREFLIGHT_VERSION = "1"


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
        self._config: RunConfig | None = None

    @property
    def config(self) -> RunConfig:
        if self._config is None:
            self._config = RunConfig.from_dict(self.state.run.config)
        return self._config

    def observe(self, rec: Record) -> None:
        ev = rec.event
        if isinstance(ev, AgentSessionStarted) and ev.agent == self.agent:
            self.sessions += 1
        elif isinstance(ev, AgentSessionEnded) and ev.agent == self.agent:
            self.exhausted_at = rec.offset if ev.outcome == "exhausted" else None
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
        if len(rows) - 1 >= self.config.trials:
            return False
        mine = sum(1 for r in rows.values() if r.agent == self.agent and r.phase not in (EVALUATED, CANCELLED))
        if mine >= self.config.max_in_flight:
            return False
        # after "nothing to propose", wait for new evidence
        return self.exhausted_at is None or self.last_verdict_at > self.exhausted_at

    def react(self):
        if not self.ready():
            return []
        run, cfg = self.state.run, self.config
        session = self.sessions + 1
        view = build_view(self.state.trials.rows, self.state.trials.best_id, self.agent, self.spec.metric,
                          self.spec.direction, lineage=cfg.lineage)
        rng = random.Random(f"{run.seed}/{self.agent}/{session}")
        ctx = Context(spec=self.spec, specialist=self.specialist, view=view, code_of=self.code_of, rng=rng,
                      session=session)
        proposal = self.proposer.propose(ctx)
        session_id = fact_id(run.run_id, "session", self.agent, session)
        stream = f"agent/{self.agent}"
        started = AgentSessionStarted(session_id=session_id, agent=self.agent, proposer=self.proposer.kind,
                                      lineage_view=self.log.put_blob(render(view, self.specialist.brief).encode()))
        batch = [self.event(started, stream, expected=self.version(stream),
                            event_id=fact_id(run.run_id, "session-started", self.agent, session))]
        if proposal is None:
            ended = AgentSessionEnded(session_id=session_id, agent=self.agent, outcome="exhausted",
                                      detail="nothing left to try from the current lineage")
            batch.append(self.event(ended, stream))
            return batch
        tid = trial_id(len(self.state.trials.rows))
        verdict, feedback, violations = None, "", []
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
            code, diff, hashes = {}, None, {}
        proposed = TrialProposed(
            trial_id=tid, agent=self.agent, surface=self.agent, parent_id=proposal.parent_id,
            hypothesis=proposal.hypothesis, expected_delta=proposal.expected_delta, code=code, diff=diff,
            notes=proposal.notes, session_id=session_id, technique=proposal.technique,
            surface_violations=violations, **hashes)
        batch.append(self.event(proposed, f"trial/{tid}", expected=NO_STREAM))
        if verdict:  # judged before it runs: nothing to execute
            batch.append(self.event(TrialEvaluated(trial_id=tid, attempt=1, evaluator=PREFLIGHT,
                                                   evaluator_version=PREFLIGHT_VERSION, verdict=verdict,
                                                   feedback=feedback), f"trial/{tid}"))
        ended = AgentSessionEnded(session_id=session_id, agent=self.agent, outcome=verdict or "submitted",
                                  trial_id=tid, turns=1)
        batch.append(self.event(ended, stream))
        return batch
