"""Reading a log directory by offset, with filters, while a writer may be appending to it.

The reader needs nothing from the writer: replay, the CLI and the gateway use it on a live run or
on a copied run directory alike. At the end of the newest segment a frame that is not complete
yet is simply "not yet"; anywhere else a bad frame is corruption and raises `CorruptLog`.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import msgspec

from events.envelope import Record, decode_record, event_type_name
from events.segments import (
    FRAME_OVERHEAD,
    HEADER_SIZE,
    CorruptLog,
    Scan,
    check_header,
    list_segments,
    scan,
    valid_frame_after,
)

_fast_decode = msgspec.msgpack.Decoder(Record).decode
INDEX_EVERY = 256  # one sparse index entry per this many frames
CHUNK = 1 << 20


@dataclass
class _Segment:
    base: int
    path: Path
    offsets: list[int] = field(default_factory=list)  # sparse index: offset -> byte position
    positions: list[int] = field(default_factory=list)

    def seek(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.offsets, offset) - 1
        return (self.offsets[i], self.positions[i]) if i >= 0 else (self.base, HEADER_SIZE)

    def remember(self, offset: int, position: int) -> None:
        if (offset - self.base) % INDEX_EVERY == 0 and (not self.offsets or offset > self.offsets[-1]):
            self.offsets.append(offset)
            self.positions.append(position)


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
        known = {s.base for s in self._segments}
        for base, path in list_segments(self.log_dir):
            if base not in known:
                self._segments.append(_Segment(base, path))
        self._segments.sort(key=lambda s: s.base)

    # -- bulk: whole segments, for replay -----------------------------------------------------

    def iter_records(self, from_offset: int = 0, until: int | None = None) -> Iterator[Record]:
        """Every record with from_offset <= offset < until, in order."""
        self.refresh()
        for i, seg in enumerate(self._segments):
            nxt = self._segments[i + 1].base if i + 1 < len(self._segments) else None
            if nxt is not None and nxt <= from_offset:
                continue
            if until is not None and seg.base >= until:
                return
            buf = seg.path.read_bytes()
            check_header(buf, seg.path, seg.base)
            result = scan(buf, HEADER_SIZE, seg.base)
            self._settle(buf, result, seg, last=nxt is None)
            if nxt is not None and result.next_offset != nxt:
                raise CorruptLog(seg.path, result.end, result.next_offset,
                                 f"segment ends at offset {result.next_offset}, next segment starts at {nxt}")
            view = memoryview(buf)
            for offset, start, end in result.frames:
                if offset < from_offset:
                    continue
                if until is not None and offset >= until:
                    return
                try:
                    record = _fast_decode(view[start:end])
                except msgspec.ValidationError:  # an unknown event type, or damage: the slow path says which
                    record = self._decode(buf, start, end, seg, offset)
                except msgspec.DecodeError as exc:
                    raise CorruptLog(seg.path, start - FRAME_OVERHEAD, offset, f"undecodable record: {exc}") from exc
                if record.offset != offset:
                    raise CorruptLog(seg.path, start - FRAME_OVERHEAD, offset, f"record says offset {record.offset}")
                yield record

    # -- bounded: a page at a time, for consumers and actors ----------------------------------

    def read(
        self,
        from_offset: int = 0,
        limit: int = 1000,
        where: Filter | None = None,
        max_scan: int = 100_000,
    ) -> tuple[list[Record], int]:
        """Up to `limit` matching records at or after `from_offset`, and the offset to ask for
        next. Scans at most `max_scan` records, so a narrow filter cannot make one call unbounded."""
        self.refresh()
        out: list[Record] = []
        next_offset, scanned = from_offset, 0
        for i in range(self._segment_index(from_offset), len(self._segments)):
            following = self._segments[i + 1].base if i + 1 < len(self._segments) else None
            for record in self._records(self._segments[i], next_offset, following):
                scanned += 1
                next_offset = record.offset + 1
                if where is None or where(record):
                    out.append(record)
                if len(out) >= limit or scanned >= max_scan:
                    return out, next_offset
            if following is not None:
                next_offset = max(next_offset, following)
        return out, next_offset

    def _records(self, seg: _Segment, from_offset: int, following: int | None) -> Iterator[Record]:
        """Records of one segment from `from_offset`, read a chunk at a time via the sparse index."""
        cursor, pos = seg.seek(from_offset)
        fd = os.open(seg.path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_SIZE and following is None:
                return  # a segment the writer has only just created
            check_header(os.pread(fd, HEADER_SIZE, 0), seg.path, seg.base)
            while pos < size:
                buf = os.pread(fd, min(CHUNK, size - pos), pos)
                result = scan(buf, 0, cursor)
                if not result.frames and result.problem:
                    buf = os.pread(fd, size - pos, pos)  # a frame longer than a chunk, or damage
                    result = scan(buf, 0, cursor, limit=1)
                    if not result.frames:
                        self._settle(buf, result, seg, last=following is None, base_pos=pos)
                        return
                for offset, start, end in result.frames:
                    seg.remember(offset, pos + start - FRAME_OVERHEAD)
                    if offset >= from_offset:
                        yield self._decode(buf, start, end, seg, offset, pos)
                cursor, pos = result.next_offset, pos + result.end
        finally:
            os.close(fd)
        if following is not None and cursor != following:
            raise CorruptLog(seg.path, pos, cursor,
                             f"segment ends before offset {cursor}, the next one starts at {following}")

    def end_offset(self) -> int:
        """The offset the next appended record will get, as the files show it now."""
        self.refresh()
        if not self._segments:
            return 0
        seg = self._segments[-1]
        offset0, pos = seg.seek(1 << 62)
        buf = seg.path.read_bytes()
        if len(buf) < HEADER_SIZE:
            return seg.base
        result = scan(buf, pos, offset0)
        return result.next_offset

    # -- helpers ------------------------------------------------------------------------------

    def _segment_index(self, offset: int) -> int:
        if not self._segments:
            return 0
        bases = [s.base for s in self._segments]
        return max(bisect.bisect_right(bases, offset) - 1, 0)

    @staticmethod
    def _settle(buf, result: Scan, seg: _Segment, last: bool, base_pos: int = 0) -> None:
        """Decide what a scan that stopped on a bad frame means."""
        if result.problem is None:
            return
        follower = valid_frame_after(buf, result.end, result.next_offset)
        if follower is not None or not last:
            raise CorruptLog(seg.path, base_pos + result.end, result.next_offset, result.problem)
        # else: the end of the newest segment is still being written (or torn): not yet

    @staticmethod
    def _decode(buf, start: int, end: int, seg: _Segment, offset: int, base_pos: int = 0) -> Record:
        where = base_pos + start - FRAME_OVERHEAD
        try:
            record = decode_record(memoryview(buf)[start:end])
        except ValueError as exc:
            raise CorruptLog(seg.path, where, offset, f"undecodable record: {exc}") from exc
        if record.offset != offset:
            raise CorruptLog(seg.path, where, offset, f"record says offset {record.offset}")
        return record
