"""Load: N producer processes appending through the EventLog actor at once; nothing lost, nothing twice.

    python benchmarks/bench_load.py                         # 8 producers x 100,000 events, print
    python benchmarks/bench_load.py --write BENCHMARKS.md   # and record the figures there

Each producer is a Ray actor (its own worker process) with its own `RayLog` client, the path
every real actor appends by: batches of producer-assigned event ids, retried by the client with
the same ids. It records every acknowledged (event id, offset) pair. Then the log is replayed
from its files (`LogReader`) and must equal the acknowledged set exactly: every id once, offsets
gap-free from 0, each producer's events in the order it appended them (its stream's versions
0, 1, 2, ...). Any difference exits non-zero. tests/test_load.py runs the same code, smaller.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from array import array
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.markdown import write_section  # noqa: E402

MARK_START, MARK_END = "<!-- bench_load:start -->", "<!-- bench_load:end -->"


def event_id(producer: int, seq: int) -> str:
    return f"load-p{producer:02d}-{seq:09d}"


class Producer:
    """Appends `count` events in batches through its own RayLog; returns the acknowledged
    offsets (in its own order) and the latency of each append call."""

    def __init__(self, index: int, log_name: str, namespace: str | None, run_dir: str):
        import ray

        from actors.eventlog import RayLog

        self.index = index
        self.log = RayLog(ray.get_actor(log_name, namespace=namespace), run_dir=run_dir)

    def run(self, count: int, batch: int) -> dict:
        from events import BudgetCharged, NewEvent

        k = self.index
        stream = f"load/p{k:02d}"
        offsets, latencies = array("q"), array("d")
        for start in range(0, count, batch):
            events = [NewEvent(event=BudgetCharged(resource="tokens", amount=float(i), agent=f"p{k}",
                                                   reason="load benchmark"),
                               stream=stream, event_id=event_id(k, i), producer=f"load/p{k}")
                      for i in range(start, min(start + batch, count))]
            t = time.perf_counter()
            result = self.log.append(events)
            latencies.append(time.perf_counter() - t)
            for ev, ack in zip(events, result.acks):
                if ack.event_id != ev.event_id or ack.duplicate:
                    raise AssertionError(f"producer {k}: ack {ack} for {ev.event_id}")
                offsets.append(ack.offset)
        return {"producer": k, "offsets": offsets.tobytes(), "latencies": latencies.tobytes()}


def run_load(run_dir: str | Path, producers: int = 8, per_producer: int = 100_000, batch: int = 200,
             fsync: bool = True, pin: bool = True) -> dict:
    """Start the run's EventLog and `producers` producer actors on the Ray this process is
    connected to, append, replay, compare. Returns the figures and `problems` (empty: all equal)."""
    import ray

    from actors.eventlog import start_event_log
    from events import LogReader

    run_dir = Path(run_dir)
    name = f"load-log-{os.getpid()}-{time.monotonic_ns()}"
    log = start_event_log(run_dir, name, fsync=fsync, pin=pin)
    ray.get(log.ping.remote())
    actor = ray.remote(num_cpus=0)(Producer)
    workers = [actor.remote(k, name, None, str(run_dir)) for k in range(producers)]
    ray.get([w.__ray_ready__.remote() for w in workers])
    t = time.perf_counter()
    results = ray.get([w.run.remote(per_producer, batch) for w in workers])
    seconds = time.perf_counter() - t
    for w in workers:
        ray.kill(w)
    ray.kill(log)

    acked: dict[str, int] = {}
    latencies: list[float] = []
    for r in results:
        offsets = array("q")
        offsets.frombytes(r["offsets"])
        lat = array("d")
        lat.frombytes(r["latencies"])
        latencies.extend(lat)
        for seq, off in enumerate(offsets):
            acked[event_id(r["producer"], seq)] = off

    t = time.perf_counter()
    problems: list[str] = []
    replayed: dict[str, int] = {}
    versions: dict[str, int] = {}
    expected_offset = 0
    for rec in LogReader(run_dir / "log").iter_records():
        if rec.offset != expected_offset:
            problems.append(f"offset {rec.offset} where {expected_offset} was expected (a gap)")
            expected_offset = rec.offset
        expected_offset += 1
        if rec.event_id in replayed:
            problems.append(f"{rec.event_id} stored twice, at {replayed[rec.event_id]} and {rec.offset}")
        replayed[rec.event_id] = rec.offset
        # per-producer order: the producer's i-th event is its stream's version i
        seq = int(rec.event_id.rsplit("-", 1)[1])
        if rec.stream_version != seq or versions.get(rec.stream, -1) + 1 != seq:
            problems.append(f"{rec.event_id} at stream version {rec.stream_version} (order broken)")
        versions[rec.stream] = rec.stream_version
        if len(problems) > 20:
            break
    replay_s = time.perf_counter() - t
    total = producers * per_producer
    if len(acked) != total:
        problems.append(f"{len(acked):,} acknowledged ids for {total:,} appended events")
    if replayed != acked:
        lost = acked.keys() - replayed.keys()
        extra = replayed.keys() - acked.keys()
        moved = [i for i in acked.keys() & replayed.keys() if acked[i] != replayed[i]]
        problems.append(f"replay differs from the acknowledged set: {len(lost)} lost, {len(extra)} not acknowledged, "
                        f"{len(moved)} at another offset (e.g. {sorted(lost)[:3]} {sorted(extra)[:3]} {moved[:3]})")
    latencies.sort()
    return {"producers": producers, "per_producer": per_producer, "batch": batch, "events": total,
            "acknowledged": len(acked), "replayed": len(replayed), "seconds": seconds, "rate": total / seconds,
            "p50_ms": 1e3 * latencies[len(latencies) // 2], "p99_ms": 1e3 * latencies[int(len(latencies) * 0.99)],
            "max_ms": 1e3 * latencies[-1], "mean_ms": 1e3 * statistics.fmean(latencies), "appends": len(latencies),
            "replay_s": replay_s, "fsync": fsync, "problems": problems}


def report(r: dict, command: str) -> str:
    today = datetime.now(timezone.utc).date().isoformat()
    verdict = ("replay equal to the acknowledged set: every id once, offsets gap-free, each producer's order kept"
               if not r["problems"] else "MISMATCH: " + "; ".join(r["problems"][:5]))
    lines = [
        MARK_START,
        "## Load: producers through the EventLog actor (`benchmarks/bench_load.py`)",
        "",
        f"`{command}` — {today}, {platform.machine()}, {os.cpu_count()} cores, Ray {_ray_version()} embedded "
        f"(`num_cpus=2`). The machine was shared with another long benchmark while this ran, so these are "
        "figures under load, not this machine's best.",
        "",
        f"{r['producers']} producer actors (each its own worker process and `RayLog`) append "
        f"{r['per_producer']:,} events each in batches of {r['batch']} with producer-assigned ids, through one "
        f"EventLog actor (fsync {'on' if r['fsync'] else 'off'}, group commit per call); then the log is replayed "
        "from its files and compared with every acknowledged (event id, offset) pair.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| events appended and acknowledged | {r['acknowledged']:,} of {r['events']:,} |",
        f"| events replayed | {r['replayed']:,} |",
        f"| result | {verdict} |",
        f"| throughput | {r['rate']:,.0f} events/s ({r['seconds']:.1f} s) |",
        f"| append latency per batch of {r['batch']} ({r['appends']:,} calls) | p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.0f} ms |",
        f"| replay and compare | {r['replay_s']:.1f} s |",
        "",
        MARK_END,
    ]
    return "\n".join(lines)


def _ray_version() -> str:
    import ray

    return ray.__version__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--events", type=int, default=100_000, help="events per producer")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--dir", default=".", help="where to put the temporary run directory")
    parser.add_argument("--write", metavar="FILE", help="record the figures in this markdown file")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from actors.eventlog import LOG_RESOURCE

    root = Path(tempfile.mkdtemp(prefix="bench-load-", dir=args.dir))
    ray.init(address="local", num_cpus=2, resources={LOG_RESOURCE: 1}, object_store_memory=128 * 1024**2,
             include_dashboard=False, log_to_driver=False)
    try:
        r = run_load(root / "run", args.producers, args.events, args.batch)
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    defaults = (args.producers, args.events, args.batch) == (8, 100_000, 200)
    command = "python benchmarks/bench_load.py" + ("" if defaults else
                                                   f" --producers {args.producers} --events {args.events} "
                                                   f"--batch {args.batch}") + (f" --write {args.write}" if args.write
                                                                              else "")
    section = report(r, command)
    print(section)
    if args.write and not r["problems"]:
        write_section(Path(args.write), section, MARK_START, MARK_END)
    if r["problems"]:
        print("\n".join(r["problems"]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
