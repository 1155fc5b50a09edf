"""Load: many producers through the Ray EventLog at once, many SSE consumers on one gateway;
nothing lost, nothing twice, order kept. The full-size figures are benchmarks/bench_load.py's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import pytest
import ray

from actors.eventlog import LOG_RESOURCE
from benchmarks.bench_load import run_load
from events import EventStore
from events.consumer import follow
from tests.conftest import lifecycle
from tests.gateway_server import ServedProcess
from tests.test_gateway import _write_run

pytestmark = pytest.mark.load


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, resources={LOG_RESOURCE: 1}, object_store_memory=128 * 1024**2,
             include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}})
    try:
        yield
    finally:
        ray.shutdown()


def test_eight_producers_through_the_ray_log_replay_equal_to_the_acknowledged_set(local_ray, tmp_path):
    r = run_load(tmp_path / "run", producers=8, per_producer=5_000, batch=200)
    assert r["problems"] == []
    assert r["acknowledged"] == r["replayed"] == 40_000
    print(f"\n8 x 5,000 events: {r['rate']:,.0f} events/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")


def test_fifty_sse_consumers_each_get_every_event_once_in_order_and_live_appends_reach_all(tmp_path):
    consumers, live = 50, 100
    store = EventStore(tmp_path / "run" / "log", fsync=False)
    _write_run(tmp_path / "run", 750, store)  # 3,001 events: 50 x 3,101 SSE events parsed in this one process
    first = store.next_offset
    total = first + live
    try:
        with ServedProcess(tmp_path / "run") as served:
            started = time.monotonic()
            caught_up = asyncio.Event()
            seen: list[list[int]] = [[] for _ in range(consumers)]
            times: dict[str, float] = {}

            async def consume(k: int):
                async with contextlib.aclosing(follow(served.url, 0)) as records:
                    async for rec in records:
                        seen[k].append(rec["offset"])
                        if len(seen[k]) == first and all(len(s) >= first for s in seen):
                            caught_up.set()
                        if len(seen[k]) == total:
                            return

            async def writer():
                await caught_up.wait()
                times["catch_up"] = time.monotonic() - started
                for i in range(0, live, 10):  # appended while all 50 are connected
                    store.append([e for j in range(i, i + 10) for e in lifecycle(f"live{j}", 1.0)[:1]])
                    await asyncio.sleep(0.01)

            async def main():
                await asyncio.gather(writer(), *(consume(k) for k in range(consumers)))

            asyncio.run(asyncio.wait_for(main(), 60))
            elapsed = time.monotonic() - started
    finally:
        store.close()
    for k, s in enumerate(seen):
        assert s == list(range(total)), f"consumer {k}: {len(s)} events, first wrong at " \
            f"{next((i for i, o in enumerate(s) if o != i), None)}"
    print(f"\n{consumers} consumers x {total:,} events: caught up in {times['catch_up']:.1f} s, "
          f"all live events delivered after {elapsed:.1f} s")
