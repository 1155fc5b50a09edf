"""The durable event store: one writer, segment files, group commit.

Guarantees, in the order they are enforced on append:
  1. an event id already in the log is not stored again (its original position is returned);
  2. a stale expected stream version refuses the whole batch, naming the stream;
  3. offsets and stream versions are assigned here, at commit, gap-free;
  4. the batch is written and fsynced before `append` returns: an acknowledged event is durable.

What is stored must read back as itself: the log's front doors (the EventLog actor and LocalLog)
refuse an event whose fields are not of their declared types (`envelope.admit`) before it gets
here; the store takes what it is given, since a check here would cost every append a decode.

Opening a store recovers it: every segment is verified, a torn tail is cut off (its bytes are
kept beside the segment as `.torn-<offset>`), and corruption followed by valid records is
refused with `CorruptLog`, deleting nothing. `COMMITTED` is the witness of what was
acknowledged: damage at or below it, or a log that ends before it, is refused the same way
(a torn tail is only ever a write that was never acknowledged).
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Sequence

import msgspec

from events.envelope import NewEvent, Record, encode_record
from events.reader import Filter, LogReader
from events.segments import (
    HEADER_SIZE,
    CorruptLog,
    Walk,
    add_frames,
    check_header,
    list_segments,
    segment_header,
    segment_name,
)

DEFAULT_SEGMENT_BYTES = 128 * 1024 * 1024
# The offset below which every record is acknowledged: rewritten after each commit (after the
# batch's fsync, so it never says more than the segments hold). Readers that tail the files
# (LogTail) follow it; recovery uses it as the witness that a bad final frame is a torn write and
# not an acknowledged event lost.
COMMITTED = "COMMITTED"


# No log reaches this many events (at ~400 bytes an event, 100 PB): a COMMITTED saying more is
# damaged (a file of 0xff, a flipped high bit), not a log with 18e18 events missing.
MAX_COMMITTED = 1 << 48


class DamagedWitness(Exception):
    """COMMITTED says more events were acknowledged than any log holds."""

    def __init__(self, path: Path, value: int):
        self.path, self.value = path, value
        super().__init__(f"{path} says {value} events were acknowledged, more than any log holds: that file is "
                         "damaged, not the segments (they are checked by their own CRCs). Nothing was changed; "
                         f"remove {path} to open the log without it (a damaged last record is then taken for a "
                         "torn write)")

    def __reduce__(self):
        return type(self), (self.path, self.value)


def read_committed(log_dir: str | Path) -> int | None:
    """The offset COMMITTED records, or None where there is no such file (a copied run);
    `DamagedWitness` where what it says cannot be."""
    path = Path(log_dir) / COMMITTED
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_committed(raw, path)


def parse_committed(raw: bytes, path: Path) -> int | None:
    """What COMMITTED's bytes say: None where they hold no offset (fewer than eight: a file just
    created, or not one the store wrote), `DamagedWitness` where the offset cannot be. Every
    reader of the file (recovery, the CLI, LogTail, the gateway) reads it through this."""
    if len(raw) < 8:
        return None
    value = struct.unpack("<Q", raw[:8])[0]
    if value >= MAX_COMMITTED:
        raise DamagedWitness(path, value)
    return value


class WrongExpectedVersion(Exception):
    def __init__(self, stream: str, expected: int, actual: int, event_id: str):
        self.stream, self.expected, self.actual, self.event_id = stream, expected, actual, event_id
        super().__init__(
            f"stream {stream!r}: expected version {expected}, but it is at {actual} "
            f"(event {event_id}); the batch was refused and nothing was stored"
        )

    def __reduce__(self):  # crosses Ray whole (the default would pass __init__ the message alone)
        return type(self), (self.stream, self.expected, self.actual, self.event_id)


class LogWriteFailed(Exception):
    """Writing or syncing a batch failed; the batch was not acknowledged. After a failed sync the
    store refuses further appends until reopened (the page cache can no longer be trusted)."""


class LogLocked(Exception):
    pass


def probe_lock(log_dir: str | Path, wait_s: float = 0.0) -> None:
    """Raise LogLocked when another process holds the log open for writing (a live run) for
    longer than `wait_s` (a writer that is just exiting lets go within it)."""
    path = Path(log_dir) / "LOCK"
    if not path.exists():
        return
    deadline = time.monotonic() + wait_s
    fd = os.open(path, os.O_RDWR)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LogLocked(f"{log_dir} is open for writing by another process: the run is live") from None
                time.sleep(0.1)
    finally:
        os.close(fd)  # closing drops the probe's lock, if it got one


@dataclass(frozen=True, slots=True)
class Ack:
    event_id: str
    offset: int
    stream_version: int
    duplicate: bool  # already in the log before this append


@dataclass(frozen=True, slots=True)
class AppendResult:
    committed: list[Record]  # the records this append stored, in offset order
    duplicates: list[tuple[int, Ack]] = field(default_factory=list)  # (position in the batch, ack), in order

    @property
    def acks(self) -> list[Ack]:
        """One per event of the batch, in its order. Built on demand: most callers never ask,
        and an append should not pay for an object per event they ignore."""
        acks = [Ack(r.event_id, r.offset, r.stream_version, False) for r in self.committed]
        for index, ack in self.duplicates:  # ascending, so each lands at its own position
            acks.insert(index, ack)
        return acks


class _IndexView(msgspec.Struct, gc=False):
    """The fields recovery needs; msgspec skips the rest of the record without building it."""

    offset: int
    stream: str
    stream_version: int
    event_id: str


_index_decoder = msgspec.msgpack.Decoder(_IndexView)


class EventStore:
    """Open with `EventStore(run_dir / "log")`. One process at a time (an exclusive file lock),
    one thread at a time: the single writer that assigns offsets."""

    def __init__(self, log_dir: str | Path, segment_bytes: int = DEFAULT_SEGMENT_BYTES, fsync: bool = True):
        self.log_dir = Path(log_dir)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.log_dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise LogLocked(f"{self.log_dir} is open for writing by another process") from None
        self._ids: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self._next_offset = 0
        self._failed: str | None = None
        self._fd: int | None = None
        self._active_base = 0
        self._active_size = 0
        self.recovered_tail: Path | None = None
        self._committed_fd: int | None = None
        self._witness = read_committed(self.log_dir)
        try:
            self._recover()
            self._reader = LogReader(self.log_dir)
            self._committed_fd = os.open(self.log_dir / COMMITTED, os.O_RDWR | os.O_CREAT, 0o644)
            self._publish()
        except BaseException:  # a refused log must not stay locked by this process
            self.close()
            raise

    # -- state -------------------------------------------------------------------------------

    @property
    def next_offset(self) -> int:
        return self._next_offset

    def stream_version(self, stream: str) -> int:
        """The stream's last version, or -1 (NO_STREAM) if it has no events."""
        return self._versions.get(stream, -1)

    def offset_of(self, event_id: str) -> int | None:
        return self._ids.get(event_id)

    # -- append ------------------------------------------------------------------------------

    def append(self, batch: Sequence[NewEvent]) -> AppendResult:
        result = self.append_many([batch])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def append_many(self, batches: Sequence[Sequence[NewEvent]]) -> list[AppendResult | WrongExpectedVersion]:
        """Group commit: each batch is accepted or refused as a whole; all accepted batches are
        written with one write and one fsync, then acknowledged together."""
        if self._failed:
            raise LogWriteFailed(f"{self.log_dir}: an earlier write failed ({self._failed}); reopen the store")
        results: list[AppendResult | WrongExpectedVersion] = []
        records: list[Record] = []
        first = self._next_offset
        now = time.time_ns()
        try:
            for batch in batches:
                results.append(self._plan(batch, records, first, now))
            if records:
                frames: list[bytes] = []
                add_frames(frames, records, encode_record)
                self._write(b"".join(frames), first)
        except BaseException:  # nothing of this call was stored: the indexes must not say otherwise
            self._forget(records)
            self._forget_ids(batches, first)
            raise
        if records:
            self._next_offset = first + len(records)
            self._publish()
        return results

    def _plan(self, batch: Sequence[NewEvent], records: list[Record], first: int,
              now: int) -> AppendResult | WrongExpectedVersion:
        """Turn one batch into records (appended to `records`, offsets from `first`), entering
        them in the id and version indexes; a refused batch is taken out of both again. The
        append path's time is spent here. In the common case every id is new: the batch's ids go
        into the id index in one bulk update, and nothing is built per event but its record
        (acks are built only when asked for). A batch that repeats an id, stored or within
        itself, is sorted out event by event first (`_enter_each`)."""
        mark = len(records)
        offset = first + mark
        fresh, repeats = batch, []
        if not self._enter_new_ids([ev.event_id for ev in batch], offset):
            fresh, repeats = self._enter_each(batch, offset)
        refused = self._add_records(fresh, records, offset, now)
        if refused is not None:
            self._forget(records[mark:])
            del records[mark:]
            ids = self._ids
            for ev in fresh:  # entered above, and none was in the index before this batch
                ids.pop(ev.event_id, None)
            return refused
        duplicates = [(index, self._prior_ack(event_id, prior, records, first)) for index, event_id, prior in repeats]
        return AppendResult(records[mark:], duplicates)

    def _enter_new_ids(self, batch_ids: list[str], offset: int) -> bool:
        """Enter the batch's ids at consecutive offsets from `offset` if every one is new to the
        index and to the batch; otherwise leave the index as it was and say False."""
        ids = self._ids
        if not ids.keys().isdisjoint(batch_ids):
            return False
        size = len(ids)
        ids.update(zip(batch_ids, count(offset)))
        if len(ids) - size == len(batch_ids):
            return True
        for event_id in batch_ids:  # an id twice in the batch: none of them was there before
            ids.pop(event_id, None)
        return False

    def _enter_each(self, batch: Sequence[NewEvent], offset: int) -> tuple[list[NewEvent], list[tuple[int, str, int]]]:
        """Enter the ids one at a time: (the events to store, and for each repeated id its
        position in the batch and the offset its first copy has). An offset entered here is
        never one an earlier event holds, so `setdefault` returning another one means a repeat."""
        ids = self._ids
        fresh: list[NewEvent] = []
        repeats: list[tuple[int, str, int]] = []
        for index, ev in enumerate(batch):
            prior = ids.setdefault(ev.event_id, offset)
            if prior != offset:
                repeats.append((index, ev.event_id, prior))
            else:
                fresh.append(ev)
                offset += 1
        return fresh, repeats

    def _add_records(self, events: Sequence[NewEvent], records: list[Record], offset: int,
                     now: int) -> WrongExpectedVersion | None:
        """Build each event's record at consecutive offsets and advance its stream's version;
        the first event whose expected version does not hold stops it and is returned."""
        versions, add, make = self._versions, records.append, Record
        version_of = versions.get
        for ev in events:
            stream = ev.stream
            current = version_of(stream, -1)
            expected = ev.expected_version
            if expected is not None and expected != current:
                return WrongExpectedVersion(stream, expected, current, ev.event_id)
            current += 1
            add(make(offset=offset, stream=stream, stream_version=current, event_id=ev.event_id, producer=ev.producer,
                     causation_id=ev.causation_id, wall_time_ns=ev.wall_time_ns or now, event=ev.event))
            versions[stream] = current  # after the record exists: `_forget` undoes versions by records
            offset += 1
        return None

    def _forget(self, records: list[Record]) -> None:
        """Take records that will not be stored out of the id and version indexes. Newest first,
        so a stream ends at the version before its earliest one (absent: it had no events)."""
        ids, versions = self._ids, self._versions
        for rec in reversed(records):
            del ids[rec.event_id]
            if rec.stream_version:
                versions[rec.stream] = rec.stream_version - 1
            else:
                del versions[rec.stream]

    def _forget_ids(self, batches: Sequence[Sequence[NewEvent]], first: int) -> None:
        """After a failure inside an append: an id it entered without a record yet (the event it
        failed on) would claim an offset that was never stored. Every offset at or past `first`
        is this call's."""
        ids = self._ids
        for batch in batches:
            for ev in batch:
                try:
                    if ids.get(ev.event_id, -1) >= first:
                        del ids[ev.event_id]
                except TypeError:  # an id that is not even hashable was never entered
                    pass

    def _prior_ack(self, event_id: str, offset: int, records: list[Record], first: int) -> Ack:
        """Where an event that is already stored, or already in this append, went."""
        if offset >= first:
            return Ack(event_id, offset, records[offset - first].stream_version, True)
        records, _ = self._reader.read(offset, 1)  # a retried append: rare, so read it back
        return Ack(event_id, offset, records[0].stream_version, True)

    def _write(self, data: bytes, first_offset: int) -> None:
        if self._active_size > HEADER_SIZE and self._active_size + len(data) > self.segment_bytes:
            self._roll(first_offset)
        start = self._active_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as exc:
            self._undo(start, exc)
            raise LogWriteFailed(f"{self._active_path()}: write failed at byte {start}: {exc}; "
                                 "the batch was not stored") from exc
        try:
            if self.fsync:
                os.fdatasync(self._fd)
        except OSError as exc:
            self._failed = f"fsync: {exc}"
            raise LogWriteFailed(f"{self._active_path()}: fsync failed: {exc}; the batch is not "
                                 "acknowledged and the store refuses appends until reopened") from exc
        self._active_size = start + len(data)

    def _publish(self) -> None:
        os.pwrite(self._committed_fd, struct.pack("<Q", self._next_offset), 0)

    def _undo(self, start: int, exc: OSError) -> None:
        """Cut a partly written batch off again, so the file ends at the last acknowledged frame."""
        try:
            os.ftruncate(self._fd, start)
            os.lseek(self._fd, start, os.SEEK_SET)
        except OSError:
            self._failed = f"write: {exc}; could not cut the partial batch off"

    # -- read --------------------------------------------------------------------------------

    def read(self, from_offset: int = 0, limit: int = 1000, stream_prefix: str | None = None,
             types=None) -> tuple[list[Record], int]:
        where = Filter(stream_prefix, types) if (stream_prefix or types) else None
        records, nxt = self._reader.read(from_offset, limit, where)
        return records, min(nxt, self._next_offset)

    # -- segments ----------------------------------------------------------------------------

    def _active_path(self) -> Path:
        return self.log_dir / segment_name(self._active_base)

    def _open_active(self, base: int, create: bool) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._active_base = base
        path = self._active_path()
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        self._fd = os.open(path, flags, 0o644)
        if create:
            os.write(self._fd, segment_header(base))
            os.fsync(self._fd)
            self._sync_dir()
        self._active_size = os.fstat(self._fd).st_size

    def _roll(self, base: int) -> None:
        if self.fsync:
            os.fsync(self._fd)
        self._open_active(base, create=True)

    def _sync_dir(self) -> None:
        if not self.fsync:
            return
        fd = os.open(self.log_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- recovery ----------------------------------------------------------------------------

    def _recover(self) -> None:
        segments = list_segments(self.log_dir)
        if not segments:
            self._open_active(0, create=True)
            return
        expected = 0
        for i, (base, path) in enumerate(segments):
            last = i + 1 == len(segments)
            if base != expected:
                raise CorruptLog(path, 0, expected, f"segment starts at offset {base}, expected {expected}")
            if last and path.stat().st_size < HEADER_SIZE:  # crashed while creating it
                path.rename(path.with_name(f"{path.name}.torn-{base}"))
                self._sync_dir()
                self._next_offset = expected
                self._open_active(segments[i - 1][0] if i else 0, create=i == 0)
                return
            expected = self._index_segment(path, base, last)
        if self._witness is not None and expected < self._witness:
            base, path = segments[-1]
            raise CorruptLog(path, path.stat().st_size, expected,
                             f"the log ends at offset {expected} but {COMMITTED} says {self._witness} events were "
                             "acknowledged: acknowledged events are missing (a truncated or lost segment)",
                             not_torn=None)
        self._next_offset = expected
        self._open_active(segments[-1][0], create=False)

    def _index_segment(self, path: Path, base: int, last: bool) -> int:
        """Verify one segment and index its records; returns the offset after its last one."""
        ids, versions = self._ids, self._versions
        fd = os.open(path, os.O_RDONLY)
        try:
            check_header(os.pread(fd, HEADER_SIZE, 0), path, base)
            walk = Walk(fd, HEADER_SIZE, base)
            for offset, view, start, end, at in walk:
                try:
                    rec = _index_decoder.decode(view[start:end])
                except msgspec.DecodeError as exc:
                    raise CorruptLog(path, at, offset, f"undecodable record: {exc}") from exc
                if rec.offset != offset:
                    raise CorruptLog(path, at, offset, f"record says offset {rec.offset}")
                if rec.event_id in ids:
                    raise CorruptLog(path, at, offset, f"event id {rec.event_id} stored twice")
                if rec.stream_version != versions.get(rec.stream, -1) + 1:
                    raise CorruptLog(path, at, offset, f"stream {rec.stream!r} jumps to version {rec.stream_version}")
                ids[rec.event_id] = offset
                versions[rec.stream] = rec.stream_version
            if walk.problem is not None:
                if walk.follower or not last:
                    raise CorruptLog(path, walk.position, walk.cursor, walk.problem)
                if self._witness is not None and walk.cursor < self._witness:
                    raise CorruptLog(path, walk.position, walk.cursor,
                                     f"{walk.problem} in an acknowledged record ({COMMITTED} says {self._witness} "
                                     "events were acknowledged), so this is damage, not a torn write",
                                     not_torn=None)
                self._cut_tail(path, walk.torn_bytes(), walk.position, walk.cursor)
        finally:
            os.close(fd)
        return walk.cursor

    def _cut_tail(self, path: Path, torn: bytes, end: int, next_offset: int) -> None:
        """Keep the torn bytes beside the segment, then truncate it to its last whole frame."""
        kept = path.with_name(f"{path.name}.torn-{next_offset}")
        n = 1
        while kept.exists():  # an earlier recovery at this offset kept its own bytes: never overwrite them
            kept = path.with_name(f"{path.name}.torn-{next_offset}.{n}")
            n += 1
        with open(kept, "xb") as f:
            f.write(torn)
            f.flush()
            os.fsync(f.fileno())
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, end)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._sync_dir()
        self.recovered_tail = kept

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None
        if getattr(self, "_committed_fd", None) is not None:
            os.close(self._committed_fd)
            self._committed_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

