"""Event-log benchmarks: durable appends, recovery, replay, and a 1,000,000-event run.

    python benchmarks/bench_log.py                      # print the figures
    python benchmarks/bench_log.py --write BENCHMARKS.md  # and record them there

Each measurement runs in a fresh subprocess so its peak RSS is its own. Appends are fsynced
(fdatasync per batch: group commit) on the run directory's disk (--dir, default a temp dir
under the current directory, not /tmp, which may be a RAM disk).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.markdown import write_section  # noqa: E402

MARK_START, MARK_END = "<!-- bench_log:start -->", "<!-- bench_log:end -->"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- phases, each run in its own process ---------------------------------------------------------


def phase_append(log_dir: str, batch: int, count: int) -> dict:
    from events import EventStore, NewEvent, TrialProposed
    from events.envelope import Record, encode_record

    events = [NewEvent(event=TrialProposed(trial_id=f"t{i:07d}", agent="opt", surface="opt", parent_id="t0000000",
                                           hypothesis="raise the Muon learning rate to 0.04", expected_delta=-0.002),
                       stream=f"trial/t{i:07d}", event_id=f"{i:032x}", producer="agent/opt#0", expected_version=-1)
              for i in range(count)]
    sample = Record(offset=0, stream=events[0].stream, stream_version=0, event_id=events[0].event_id,
                    producer=events[0].producer, wall_time_ns=time.time_ns(), event=events[0].event)
    size = len(encode_record(sample)) + 16
    store = EventStore(log_dir)
    t = time.perf_counter()
    for i in range(0, count, batch):
        store.append(events[i:i + batch])
    dt = time.perf_counter() - t
    store.close()
    return {"batch": batch, "events": count, "seconds": dt, "rate": count / dt, "frame_bytes": size,
            "mb_s": count * size / dt / 1e6}


def phase_write_million(log_dir: str, count: int) -> dict:
    from events import EventStore
    from events.synthetic import generate

    trials = count // 9  # a synthetic trial with its agent session and LLM calls is ~9 events
    store = EventStore(log_dir)
    t = time.perf_counter()
    buf, n = [], 0
    for ev in generate(trials=trials, seed=1):
        buf.append(ev)
        if len(buf) == 1000:
            store.append(buf)
            n += len(buf)
            buf = []
            if n >= count:
                break
    if buf and n < count:
        store.append(buf)
        n += len(buf)
    dt = time.perf_counter() - t
    store.close()
    disk = sum(p.stat().st_size for p in Path(log_dir).glob("segment-*.log"))
    return {"events": n, "seconds": dt, "rate": n / dt, "bytes_per_event": disk / n, "disk_mb": disk / 1e6,
            "rss_mb": rss_mb()}


def phase_open(log_dir: str) -> dict:
    from events import EventStore

    base = rss_mb()
    t = time.perf_counter()
    store = EventStore(log_dir)
    dt = time.perf_counter() - t
    n = store.next_offset
    store.close()
    return {"events": n, "seconds": dt, "rate": n / dt, "rss_mb": rss_mb(), "rss_added_mb": rss_mb() - base}


def phase_replay(run_dir: str) -> dict:
    from events import LogReader, replay

    t = time.perf_counter()
    n = sum(1 for _ in LogReader(Path(run_dir) / "log").iter_records())
    decode = time.perf_counter() - t
    base = rss_mb()
    state = replay(run_dir)
    peak = rss_mb()  # one state, built once: what a replaying process holds
    t = time.perf_counter()
    digest = state.digest()
    digest_s = time.perf_counter() - t
    trials = len(state.trials.rows)
    times = []
    for _ in range(3):  # the median of three: this machine is shared and noisy
        state = None
        t = time.perf_counter()
        state = replay(run_dir)
        times.append(time.perf_counter() - t)
    dt = sorted(times)[1]
    return {"events": n, "decode_rate": n / decode, "seconds": dt, "rate": n / dt, "best_rate": n / min(times),
            "digest_s": digest_s, "trials": trials, "digest": digest, "rss_mb": peak, "rss_added_mb": peak - base}


PHASES = {"append": phase_append, "write": phase_write_million, "open": phase_open, "replay": phase_replay}


def run_phase(name: str, *args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", name, *map(str, args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report --------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    import msgspec

    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, msgspec {msgspec.__version__}, "
            f"{platform.system()} {platform.release()}")


def report(appends: list[dict], write: dict, opened: dict, replayed: dict, command: str) -> str:
    lines = [
        MARK_START,
        "## Event log (`benchmarks/bench_log.py`)",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {machine()}.",
        f"Command: `{command}`",
        "",
        "**Durable appends** (every batch fsynced before it is acknowledged; one batch per `append` call;",
        f"{appends[0]['frame_bytes']}-byte frames: a `trial.proposed` event in its envelope). Target: ≥ 50,000 events/s.",
        "",
        "| batch size | events | events/s | MB/s |",
        "|---:|---:|---:|---:|",
    ]
    for a in appends:
        lines.append(f"| {a['batch']:,} | {a['events']:,} | {a['rate']:,.0f} | {a['mb_s']:.1f} |")
    lines += [
        "",
        f"**A run of {write['events']:,} events** (synthetic trajectory: trials, agent sessions, LLM exchanges,",
        "budget entries; appended in batches of 1,000).",
        "",
        "| measurement | figure |",
        "|---|---:|",
        f"| generate + append + fsync | {write['seconds']:.1f} s ({write['rate']:,.0f} events/s) |",
        f"| on disk | {write['disk_mb']:,.0f} MB ({write['bytes_per_event']:.0f} bytes/event) |",
        f"| open (verify every CRC, rebuild id and version indexes) | {opened['seconds']:.2f} s "
        f"({opened['rate']:,.0f} events/s) |",
        f"| open: memory of the indexes | {opened['rss_added_mb']:,.0f} MB (process peak {opened['rss_mb']:,.0f} MB) |",
        f"| read + decode every record | {replayed['decode_rate']:,.0f} events/s |",
        f"| **replay into all projections** (target ≥ 200,000 events/s), median of 3 | {replayed['seconds']:.2f} s "
        f"(**{replayed['rate']:,.0f} events/s**; best {replayed['best_rate']:,.0f}) |",
        f"| replay: memory of the state ({replayed['trials']:,} trials) | {replayed['rss_added_mb']:,.0f} MB "
        f"(process peak {replayed['rss_mb']:,.0f} MB) |",
        f"| digest of the replayed state | {replayed['digest_s']:.2f} s |",
        "",
        MARK_END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="size of the big run (default 1,000,000)")
    parser.add_argument("--dir", default=".", help="where to put the temporary run directories")
    parser.add_argument("--write", metavar="FILE", help="record the figures in this markdown file")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, *rest = args.phase
        fn = PHASES[name]
        print(json.dumps(fn(*[int(x) if x.isdigit() else x for x in rest])))
        return

    root = Path(tempfile.mkdtemp(prefix="bench-log-", dir=args.dir))
    try:
        appends = []
        for batch, count in ((1, 3_000), (10, 20_000), (100, 200_000), (1000, 300_000)):
            d = root / f"append-{batch}" / "log"
            appends.append(run_phase("append", d, batch, count))
            shutil.rmtree(d.parent)
            print(f"append  batch {batch:>5}: {appends[-1]['rate']:>10,.0f} events/s", flush=True)
        run = root / "million"
        write = run_phase("write", run / "log", args.events)
        print(f"write   {write['events']:,} events: {write['seconds']:.1f} s", flush=True)
        opened = run_phase("open", run / "log")
        print(f"open    {opened['seconds']:.2f} s, +{opened['rss_added_mb']:.0f} MB", flush=True)
        replayed = run_phase("replay", run)
        print(f"replay  {replayed['rate']:,.0f} events/s, +{replayed['rss_added_mb']:.0f} MB", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    command = "python benchmarks/bench_log.py" + (f" --events {args.events}" if args.events != 1_000_000 else "") + \
        (f" --write {args.write}" if args.write else "")
    section = report(appends, write, opened, replayed, command)
    print(section)
    if args.write:
        write_section(Path(args.write), section, MARK_START, MARK_END)


if __name__ == "__main__":
    main()
