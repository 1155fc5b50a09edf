"""The stages of a phase (data, compile, train...), each with a wall-clock allowance of its own."""

from __future__ import annotations

import re
import time


class StageClock:
    """Notes when each stage's first line appears in the output, as the output is read."""

    def __init__(self, stages: tuple[tuple[str, str, float], ...], start: float):
        self.stages = stages
        self.starts = [start] if stages else []
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        if len(self.starts) >= len(self.stages):
            return
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()[-4096:]
        for line in lines:
            i = len(self.starts)
            if i < len(self.stages) and re.search(self.stages[i][1], line.decode(errors="replace")):
                self.starts.append(time.monotonic())

    def overdue(self, now: float) -> str | None:
        if not self.starts:
            return None
        i = len(self.starts) - 1
        name, _, allowed = self.stages[i]
        return name if now - self.starts[i] > allowed else None

    def spans(self, end: float) -> list[tuple[str, float]]:
        ends = self.starts[1:] + [end]
        return [(self.stages[i][0], ends[i] - t) for i, t in enumerate(self.starts)]
