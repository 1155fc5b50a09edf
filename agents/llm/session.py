"""One agent session: a fresh conversation in which a model reads the lineage, edits the recipe
through tools and submits one trial.

System: the specialist's surface brief, the environment's rules, the static priors and the
output contract. User: the lineage view and the current program. Tools:

    read_file(path)                        the working copy, with line numbers
    show_trial(trial_id)                   hypothesis, status, score, Δ, feedback, notes
    diff_trials(a, b)                      unified diff between two trials' recipes
    rebase(trial_id)                       start over from another kept trial
    edit(path, search, replace)            one SEARCH/REPLACE edit on the working copy
    write_file(path, content)              instead of edit, for endpoints with edit_format = "whole_file"
    check()                                syntax, surface and the cheap preflight (environments/preflight.py)
    submit(hypothesis, expected_delta, notes)

Endpoints without tool calling get the text protocol instead (agents.llm.text_protocol): the
reply carries a hypothesis and SEARCH/REPLACE blocks (or whole files), which are applied and
checked exactly as the tools would; a passing check submits.

A malformed tool call or reply, or an edit that does not apply, gets an error back (with the
nearest lines of the file); each counts against the repair limit, past which the session ends as
invalid_edit. Every model call is handed to `record` as soon as it returns, before the session
acts on it; a call that failed for good is recorded too, and ends the session (endpoint_down when
nothing answered at the endpoint's address). The first message is fitted to the endpoint's
context window (agents.llm.prompt_fit).
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import inspect
import typing
from dataclasses import dataclass, field

import msgspec
import orjson

from agents.changes import EditError, make_change, surface_violations
from agents.llm import prompt_fit, text_protocol
from agents.llm.client import EndpointRefused, Exchange, LLMClient, LLMError, QuotaExhausted
from agents.llm.config import Endpoint
from agents.llm.matching import MatchError, resolve
from agents.llm.wire import Conversation, Message, Tool
from agents.proposer import Context, Outcome, Proposal
from environments import preflight
from environments.spec import Edit, Tier
from events import Check
from events.ranking import goal_word

READ_CAP, DIFF_LINES, DIFF_BYTES = 200_000, 300, 8_000
# Tool calls run from one reply: a model is asked for one at a time, and a reply of thousands
# (each a file read, or a failing edit searched for its nearest lines) is a repair, not a workload.
MAX_TOOL_CALLS = 16


@dataclass(frozen=True)
class Limits:
    turns: int = 16
    tokens: int = 200_000  # input + output over the session
    repairs: int = 3


def _obj(props: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


S = {"type": "string"}
TOOLS = [
    Tool(name="read_file", description="Read a recipe file of your working copy, with line numbers.",
         parameters=_obj({"path": S}, ["path"])),
    Tool(name="show_trial", description="A trial's hypothesis, status, score, delta vs its parent, feedback and notes.",
         parameters=_obj({"trial_id": S}, ["trial_id"])),
    Tool(name="diff_trials", description="Unified diff of the recipe between two trials (a -> b).",
         parameters=_obj({"a": S, "b": S}, ["a", "b"])),
    Tool(name="rebase", description="Start over from another kept trial's recipe (drops your edits so far).",
         parameters=_obj({"trial_id": S}, ["trial_id"])),
    Tool(name="edit", description="Replace SEARCH (which must occur exactly once in the file) with REPLACE.",
         parameters=_obj({"path": S, "search": S, "replace": S}, ["path", "search", "replace"])),
    Tool(name="write_file", description="Replace a whole recipe file with new content (for models that fumble "
         "SEARCH/REPLACE).", parameters=_obj({"path": S, "content": S}, ["path", "content"])),
    Tool(name="check", description="Check the edits so far without running them: syntax, whether they stay in your "
         "surface, and the environment's cheap preflight (files compile, names the harness needs, byte caps).",
         parameters=_obj({}, [])),
    Tool(name="submit", description="Submit the working copy as one trial. Ends the session.",
         parameters=_obj({"hypothesis": S, "expected_delta": {"type": "number"}, "notes": S}, ["hypothesis"])),
]


TEXT_FORMATS = ("text", "text_whole_file")


def tools_for(edit_format: str) -> list[Tool]:
    """The tool set for an endpoint: `edit` (SEARCH/REPLACE) or, per model, `write_file` (whole files);
    none for the text protocol."""
    if edit_format in TEXT_FORMATS:
        return []
    drop = "edit" if edit_format == "whole_file" else "write_file"
    return [t for t in TOOLS if t.name != drop]


def system_prompt(ctx: Context) -> str:
    spec, sp = ctx.spec, ctx.specialist
    goal = goal_word(spec.direction)
    regions = f" (regions {', '.join(sp.surface.regions)})" if sp.surface.regions else ""
    limits = ctx.spec.tier(ctx.tier).limits if ctx.tier else {}
    return "\n".join([
        f"You are the specialist `{sp.name}` improving a training recipe: {spec.description}.",
        f"Objective: a {goal} {spec.metric}. Environment limits: {limits or 'see the recipe'}.",
        f"Your surface: files {', '.join(sp.surface.files)}{regions}. {sp.brief}",
        "Edit only your surface; the harness and evaluation are read-only and re-staged for every trial.",
        "Failure labels: crash (a traceback), preflight_crash (the smoke run failed), size_blocked (artifact over "
        "its byte cap), train_budget_overrun / eval_budget_overrun (over time), disqualified (accuracy gate or a "
        "forbidden behaviour), out_of_surface, invalid_edit.",
        "Work: read what you need, make ONE focused change with `edit` (SEARCH must match the file exactly, once), "
        "run `check`, then `submit` with a falsifiable hypothesis and the delta you expect. Do not repeat an idea "
        "the lineage shows already failed.",
    ])


def text_system_prompt(ctx: Context, edit_format: str) -> str:
    """The system prompt for the text protocol: the same brief, the reply format instead of tools."""
    head = system_prompt(ctx).rsplit("\n", 1)[0]  # all but the tool workflow
    return head + "\nMake ONE focused change. Do not repeat an idea the lineage shows already failed.\n" + \
        text_protocol.instructions(edit_format == "text_whole_file", list(ctx.specialist.surface.files))


def user_prompt(ctx: Context, code: dict[str, bytes], limit: int | None = None) -> tuple[str, list[str]]:
    """The first message (lineage view and program), fitted to `limit` tokens; and what was cut."""
    sp = ctx.specialist
    return prompt_fit.fitted(ctx.view, sp.brief, code, sp.surface.files, sp.surface.regions, limit)


@dataclass
class Workspace:
    ctx: Context
    parent_id: str | None
    files: dict[str, bytes]
    edits: list[Edit] = field(default_factory=list)
    read_cap: int = READ_CAP  # characters read_file returns: less where the model's window is small

    def rows(self) -> dict:
        return {r.trial_id: r for r in (*self.ctx.view.history, *self.ctx.view.in_flight)}

    def call(self, name: str, args: dict, tools: list[Tool]) -> str:
        fn = getattr(self, f"tool_{name}", None) if any(t.name == name for t in tools) else None
        if fn is None:
            raise ToolError(f"unknown tool {name!r}; the tools are {', '.join(t.name for t in tools)}")
        return fn(**_checked_args(fn, name, args))

    def tool_read_file(self, path: str) -> str:
        if path not in self.files:
            raise ToolError(f"no recipe file {path!r}; the files are {', '.join(sorted(self.files))}")
        lines = self.files[path].decode().splitlines()
        text = "\n".join(f"{i + 1:>5}| {line}" for i, line in enumerate(lines))
        if len(text) > self.read_cap:  # said, so the model knows the file goes on
            text = text[:self.read_cap].rsplit("\n", 1)[0] + "\n[... cut to fit the context window ...]"
        return text

    def tool_show_trial(self, trial_id: str) -> str:
        r = self.rows().get(trial_id)
        if r is None:
            raise ToolError(f"no trial {trial_id!r} in the lineage")
        return orjson.dumps({"trial": r.trial_id, "agent": r.agent, "parent": r.parent_id, "status": r.status or r.phase,
                             "score": r.score, "delta_vs_parent": r.realized_delta, "hypothesis": r.hypothesis,
                             "feedback": r.feedback, "notes": r.notes}, option=orjson.OPT_INDENT_2).decode()

    def tool_diff_trials(self, a: str, b: str) -> str:
        try:
            ca, cb = self.ctx.code_of(a), self.ctx.code_of(b)
        except KeyError as exc:
            raise ToolError(f"no such trial: {exc}") from None
        out = []
        for p in sorted(set(ca) | set(cb)):
            out += difflib.unified_diff(ca.get(p, b"").decode().splitlines(keepends=True),
                                        cb.get(p, b"").decode().splitlines(keepends=True), f"{a}/{p}", f"{b}/{p}")
        text = "".join(out[:DIFF_LINES])
        return text[:DIFF_BYTES] or "(identical)"

    def tool_rebase(self, trial_id: str) -> str:
        r = self.rows().get(trial_id)
        if r is None or r.status != "keep":
            raise ToolError(f"{trial_id} is not a kept trial; rebase only onto trials with status keep")
        self.parent_id, self.files, self.edits = trial_id, self.ctx.code_of(trial_id), []
        return f"now working from {trial_id} ({r.hypothesis[:100]}); earlier edits dropped"

    def tool_edit(self, path: str, search: str, replace: str) -> str:
        try:
            edit = resolve(self.files, path, search, replace)
            change = make_change(self.files, [edit])
        except (MatchError, EditError) as exc:
            raise ToolError(str(exc)) from None
        self.files = change.code
        self.edits.append(edit)
        return f"applied to {path}:\n{change.diff[:DIFF_BYTES]}"

    def tool_write_file(self, path: str, content: str) -> str:
        if path not in self.files:
            raise ToolError(f"no recipe file {path!r}; the files are {', '.join(sorted(self.files))}")
        old = self.files[path].decode()
        try:
            change = make_change(self.files, [Edit(path, old, content)])
        except EditError as exc:
            raise ToolError(str(exc)) from None
        self.files = change.code
        self.edits.append(Edit(path, old, content))
        return f"wrote {path}:\n{change.diff[:DIFF_BYTES]}"

    def tool_check(self) -> str:
        if not self.edits:
            return "no edits yet"
        try:
            change = make_change(self.ctx.code_of(self.parent_id), self.edits)
        except EditError as exc:
            raise ToolError(str(exc)) from None
        outside = surface_violations(change, self.ctx.specialist.surface)
        checks = [Check(name="syntax", passed=True, evidence="the edited files parse"),
                  Check(name="surface", passed=not outside,
                        evidence="; ".join(outside) or "every change is inside your surface")]
        checks += preflight.run(self.ctx.spec, change.code, _tier(self.ctx))
        failed = [c for c in checks if not c.passed]
        # what passed is said too: the model should not spend turns re-checking what already holds
        head = (f"ok: all {len(checks)} checks passed" if not failed else
                f"not ready: {len(failed)} of {len(checks)} checks failed; fix them before you submit")
        return "\n".join([head] + [f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.evidence}" for c in checks])

    def tool_submit(self, hypothesis: str, expected_delta: float | None = None, notes: str = "") -> Proposal:
        if not self.edits:
            raise ToolError("nothing to submit: make an edit first")
        return Proposal(parent_id=self.parent_id, hypothesis=hypothesis.strip()[:500] or "(no hypothesis)",
                        edits=tuple(self.edits), expected_delta=expected_delta, notes=notes[:1000])


class ToolError(ValueError):
    pass


@functools.cache
def _parameters(fn) -> tuple[dict[str, object], frozenset[str]]:
    """A tool's parameters and their types (its annotations), and the ones it requires."""
    hints = typing.get_type_hints(fn)
    params = inspect.signature(fn).parameters
    required = frozenset(n for n, p in params.items() if p.default is inspect.Parameter.empty)
    return {n: hints.get(n, object) for n in params}, required


def _checked_args(fn, name: str, args: dict) -> dict:
    """The model's arguments, each of the type its tool declares (an int is not a hypothesis, a
    string not an expected delta): a ToolError, for the model to repair, before the tool runs."""
    types, required = _parameters(getattr(fn, "__func__", fn))
    unknown = sorted(set(args) - set(types))
    missing = sorted(required - set(args) - {"self"})
    if unknown or missing:
        said = [f"unknown {', '.join(map(repr, unknown))}"] * bool(unknown) + \
            [f"missing {', '.join(map(repr, missing))}"] * bool(missing)
        raise ToolError(f"{name}: bad arguments ({'; '.join(said)}); it takes "
                        f"{', '.join(n for n in types if n != 'self')}")
    out = {}
    for key, value in args.items():
        try:
            out[key] = msgspec.convert(value, types[key])
        except msgspec.ValidationError as exc:
            raise ToolError(f"{name}: argument {key!r}: {exc}") from None
    return out


@dataclass
class _Talk:
    """A session's conversation so far, and what it has cost."""

    messages: list[Message]
    repairs: int = 0  # unusable replies, failed edits and tool errors
    tokens: int = 0  # input + output
    last_problem: str = ""


def _tier(ctx: Context) -> Tier:
    """The run's tier (its byte caps and fixed values); the spec's first where a caller named none."""
    return ctx.spec.tiers.get(ctx.tier or "") or next(iter(ctx.spec.tiers.values()))


class LLMProposer:
    """A Proposer whose sessions are conversations with a model through `client`."""

    kind = "llm"

    def __init__(self, endpoint: Endpoint, client: LLMClient | None = None, limits: Limits | None = None):
        # the endpoint's limits by default: they are recorded with it, so replay runs the same session
        limits = limits or Limits(turns=endpoint.session_turns, repairs=endpoint.session_repairs)
        self.endpoint, self.client, self.limits = endpoint, client or LLMClient(), limits

    @property
    def model(self) -> str:
        return self.endpoint.model

    @property
    def provider(self) -> str:
        return self.endpoint.name

    def propose(self, ctx: Context) -> Outcome:
        return asyncio.run(self.session(ctx, ctx.record))

    async def session(self, ctx: Context, record) -> Outcome:
        ep = self.endpoint
        parent_id = ctx.view.best.trial_id if ctx.view.best else None
        ws = Workspace(ctx, parent_id, ctx.code_of(parent_id))
        if ep.context_tokens:
            ws.read_cap = min(READ_CAP, ep.context_tokens * prompt_fit.CHARS_PER_TOKEN // 4)
        text_mode = ep.edit_format in TEXT_FORMATS
        tools = tools_for(ep.edit_format)
        system = text_system_prompt(ctx, ep.edit_format) if text_mode else system_prompt(ctx)
        fixed = system + str([msgspec_tool(t) for t in tools])
        first, self.cuts = user_prompt(ctx, ws.files, prompt_fit.budget(ep.context_tokens, ep.max_output_tokens, fixed))
        talk = _Talk(messages=[Message(role="user", content=first)])
        for turn in range(1, self.limits.turns + 1):
            outgrown = self._outgrown(fixed, talk.messages, turn)
            if outgrown is not None:
                return outgrown
            try:
                ex = await self.client.complete(ep, Conversation(system=system, messages=talk.messages, tools=tools))
            except LLMError as exc:
                return self._call_failed(exc, record, turn)
            record(ex)
            if ex.server_fault:  # not the model's to repair: a failed call, backed off like one
                return Outcome(None, "error", f"{ep.name}: the answer is not a {ep.api} reply: {ex.error}", turns=turn)
            talk.tokens += ex.usage.input + ex.usage.output
            reply = ex.reply
            if (reply is None or reply.finish == "length" or (not text_mode and not reply.tool_calls)
                    or len(reply.tool_calls) > MAX_TOOL_CALLS):
                if not self._ask_again(ctx, talk, ex, text_mode):
                    break
                continue
            if text_mode:
                result = self._text_turn(ws, reply.text)
                if isinstance(result, Proposal):
                    return Outcome(result, "submitted", turns=turn)
                if not self._text_repair(talk, reply.text, result):
                    break
                continue
            submitted = self._tool_turn(ws, talk, reply, tools)
            if submitted is not None:
                return Outcome(submitted, "submitted", turns=turn)
            if talk.repairs > self.limits.repairs:
                break
            if talk.tokens > self.limits.tokens:
                return Outcome(None, "limit", f"{talk.tokens:,} tokens used (limit {self.limits.tokens:,})", turns=turn)
        if talk.repairs > self.limits.repairs:
            return Outcome(None, "invalid_edit", f"more than {self.limits.repairs} repairs; last: {talk.last_problem}",
                           turns=turn, parent_id=ws.parent_id)
        return Outcome(None, "limit", f"no submit within {self.limits.turns} turns", turns=self.limits.turns)

    def _outgrown(self, fixed: str, messages: list[Message], turn: int) -> Outcome | None:
        """The end of the session when the next request would not fit the endpoint's context window."""
        ep = self.endpoint
        if ep.context_tokens:  # a request past the window is refused (llama.cpp) or cut silently (Ollama)
            need = prompt_fit.tokens(fixed + "".join(m.content + str(m.tool_calls) + str(m.thinking) for m in messages))
            if need + ep.max_output_tokens > ep.context_tokens:
                if turn == 1:  # not even the first message fits: no session on this endpoint ever will
                    return Outcome(None, "window_too_small", f"endpoint {ep.name}: the context window of "
                                   f"{ep.context_tokens:,} tokens cannot hold the first message (about {need:,}) "
                                   f"and {ep.max_output_tokens:,} output tokens; give the server a larger window "
                                   "or lower --llm-max-tokens", turns=0)
                return Outcome(None, "limit", f"the conversation outgrew the model's context window: about "
                               f"{need:,} + {ep.max_output_tokens:,} output tokens of {ep.context_tokens:,}",
                               turns=turn - 1)
        return None

    def _call_failed(self, exc: LLMError, record, turn: int) -> Outcome:
        """A model call that failed for good: recorded (where anything came back), and the session's end."""
        ep = self.endpoint
        if exc.exchange is not None:
            record(exc.exchange)
        if isinstance(exc, QuotaExhausted):
            kind, detail = "quota", str(exc)
        elif isinstance(exc, EndpointRefused):
            kind, detail = "refused", f"{exc}; fix the endpoint's key or model and --resume"
        elif exc.unreachable:
            kind, detail = "endpoint_down", f"endpoint {ep.name} at {ep.base_url} refused the connection: {exc}"
        else:
            kind, detail = "error", str(exc)
        return Outcome(None, kind, detail, turns=turn, retry_after_s=exc.retry_after_s)

    def _ask_again(self, ctx: Context, talk: _Talk, ex: Exchange, text_mode: bool) -> bool:
        """A reply that could not be used (none, cut off, no tool called): one repair, and the
        model told why and how to reply. False once past the repair limit."""
        ep, reply = self.endpoint, ex.reply
        talk.repairs += 1
        talk.last_problem = (ex.error or "") if reply is None else (
            "the reply was cut off at the output-token limit; write a shorter reply" if reply.finish == "length"
            else f"the reply made {len(reply.tool_calls):,} tool calls; make at most {MAX_TOOL_CALLS} (one is best)"
            if len(reply.tool_calls) > MAX_TOOL_CALLS else "the reply called no tool")
        if talk.repairs > self.limits.repairs:
            return False
        if reply is not None and reply.text:
            talk.messages.append(Message(role="assistant", content=reply.text))
        files = list(ctx.specialist.surface.files)
        hint = (text_protocol.instructions(ep.edit_format == "text_whole_file", files) if text_mode else "Work only through the tools: call exactly one tool per reply, e.g. "
                "edit(path, search, replace) with SEARCH copied from the file, then check, then submit.")
        talk.messages.append(Message(role="user",
                                     content=f"Your last reply could not be used: {talk.last_problem}.\n{hint}"))
        return True

    def _text_repair(self, talk: _Talk, text: str, problem: str) -> bool:
        """A text-protocol reply that did not apply or check: one repair, and the error sent back.
        False once past the repair limit."""
        talk.repairs += 1
        talk.last_problem = problem
        if talk.repairs > self.limits.repairs:
            return False
        talk.messages.append(Message(role="assistant", content=text))
        talk.messages.append(Message(role="user", content=f"ERROR: {problem}\nThe program is unchanged; reply again "
                                     "in the format, against the program as shown."))
        return True

    def _tool_turn(self, ws: Workspace, talk: _Talk, reply, tools) -> Proposal | None:
        """Each tool call of the reply run on the working copy, its result (or error, a repair)
        sent back; the Proposal as soon as one submits."""
        talk.messages.append(Message(role="assistant", content=reply.text, tool_calls=reply.tool_calls,
                                     thinking=reply.thinking))
        for call in reply.tool_calls:
            try:
                args = orjson.loads(call.arguments or "{}")
                if not isinstance(args, dict):
                    raise ToolError("the arguments must be a JSON object")
                result = ws.call(call.name, args, tools)
            except (orjson.JSONDecodeError, ToolError) as exc:
                talk.repairs += 1
                talk.last_problem = f"{call.name}: {exc}"
                if talk.repairs > self.limits.repairs:
                    return None  # the session ends: the calls after this one are not worth running
                talk.messages.append(Message(role="tool", tool_call_id=call.id, content=f"ERROR: {exc}"))
                continue
            if isinstance(result, Proposal):
                return result
            talk.messages.append(Message(role="tool", tool_call_id=call.id, content=result))
        return None

    def _text_turn(self, ws: Workspace, text: str) -> Proposal | str:
        """A text-protocol reply applied and checked: the Proposal when the check passes, else the
        error to send back. The working copy changes only when it passes."""
        try:
            parsed = text_protocol.parse(text, list(ws.ctx.specialist.surface.files),
                                         self.endpoint.edit_format == "text_whole_file")
        except text_protocol.FormatError as exc:
            return str(exc)
        saved = (ws.files, list(ws.edits))
        try:
            for e in parsed.edits:
                (ws.tool_write_file(e.path, e.replace) if e.whole else ws.tool_edit(e.path, e.search, e.replace))
            report = ws.tool_check()
        except ToolError as exc:
            ws.files, ws.edits = saved[0], saved[1]
            return str(exc)
        if not report.startswith("ok"):
            ws.files, ws.edits = saved[0], saved[1]
            return report
        return ws.tool_submit(parsed.hypothesis, parsed.expected_delta)


def msgspec_tool(t: Tool) -> dict:
    return {"name": t.name, "description": t.description, "parameters": t.parameters}
