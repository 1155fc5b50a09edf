"""The three wire formats, as pure functions: a conversation in, a request body out; a response
body (or its stream of server-sent events) in, a normalized reply out.

    openai_chat         POST {base}/chat/completions   every local server speaks it (the default)
    openai_responses    POST {base}/responses
    anthropic_messages  POST {base}/v1/messages

A conversation is a system prompt, messages (user, assistant with optional tool calls, tool
results) and tool definitions. Replies carry text, tool calls (arguments as the JSON text the
model wrote, parsed later so a malformed call is an error the agent sees, not a crash), a
normalized finish reason and usage (input, cached input, output, reasoning tokens).
"""

from __future__ import annotations

from typing import Annotated, Iterable, Literal

import msgspec
import orjson

Api = Literal["openai_chat", "openai_responses", "anthropic_messages"]
APIS: tuple[str, ...] = Api.__args__  # type: ignore[attr-defined]
Finish = Literal["stop", "length", "tool_calls", "filtered", "error", "other"]


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model sent it


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None  # for role "tool"
    thinking: list[dict] = []  # Anthropic's thinking blocks of an assistant turn, sent back verbatim (signed)


class Tool(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    parameters: dict  # JSON Schema of the arguments object


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    system: str
    messages: list[Message]
    tools: list[Tool] = []


# A token count a server may report: none is negative, and no call reaches a trillion (a count
# past 2^64 could not even be stored; a negative one would pay back the cost cap).
Tokens = Annotated[int, msgspec.Meta(ge=0, le=10**12)]


class Usage(msgspec.Struct, kw_only=True):
    input: Tokens = 0  # all prompt tokens, cached ones included
    cached_input: Tokens = 0
    output: Tokens = 0  # reasoning included, as providers bill it
    reasoning: Tokens = 0
    estimated: bool = False  # the server sent no usage; counted as characters / 4


class Reply(msgspec.Struct, kw_only=True):
    text: str
    tool_calls: list[ToolCall]
    finish: Finish
    usage: Usage
    model: str = ""
    # Anthropic thinking / redacted_thinking blocks, as sent: with extended thinking on, a tool-use
    # turn must go back with them, signature and all, or the next request is refused (HTTP 400)
    thinking: list[dict] = []


class WireError(ValueError):
    """A response body that does not have the shape its API promises: the server's failure."""


class ModelOutputRejected(WireError):
    """The server answered that it could not use what the model wrote (a tool call it could not
    parse, say): the model's failure, which goes back to it as a repair."""


def endpoint(api: Api, base_url: str) -> str:
    base = base_url.rstrip("/")
    if api == "openai_chat":
        return base + "/chat/completions"
    if api == "openai_responses":
        return base + "/responses"
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


# -- requests -----------------------------------------------------------------------------------


def request_body(api: Api, model: str, conv: Conversation, max_output_tokens: int, temperature: float | None = None,
                 seed: int | None = None, stream: bool = False, extra: dict | None = None) -> dict:
    if api == "openai_chat":
        body = {"model": model, "messages": _chat_messages(conv), "max_tokens": max_output_tokens}
        if conv.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                                "parameters": t.parameters}} for t in conv.tools]
        if stream:
            body["stream"], body["stream_options"] = True, {"include_usage": True}
        if seed is not None:
            body["seed"] = seed
    elif api == "openai_responses":
        body = {"model": model, "instructions": conv.system, "input": _responses_input(conv),
                "max_output_tokens": max_output_tokens}
        if conv.tools:
            body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                              "parameters": t.parameters} for t in conv.tools]
        if stream:
            body["stream"] = True
    elif api == "anthropic_messages":
        body = {"model": model, "system": conv.system, "messages": _anthropic_messages(conv),
                "max_tokens": max_output_tokens}
        if conv.tools:
            body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                             for t in conv.tools]
        if stream:
            body["stream"] = True
    else:
        raise ValueError(f"unknown API {api!r}; one of {', '.join(APIS)}")
    if temperature is not None:
        body["temperature"] = temperature
    return {**body, **(extra or {})}


def _chat_messages(conv: Conversation) -> list[dict]:
    out = [{"role": "system", "content": conv.system}]
    for m in conv.messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.role == "assistant":
            msg = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                msg["tool_calls"] = [{"id": c.id, "type": "function",
                                      "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
            out.append(msg)
        else:
            out.append({"role": "user", "content": m.content})
    return out


def _responses_input(conv: Conversation) -> list[dict]:
    out = []
    for m in conv.messages:
        if m.role == "tool":
            out.append({"type": "function_call_output", "call_id": m.tool_call_id, "output": m.content})
        elif m.role == "assistant":
            if m.content:
                out.append({"role": "assistant", "content": m.content})
            out += [{"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
                    for c in m.tool_calls]
        else:
            out.append({"role": "user", "content": m.content})
    return out


def _anthropic_messages(conv: Conversation) -> list[dict]:
    out: list[dict] = []
    for m in conv.messages:
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)  # results of one turn's calls go back together
            else:
                out.append({"role": "user", "content": [block]})
        elif m.role == "assistant":
            blocks = list(m.thinking) + ([{"type": "text", "text": m.content}] if m.content else [])
            for c in m.tool_calls:
                try:
                    args = orjson.loads(c.arguments or "{}")
                except orjson.JSONDecodeError:
                    args = {"_unparsed": c.arguments}
                blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": args})
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": "user", "content": m.content})
    return out


# -- responses ----------------------------------------------------------------------------------


def _for_api(api: Api, chat, responses, anthropic):
    """The one of three functions that reads `api`'s format."""
    return chat if api == "openai_chat" else responses if api == "openai_responses" else anthropic


def parse_reply(api: Api, body: dict) -> Reply:
    try:
        return checked(_for_api(api, _chat_reply, _responses_reply, _anthropic_reply)(body))
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise WireError(f"{api} response without the expected shape ({type(exc).__name__}: {exc}): "
                        f"{orjson.dumps(body)[:300].decode(errors='replace')}") from None


CHAT_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
               "content_filter": "filtered"}
ANTHROPIC_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                    "refusal": "filtered"}


def _chat_reply(body: dict) -> Reply:
    choice = body["choices"][0]
    msg = choice["message"]
    calls = [ToolCall(id=c["id"], name=c["function"]["name"], arguments=_arguments(c["function"].get("arguments")))
             for c in msg.get("tool_calls") or []]
    text = _content_text(msg.get("content"))
    return Reply(text=text, tool_calls=calls, finish=CHAT_FINISH.get(choice.get("finish_reason"), "other"),
                 usage=_chat_usage(body.get("usage"), text, calls), model=body.get("model", ""))


def _content_text(value) -> str:
    """A Chat message's text: a string, or (Mistral's reasoning models) a list of blocks whose
    `text` ones are the answer and whose `thinking` ones are not."""
    if isinstance(value, list):
        if not all(isinstance(b, dict) and "type" in b for b in value):
            raise TypeError(f"content parts must be typed objects, not {str(value)[:100]}")
        return "".join(b.get("text") or "" for b in value if b["type"] == "text")
    return value or ""


def _arguments(value) -> str:
    """A tool call's arguments as JSON text. OpenAI sends a string; some compatible servers an
    object (llama.cpp's server for a while: ggml-org/llama.cpp#20198), which is the same call."""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value or ""


def _chat_usage(u: dict | None, text: str, calls: list[ToolCall]) -> Usage:
    if not u:
        return _estimate(text, calls)
    return Usage(input=u.get("prompt_tokens", 0),
                 cached_input=(u.get("prompt_tokens_details") or {}).get("cached_tokens", 0) or 0,
                 output=u.get("completion_tokens", 0),
                 reasoning=(u.get("completion_tokens_details") or {}).get("reasoning_tokens", 0) or 0)


def _responses_reply(body: dict) -> Reply:
    texts, calls = [], []
    for item in body["output"]:
        if item["type"] == "message":
            texts += [c["text"] for c in item["content"] if c["type"] == "output_text"]
        elif item["type"] == "function_call":
            calls.append(ToolCall(id=item["call_id"], name=item["name"], arguments=_arguments(item.get("arguments"))))
    status = body.get("status", "completed")
    if status == "incomplete":
        reason = (body.get("incomplete_details") or {}).get("reason", "")
        finish = "length" if reason == "max_output_tokens" else "filtered" if reason == "content_filter" else "other"
    elif status == "failed":
        finish = "error"
    else:
        finish = "tool_calls" if calls else "stop"
    u = body.get("usage")
    text = "".join(texts)
    usage = Usage(input=u.get("input_tokens", 0),
                  cached_input=(u.get("input_tokens_details") or {}).get("cached_tokens", 0) or 0,
                  output=u.get("output_tokens", 0),
                  reasoning=(u.get("output_tokens_details") or {}).get("reasoning_tokens", 0) or 0) if u \
        else _estimate(text, calls)
    return Reply(text=text, tool_calls=calls, finish=finish, usage=usage, model=body.get("model", ""))


THINKING = ("thinking", "redacted_thinking")


def _anthropic_reply(body: dict) -> Reply:
    texts, calls, thinking = [], [], []
    for block in body["content"]:
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_use":
            calls.append(ToolCall(id=block["id"], name=block["name"], arguments=orjson.dumps(block["input"]).decode()))
        elif block["type"] in THINKING:
            thinking.append(block)
    text = "".join(texts)
    u = body.get("usage")
    usage = _anthropic_usage(u) if u else _estimate(text, calls)
    return Reply(text=text, tool_calls=calls, finish=ANTHROPIC_FINISH.get(body.get("stop_reason"), "other"),
                 usage=usage, model=body.get("model", ""), thinking=thinking)


def _anthropic_usage(u: dict) -> Usage:
    cached = u.get("cache_read_input_tokens", 0) or 0
    total_in = u.get("input_tokens", 0) + cached + (u.get("cache_creation_input_tokens", 0) or 0)
    return Usage(input=total_in, cached_input=cached, output=u.get("output_tokens", 0))


def _estimate(text: str, calls: list[ToolCall]) -> Usage:
    n = len(text) + sum(len(c.arguments) + len(c.name) for c in calls)
    return Usage(output=max(1, n // 4), estimated=True)


# -- streams ------------------------------------------------------------------------------------


def parse_stream(api: Api, events: Iterable[tuple[str, str]]) -> Reply:
    """A reply assembled from server-sent events, given as (event name, data) pairs."""
    try:
        return checked(_for_api(api, _chat_stream, _responses_stream, _anthropic_stream)(events))
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError(f"{api} stream without the expected shape ({type(exc).__name__}: {exc})") from None


def checked(reply: Reply) -> Reply:
    """The reply, if every field has its declared type: a server that sends a number for the text
    or a string for a token count gives a WireError here, not a TypeError later in the caller."""
    raw = msgspec.to_builtins(reply)
    raw["model"] = raw.get("model") or ""  # some local servers send null for these two
    for call in raw.get("tool_calls") or []:
        if isinstance(call, dict) and call.get("id") is None:
            call["id"] = ""
    try:
        return msgspec.convert(raw, Reply)
    except (msgspec.ValidationError, TypeError) as exc:
        raise WireError(f"a reply with a field of the wrong type: {exc}") from None


def _error_text(err) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err)[:500]
    return str(err)[:500]


def _json(data: str) -> dict:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise WireError(f"a stream event that is not JSON: {data[:200]!r}") from None


def _chat_stream(events) -> Reply:
    text, calls, finish, usage, model = [], _StreamedCalls(), "other", None, ""
    done = False
    for _, data in events:
        if data.strip() == "[DONE]":
            done = True
            break
        chunk = _json(data)
        if chunk.get("error"):  # llama.cpp reports a failure mid-stream as data: {"error": ...}
            # kept in the stream only when it was about the model's output (client._streamed)
            raise ModelOutputRejected(f"the server reported an error in the stream: {_error_text(chunk['error'])}")
        model = chunk.get("model", model)
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(_content_text(delta["content"]))
            for c in delta.get("tool_calls") or []:
                slot = calls.slot(c.get("index"), c.get("id"))
                fn = c.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                finish = CHAT_FINISH.get(choice["finish_reason"], "other")
    if not done:
        raise WireError("the stream ended without its [DONE] terminator: the reply may be incomplete")
    tool_calls = [ToolCall(**c) for c in calls.slots]
    joined = "".join(text)
    return Reply(text=joined, tool_calls=tool_calls, finish=finish, usage=_chat_usage(usage, joined, tool_calls),
                 model=model)


class _StreamedCalls:
    """The tool calls of a Chat stream, assembled from their deltas. OpenAI gives each call its own
    `index` and its id on the first delta; Ollama labels every call of a turn index 0 and Gemini's
    compatible endpoint sends no index. So a delta with an id not seen yet opens a new call unless
    its index names one still without an id; a delta without an id continues the call its index
    names, else the one last opened."""

    def __init__(self):
        self.slots: list[dict] = []
        self.by_index: dict[int, dict] = {}
        self.by_id: dict[str, dict] = {}
        self.current: dict | None = None

    def slot(self, index, call_id) -> dict:
        held = self.by_index.get(index) if index is not None else None
        if call_id and call_id in self.by_id:
            slot = self.by_id[call_id]
        elif call_id:
            slot = held if held is not None and not held["id"] else self._open(index)
            slot["id"] = call_id
            self.by_id[call_id] = slot
        else:
            slot = held if held is not None else self.current if index is None and self.current else self._open(index)
        self.current = slot
        return slot

    def _open(self, index) -> dict:
        slot = {"id": "", "name": "", "arguments": ""}
        self.slots.append(slot)
        if index is not None:
            self.by_index[index] = slot
        return slot


def _responses_stream(events) -> Reply:
    text, final = [], None
    for name, data in events:
        ev = _json(data)
        kind = ev.get("type", name)
        if kind == "response.output_text.delta":
            text.append(ev.get("delta", ""))
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            final = ev["response"]
            break
    if final is None:
        raise WireError("the Responses stream ended without a terminal response.* event")
    return _responses_reply(final)


def _anthropic_stream(events) -> Reply:
    blocks: dict[int, dict] = {}
    usage: dict = {}
    finish, model, stopped = "other", "", False
    for name, data in events:
        ev = _json(data)
        kind = ev.get("type", name)
        if kind == "message_start":
            msg = ev["message"]
            model = msg.get("model", "")
            usage.update(msg.get("usage") or {})
        elif kind == "content_block_start":
            b = ev["content_block"]
            blocks[ev["index"]] = {"type": b["type"], "text": b.get("text", ""), "id": b.get("id", ""),
                                   "name": b.get("name", ""), "json": "", "raw": dict(b)}
        elif kind == "content_block_delta":
            d, b = ev["delta"], blocks[ev["index"]]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            elif d["type"] == "input_json_delta":
                b["json"] += d["partial_json"]
            elif d["type"] == "thinking_delta":
                b["raw"]["thinking"] = b["raw"].get("thinking", "") + d["thinking"]
            elif d["type"] == "signature_delta":
                b["raw"]["signature"] = b["raw"].get("signature", "") + d["signature"]
        elif kind == "message_delta":
            finish = ANTHROPIC_FINISH.get((ev.get("delta") or {}).get("stop_reason"), "other")
            usage.update({k: v for k, v in (ev.get("usage") or {}).items() if v is not None})
        elif kind == "error":
            raise ModelOutputRejected(f"the stream reported an error: {data[:300]}")
        elif kind == "message_stop":
            stopped = True
            break
    if not stopped:  # as a Chat stream without [DONE]: cut off, so the text may end mid-edit
        raise WireError("the stream ended without its message_stop event: the reply may be incomplete")
    text = "".join(b["text"] for _, b in sorted(blocks.items()) if b["type"] == "text")
    calls = [ToolCall(id=b["id"], name=b["name"], arguments=b["json"] or "{}")
             for _, b in sorted(blocks.items()) if b["type"] == "tool_use"]
    thinking = [b["raw"] for _, b in sorted(blocks.items()) if b["type"] in THINKING]
    return Reply(text=text, tool_calls=calls, finish=finish,
                 usage=_anthropic_usage(usage) if usage else _estimate(text, calls), model=model, thinking=thinking)
