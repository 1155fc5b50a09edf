"""One concurrency limit per model server across the whole run: every specialist is its own Ray
process, so a semaphore per process limits nothing. A small async actor holds the slots; a
client asks it for one before each call and gives it back after. A slot whose holder died is
taken back after its lease (the call deadline and a minute), so a killed specialist cannot leak
it. Slots are keyed by the server (base URL): two endpoint names for one server share them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict

import ray


@ray.remote(num_cpus=0, max_restarts=-1)
class EndpointGate:
    def __init__(self):
        self.held: dict[str, dict[int, float]] = defaultdict(dict)
        self.peak: dict[str, int] = defaultdict(int)
        self.changed = asyncio.Condition()
        self.ids = itertools.count(1)

    async def acquire(self, key: str, limit: int, lease_s: float) -> int:
        async with self.changed:
            while True:
                now = time.monotonic()
                for token, until in list(self.held[key].items()):
                    if until < now:
                        del self.held[key][token]
                if len(self.held[key]) < max(1, limit):
                    token = next(self.ids)
                    self.held[key][token] = now + lease_s
                    self.peak[key] = max(self.peak[key], len(self.held[key]))
                    return token
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), timeout=1.0)

    async def release(self, key: str, token: int) -> None:
        async with self.changed:
            self.held[key].pop(token, None)
            self.changed.notify_all()

    def peaks(self) -> dict[str, int]:
        return dict(self.peak)


class RayGate:
    """The client side (agents.llm.client's `gate`): picklable, so it travels inside a proposer."""

    def __init__(self, handle):
        self.handle = handle

    @contextlib.asynccontextmanager
    async def slot(self, ep):
        key = ep.base_url.rstrip("/")
        token = await self.handle.acquire.remote(key, ep.max_concurrency, ep.call_deadline_s + 60.0)
        try:
            yield
        finally:
            await self.handle.release.remote(key, token)


def attach_gate(proposers: dict, name: str):
    """Start the run's gate and hand it to every LLM proposer's client; the handle, or None."""
    llm = [p for p in proposers.values() if getattr(p, "kind", "") == "llm" and hasattr(p, "client")]
    if not llm:
        return None
    handle = EndpointGate.options(name=name).remote()
    for p in llm:
        p.client.gate = RayGate(handle)
    return handle
