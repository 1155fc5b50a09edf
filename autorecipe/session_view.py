"""`autorecipe show RUN TRIAL --session`: the model session behind a trial, as the log holds it -
every call in order with its messages, tool calls, tool results and reply, its tokens, latency,
queue time, cost and outcome, then how the session ended."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson

from agents.llm.client import reply_of
from agents.llm.wire import WireError
from events import AgentSessionEnded, AgentSessionStarted, LlmExchanged, RunDir, TrialProposed
from events.blobs import BlobCorrupt, BlobMissing

MESSAGE_CHARS = 4000


def session_view(run_dir: str | Path):
    """`session_lines` of this run, for the gateway's /trials/{id}/session."""
    return functools.partial(session_lines, str(run_dir))


def session_lines(run_dir: str, trial_id: str, until: int | None = None) -> list[str]:
    """The trial's model session as text, from the log's records before offset `until` (the
    gateway's folded end, so nothing it has not acknowledged; None: all of them)."""
    rd = RunDir(run_dir)
    blobs = rd.blobs()
    sid = _session_of(rd, trial_id, until)
    if not sid:
        return [f"{trial_id} came from no model session (the baseline, or a proposer without one)"]
    started, calls, ended = _session_events(rd, sid, until)
    out = [f"session {sid}  agent {started.agent if started else '?'}  model {started.model if started else '?'}  "
           f"{len(calls)} call(s)"]
    shown = 0  # request messages already printed: each call shows only what is new
    totals = [0, 0, 0.0, 0.0]
    for c in calls:
        u = c.usage
        totals[0] += u.input_tokens
        totals[1] += u.output_tokens
        totals[2] += c.latency_s
        totals[3] += c.cost_usd
        out.append("")
        out.append(f"── call {c.call_seq}  {c.outcome}  HTTP {c.http_status}  attempts {c.attempts}  "
                   f"queued {c.queued_s:.2f} s"
                   f"  latency {c.latency_s:.2f} s  tokens in {u.input_tokens:,} (cached {u.cached_input_tokens:,}) "
                   f"out {u.output_tokens:,}{' (estimated)' if u.estimated else ''}  ${c.cost_usd:.4f}")
        try:
            request = orjson.loads(blobs.get(c.request))
        except (BlobMissing, BlobCorrupt, orjson.JSONDecodeError) as exc:
            out.append(f"   request unreadable: {exc}")
            continue
        messages = request.get("messages") or request.get("input") or []
        if shown == 0 and request.get("tools"):
            names = [(t.get("function") or t).get("name") for t in request["tools"]]
            out.append(f"   tools: {', '.join(names)}")
        if shown == 0 and request.get("system"):
            out += _message("system", request["system"])
        if shown == 0 and request.get("instructions"):
            out += _message("system", request["instructions"])
        for m in messages[shown:]:
            out += _message(m.get("role") or m.get("type", "?"), m.get("content") or m.get("output") or "",
                            m.get("tool_calls"))
        shown = len(messages)
        if c.response is None:
            out.append(f"   (no response) {c.error or ''}")
            continue
        try:
            reply = reply_of(request.get("api", _api(request)), orjson.loads(blobs.get(c.response)))
        except (WireError, BlobMissing, BlobCorrupt, orjson.JSONDecodeError) as exc:
            out.append(f"   reply unusable: {exc}")
            continue
        shown += 1  # the reply comes back as the next request's assistant message
        out += _message(f"assistant ({reply.finish})", reply.text,
                        [{"function": {"name": t.name, "arguments": t.arguments}} for t in reply.tool_calls])
    out.append("")
    out.append(f"total      {totals[0]:,} input + {totals[1]:,} output tokens, {totals[2]:.1f} s of calls, "
               f"${totals[3]:.4f}")
    if ended:
        out.append(f"ended      {ended.outcome} after {ended.turns} turn(s){': ' + ended.detail if ended.detail else ''}")
    return out


def _session_of(rd: RunDir, trial_id: str, until: int | None) -> str | None:
    """The session id of the trial's proposal; the log is read only as far as the proposal."""
    for r in rd.reader().iter_records(until=until):
        if isinstance(r.event, TrialProposed) and r.event.trial_id == trial_id:
            return r.event.session_id
    return None


def _session_events(rd: RunDir, sid: str, until: int | None) -> tuple[AgentSessionStarted | None,
                                                                       list[LlmExchanged], AgentSessionEnded | None]:
    """The session's start, its calls in order and its end, in one pass that stops at the end:
    nothing else of the log is kept, however long the run."""
    started, calls, ended = None, [], None
    for r in rd.reader().iter_records(until=until):
        ev = r.event
        if getattr(ev, "session_id", None) != sid:
            continue
        if isinstance(ev, AgentSessionStarted):
            started = started or ev
        elif isinstance(ev, LlmExchanged):
            calls.append(ev)
        elif isinstance(ev, AgentSessionEnded):
            ended = ev
            break
    return started, sorted(calls, key=lambda e: e.call_seq), ended


def _api(request: dict) -> str:
    if "input" in request:
        return "openai_responses"
    if "system" in request:
        return "anthropic_messages"
    return "openai_chat"


def _message(role: str, content, calls=None) -> list[str]:
    if not isinstance(content, str):
        content = orjson.dumps(content).decode()
    text = content
    if len(content) > MESSAGE_CHARS:
        text = content[:MESSAGE_CHARS] + f" [... {len(content) - MESSAGE_CHARS:,} more characters]"
    lines = [f"   [{role}]"] + ["     " + x for x in text.splitlines()] if text else [f"   [{role}]"]
    for t in calls or []:
        fn = t.get("function") or t
        lines.append(f"     → {fn.get('name')}({fn.get('arguments')})")
    return lines
