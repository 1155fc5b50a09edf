"""Reading a live log from its files, without asking the writer: what reactors on the log's own
node use, so that waiting for news costs a pread of eight bytes instead of a call to the
EventLog actor.

The store writes `log/COMMITTED` (the offset below which everything is acknowledged) after each
fsync. A tail reads the segments directly but never past that offset: a batch that was written
and not yet acknowledged (or was cut off again after a failed write) is not seen.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from events.envelope import Record
from events.reader import LogReader
from events.store import COMMITTED


class LogTail:
    def __init__(self, log_dir: str | Path):
        self.log_dir = Path(log_dir)
        self._fd: int | None = None
        self._reader = LogReader(self.log_dir)

    @staticmethod
    def available(log_dir: str | Path) -> bool:
        return (Path(log_dir) / COMMITTED).is_file()

    def committed(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.log_dir / COMMITTED, os.O_RDONLY)
        data = os.pread(self._fd, 8, 0)
        return struct.unpack("<Q", data)[0] if len(data) == 8 else 0

    def read(self, from_offset: int, limit: int = 1000) -> tuple[list[Record], int]:
        end = self.committed()
        if from_offset >= end:
            return [], from_offset
        records, nxt = self._reader.read(from_offset, min(limit, end - from_offset))
        records = [r for r in records if r.offset < end]
        return records, min(nxt, end)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
