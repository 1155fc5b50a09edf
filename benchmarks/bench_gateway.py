"""The gateway: SSE catch-up rate, live latency, and the server's memory on a large run.

    python benchmarks/bench_gateway.py --write BENCHMARKS.md
    python benchmarks/bench_gateway.py --events 200000          a smaller run, printed

A run of N events (trial lifecycles) is written to a temporary directory; `autorecipe serve` runs
in its own process on loopback; a consumer (events/consumer.py) follows /events/stream from
offset 0 to the end (catch-up), then 200 events are appended one at a time, fsynced, and each
one's delivery is timed (live latency). Memory is the server process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.markdown import write_section  # noqa: E402
from events import EventStore, KeepRule, NewEvent, RunStarted  # noqa: E402
from events.consumer import follow  # noqa: E402
from events.schema import Fingerprint, Phase, TrialClaimed, TrialEvaluated, TrialExecuted, TrialProposed  # noqa: E402

MARK_START, MARK_END = "<!-- bench_gateway:start -->", "<!-- bench_gateway:end -->"
LIVE = 200


def write_run(path: Path, events: int) -> None:
    n = 0
    with EventStore(path / "log", fsync=False) as store:
        store.append([_new(RunStarted(run_id="bench", environment="golf-mini", tier="micro", config={}, seed=0,
                                      keep_rule=KeepRule(metric="val_bpb", direction="minimize"),
                                      fingerprint=Fingerprint(hostname="h", platform="p", python="3")), "run")])
        n, i, batch = 1, 0, []
        while n < events:
            tid, s = f"t{i:07d}", f"trial/t{i:07d}"
            batch += [_new(TrialProposed(trial_id=tid, agent="opt", surface="opt", parent_id=None,
                                         hypothesis=f"idea {i}"), s),
                      _new(TrialClaimed(trial_id=tid, attempt=1, executor="executor/0"), s),
                      _new(TrialExecuted(trial_id=tid, attempt=1, executor="executor/0",
                                         phases=[Phase(name="train", exit_code=0, wall_s=1.0, cpu_s=1.0)]), s),
                      _new(TrialEvaluated(trial_id=tid, attempt=1, evaluator="e", evaluator_version="1",
                                          verdict="valid", score=3.0 - i * 1e-7), s)]
            n, i = n + 4, i + 1
            if len(batch) >= 4000:
                store.append(batch)
                batch = []
        if batch:
            store.append(batch)
    return n


_ids = iter(range(10**9))


def _new(event, stream: str) -> NewEvent:
    return NewEvent(event=event, stream=stream, event_id=f"e{next(_ids):012d}", producer="bench",
                    wall_time_ns=time.time_ns())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(events: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        run = Path(tmp) / "run"
        t0 = time.monotonic()
        total = write_run(run, events)
        wrote_s = time.monotonic() - t0
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "autorecipe.cli", "serve", str(run), "--port", str(port)],
                                  stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            started = time.monotonic()
            while True:
                try:
                    if httpx.get(url + "/leaderboard", timeout=60).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            ready_s = time.monotonic() - started
            result = asyncio.run(_consume(url, run, total))
            result.update(events=total, write_s=wrote_s, ready_s=ready_s, rss_mb=peak_rss_mb(server.pid))
            return result
        finally:
            server.terminate()
            server.wait(timeout=30)


async def _consume(url: str, run: Path, total: int) -> dict:
    got = 0
    t0 = time.monotonic()
    sent: dict[int, float] = {}
    latencies: list[float] = []
    store: EventStore | None = None
    async with contextlib.aclosing(follow(url, 0)) as records:
        async for rec in records:
            got += 1
            if got == total:
                catch_up_s = time.monotonic() - t0
                store = EventStore(run / "log", fsync=True)
                writer = asyncio.get_running_loop().create_task(_append_live(store, sent))
            elif got > total:
                latencies.append(time.monotonic() - sent[rec["offset"]])
                if len(latencies) == LIVE:
                    break
    await writer
    store.close()
    return {"catch_up_s": catch_up_s, "catch_up_eps": total / catch_up_s,
            "live_p50_ms": statistics.median(latencies) * 1e3, "live_p95_ms": sorted(latencies)[int(0.95 * LIVE)] * 1e3,
            "live_max_ms": max(latencies) * 1e3}


async def _append_live(store: EventStore, sent: dict) -> None:
    for i in range(LIVE):
        sent[store.next_offset] = time.monotonic()
        store.append([_new(TrialProposed(trial_id=f"live{i}", agent="opt", surface="opt", parent_id=None,
                                         hypothesis="live"), f"trial/live{i}")])
        await asyncio.sleep(0.02)


def report(r: dict, command: str) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return "\n".join([
        MARK_START, "## The gateway (`benchmarks/bench_gateway.py`)", "",
        f"`{command}` — {when}, this machine (2 cores); `autorecipe serve` in its own process, the consumer "
        "(events/consumer.py) in another, on loopback.", "",
        "| run | server ready | SSE catch-up | live delivery p50 / p95 / max | server peak RSS |",
        "|---:|---:|---:|---:|---:|",
        f"| {r['events']:,} events | {r['ready_s']:.1f} s | {r['catch_up_eps']:,.0f} events/s ({r['catch_up_s']:.0f} s) | "
        f"{r['live_p50_ms']:.1f} / {r['live_p95_ms']:.1f} / {r['live_max_ms']:.1f} ms | {r['rss_mb']:,.0f} MB |", "",
        f"Live delivery: {LIVE} events appended one at a time and fsynced, 20 ms apart, each timed from before its "
        "append to its arrival at the consumer (target 100 ms). \"Server ready\" includes folding the whole "
        "run into the trials and leaderboard tables.",
        MARK_END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--write", metavar="FILE")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    r = measure(args.events)
    print(r)
    command = "python benchmarks/bench_gateway.py" + (f" --events {args.events}" if args.events != 1_000_000 else "") \
        + (f" --write {args.write}" if args.write else "")
    section = report(r, command)
    print(section)
    if args.write:
        write_section(Path(args.write), section, MARK_START, MARK_END)


if __name__ == "__main__":
    main()
