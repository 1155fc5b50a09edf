"""One model call over httpx, with the retries, timeouts, usage and cost a long unattended run
needs. Returns an Exchange: the request as sent (without headers, so without keys), the response
as received, the normalized reply, usage, cost, latency and every attempt.

Retried: connection errors, timeouts and bodies that fail to decode, HTTP 408, 409, 429, 5xx and
529, after `retry-after-ms` or `retry-after` (seconds or an HTTP date) when the server sends one
(up to the endpoint's cap), else exponential backoff with jitter; `x-should-retry: true|false`
overrides the status, as in the official SDKs. Never retried: other 4xx, and quota or
spend-limit errors (HTTP 402; 400, 403 or 429 saying so: Anthropic answers an empty balance with
400), which raise QuotaExhausted, and a refused key, model or address (401, 403, 404), which raise
EndpointRefused: the agent stops, the run goes on. A redirect is not followed:
it fails at once, naming where it points.

A server can fail after answering 200: an empty body or stream (a proxy whose upstream failed),
a body that is only an error object (OpenRouter, once the model has started), an error inside a
stream (Anthropic's `error` event, OpenRouter's error chunk), a Responses answer that failed.
Each is classified like the status it stands for. A server that says it could not parse the
model's output (llama.cpp answers HTTP 500 "Failed to parse ...") is not down: that answer is
returned as an error exchange, which the session hands back to the model to repair.

A call that fails for good raises LLMError carrying `exchange`: the request, every attempt and the
time spent, so the failure is recorded like any other call. Queueing for the endpoint's slot (the
run-wide `gate`, else a semaphore per process) is timed apart from the call itself.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import email.utils
import hashlib
import random
import re
import time
from typing import Any

import httpx
import msgspec
import orjson
from httpx_sse import EventSource, aconnect_sse

from agents.llm.config import Endpoint
from agents.llm.wire import (
    Conversation,
    ModelOutputRejected,
    Reply,
    Usage,
    WireError,
    endpoint,
    parse_reply,
    parse_stream,
    request_body,
)

CHARS_PER_TOKEN = 3  # as prompt_fit counts: an estimate errs towards more tokens
RETRY_STATUS = {408, 409, 429, 529}
QUOTA_MARKERS = ("insufficient_quota", "enforced_spend_limit", "billing_hard_limit", "credit balance is too low")
PARSE_FAILURE = re.compile(r"(?i)fail(ed)? to parse|could not parse|unable to parse|parse (error|failure)")
SLOTS_ATTR = "_autorecipe_llm_slots"  # on the event loop: a semaphore belongs to one loop, and goes with it


class LLMError(RuntimeError):
    def __init__(self, message: str, status: int | None = None, attempts: list | None = None):
        super().__init__(message)
        self.status, self.attempts = status, attempts or []
        self.exchange: Exchange | None = None  # the failed call, for the record
        self.unreachable = False  # nothing answered at the endpoint's address on the last attempt
        self.retry_after_s: float | None = None  # the server asked for this long a wait, past the cap


class QuotaExhausted(LLMError):
    """The account cannot pay for more calls: retrying only burns time."""


class EndpointRefused(LLMError):
    """The server refuses this key, this model or this address (HTTP 401, 403, 404): it will go
    on refusing until someone changes the endpoint's configuration, so the agent stops."""


REFUSED_STATUS = {401: "the API key is missing, wrong or revoked", 403: "the key may not use this model or endpoint",
                  404: "no such model or address at this base_url"}


class Attempt(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: int | None = None
    error: str | None = None
    waited_s: float = 0.0


class Exchange(msgspec.Struct, kw_only=True):
    api: str
    model: str
    request: dict  # the body sent
    request_hash: str
    response: dict | None  # {"status", "body"} or {"status", "events": [[event, data], ...]}
    reply: Reply | None
    usage: Usage
    cost_usd: float
    latency_s: float
    attempts: list[Attempt]
    error: str | None = None
    queued_s: float = 0.0  # waiting for the endpoint's concurrency slot, not counted in latency_s
    outcome: str = "ok"  # ok (a response came back, usable or not), failed (no response), quota, refused
    server_fault: bool = False  # a response that is not a reply of the API, through no fault of the model


def request_hash(api: str, body: dict) -> str:
    """The replay key: the request's content, whether it was streamed or not."""
    canonical = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return hashlib.sha256(orjson.dumps({"api": api, "body": canonical}, option=orjson.OPT_SORT_KEYS)).hexdigest()


def cost(ep: Endpoint, usage: Usage) -> float:
    p = ep.price
    fresh = max(0, usage.input - usage.cached_input)
    return (fresh * p.input + usage.cached_input * p.cached_input + usage.output * p.output) / 1e6


def reply_of(api: str, response: dict) -> Reply:
    """The normalized reply of a recorded response (live, replay and audit all parse it here)."""
    if "oversize" in response:
        raise WireError(f"the response was larger than {response['limit']:,} bytes (at least {response['oversize']:,}) "
                        f"and was not read further; it began: {response.get('head', '')[:200]!r}")
    if "events" in response:
        return parse_stream(api, [tuple(e) for e in response["events"]])
    if response.get("status", 200) >= 400:  # kept as an answer only when the model's output was at fault
        raise ModelOutputRejected(f"the server could not use the model's output (HTTP {response['status']}): "
                        f"{_error_message(response.get('body'))}")
    return parse_reply(api, response["body"])


def judged(api: str, response: dict, request: dict) -> tuple[Reply | None, str | None, bool]:
    """(the reply, or None and why not, and whether that is the server's fault): what the session
    acts on. A server that says it could not use the model's output blames the model, whose
    reply is repaired; anything else that is not a reply of the API (a web page, a cut stream, a
    body of the wrong shape) is the server failing, and the session ends as a failed call. Where
    the server reported no usage, the request's tokens are estimated from its size, so the
    session's token limit holds for such a server too."""
    try:
        reply = reply_of(api, response)
        if reply.usage.estimated and not reply.usage.input:
            reply.usage.input = min(len(orjson.dumps(request)) // CHARS_PER_TOKEN, 10**12)
        return reply, None, False
    except ModelOutputRejected as exc:
        return None, str(exc), False
    except WireError as exc:
        return None, str(exc), True


def _error_message(body) -> str:
    if isinstance(body, dict):
        err = body.get("error", body)
        return str(err.get("message") if isinstance(err, dict) else err)[:500]
    return str(body)[:500]


def _delay(attempt: int, headers: httpx.Headers | None, cap: float) -> float | None:
    """Seconds to wait before the next try; None when the server asks for longer than `cap`."""
    asked = _asked(headers)
    if asked is not None:
        return max(0.0, asked) if asked <= cap else None
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())


def _asked(headers: httpx.Headers | None) -> float | None:
    """The wait the server asks for, in seconds: `retry-after-ms`, else `retry-after`."""
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        d = _seconds(value, scale) if value else None
        if d is not None:
            return d
    return None


def _seconds(value: str, scale: float) -> float | None:
    """A Retry-After value in seconds: a number, or an HTTP date (RFC 9110 §10.2.3)."""
    try:
        d = float(value) * scale
        return d if d == d else None  # NaN says nothing
    except ValueError:
        pass
    if scale != 1.0:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _quota(status: int, text: str) -> bool:
    """The account cannot pay: 402 Payment Required always (OpenRouter); 400, 403 or 429 when the
    body says so (Anthropic's empty balance is a 400 invalid_request_error)."""
    return status == 402 or status in (400, 403, 429) and any(m in text for m in QUOTA_MARKERS)


def _should_retry(status: int, headers: httpx.Headers | None) -> bool:
    """The server's `x-should-retry` first (openai-python `_base_client._should_retry`), then the status."""
    said = (headers or {}).get("x-should-retry", "").strip().lower()
    if said in ("true", "false"):
        return said == "true"
    return status in RETRY_STATUS or status >= 500


RESPONSES_CODES = {"server_error": 500, "rate_limit_exceeded": 429}  # a failed Response's other codes: the request's


def _empty(result: dict) -> bool:
    """A 200 with nothing in it: no bytes (or only whitespace), or a stream without one event."""
    body = result.get("body", None)
    return (isinstance(body, str) and not body.strip()) or result.get("events", None) == []


def _embedded_error(body) -> int | None:
    """The status a 200 stands for when its body is only an error object: the code inside it
    (OpenRouter: {"error": {"code": 502, ...}}), Anthropic's error type, else 500; or when it is a
    Responses answer that failed: by its error code, server_error retried, invalid_prompt not."""
    if isinstance(body, dict) and body.get("object") == "response" and body.get("status") == "failed":
        code = (body.get("error") or {}).get("code") if isinstance(body.get("error"), dict) else None
        return RESPONSES_CODES.get(code, 400)
    if not isinstance(body, dict) or not body.get("error") or any(k in body for k in ("choices", "content", "output")):
        return None
    err = body["error"]
    code = err.get("code") if isinstance(err, dict) else None
    if isinstance(code, int) and 400 <= code <= 599:
        return code
    kind = err.get("type") if isinstance(err, dict) else None
    return {"overloaded_error": 529, "rate_limit_error": 429, "invalid_request_error": 400,
            "authentication_error": 401, "permission_error": 403, "not_found_error": 404}.get(kind, 500)


class LLMClient:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None, gate=None):
        self.transport = transport
        self.gate = gate  # run-wide slots per endpoint (actors.llm_gate); None: a semaphore per process

    def _slot(self, ep: Endpoint):
        if self.gate is not None:
            return self.gate.slot(ep)
        sem = _loop_slots().setdefault((ep.name, ep.max_concurrency), asyncio.Semaphore(ep.max_concurrency))
        return _semaphore_slot(sem)

    async def complete(self, ep: Endpoint, conv: Conversation) -> Exchange:
        body = request_body(ep.api, ep.model, conv, ep.max_output_tokens, ep.temperature, ep.seed, ep.stream,
                            ep.extra_body)
        key = request_hash(ep.api, body)
        queued_at = time.monotonic()
        started = queued_at
        attempts: list[Attempt] = []
        try:
            async with self._slot(ep):
                started = time.monotonic()
                try:
                    async with asyncio.timeout(ep.call_deadline_s):
                        response, attempts = await self._with_retries(ep, body, attempts)
                except TimeoutError:
                    raise LLMError(f"{ep.name}: no answer within the call deadline of {ep.call_deadline_s:g} s",
                                   attempts=attempts) from None
        except LLMError as exc:
            exc.attempts = exc.attempts or attempts
            exc.unreachable = bool(exc.attempts) and all(_refused(a.error) for a in exc.attempts[-2:])
            exc.exchange = Exchange(api=ep.api, model=ep.model, request=body, request_hash=key, response=None,
                                    reply=None, usage=Usage(), cost_usd=0.0, latency_s=time.monotonic() - started,
                                    attempts=exc.attempts, error=str(exc), queued_s=started - queued_at,
                                    outcome="quota" if isinstance(exc, QuotaExhausted)
                                    else "refused" if isinstance(exc, EndpointRefused)
                                    else "unreachable" if exc.unreachable else "failed")
            raise
        latency = time.monotonic() - started
        reply, error, server_fault = judged(ep.api, response, body)
        usage = reply.usage if reply else Usage()
        return Exchange(api=ep.api, model=ep.model, request=body, request_hash=key, response=response, reply=reply,
                        usage=usage, cost_usd=cost(ep, usage), latency_s=latency, attempts=attempts, error=error,
                        queued_s=started - queued_at, server_fault=server_fault)

    async def _with_retries(self, ep: Endpoint, body: dict, attempts: list[Attempt]) -> tuple[dict, list[Attempt]]:
        """The response; `attempts` (the caller's list, so a deadline that cuts this short keeps
        them) gets one entry per try."""
        url = endpoint(ep.api, ep.base_url)
        headers = _headers(ep)
        timeout = httpx.Timeout(ep.read_timeout_s, connect=ep.connect_timeout_s, write=30.0, pool=30.0)
        async with httpx.AsyncClient(timeout=timeout, transport=self.transport) as http:
            for n in range(ep.retries + 1):
                status, resp_headers, error = None, None, None
                try:
                    status, resp_headers, result = await _post(http, url, body, headers, ep)
                    if 300 <= status < 400:  # not followed: a POST sent on elsewhere may lose its body
                        where = resp_headers.get("location", "(no location)")
                        attempts.append(Attempt(status=status, error=f"redirected to {where}"))
                        raise LLMError(f"{ep.name}: HTTP {status}: {url} redirects to {where}; set the endpoint's "
                                       "base_url to where it points", status, attempts)
                    if status < 400 and _empty(result):  # nothing for the model to repair: a failing server
                        status, result = 502, f"HTTP {status} with an empty body"
                    if status < 400:
                        embedded = _embedded_error(result.get("body"))
                        if embedded is None:
                            attempts.append(Attempt(status=status))
                            return result, attempts
                        status, result = embedded, "(in a 200 body) " + orjson.dumps(result["body"]).decode()
                    text = result if isinstance(result, str) else result.get("head", "")
                    if status >= 500 and PARSE_FAILURE.search(text):  # the model's output, not the server
                        attempts.append(Attempt(status=status, error="the server could not parse the model's output"))
                        return {"status": status, "body": _json_or_text(text.encode())}, attempts
                    if _quota(status, text):
                        attempts.append(Attempt(status=status, error="quota"))
                        raise QuotaExhausted(f"{ep.name}: HTTP {status}, the account is out of quota: {text[:300]}",
                                             status, attempts)
                    if not _should_retry(status, resp_headers):
                        attempts.append(Attempt(status=status, error=text[:200]))
                        if status in REFUSED_STATUS:
                            raise EndpointRefused(f"{ep.name}: HTTP {status} from {url}: {REFUSED_STATUS[status]} "
                                                  f"(model {ep.model!r}): {text[:300]}", status, attempts)
                        raise LLMError(f"{ep.name}: HTTP {status}: {text[:500]}", status, attempts)
                    error = f"HTTP {status}: {text[:200]}"
                except httpx.RequestError as exc:  # transport, timeouts, and a body that fails to decode
                    error = f"{type(exc).__name__}: {exc}"
                wait = _delay(n, resp_headers, ep.retry_cap_s)
                attempts.append(Attempt(status=status, error=error, waited_s=round(wait or 0.0, 3)))
                if n == ep.retries:
                    break
                if wait is None:
                    exc = LLMError(f"{ep.name}: the server asks to wait longer than {ep.retry_cap_s:g} s ({error})",
                                   status, attempts)
                    exc.retry_after_s = _asked(resp_headers)  # the agent's next session waits as long
                    raise exc
                await asyncio.sleep(wait)
        raise LLMError(f"{ep.name}: gave up after {len(attempts)} attempts; last: {attempts[-1].error}",
                       attempts[-1].status, attempts)


async def _post(http: httpx.AsyncClient, url: str, body: dict, headers: dict, ep: Endpoint) -> tuple[int, Any, Any]:
    """One try: (status, response headers, the response as `_with_retries` judges it), its body
    read up to the endpoint's cap."""
    if ep.stream:
        return await _streamed(http, url, body, headers, ep.max_response_bytes)
    async with http.stream("POST", url, content=orjson.dumps(body), headers=headers) as r:
        status, resp_headers = r.status_code, r.headers
        data, over = await _read_capped(r, ep.max_response_bytes)
    if over:
        return status, resp_headers, _oversize(status, data, over, ep.max_response_bytes)
    return status, resp_headers, {"status": status, "body": _json_or_text(data)} if status < 400 else _text(data)


def _loop_slots() -> dict[tuple[str, int], asyncio.Semaphore]:
    """This event loop's slots per endpoint and limit. Kept on the loop itself, not in a table
    keyed by id(loop): a finished loop's id is reused by the next one, which would inherit slots
    bound to a dead loop, sized for whatever endpoint used the name before."""
    loop = asyncio.get_running_loop()
    slots = getattr(loop, SLOTS_ATTR, None)
    if slots is None:
        slots = {}
        setattr(loop, SLOTS_ATTR, slots)
    return slots


@contextlib.asynccontextmanager
async def _semaphore_slot(sem: asyncio.Semaphore):
    async with sem:
        yield


def _refused(error: str | None) -> bool:
    """Nothing listens at the address (or the name does not resolve): the server is not there."""
    return bool(error) and error.startswith("ConnectError")


async def _streamed(http: httpx.AsyncClient, url: str, body: dict, headers: dict, cap: int):
    async with aconnect_sse(http, "POST", url, content=orjson.dumps(body), headers=headers) as source:
        r = source.response
        if r.status_code >= 400:
            data, over = await _read_capped(r, cap)
            return r.status_code, r.headers, _oversize(r.status_code, data, over, cap) if over else _text(data)
        if "text/event-stream" not in r.headers.get("content-type", ""):
            # not a stream (a server that does not stream, or an error before it started): the body
            # is the answer, read as a plain one; httpx_sse would raise SSEError, a TransportError
            data, over = await _read_capped(r, cap)
            return r.status_code, r.headers, (_oversize(r.status_code, data, over, cap) if over
                                              else {"status": r.status_code, "body": _json_or_text(data)})
        events, counted = [], _CountedText(r, cap)
        try:
            async for sse in EventSource(counted).aiter_sse():
                events.append([sse.event, sse.data])
        except _TooLarge:  # stop reading: what came so far is dropped, its start kept for the record
            head = "".join(d for _, d in events)[:4096].encode() or counted.head
            return r.status_code, r.headers, _oversize(r.status_code, head, counted.seen, cap)
        reported = _stream_error(events)
        if reported is not None and not PARSE_FAILURE.search(reported[1]):
            # the server failed after its 200 (overloaded, provider gone): classified by the status it
            # stands for, as if it had sent that; a parse failure is the model's and goes back to it
            status, text = reported
            return status, r.headers, text
        return r.status_code, r.headers, {"status": r.status_code, "events": events}


def _stream_error(events: list) -> tuple[int, str] | None:
    """(the status it stands for, its text) when the server reported an error inside the stream
    after answering 200: Anthropic's `error` event, a Chat chunk with an `error` field (OpenRouter,
    llama.cpp), a Responses `error` event. None for a stream without one."""
    for name, data in events:
        if "error" not in data:
            continue
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(ev, dict):
            continue
        if ev.get("type") == "response.failed" and isinstance(ev.get("response"), dict):
            status = _embedded_error({**ev["response"], "object": "response", "status": "failed"})
            return status, "(inside the stream) " + orjson.dumps(ev["response"].get("error")).decode()[:500]
        if ev.get("type") == "error" or name == "error":
            err = ev.get("error") or ev  # Anthropic nests it; Responses puts code and message on the event
        elif ev.get("error"):  # a Chat chunk carrying an error, with or without choices
            err = ev["error"]
        else:
            continue
        return _embedded_error({"error": err}) or 500, "(inside the stream) " + data[:500]
    return None


class _TooLarge(Exception):
    pass


class _CountedText:
    """The response as httpx_sse's EventSource reads it (headers, aiter_text), counting the bytes
    that arrive: past `cap` it stops, however the stream is cut into events. Counted per event, a
    server whose event never ends (one endless data line, or events split by single newlines) was
    held whole in the SSE parser's buffer."""

    def __init__(self, r: httpx.Response, cap: int):
        self.r, self.cap, self.seen, self.head = r, cap, 0, b""
        self.headers = r.headers

    async def aiter_text(self):
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        async for chunk in self.r.aiter_bytes():
            self.seen += len(chunk)
            if len(self.head) < 4096:
                self.head += chunk[:4096 - len(self.head)]
            if self.seen > self.cap:
                raise _TooLarge
            text = decode(chunk)
            if text:
                yield text
        tail = decode(b"", final=True)
        if tail:
            yield tail


async def _read_capped(r: httpx.Response, cap: int) -> tuple[bytes, int]:
    """The body, or (its first bytes, how many were seen) once it passes `cap` bytes: a server
    that answers with 50 MB (or never stops) costs at most `cap` of memory. Decoded bytes are
    counted, so a compressed bomb is stopped too."""
    declared = r.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        return b"", int(declared)
    buf = bytearray()
    async for chunk in r.aiter_bytes():
        buf += chunk
        if len(buf) > cap:
            return bytes(buf[:4096]), len(buf)
    return bytes(buf), 0


def _oversize(status: int, head: bytes, seen: int, cap: int) -> dict:
    return {"status": status, "oversize": seen, "limit": cap, "head": _text(head[:4096])}


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def _headers(ep: Endpoint) -> dict:
    h = {"content-type": "application/json"}
    key = ep.api_key()
    if ep.api == "anthropic_messages":
        h["anthropic-version"] = "2023-06-01"
        if key:
            h["x-api-key"] = key
    elif key:
        h["authorization"] = f"Bearer {key}"
    return h


def _json_or_text(data: bytes):
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode(errors="replace")
