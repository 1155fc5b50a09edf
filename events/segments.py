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
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MAGIC = b"ARLOG\x00v1"
SEGMENT_HEADER = struct.Struct("<8sQ")
FRAME_HEADER = struct.Struct("<IIQ")
OFFSET = struct.Struct("<Q")
HEADER_SIZE = SEGMENT_HEADER.size
FRAME_OVERHEAD = FRAME_HEADER.size
MAX_PAYLOAD = 64 * 1024 * 1024
CHUNK = 1 << 20  # bytes read at a time: memory stays flat whatever the segment size
_NAME = re.compile(r"^segment-(\d{20})\.log$")


class CorruptLog(Exception):
    """A segment holds damaged bytes with valid records after them. Nothing was changed on disk."""

    def __init__(self, segment: Path, position: int, offset: int, why: str):
        self.segment, self.position, self.offset, self.why = segment, position, offset, why
        super().__init__(
            f"corrupt event log: {segment} at byte {position} (event offset {offset}): {why}; "
            "valid records follow, so this is not a torn tail. Nothing was deleted. Restore the "
            "segment from a copy, or move the damaged segment and everything after it away to "
            "keep the events before it."
        )


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


def encode_frame(offset: int, payload: bytes) -> bytes:
    # The CRC covers the offset and the payload, which sit next to each other in the frame, so a
    # reader checks both with one crc32 call. A damaged length moves the covered range: mismatch.
    tail = OFFSET.pack(offset) + payload
    return FRAME_HEADER.pack(len(payload), zlib.crc32(tail), offset) + payload


@dataclass
class Scan:
    """Where a scan of a segment's bytes stopped, and why."""

    frames: list[tuple[int, int, int]]  # (offset, payload start, payload end)
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
    frame that fails, at the end of `buf`, or after `limit` frames."""
    frames: list[tuple[int, int, int]] = []
    pos, size = start, len(buf)
    unpack = FRAME_HEADER.unpack_from
    view = memoryview(buf)
    crc32 = zlib.crc32
    problem = None
    while pos < size:
        if limit is not None and len(frames) >= limit:
            break
        if size - pos < FRAME_OVERHEAD:
            problem = "incomplete frame header"
            break
        length, crc, offset = unpack(buf, pos)
        body = pos + FRAME_OVERHEAD
        if length == 0 or length > MAX_PAYLOAD:
            problem = f"impossible frame length {length}"
            break
        if body + length > size:
            problem = f"frame of {length} bytes runs past the end of the segment"
            break
        if crc32(view[pos + 8 : body + length]) != crc:
            problem = "CRC mismatch"
            break
        if offset != next_offset:
            problem = f"frame carries offset {offset}, expected {next_offset}"
            break
        frames.append((offset, body, body + length))
        next_offset += 1
        pos = body + length
    return Scan(frames, pos, next_offset, problem)


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
                    if zlib.crc32(view[pos + 8 : body + length]) == crc:
                        return pos
            i = buf.find(pattern, i + 1)
    return None


class Walk:
    """Iterate the frames of an open segment from byte `position` (whose frame has offset
    `cursor`), reading a chunk at a time. Yields (offset, chunk view, payload start, payload end,
    frame position). When iteration ends, `position`/`cursor` say where it stopped, `problem`
    why (None: a clean end), and `follower` whether a valid frame comes after the bad one."""

    def __init__(self, fd: int, position: int, cursor: int):
        self.fd, self.position, self.cursor = fd, position, cursor
        self.size = os.fstat(fd).st_size
        self.problem: str | None = None
        self.follower = False

    def __iter__(self) -> Iterator[tuple[int, memoryview, int, int, int]]:
        fd, size = self.fd, self.size
        while self.position < size:
            pos = self.position
            buf = os.pread(fd, min(CHUNK, size - pos), pos)
            result = scan(buf, 0, self.cursor)
            if not result.frames and result.problem:
                buf = os.pread(fd, _frame_size(buf, size - pos), pos)  # one long frame, or damage
                result = scan(buf, 0, self.cursor, limit=1)
                if not result.frames:
                    self.problem = result.problem
                    rest = os.pread(fd, size - pos, pos)
                    self.follower = valid_frame_after(rest, 0, self.cursor) is not None
                    return
            view = memoryview(buf)
            for offset, start, end in result.frames:
                yield offset, view, start, end, pos + start - FRAME_OVERHEAD
            self.cursor, self.position = result.next_offset, pos + result.end

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
