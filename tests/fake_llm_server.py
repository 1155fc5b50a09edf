"""A scripted model server on loopback that speaks all three wire formats, streamed and not, for
tests. Real sockets, so Ray actors in other processes reach it too.

    with FakeLLM(script={"alpha": [step, ...]}, responder=fn) as fake:
        fake.base_url            http://127.0.0.1:PORT/v1  (Anthropic paths work under it too)
        fake.requests            every request received (bodies; whether a key came, never the key)

Each request is answered by the next step scripted for its agent (the specialist named in the
system prompt), else by `responder(tag, api, body)`, else by a plain "nothing more" reply so a
test never hangs; the start-up probe's `ping` tool is answered with a call to it. A step is a dict:

    {"text": "...", "tool_calls": [{"name": "edit", "arguments": {...} or "raw text"}]}
    {"status": 429, "headers": {"retry-after": "1"}, "body": {...}}      an HTTP error
    {"malformed": True}                                                   a 200 that is not JSON
    {"truncated": True, "text": "..."}                                    cut off at the token limit
    {"delay_s": 2.0, ...}                                                 wait before answering
    {"usage": {"input": 100, "cached": 20, "output": 30}, ...}            usage to report
    {"raw": b"...", "content_type": "...", "headers": {...}}              exactly these bytes, status 200
    {"raw_events": [(event name or None, data), ...]}                     exactly these server-sent events
    {"keepalive_s": 0.2}                                                  SSE comments every 0.2 s, no event
    {"thinking": "...", ...}                                              Anthropic: a signed thinking block first
    {"huge": 50_000_000, "declare_length": False}                         a body of that many bytes, sent in
                                                                          chunks (never held whole); with
                                                                          "content_type": "text/event-stream"
                                                                          one data line of that many bytes
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

TAG = re.compile(r"specialist `([^`]+)`")


@dataclass
class Received:
    path: str
    api: str
    tag: str
    body: dict
    had_key: bool
    at: float


class FakeLLM:
    def __init__(self, script: dict[str, list[dict]] | None = None,
                 responder: Callable[[str, str, dict], dict] | None = None, model: str = "fake-model"):
        self.script = defaultdict(list, {k: list(v) for k, v in (script or {}).items()})
        self.responder, self.model = responder, model
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._ids = 0
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "FakeLLM":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                fake._handle(self)

            def do_GET(self):  # noqa: N802
                self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})

            def _send(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeLLM":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- answering ---------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}_{self._ids}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length", 0))
        raw = h.rfile.read(length)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return _reply_json(h, 400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
        path = h.path.split("?")[0]
        api = ("openai_chat" if path.endswith("/chat/completions") else "openai_responses" if path.endswith("/responses")
               else "anthropic_messages" if path.endswith("/messages") else "")
        if not api:
            return _reply_json(h, 404, {"error": {"message": f"no route {path}"}})
        system = body.get("system") or body.get("instructions") or next(
            (m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "system"), "")
        m = TAG.search(system if isinstance(system, str) else json.dumps(system))
        tag = m.group(1) if m else "default"
        had_key = bool(h.headers.get("authorization") or h.headers.get("x-api-key"))
        with self._lock:
            self.requests.append(Received(path, api, tag, body, had_key, time.time()))
            step = self.script[tag].pop(0) if self.script[tag] else None
        if step is None and _offers_ping(body):  # the start-up probe (agents.llm.probe): a tool-capable model
            step = {"tool_calls": [{"name": "ping", "arguments": {"word": "hi"}}]}
        if step is None and self.responder is not None:
            step = self.responder(tag, api, body)
        step = step or {"text": "I have nothing more to propose."}
        if step.get("delay_s"):
            time.sleep(step["delay_s"])
        if "raw" in step or "huge" in step:
            return _reply_raw(h, step)
        if "raw_events" in step:
            return _reply_sse(h, step["raw_events"])
        if "keepalive_s" in step:  # OpenRouter, while the model has not started: SSE comments only
            return _reply_keepalive(h, step["keepalive_s"])
        if "status" in step:
            return _reply_json(h, step["status"], step.get("body", {"error": {"message": "scripted error"}}),
                               step.get("headers", {}))
        if step.get("malformed"):
            data = b'{"choices": [ this is not json'
            h.send_response(200)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        if api == "anthropic_messages" and body.get("thinking") and _thinking_dropped(body):
            # Anthropic's answer when a tool-use turn comes back without its thinking blocks
            # (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking, tool use)
            return _reply_json(h, 400, {"type": "error", "error": {"type": "invalid_request_error", "message": (
                "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When "
                "`thinking` is enabled, a final `assistant` message must start with a thinking block")}})
        calls = [(self._next_id("call"), c["name"],
                  c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"]))
                 for c in step.get("tool_calls", [])]
        text = step.get("text", "")
        usage = step.get("usage") or {"input": max(1, len(raw) // 4), "cached": 0,
                                      "output": max(1, (len(text) + sum(len(a) for _, _, a in calls)) // 4)}
        finish = "length" if step.get("truncated") else "tool_calls" if calls else "stop"
        render = {"openai_chat": _chat, "openai_responses": _responses, "anthropic_messages": _anthropic}[api]
        extra = {"thinking": step["thinking"]} if step.get("thinking") and api == "anthropic_messages" else {}
        if body.get("stream"):
            _reply_sse(h, render(self, text, calls, finish, usage, body, stream=True, **extra))
        else:
            _reply_json(h, 200, render(self, text, calls, finish, usage, body, stream=False, **extra))


def _thinking_dropped(body: dict) -> bool:
    """The last assistant turn called tools but does not start with its thinking block."""
    turns = [m for m in body.get("messages", []) if m.get("role") == "assistant" and isinstance(m.get("content"), list)]
    if not turns or not any(b.get("type") == "tool_use" for b in turns[-1]["content"]):
        return False
    return turns[-1]["content"][0].get("type") not in ("thinking", "redacted_thinking")


def _offers_ping(body: dict) -> bool:
    return any((t.get("function") or t).get("name") == "ping" for t in body.get("tools") or [])


def _reply_json(h, status: int, obj, headers: dict | None = None) -> None:
    data = json.dumps(obj).encode()
    h.send_response(status)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def _reply_raw(h, step: dict) -> None:
    h.send_response(200)
    h.send_header("content-type", step.get("content_type", "application/json"))
    for k, v in step.get("headers", {}).items():
        h.send_header(k, v)
    if "raw" in step:
        data = step["raw"] if isinstance(step["raw"], bytes) else step["raw"].encode()
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        return
    size = step["huge"]
    if step.get("declare_length", True):
        h.send_header("content-length", str(size))
    h.send_header("connection", "close")
    h.end_headers()
    chunk = b'{"choices": [{"message": {"content": "' + b"x" * (1 << 16)
    if "event-stream" in step.get("content_type", ""):  # one data line that never ends
        h.wfile.write(b"data: ")
        chunk = b"x" * (1 << 16)
    sent = 0
    try:
        while sent < size:
            part = chunk[: size - sent]
            h.wfile.write(part)
            sent += len(part)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client stopped reading, as it should
    h.close_connection = True


def _reply_sse(h, events: list[tuple[str | None, str]]) -> None:
    h.send_response(200)
    h.send_header("content-type", "text/event-stream")
    h.send_header("cache-control", "no-cache")
    h.end_headers()
    for name, data in events:
        chunk = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
        h.wfile.write(chunk.encode())
        h.wfile.flush()


def _reply_keepalive(h, every_s: float) -> None:
    """`: OPENROUTER PROCESSING` comments until the client goes away
    (https://openrouter.ai/docs/api/reference/streaming): bytes keep coming, no event ever does."""
    h.send_response(200)
    h.send_header("content-type", "text/event-stream")
    h.end_headers()
    try:
        for _ in range(100_000):
            h.wfile.write(b": OPENROUTER PROCESSING\n\n")
            h.wfile.flush()
            time.sleep(every_s)
    except (BrokenPipeError, ConnectionResetError):
        pass
    h.close_connection = True


def _thirds(text: str) -> list[str]:
    k = max(1, len(text) // 3)
    return [text[i:i + k] for i in range(0, len(text), k)] if text else []


def _chat(fake, text, calls, finish, usage, body, stream):
    u = {"prompt_tokens": usage["input"], "completion_tokens": usage["output"],
         "total_tokens": usage["input"] + usage["output"], "prompt_tokens_details": {"cached_tokens": usage["cached"]}}
    rid = fake._next_id("chatcmpl")
    if not stream:
        msg = {"role": "assistant", "content": text or None}
        if calls:
            msg["tool_calls"] = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]
        return {"id": rid, "object": "chat.completion", "model": fake.model, "usage": u,
                "choices": [{"index": 0, "message": msg, "finish_reason": finish}]}
    base = {"id": rid, "object": "chat.completion.chunk", "model": fake.model}
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}]
    out += [{**base, "choices": [{"index": 0, "delta": {"content": part}}]} for part in _thirds(text)]
    for k, (i, n, a) in enumerate(calls):
        out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": k, "id": i, "type": "function", "function": {"name": n, "arguments": ""}}]}}]})
        out += [{**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": k, "function": {"arguments": part}}]}}]} for part in _thirds(a)]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append({**base, "choices": [], "usage": u})
    return [(None, json.dumps(c)) for c in out] + [(None, "[DONE]")]


def _responses(fake, text, calls, finish, usage, body, stream):
    output = []
    if text:
        output.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
    output += [{"type": "function_call", "call_id": i, "name": n, "arguments": a} for i, n, a in calls]
    resp = {"id": fake._next_id("resp"), "object": "response", "model": fake.model,
            "status": "incomplete" if finish == "length" else "completed", "output": output,
            "usage": {"input_tokens": usage["input"], "output_tokens": usage["output"],
                      "input_tokens_details": {"cached_tokens": usage["cached"]},
                      "output_tokens_details": {"reasoning_tokens": 0}}}
    if finish == "length":
        resp["incomplete_details"] = {"reason": "max_output_tokens"}
    if not stream:
        return resp
    events = [("response.created", {"type": "response.created", "response": {**resp, "status": "in_progress",
                                                                             "output": []}})]
    events += [("response.output_text.delta", {"type": "response.output_text.delta", "delta": p}) for p in _thirds(text)]
    terminal = "response.incomplete" if finish == "length" else "response.completed"
    events.append((terminal, {"type": terminal, "response": resp}))
    return [(n, json.dumps(e)) for n, e in events]


def _anthropic(fake, text, calls, finish, usage, body, stream, thinking=""):
    stop = {"length": "max_tokens", "tool_calls": "tool_use"}.get(finish, "end_turn")
    u = {"input_tokens": usage["input"] - usage["cached"], "output_tokens": usage["output"],
         "cache_read_input_tokens": usage["cached"], "cache_creation_input_tokens": 0}
    signed = [{"type": "thinking", "thinking": thinking, "signature": "sig-" + fake._next_id("th")}] if thinking else []
    content = signed + ([{"type": "text", "text": text}] if text else []) + [
        {"type": "tool_use", "id": i, "name": n, "input": _loads(a)} for i, n, a in calls]
    msg = {"id": fake._next_id("msg"), "type": "message", "role": "assistant", "model": fake.model, "content": content,
           "stop_reason": stop, "usage": u}
    if not stream:
        return msg
    ev = [("message_start", {"type": "message_start", "message": {**msg, "content": [], "stop_reason": None,
                                                                  "usage": {**u, "output_tokens": 1}}}),
          ("ping", {"type": "ping"})]
    index = 0
    for b in signed:  # streamed as thinking_delta then signature_delta (the messages-streaming docs)
        ev.append(("content_block_start", {"type": "content_block_start", "index": index,
                                           "content_block": {"type": "thinking", "thinking": ""}}))
        ev += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": {"type": "thinking_delta", "thinking": p}}) for p in _thirds(thinking)]
        ev.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                           "delta": {"type": "signature_delta", "signature": b["signature"]}}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    if text:
        ev.append(("content_block_start", {"type": "content_block_start", "index": index,
                                           "content_block": {"type": "text", "text": ""}}))
        ev += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": {"type": "text_delta", "text": p}}) for p in _thirds(text)]
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for i, n, a in calls:
        ev.append(("content_block_start", {"type": "content_block_start", "index": index,
                                           "content_block": {"type": "tool_use", "id": i, "name": n, "input": {}}}))
        ev += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": {"type": "input_json_delta", "partial_json": p}}) for p in _thirds(a)]
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    ev.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop},
                                 "usage": {"output_tokens": usage["output"]}}))
    ev.append(("message_stop", {"type": "message_stop"}))
    return [(n, json.dumps(e)) for n, e in ev]


def _loads(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"_raw": text}
