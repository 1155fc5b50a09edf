"""The on-disk format of the log: segment files of CRC-checked frames.

A segment is `segment-<base offset, 20 digits>.log`:

    header  8s magic  Q base_offset                       (16 bytes)
    frame   I length  I crc32(offset, payload)  Q offset  payload[length]
    frame   ...

Offsets are global and consecutive across segments. A frame that fails its check is either a
torn tail (nothing valid follows it: the write never completed) or corruption (valid frames
follow: the bytes rotted). The first is cut off on open; the second is refused, loudly, and
nothing is deleted. This is the distinction a naive "truncate at the first bad frame" misses.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MAGIC = b"ARLOG\x00v1"
SEGMENT_HEADER = struct.Struct("<8sQ")
FRAME_HEADER = struct.Struct("<IIQ")
OFFSET = struct.Struct("<Q")
HEADER_SIZE = SEGMENT_HEADER.size
FRAME_OVERHEAD = FRAME_HEADER.size

try:  # zlib-ng's CRC-32 is zlib's, computed with carry-less multiplies: a 150-byte frame in about
    # a quarter of the time (benchmarks/bench_ceilings.py), so it matters on replay and appends.
    from zlib_ng.zlib_ng import crc32
except ImportError:  # a platform without its wheel: the same checksum, slower
    from zlib import crc32
MAX_PAYLOAD = 64 * 1024 * 1024
CHUNK = 1 << 20  # bytes read at a time: memory stays flat whatever the segment size
_NAME = re.compile(r"^segment-(\d{20})\.log$")


class CorruptLog(Exception):
    """A segment holds damaged bytes with valid records after them. Nothing was changed on disk."""

    NOT_TORN = "valid records follow, so this is not a torn tail"

    def __init__(self, segment: Path, position: int, offset: int, why: str, not_torn: str | None = NOT_TORN):
        """`not_torn`: why this is not a torn tail (None where `why` already says)."""
        self.segment, self.position, self.offset, self.why = segment, position, offset, why
        self.not_torn = not_torn
        super().__init__(
            f"corrupt event log: {segment} at byte {position} (event offset {offset}): {why}; "
            f"{not_torn + '. ' if not_torn else ''}Nothing was deleted. Restore the "
            "segment from a copy, or move the damaged segment and everything after it away to "
            "keep the events before it."
        )

    def __reduce__(self):
        # rebuilt from its fields: the default (the message as the only argument) does not fit
        # __init__, so a CorruptLog raised in an actor could not cross back to the driver
        return type(self), (self.segment, self.position, self.offset, self.why, self.not_torn)


def segment_name(base_offset: int) -> str:
    return f"segment-{base_offset:020d}.log"


def parse_segment_name(name: str) -> int | None:
    m = _NAME.match(name)
    return int(m.group(1)) if m else None


def list_segments(log_dir: str | Path) -> list[tuple[int, Path]]:
    log_dir = Path(log_dir)
    found = []
    for p in log_dir.iterdir() if log_dir.exists() else ():
        base = parse_segment_name(p.name)
        if base is not None:
            found.append((base, p))
    return sorted(found)


def segment_header(base_offset: int) -> bytes:
    return SEGMENT_HEADER.pack(MAGIC, base_offset)


def frame_header(offset: int, payload: bytes) -> bytes:
    """The 16 bytes that go before `payload` in its frame. The CRC covers the offset and the
    payload, which sit next to each other in the frame, so a reader checks both with one crc32
    call; the writer chains two calls instead of copying the payload behind the offset. A
    damaged length moves the covered range: mismatch."""
    packed = OFFSET.pack(offset)
    return FRAME_HEADER.pack(len(payload), crc32(payload, crc32(packed)), offset)


def encode_frame(offset: int, payload: bytes) -> bytes:
    return frame_header(offset, payload) + payload


def add_frames(frames: list[bytes], records, encode) -> None:
    """Append each record's frame header and encoded payload to `frames` (for one b"".join):
    frame_header inlined, because appends spend a good part of their time here."""
    pack, offset_bytes = FRAME_HEADER.pack, OFFSET.pack
    add = frames.append
    for rec in records:
        payload = encode(rec)
        offset = rec.offset
        add(pack(len(payload), crc32(payload, crc32(offset_bytes(offset))), offset))
        add(payload)


@dataclass
class Scan:
    """Where a scan of a segment's bytes stopped, and why. Frame i carries offset first + i
    (a scan only accepts consecutive offsets) and its payload is buf[starts[i]:ends[i]]."""

    starts: list[int]
    ends: list[int]
    end: int  # byte position after the last good frame
    next_offset: int
    problem: str | None  # None: the bytes ended cleanly at a frame boundary


def check_header(buf, path: Path, base_offset: int) -> None:
    if len(buf) < HEADER_SIZE:
        raise CorruptLog(path, 0, base_offset, "segment shorter than its header")
    magic, base = SEGMENT_HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise CorruptLog(path, 0, base_offset, f"not an autorecipe segment (magic {magic!r})")
    if base != base_offset:
        raise CorruptLog(path, 0, base_offset, f"header says base offset {base}, name says {base_offset}")


def scan(buf, start: int, next_offset: int, limit: int | None = None) -> Scan:
    """Walk frames from `start`, checking length, CRC and offset continuity. Stops at the first
    frame that fails, at the end of `buf`, or after `limit` frames. Replay and recovery spend a
    good part of their time in this loop: a good frame passes one combined test."""
    starts: list[int] = []
    ends: list[int] = []
    add_start, add_end = starts.append, ends.append
    pos, size = start, len(buf)
    last_header = size - FRAME_OVERHEAD
    unpack = FRAME_HEADER.unpack_from
    view = memoryview(buf)
    stop = next_offset + limit if limit is not None else -1
    while pos <= last_header and next_offset != stop:
        length, crc, offset = unpack(buf, pos)
        body = pos + FRAME_OVERHEAD
        end = body + length
        if 0 < length <= MAX_PAYLOAD and end <= size and offset == next_offset and crc32(view[pos + 8 : end]) == crc:
            add_start(body)
            add_end(end)
            next_offset += 1
            pos = end
        else:
            return Scan(starts, ends, pos, next_offset, _frame_problem(buf, pos, next_offset))
    problem = "incomplete frame header" if pos < size and next_offset != stop else None
    return Scan(starts, ends, pos, next_offset, problem)


def _frame_problem(buf, pos: int, next_offset: int) -> str:
    """Why the frame at `pos` failed scan's test, checked in the order a reader would."""
    length, crc, offset = FRAME_HEADER.unpack_from(buf, pos)
    body = pos + FRAME_OVERHEAD
    if length == 0 or length > MAX_PAYLOAD:
        return f"impossible frame length {length}"
    if body + length > len(buf):
        return f"frame of {length} bytes runs past the end of the segment"
    if crc32(memoryview(buf)[pos + 8 : body + length]) != crc:
        return "CRC mismatch"
    return f"frame carries offset {offset}, expected {next_offset}"


def valid_frame_after(buf, bad_pos: int, expected_offset: int, search: int = 1024) -> int | None:
    """Byte position of a valid frame after a bad one, or None. A valid successor carries one of
    the next few offsets; look for those 8-byte patterns (C speed) and verify each hit's CRC."""
    size = len(buf)
    view = memoryview(buf)
    for k in range(1, search + 1):
        pattern = OFFSET.pack(expected_offset + k)
        i = buf.find(pattern, bad_pos + 1)
        while i != -1:
            pos = i - 8  # the offset field sits 8 bytes into the frame header
            if pos > bad_pos and size - pos >= FRAME_OVERHEAD:
                length, crc, offset = FRAME_HEADER.unpack_from(buf, pos)
                body = pos + FRAME_OVERHEAD
                if 0 < length <= MAX_PAYLOAD and body + length <= size:
                    if crc32(view[pos + 8 : body + length]) == crc:
                        return pos
            i = buf.find(pattern, i + 1)
    return None


class Walk:
    """Iterate the frames of an open segment from byte `position` (whose frame has offset
    `cursor`), reading a chunk at a time. Yields (offset, chunk view, payload start, payload end,
    frame position); `chunks()` yields each chunk's good frames at once. When iteration ends,
    `position`/`cursor` say where it stopped, `problem` why (None: a clean end), and `follower`
    whether a valid frame comes after the bad one."""

    def __init__(self, fd: int, position: int, cursor: int):
        self.fd, self.position, self.cursor = fd, position, cursor
        self.size = os.fstat(fd).st_size
        self.problem: str | None = None
        self.follower = False

    def chunks(self) -> Iterator[tuple[memoryview, Scan, int, int]]:
        """(chunk view, its scan, offset of its first frame, byte position of the chunk)."""
        fd, size = self.fd, self.size
        while self.position < size:
            pos, first = self.position, self.cursor
            buf = os.pread(fd, min(CHUNK, size - pos), pos)
            result = scan(buf, 0, first)
            if not result.starts and result.problem:
                buf = os.pread(fd, _frame_size(buf, size - pos), pos)  # one long frame, or damage
                result = scan(buf, 0, first, limit=1)
                if not result.starts:
                    self.problem = result.problem
                    rest = os.pread(fd, size - pos, pos)
                    self.follower = valid_frame_after(rest, 0, first) is not None
                    return
            yield memoryview(buf), result, first, pos
            self.cursor, self.position = result.next_offset, pos + result.end

    def __iter__(self) -> Iterator[tuple[int, memoryview, int, int, int]]:
        for view, result, offset, pos in self.chunks():
            for start, end in zip(result.starts, result.ends):
                yield offset, view, start, end, pos + start - FRAME_OVERHEAD
                offset += 1

    def torn_bytes(self) -> bytes:
        return os.pread(self.fd, self.size - self.position, self.position)


def _frame_size(buf: bytes, remaining: int) -> int:
    """How much to read for the frame at the start of `buf`: all of it if its length is
    plausible, else everything that is left (to tell a torn tail from corruption)."""
    if len(buf) >= FRAME_OVERHEAD:
        length = int.from_bytes(buf[:4], "little")
        if 0 < length <= MAX_PAYLOAD and FRAME_OVERHEAD + length <= remaining:
            return FRAME_OVERHEAD + length
    return remaining
