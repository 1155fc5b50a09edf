"""Reading a log directory by offset, with filters, while a writer may be appending to it.

The reader needs nothing from the writer: replay, the CLI and the gateway use it on a live run or
on a copied run directory alike. At the end of the newest segment a frame that is not complete
yet is simply "not yet"; anywhere else a bad frame is corruption and raises `CorruptLog`.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import msgspec

from events.envelope import Record, decode_record, event_type_name
from events.segments import (
    CHUNK,
    FRAME_HEADER,
    FRAME_OVERHEAD,
    HEADER_SIZE,
    MAX_PAYLOAD,
    CorruptLog,
    Walk,
    _frame_size,
    check_header,
    crc32,
    list_segments,
)

_fast_decode = msgspec.msgpack.Decoder(Record).decode
INDEX_EVERY = 256  # one sparse index entry per this many frames


@dataclass
class _Segment:
    base: int
    path: Path
    offsets: list[int] = field(default_factory=list)  # sparse index: offset -> byte position
    positions: list[int] = field(default_factory=list)

    def seek(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.offsets, offset) - 1
        return (self.offsets[i], self.positions[i]) if i >= 0 else (self.base, HEADER_SIZE)

    def remember(self, first: int, starts: list[int], chunk_pos: int) -> None:
        """Index the frames of a chunk whose offset is a multiple of INDEX_EVERY from the base."""
        last = self.offsets[-1] if self.offsets else -1
        for offset in range(first + (self.base - first) % INDEX_EVERY, first + len(starts), INDEX_EVERY):
            if offset > last:
                self.offsets.append(offset)
                self.positions.append(chunk_pos + starts[offset - first] - FRAME_OVERHEAD)


class Filter:
    """Which records a reader returns: a stream prefix and/or a set of event types."""

    def __init__(self, stream_prefix: str | None = None, types: Iterable[str] | None = None):
        self.stream_prefix = stream_prefix
        self.types = frozenset(types) if types else None

    def __call__(self, record: Record) -> bool:
        if self.stream_prefix is not None and not record.stream.startswith(self.stream_prefix):
            return False
        return self.types is None or event_type_name(record.event) in self.types


class LogReader:
    def __init__(self, log_dir: str | Path):
        self.log_dir = Path(log_dir)
        self._segments: list[_Segment] = []
        self.refresh()

    def refresh(self) -> None:
        """The segments as the directory lists them now: new ones added, and ones that are gone
        (moved away after damage) dropped, so that a gap they leave is reported as one."""
        known = {s.base: s for s in self._segments}
        self._segments = [known.get(base) or _Segment(base, path) for base, path in list_segments(self.log_dir)]

    def iter_records(self, from_offset: int = 0, until: int | None = None,
                     decode: Callable[[Any], Any] | None = None) -> Iterator[Record]:
        """Every record with from_offset <= offset < until, in order: replay's path. Memory stays
        at one chunk however large the segments are. `decode` replaces the typed Record decoder
        (replay passes one that builds only the fields its fold reads); a record it cannot decode
        goes through `decode_record`, which says whether it is an unknown type or damage."""
        return chain.from_iterable(self._chunks(from_offset, until, decode or _fast_decode))

    def read(
        self,
        from_offset: int = 0,
        limit: int = 1000,
        where: Filter | None = None,
        max_scan: int = 100_000,
    ) -> tuple[list[Record], int]:
        """Up to `limit` matching records at or after `from_offset`, and the offset to ask for
        next. Scans at most `max_scan` records, so a narrow filter cannot make one call unbounded."""
        out: list[Record] = []
        next_offset, scanned = from_offset, 0
        for record in self.iter_records(from_offset):
            scanned += 1
            next_offset = record.offset + 1
            if where is None or where(record):
                out.append(record)
            if len(out) >= limit or scanned >= max_scan:
                break
        return out, next_offset

    def end_offset(self) -> int:
        """The offset the next appended record will get, as the files show it now."""
        for _ in self.iter_records(1 << 62):
            pass
        return self._end

    # -- helpers ------------------------------------------------------------------------------

    def _chunks(self, from_offset: int, until: int | None, decode) -> Iterator[Iterator[Record]]:
        """The records from `from_offset`, as one iterator per chunk read: the per-record work
        is only the decode and its offset check."""
        self.refresh()
        self._end = 0
        if not self._segments:
            return
        first = max(bisect.bisect_right([s.base for s in self._segments], from_offset) - 1, 0)
        for i in range(first, len(self._segments)):
            nxt = self._segments[i + 1] if i + 1 < len(self._segments) else None
            finished = yield from self._segment(self._segments[i], from_offset, until, decode,
                                                nxt and nxt.base, nxt and nxt.path.name)
            if finished:
                return

    def _segment(self, seg: _Segment, from_offset: int, until: int | None, decode, following: int | None,
                 following_name: str | None = None) -> Iterator[Iterator[Record]]:
        """Records of one segment from `from_offset`, found through the sparse index; returns
        True when it reached `until`."""
        cursor, pos = seg.seek(from_offset)
        fd = _open(seg)
        try:
            if os.fstat(fd).st_size < HEADER_SIZE and following is None:
                self._end = seg.base
                return False  # a segment the writer has only just created
            check_header(os.pread(fd, HEADER_SIZE, 0), seg.path, seg.base)
            walk = Walk(fd, pos, cursor)
            for view, result, first, at in walk.chunks():
                seg.remember(first, result.starts, at)
                starts, ends = result.starts, result.ends
                skip = max(from_offset - first, 0)
                stop = len(starts) if until is None else min(len(starts), until - first)
                if skip < stop:
                    if skip or stop < len(starts):
                        starts, ends = starts[skip:stop], ends[skip:stop]
                    yield _decoded(seg, view, starts, ends, first + skip, at, decode)
                if stop < len(result.starts):
                    return True
        finally:
            os.close(fd)
        if walk.problem and (walk.follower or following is not None):
            raise CorruptLog(seg.path, walk.position, walk.cursor, walk.problem)
        # else a problem is the end of the newest segment, still being written (or torn): not yet
        if following is not None and walk.cursor < following:
            raise CorruptLog(seg.path, walk.position, walk.cursor,
                             f"segment ends before offset {walk.cursor}, the next one ({following_name}) "
                             f"starts at {following}: a segment is missing, or one is from another log")
        if following is not None and walk.cursor > following:
            raise CorruptLog(seg.path.with_name(following_name), 0, following,
                             f"segment starts at offset {following}, inside the one before it ({seg.path.name}, "
                             f"which runs to {walk.cursor - 1}): two segments claim the same offsets, one is "
                             "from another log")
        self._end = walk.cursor
        return until is not None and walk.cursor >= until


def _open(seg: _Segment) -> int:
    try:
        return os.open(seg.path, os.O_RDONLY)
    except FileNotFoundError:  # listed a moment ago: moved away while this read was under way
        raise CorruptLog(seg.path, 0, seg.base, "the segment was removed while the log was being read",
                         not_torn=None) from None


def _decoded(seg: _Segment, view: memoryview, starts: list[int], ends: list[int], offset: int, chunk_pos: int,
             decode) -> Iterator[Record]:
    """The records of one chunk's checked frames, the first at `offset`."""
    for start, end in zip(starts, ends):
        try:
            record = decode(view[start:end])
        except msgspec.DecodeError:  # an unknown event type, or damage: the slow path says which
            record = _decode_slow(view[start:end], seg, offset, chunk_pos + start - FRAME_OVERHEAD)
        if record.offset != offset:
            raise CorruptLog(seg.path, chunk_pos + start - FRAME_OVERHEAD, offset, f"record says offset {record.offset}")
        offset += 1
        yield record


def _decode_slow(data, seg: _Segment, offset: int, at: int) -> Record:
    try:
        return decode_record(data)
    except ValueError as exc:
        raise CorruptLog(seg.path, at, offset, f"undecodable record: {exc}") from exc


# -- the fused path: replay's loop --------------------------------------------------------------

START_OVER = -1  # `visit` could not tell a damaged log from a torn tail: fold it all the careful way


def visit(reader: LogReader, handlers: dict[type, Callable[[Any, Any], None]], until: int | None,
          decode: Callable[[Any], Any]) -> tuple[int, int, bool]:
    """Call `handlers[type(record.event)](record, record.event)` for each record from the start
    of the log, in one loop per chunk that checks, decodes and dispatches each frame (replay's
    path: no lists of frame positions, no generator per record). It stops at the first frame or
    segment that fails a check, or at `until`, and returns (records visited, the offset after
    them, whether `iter_records` must go on from there); iter_records then gives the records and
    raises the errors it would have from the start. Visited START_OVER: a damaged segment before
    the last one, which iter_records must walk from the start."""
    reader.refresh()
    segments = reader._segments
    if not segments:
        return 0, 0, True
    first = cursor = segments[0].base
    if until is not None and until <= first:
        return 0, first, True  # nothing to visit; the careful reader says what is there
    for i, seg in enumerate(segments):
        following = None if i + 1 == len(segments) else segments[i + 1].base
        cursor, position, clean = _visit_segment(seg, cursor, handlers, until, decode)
        if position is not None and (not seg.offsets or cursor > seg.offsets[-1]):
            seg.offsets.append(cursor)  # where iter_records starts, without a rescan
            seg.positions.append(position)
        if not clean:  # a bad frame or a short segment (the torn tail, or damage), or `until`
            if following is not None and (cursor != until or following <= cursor):
                return START_OVER, cursor, True
            return cursor - first, cursor, True
        if following is None:
            return cursor - first, cursor, True
        if following != cursor:
            return START_OVER, cursor, True
        if cursor == until:
            return cursor - first, cursor, False
    raise AssertionError("unreachable: the loop returns at the last segment")


def _visit_segment(seg: _Segment, cursor: int, handlers, until: int | None,
                   decode) -> tuple[int, int | None, bool]:
    """Visit one segment's records from its start: (next offset, byte position reached, whether
    the segment ended cleanly: its last frame good and complete)."""
    fd = _open(seg)
    try:
        size = os.fstat(fd).st_size
        if size < HEADER_SIZE:
            return cursor, None, False
        check_header(os.pread(fd, HEADER_SIZE, 0), seg.path, seg.base)
        pos, stop = HEADER_SIZE, -1 if until is None else until
        want = CHUNK
        while pos < size and cursor != stop:
            buf = os.pread(fd, min(want, size - pos), pos)
            used, cursor = _visit_chunk(buf, seg, pos, cursor, stop, handlers, decode)
            pos += used
            if used == 0:  # a frame longer than a chunk, or one that fails its check
                need = _frame_size(buf, size - pos)
                if need <= len(buf):
                    return cursor, pos, False
                want = need
            else:
                want = CHUNK
        return cursor, pos, pos == size
    finally:
        os.close(fd)


def _visit_chunk(buf: bytes, seg: _Segment, chunk_pos: int, cursor: int, stop: int, handlers,
                 decode) -> tuple[int, int]:
    """Visit the good frames at the start of `buf`: (bytes they take, next offset). The chunk's
    frames are checked and decoded first, then folded: two tight loops, each keeping its own
    code and data in cache, run measurably faster than one that alternates between them."""
    view = memoryview(buf)
    unpack = FRAME_HEADER.unpack_from
    pos, size, overhead = 0, len(buf), FRAME_OVERHEAD
    last_header = size - overhead
    first = cursor
    records: list = []
    keep = records.append
    while pos <= last_header and cursor != stop:
        length, crc, offset = unpack(buf, pos)
        body = pos + overhead
        end = body + length
        if not (offset == cursor and 0 < length <= MAX_PAYLOAD and end <= size
                and crc32(view[pos + 8:end]) == crc):
            break
        try:
            keep(decode(view[body:end]))
        except msgspec.DecodeError:
            keep(_decode_slow(view[body:end], seg, cursor, chunk_pos + pos))
        cursor += 1
        pos = end
    get = handlers.get
    for expected, record in enumerate(records, first):
        if record.offset != expected:
            raise CorruptLog(seg.path, _frame_position(buf, chunk_pos, expected - first), expected,
                             f"record says offset {record.offset}")
        event = record.event
        handler = get(type(event))
        if handler is not None:
            handler(record, event)
    return pos, cursor


def _frame_position(buf: bytes, chunk_pos: int, index: int) -> int:
    """The file position of the chunk's frame number `index` (its frames are known good)."""
    pos = 0
    for _ in range(index):
        pos += FRAME_OVERHEAD + FRAME_HEADER.unpack_from(buf, pos)[0]
    return chunk_pos + pos
