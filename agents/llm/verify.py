"""Re-execution replay of a run's LLM sessions: each session is run again, by today's code,
against the model replies the log recorded, from the lineage as it stood when the session
began. It must ask the same questions (request hashes), see the same lineage (the rendered view)
and reach the same end (the same trial code, or the same failure). No network, no model.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import msgspec

from agents.changes import EditError, make_change
from agents.lineage_view import build_view, render
from agents.llm.config import Endpoint
from agents.llm.replay import Divergence, ReplayClient
from agents.llm.session import LLMProposer
from agents.proposer import Context
from environments import registry
from events import AgentSessionEnded, AgentSessionStarted, LlmExchanged, RunDir, RunStarted, RunState, TrialProposed


@dataclass(frozen=True)
class SessionCheck:
    session_id: str
    agent: str
    calls: int
    ok: bool
    detail: str


def verify_llm_sessions(run_dir: str | Path, log=lambda m: None) -> list[SessionCheck]:
    rd = RunDir(run_dir)
    blobs = rd.blobs()
    records = list(rd.reader().iter_records())
    started = next((r.event for r in records if isinstance(r.event, RunStarted)), None)
    if started is None:
        raise ValueError(f"{run_dir}: no RunStarted in the log")
    spec = registry.for_run(started.config)
    endpoints = started.config.get("llm") or {}
    lineage = started.config.get("lineage", True)
    exchanges: dict[str, list[LlmExchanged]] = defaultdict(list)
    proposed: dict[str, TrialProposed] = {}
    ended: dict[str, AgentSessionEnded] = {}
    sessions, counts = [], defaultdict(int)
    for r in records:
        ev = r.event
        if isinstance(ev, LlmExchanged):
            exchanges[ev.session_id].append(ev)
        elif isinstance(ev, TrialProposed) and ev.session_id:
            proposed[ev.session_id] = ev
        elif isinstance(ev, AgentSessionEnded):
            ended[ev.session_id] = ev
        elif isinstance(ev, AgentSessionStarted):
            counts[ev.agent] += 1
            if ev.proposer == "llm":
                sessions.append((ev, counts[ev.agent]))
    state, at = RunState(), 0
    checks = []
    for ev, number in sorted(sessions, key=lambda s: s[0].view_offset or 0):
        while at < len(records) and records[at].offset < (ev.view_offset or 0):
            state.apply(records[at])
            at += 1
        check = _verify_one(ev, number, state, spec, endpoints, lineage, started, exchanges[ev.session_id],
                            proposed.get(ev.session_id), ended.get(ev.session_id), blobs)
        log(f"{ev.session_id[:8]} {ev.agent:<8} {check.calls} calls  {'ok' if check.ok else 'DIVERGED'}  {check.detail}")
        checks.append(check)
    return checks


def _verify_one(ev, number, state, spec, endpoints, lineage, started, recorded, trial, end, blobs) -> SessionCheck:
    def result(ok: bool, detail: str) -> SessionCheck:
        return SessionCheck(ev.session_id, ev.agent, len(recorded), ok, detail)

    if ev.agent not in endpoints:
        return result(False, "the run's configuration has no endpoint for this agent")
    if end is None or end.outcome in ("abandoned", "stopped"):
        return result(True, "the session never finished in the run; nothing to compare")
    rows = state.trials.rows
    view = build_view(rows, state.trials.best_id, ev.agent, spec.metric, spec.direction, lineage=lineage)
    specialist = spec.specialist(ev.agent)
    if ev.lineage_view and render(view, specialist.brief).encode() != blobs.get(ev.lineage_view):
        return result(False, "the lineage view renders differently from the recorded one")

    def code_of(tid):
        return {p: blobs.get(ref) for p, ref in rows[tid or "t0000"].code.items()}

    ctx = Context(spec=spec, specialist=specialist, view=view, code_of=code_of,
                  rng=random.Random(f"{started.seed}/{ev.agent}/{number}"), session=number,
                  tier=started.tier)
    client = ReplayClient(recorded, blobs.get)
    try:
        outcome = asyncio.run(LLMProposer(msgspec.convert(endpoints[ev.agent], Endpoint), client).session(ctx, lambda ex: None))
    except Divergence as exc:
        return result(False, str(exc))
    if client.served != len(recorded):
        return result(False, f"the session ended after {client.served} of {len(recorded)} recorded calls")
    if outcome.proposal is None:
        same = end.outcome == outcome.outcome or (end.outcome == "invalid_edit" and outcome.outcome == "invalid_edit")
        return result(same, f"ended {outcome.outcome}" + ("" if same else f", recorded {end.outcome}"))
    if trial is None:
        return result(False, f"submitted now, but the run recorded no trial (it ended {end.outcome})")
    try:
        sha = make_change(code_of(outcome.proposal.parent_id), outcome.proposal.edits).child_sha256
    except EditError as exc:
        sha = f"invalid: {exc}"
    if outcome.proposal.parent_id != trial.parent_id or (trial.code_sha256 and sha != trial.code_sha256):
        return result(False, f"submitted different code than {trial.trial_id} (parent {outcome.proposal.parent_id} "
                             f"vs {trial.parent_id})")
    return result(True, f"submitted {trial.trial_id} again, byte for byte")
