"""The log's two hot paths against their ceilings, measured side by side in one process.

    python benchmarks/bench_ceilings.py                        # print the figures
    python benchmarks/bench_ceilings.py --write BENCHMARKS.md  # and record them there
    python benchmarks/bench_ceilings.py --profile replay       # where the time goes (cProfile)
    python benchmarks/bench_ceilings.py --check                # exit 1 below 0.6x of a ceiling

A third row, not a target, is replay's loop with handlers that do nothing: the log's own share
of replay, so the fold's share is the difference between it and the first row.

Replay: `replay(run_dir)` (read the segments, check every CRC and offset, decode, fold into
RunState) against the typed-decode ceiling: the same segment files read whole, split at each
frame's length and every payload decoded by a msgspec Decoder into `Record` with its typed event,
with nothing checked and nothing folded. A fold cannot beat that: it has to decode the same bytes.

Append: `EventStore.append` at batch 1,000 against a bare encoder of the same frames: the
`Record`s the store will build (made beforehand, same offsets, versions and wall times) encoded
by msgspec, framed and CRC'd as the store frames them, and written with one write per batch to a
file in the same directory, with no event-id index, no version checks and no acknowledgements.
Both sides sync alike (`--fsync`: fdatasync per batch on both; by default neither, so the ratio is
of the CPU work, the stricter test).

The log is a synthetic run (`events/synthetic.py`, the status mix of a real run). Repetitions
alternate the two sides of each pair and the best of N is kept for each, so a noisy shared machine
slows both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402

from benchmarks.bench_log import machine  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from events import EventStore, NewEvent, Record, replay  # noqa: E402
from events.projections.folded import decode_folded  # noqa: E402
from events.projections.state import RunState  # noqa: E402
from events.reader import visit  # noqa: E402
from events.replay import gc_paused  # noqa: E402
from events.rundir import RunDir  # noqa: E402
from events.segments import FRAME_HEADER, HEADER_SIZE, OFFSET, crc32, list_segments  # noqa: E402
from events.synthetic import generate  # noqa: E402

MARK_START, MARK_END = "<!-- bench_ceilings:start -->", "<!-- bench_ceilings:end -->"
BATCH = 1000
MUST = 0.6  # each path at >= this fraction of its ceiling


# -- the log under test ---------------------------------------------------------------------------


def synthetic_events(count: int) -> list[NewEvent]:
    out: list[NewEvent] = []
    for ev in generate(trials=count // 9 + 1, seed=1):  # ~9 events a trial
        out.append(ev)
        if len(out) == count:
            break
    return out


def write_run(run_dir: Path, events: list[NewEvent]) -> None:
    with EventStore(run_dir / "log", fsync=False) as store:
        for i in range(0, len(events), BATCH):
            store.append(events[i:i + BATCH])


# -- replay and its ceiling -----------------------------------------------------------------------


def typed_decode(log_dir: Path) -> int:
    """Decode every frame's payload into a typed Record: no CRC, no checks, no fold."""
    decode = msgspec.msgpack.Decoder(Record).decode
    unpack = FRAME_HEADER.unpack_from
    overhead = FRAME_HEADER.size
    n = 0
    for _, path in list_segments(log_dir):
        buf = path.read_bytes()
        view = memoryview(buf)
        pos, size = HEADER_SIZE, len(buf)
        while pos < size:
            body = pos + overhead
            pos = body + unpack(buf, pos)[0]
            decode(view[body:pos])
            n += 1
    return n


def fold(run_dir: Path) -> int:
    return replay(run_dir).applied


def walk(run_dir: Path) -> int:
    """Replay's loop with a handler that does nothing: the log's own share of replay (read, check
    every CRC and offset, decode the fold's views, dispatch), for telling it from the fold's."""
    def nothing(record, event) -> None:
        return None

    visited, _, _ = visit(RunDir(run_dir).reader(), dict.fromkeys(RunState().handlers, nothing), None, decode_folded)
    return visited


# -- append and its ceiling -----------------------------------------------------------------------


def planned_records(events: list[NewEvent]) -> list[Record]:
    """The records the store will build for `events` on an empty log (every id new)."""
    versions: dict[str, int] = {}
    out = []
    for i, ev in enumerate(events):
        v = versions[ev.stream] = versions.get(ev.stream, -1) + 1
        out.append(Record(offset=i, stream=ev.stream, stream_version=v, event_id=ev.event_id, producer=ev.producer,
                          causation_id=ev.causation_id, wall_time_ns=ev.wall_time_ns, event=ev.event))
    return out


def bare_encode(path: Path, records: list[Record], fsync: bool) -> int:
    """Encode, frame (length, CRC of offset + payload, offset) and write the frames, a batch at a time."""
    encode = msgspec.msgpack.Encoder().encode
    header, offset_of = FRAME_HEADER.pack, OFFSET.pack
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    try:
        for i in range(0, len(records), BATCH):
            frames = []
            for rec in records[i:i + BATCH]:
                payload = encode(rec)
                offset = rec.offset
                frames.append(header(len(payload), crc32(payload, crc32(offset_of(offset))), offset))
                frames.append(payload)
            os.write(fd, b"".join(frames))
            if fsync:
                os.fdatasync(fd)
    finally:
        os.close(fd)
    return len(records)


def store_append(log_dir: Path, events: list[NewEvent], fsync: bool) -> int:
    with EventStore(log_dir, fsync=fsync) as store:
        for i in range(0, len(events), BATCH):
            store.append(events[i:i + BATCH])
        return store.next_offset


# -- measuring ------------------------------------------------------------------------------------


def timed(fn, *args, before=None, clock=time.process_time) -> float:
    """Seconds of `clock`: by default this process's CPU time, so time spent waiting for a core
    on a shared machine counts on neither side (with --fsync, wall time: the syncs are the point)."""
    if before is not None:
        before()
    gc.collect()
    t = clock()
    with gc_paused():  # replay pauses the collector itself; the ceilings get the same advantage
        fn(*args)
    return clock() - t


def measure(root: Path, events: list[NewEvent], reps: int, fsync: bool) -> dict:
    run = root / "run"
    write_run(run, events)
    records = planned_records(events)
    n = len(events)
    assert typed_decode(run / "log") == n == fold(run) == walk(run), "the sides must cover the same events"
    work = root / "append"

    def fresh() -> None:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()

    clock = time.perf_counter if fsync else time.process_time
    best = {"decode": [], "fold": [], "walk": [], "bare": [], "append": []}
    for _ in range(reps):  # alternate the sides of each pair
        best["decode"].append(timed(typed_decode, run / "log"))
        best["fold"].append(timed(fold, run))
        best["walk"].append(timed(walk, run))
        best["bare"].append(timed(bare_encode, work / "frames.bin", records, fsync, before=fresh, clock=clock))
        best["append"].append(timed(store_append, work / "log", events, fsync, before=fresh, clock=clock))
    shutil.rmtree(work, ignore_errors=True)
    rate = {k: n / min(v) for k, v in best.items()}
    disk = sum(p.stat().st_size for p in (run / "log").glob("segment-*.log"))
    return {"events": n, "reps": reps, "fsync": fsync, "bytes_per_event": disk / n, **{f"{k}_rate": r for k, r in rate.items()},
            "replay_ratio": rate["fold"] / rate["decode"], "append_ratio": rate["append"] / rate["bare"],
            "walk_ratio": rate["walk"] / rate["decode"]}


def profile(root: Path, events: list[NewEvent], which: str) -> None:
    run = root / "run"
    write_run(run, events)
    work = root / "append"
    target = (lambda: fold(run)) if which == "replay" else (lambda: store_append(work, events, False))
    prof = cProfile.Profile()
    prof.runcall(target)
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


# -- report ---------------------------------------------------------------------------------------


def report(m: dict, command: str) -> str:
    from datetime import datetime, timezone

    def verdict(ratio: float) -> str:
        return f"**{ratio:.2f}×** ({'meets' if ratio >= MUST else 'misses'} ≥ {MUST}×)"

    sync = "fdatasync per batch on both sides" if m["fsync"] else "no fsync on either side (the CPU work alone)"
    return "\n".join([
        MARK_START,
        "## The log's hot paths against their ceilings (`benchmarks/bench_ceilings.py`)",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {machine()}.",
        f"Command: `{command}`",
        "",
        f"One synthetic run of {m['events']:,} events ({m['bytes_per_event']:.0f} bytes/event on disk), every figure",
        f"from the same process; the two sides of each pair alternate, best of {m['reps']} each. Appends: batches",
        f"of {BATCH:,}, {sync}. Rates are per second of "
        + ("wall time." if m["fsync"] else "this process's CPU time, so waiting for a core on a shared machine counts "
           "on neither side."),
        "",
        "| path | events/s | its ceiling | ceiling events/s | ratio |",
        "|---|---:|---|---:|---:|",
        f"| replay: read, CRC, decode, fold into RunState | {m['fold_rate']:,.0f} | typed decode of the same "
        f"frames (msgspec → Record), no checks, no fold | {m['decode_rate']:,.0f} | {verdict(m['replay_ratio'])} |",
        f"| (not a target) replay's loop with no-op handlers: read, CRC, decode, dispatch | {m['walk_rate']:,.0f} "
        f"| the same typed decode | {m['decode_rate']:,.0f} | {m['walk_ratio']:.2f}× |",
        f"| `EventStore.append`, batch {BATCH:,} | {m['append_rate']:,.0f} | bare encoder: the same Records "
        f"encoded, framed with CRC, written | {m['bare_rate']:,.0f} | {verdict(m['append_ratio'])} |",
        "",
        MARK_END,
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000, help="size of the synthetic run (default 300,000)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each side (default 5; best kept)")
    parser.add_argument("--fsync", action="store_true", help="fdatasync every batch on both append sides")
    parser.add_argument("--dir", default=".", help="where to put the temporary run directory")
    parser.add_argument("--write", metavar="FILE", help="record the figures in this markdown file")
    parser.add_argument("--profile", choices=("replay", "append"), help="profile one real path instead")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a path is below {MUST}x of its ceiling")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ceilings-", dir=args.dir))
    try:
        events = synthetic_events(args.events)
        if args.profile:
            profile(root, events, args.profile)
            return
        m = measure(root, events, args.reps, args.fsync)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    command = "python benchmarks/bench_ceilings.py" + "".join(
        f" {flag}" for flag, on in ((f"--events {args.events}", args.events != 300_000),
                                    (f"--reps {args.reps}", args.reps != 5), ("--fsync", args.fsync),
                                    (f"--dir {args.dir}", args.dir != "."),
                                    (f"--write {args.write}", bool(args.write))) if on)
    section = report(m, command)
    print(section)
    if args.write:
        write_section(Path(args.write), section, MARK_START, MARK_END)
    if args.check and not (m["replay_ratio"] >= MUST and m["append_ratio"] >= MUST):
        sys.exit(1)


if __name__ == "__main__":
    main()
