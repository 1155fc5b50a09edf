"""Following a run from anywhere: an SSE client that resumes where it left off.

    async for record in follow("http://host:8000", from_offset=0):
        ...   # each a JSON-ready dict with "offset", "type", "event", ...

Delivery is at-least-once over the network and exactly-once to the caller: after a dropped
connection the client reconnects with Last-Event-ID (the last offset it handed out), and drops
anything at or below it. Store the last offset you processed to resume across restarts.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import httpx
import orjson
from httpx_sse import aconnect_sse

RECONNECT_MIN_S, RECONNECT_MAX_S = 0.2, 10.0


class Unauthorized(RuntimeError):
    pass


class LogDamaged(RuntimeError):
    """The gateway met a damaged frame in the run's log: every event before it was delivered;
    reconnecting cannot get past it. `detail` has the segment, byte position and offset."""

    def __init__(self, detail: dict):
        super().__init__(detail.get("error", "the run's log is damaged"))
        self.detail = detail


async def follow(url: str, from_offset: int = 0, types: list[str] | None = None, stream: str | None = None,
                 token: str | None = None, reconnect: bool = True, client: httpx.AsyncClient | None = None,
                 on_reconnect=lambda error, delay: None) -> AsyncIterator[dict]:
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
                async with aconnect_sse(client, "GET", url.rstrip("/") + "/events/stream", params=q, headers=h) as src:
                    if src.response.status_code == 401:
                        raise Unauthorized(f"{url}: the gateway wants a bearer token (--token)")
                    src.response.raise_for_status()
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
                on_reconnect(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            if not reconnect:
                return
    finally:
        if own:
            await client.aclose()
