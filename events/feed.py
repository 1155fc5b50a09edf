"""A run's log as a server follows it: the acknowledged end, the tables folded from it, and a
signal that wakes subscribers when it grows (the gateway's one source of truth).

The end is what `log/COMMITTED` says (or, for a copied run without that file, where the
segments end). What the files cannot back up is said, never served around: damage in the
middle of the log stops every read in front of it for good (a later segment may not even be
ours), and a log that ends before the events COMMITTED says were acknowledged is reported for as
long as it does (a mirror still being copied catches up; a lost segment does not).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from pathlib import Path

import orjson

from events.blobs import BlobStore
from events.envelope import record_to_jsonable
from events.projections import RunState
from events.projections.live import LiveState
from events.reader import Filter, LogReader
from events.segments import CorruptLog, list_segments
from events.store import COMMITTED, DamagedWitness
from events.tail import LogTail

POLL_S = 0.02
RECENT = 4096
BATCH = 1000


class RunFeed:
    def __init__(self, run_dir: Path):
        self.log_dir = run_dir / "log"
        self.blobs = BlobStore(run_dir / "blobs")
        self.tail = LogTail(self.log_dir)
        self.reader = LogReader(self.log_dir)
        self.state = RunState()
        self.live = LiveState()
        # Waiters wait on the current Event; growth sets it and puts a fresh one in its place. No
        # lock is held across a wait, so a client hanging up mid-wait (its task cancelled while
        # its timeout fires) cannot leave anything held: with an asyncio.Condition on Python
        # 3.11, exactly that left the lock taken and froze every stream.
        self.grown = asyncio.Event()
        self.end = 0
        self.folded_wall = time.time()  # when the tables last caught up with the log
        self.watch_error: str | None = None
        self.damage: CorruptLog | None = None  # the first damaged frame met, if any
        self.short: CorruptLog | None = None  # the log ends before what COMMITTED says, while it does
        self.witness_damage: str | None = None  # COMMITTED says what cannot be: the segments' end is served
        # the newest records, as folded: live subscribers (dozens, all at the end) read these
        # instead of each decoding the same new records from disk
        self.recent: collections.deque = collections.deque(maxlen=RECENT)
        self.encoded: dict[int, str] = {}  # offset -> the record as JSON, encoded once for every subscriber

    @property
    def log_damage(self) -> CorruptLog | None:
        """What stops the feed short of the acknowledged end, if anything."""
        return self.damage or self.short

    def json_of(self, record) -> str:
        text = self.encoded.get(record.offset)
        if text is None:
            text = orjson.dumps(record_to_jsonable(record)).decode()
            if self.recent and record.offset >= self.recent[0].offset:  # only the live end is shared
                if len(self.encoded) >= RECENT:
                    self.encoded.clear()
                self.encoded[record.offset] = text
        return text

    def committed(self) -> int:
        """The acknowledged end: COMMITTED's offset, else where the segments end (a copied run
        without the file, or one whose file is damaged: serve what the CRCs vouch for)."""
        try:
            value = self.tail.witness()
            self.witness_damage = None
        except DamagedWitness as exc:
            value, self.witness_damage = None, str(exc)
        if value is not None:
            return value
        try:
            return self.reader.end_offset()
        except CorruptLog as exc:
            self.damage = exc
            return max(self.end, exc.offset)

    def read(self, from_offset: int, limit: int, where: Filter | None = None):
        """Matching records from `from_offset`, never past the acknowledged end. A damaged frame
        stops the read just before it: the records in front of it are returned, and a read that
        starts at the damage (or where the log ends short of the acknowledged end) raises
        CorruptLog (segment, byte position, offset)."""
        end = self.end
        if from_offset >= end or limit <= 0:
            return [], from_offset
        recent = self.recent
        if recent and recent[0].offset <= from_offset and recent[-1].offset + 1 >= end:
            i = from_offset - recent[0].offset
            out, nxt = [], from_offset
            for r in itertools.islice(recent, i, None):
                nxt = r.offset + 1
                if where is None or where(r):
                    out.append(r)
                    if len(out) >= limit:
                        break
            return out, nxt
        scan = max(limit, 10_000)
        if self.damage is not None:  # never read at or past known damage: a later segment may not be ours
            if from_offset >= self.damage.offset:
                raise self.damage
            scan = min(scan, self.damage.offset - from_offset)
        try:
            records, nxt = self.reader.read(from_offset, limit, where, max_scan=scan)
        except CorruptLog as exc:
            self.damage = exc
            if exc.offset <= from_offset:
                raise
            records, nxt = self.reader.read(from_offset, limit, where, max_scan=exc.offset - from_offset)
        if nxt == from_offset:  # not one record where COMMITTED says events were acknowledged
            self.short = self._short_of(from_offset, end)
            raise self.short
        self.short = None
        records = [r for r in records if r.offset < end]
        return records, min(nxt, end)

    def _short_of(self, at: int, end: int) -> CorruptLog:
        segments = list_segments(self.log_dir)
        last = segments[-1][1] if segments else self.log_dir
        size = last.stat().st_size if segments else 0
        return CorruptLog(last, size, at, f"the log ends at offset {at}, but {COMMITTED} says {end} events were "
                                          f"acknowledged: {end - at} acknowledged event(s) are missing (a segment "
                                          "cut short, or one lost)", not_torn=None)

    def fold(self) -> None:
        """Fold what is acknowledged into the tables; they stop in front of damage, if any."""
        while self.state.next_offset < self.end:
            try:
                records, _ = self.read(self.state.next_offset, BATCH)
            except CorruptLog:
                break
            if not records:
                break
            self.state.apply_all(records)
            self.live.apply_all(records)
            if self.recent and self.recent[-1].offset + 1 != records[0].offset:
                self.recent.clear()  # only a gap-free run of the newest
            self.recent.extend(records)
        if self.state.next_offset >= self.end:  # only a fold that caught up keeps /health from saying stale
            self.folded_wall = time.time()

    def advance(self) -> bool:
        """Catch up with the log once; True when it grew (and waiters were woken)."""
        end = self.committed()
        grew, self.end = end != self.end, end
        if self.state.next_offset < end:  # also after a fold that failed: try again until it holds
            self.fold()
        if grew:
            grown, self.grown = self.grown, asyncio.Event()
            grown.set()
        return grew

    async def watch(self) -> None:
        while True:
            try:
                self.advance()
                self.watch_error = None
            except Exception as exc:  # say so on /health and keep trying: a frozen view is the worst answer
                self.watch_error = f"{type(exc).__name__}: {exc}"
                logging.getLogger("uvicorn.error").warning("gateway: following the log failed: %s", exc)
            await asyncio.sleep(POLL_S)

    async def wait_past(self, offset: int, timeout: float) -> None:
        """Return once the served end is past `offset` (a record at `offset` is served), or after
        `timeout` seconds."""
        grown = self.grown
        if self.end > offset:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(grown.wait(), timeout)
