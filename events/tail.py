"""Reading a live log from its files, without asking the writer: what reactors on the log's own
node use, so that waiting for news costs a stat and a pread of eight bytes instead of a call to the
EventLog actor.

The store writes `log/COMMITTED` (the offset below which everything is acknowledged) after each
fsync. A tail reads the segments directly but never past that offset: a batch that was written
and not yet acknowledged (or was cut off again after a failed write) is not seen.
"""

from __future__ import annotations

import os
from pathlib import Path

from events.envelope import Record
from events.reader import LogReader
from events.store import COMMITTED, parse_committed


class LogTail:
    def __init__(self, log_dir: str | Path):
        self.log_dir = Path(log_dir)
        self.path = self.log_dir / COMMITTED
        self._fd: int | None = None
        self._inode: int | None = None
        self._reader = LogReader(self.log_dir)

    @staticmethod
    def available(log_dir: str | Path) -> bool:
        return (Path(log_dir) / COMMITTED).is_file()

    def committed(self) -> int:
        """The acknowledged end: 0 while COMMITTED holds no offset."""
        value = self.witness()
        return 0 if value is None else value

    def witness(self) -> int | None:
        """What COMMITTED says now (`store.parse_committed`): None where there is no such file or
        it holds no offset, `DamagedWitness` where the offset cannot be. A COMMITTED put in the
        place of the one read before (removed and written again, or a mirror refreshed by copy
        and rename) is the one read: the file is reopened when its inode changes."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            self.close()
            return None
        if inode != self._inode:
            self.close()
            self._fd, self._inode = os.open(self.path, os.O_RDONLY), inode
        return parse_committed(os.pread(self._fd, 8, 0), self.path)

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
            self._fd = self._inode = None
