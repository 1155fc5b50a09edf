"""Reading a phase's output pipe while it runs, with a size cap."""

from __future__ import annotations

import os
import threading

from actors.sandbox.stages import StageClock


class Drain(threading.Thread):
    """Reads a pipe to the end: keeps the first `cap` bytes and the last `cap // 4`."""

    def __init__(self, fd: int, cap: int, clock: StageClock | None = None, on_line=None):
        super().__init__(daemon=True)
        self.fd, self.cap, self.clock, self.on_line = fd, cap, clock, on_line
        self.partial = b""
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def run(self) -> None:
        keep_tail = self.cap // 4
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if self.clock is not None:
                self.clock.feed(chunk)
            if self.on_line is not None:
                self._lines(chunk)
            room = self.cap - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > keep_tail:
                    self.dropped += len(self.tail) - keep_tail
                    del self.tail[: len(self.tail) - keep_tail]
        os.close(self.fd)

    def _lines(self, chunk: bytes) -> None:
        """Each complete line to `on_line`; a line longer than 4 KiB is not a progress line."""
        *lines, rest = (self.partial + chunk).split(b"\n")
        self.partial = rest if len(rest) <= 4096 else b""
        for line in lines:
            if len(line) <= 4096:
                try:
                    self.on_line(line)
                except Exception:  # a progress parser never stops the drain
                    pass

    def text(self) -> bytes:
        if not self.tail:
            return bytes(self.head)
        marker = f"\n[... {self.dropped:,} bytes of output dropped ...]\n".encode() if self.dropped else b""
        return bytes(self.head) + marker + bytes(self.tail)
