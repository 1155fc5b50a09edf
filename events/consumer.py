"""Following a run from anywhere: an SSE client that resumes where it left off.

    async for record in follow("http://host:8000", from_offset=0):
        ...   # each a JSON-ready dict with "offset", "type", "event", ...

    async with contextlib.aclosing(follow(url)) as records:   # to leave early (break, return):
        async for record in records:                          # the connection closes at once
            ...

Delivery is at-least-once over the network and exactly-once to the caller: after a dropped
connection the client reconnects with Last-Event-ID (the last offset it handed out), and drops
anything at or below it. Store the last offset you processed to resume across restarts.

Reconnecting is for a gateway that was there and went away (a restart, a dropped network). A
URL that could never work is given up on: one that is not http(s)://HOST, an answer 4xx (the
wrong path, a refused token) or one that is not an event stream (a web page, JSON), or no first
connection within `first_connect_s`.
"""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import httpx
import orjson
from httpx_sse import aconnect_sse

RECONNECT_MIN_S, RECONNECT_MAX_S = 0.2, 10.0


class Unauthorized(RuntimeError):
    pass


class GaveUp(RuntimeError):
    """Following cannot work: a malformed URL, a 4xx answer or one that is not an event stream,
    or no first connection in time."""


def checked_url(url: str) -> str:
    """`url` without its trailing slash, or GaveUp saying what is wrong with it."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise GaveUp(f"{url!r} is not a URL ({exc}): give the gateway's, e.g. http://127.0.0.1:8000") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise GaveUp(f"{url!r} is not an http(s)://HOST[:PORT] URL: give the gateway's, e.g. http://127.0.0.1:8000")
    return url.rstrip("/")


class LogDamaged(RuntimeError):
    """The gateway met a damaged frame in the run's log: every event before it was delivered;
    reconnecting cannot get past it. `detail` has the segment, byte position and offset."""

    def __init__(self, detail: dict):
        super().__init__(detail.get("error", "the run's log is damaged"))
        self.detail = detail


def _first_timeout(give_up_at: float | None) -> dict:
    """Before the first connection, no wait outlasts the time left to make it."""
    if give_up_at is None:
        return {}
    left = max(give_up_at - time.monotonic(), 0.1)
    return {"timeout": httpx.Timeout(min(60.0, left), connect=min(5.0, left))}


def _check_answer(response: httpx.Response, endpoint: str, url: str) -> None:
    """Unauthorized or GaveUp where asking again would get the same answer: a 4xx, or anything
    but an event stream; HTTPStatusError for a 5xx (a gateway restarting: worth another try)."""
    status = response.status_code
    if status == 401:
        raise Unauthorized(f"{url}: the gateway wants a bearer token (--token)")
    if 400 <= status < 500:
        raise GaveUp(f"{endpoint} answered {status} {response.reason_phrase}: is {url} an "
                     "autorecipe gateway (autorecipe serve), and the token right?")
    response.raise_for_status()
    kind = response.headers.get("content-type", "")
    if "text/event-stream" not in kind:
        raise GaveUp(f"{endpoint} answered {kind or 'no content type'}, not an event stream: is "
                     f"{url} an autorecipe gateway (autorecipe serve)?")


async def follow(url: str, from_offset: int = 0, types: list[str] | None = None, stream: str | None = None,
                 token: str | None = None, reconnect: bool = True, client: httpx.AsyncClient | None = None,
                 on_reconnect=lambda error, delay: None, first_connect_s: float | None = 60.0) -> AsyncIterator[dict]:
    """`first_connect_s`: give up (GaveUp) when no connection has succeeded this long after the
    start; None retries forever. Once one has, a dropped connection is retried without limit."""
    endpoint = checked_url(url) + "/events/stream"
    give_up_at = None if first_connect_s is None else time.monotonic() + first_connect_s
    connected = False
    last = from_offset - 1
    delay = RECONNECT_MIN_S
    params = [("type", t) for t in types or []] + ([("stream", stream)] if stream else [])
    headers = {"authorization": f"Bearer {token}"} if token else {}
    own = client is None
    client = client or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))
    try:
        while True:
            try:
                h = {**headers, "last-event-id": str(last)} if last >= 0 else headers
                q = params if last >= 0 else params + [("from", str(from_offset))]
                timeout = {} if connected else _first_timeout(give_up_at)
                async with aconnect_sse(client, "GET", endpoint, params=q, headers=h, **timeout) as src:
                    _check_answer(src.response, endpoint, url)
                    connected = True
                    async for sse in src.aiter_sse():
                        if sse.event == "error":
                            raise LogDamaged(orjson.loads(sse.data))
                        if not sse.id:
                            continue  # a ping
                        offset = int(sse.id)
                        if offset <= last:
                            continue
                        last = offset
                        delay = RECONNECT_MIN_S
                        yield orjson.loads(sse.data)
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                if not reconnect:
                    raise
                if isinstance(exc, httpx.UnsupportedProtocol):
                    raise GaveUp(f"{url}: {exc}") from None
                wait = delay
                if not connected and give_up_at is not None:
                    left = give_up_at - time.monotonic()
                    if left <= 0:
                        raise GaveUp(f"no connection to {url} in {first_connect_s:g} s (last: "
                                     f"{str(exc) or type(exc).__name__}); is the gateway running there?") from None
                    wait = min(delay, left)  # the last try falls on the limit, not past it
                on_reconnect(exc, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            if not reconnect:
                return
    finally:
        if own:
            await client.aclose()
