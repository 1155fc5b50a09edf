"""A running phase's output lines, turned into `trial.progress` events at a bounded rate.

The sandbox's output drain hands every complete line to `line()` (its own thread: parse and keep
the latest point, nothing else, so the trial's pipe never waits on the log). The executor's
thread calls `flush()` while it polls the trial and sends at most one point every `interval_s`,
plus each phase's last point when the phase ends; at most `limit` per attempt. A failure to send
is dropped: progress is for people watching, never for a verdict.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from environments.progress import parse_line
from events.schema import TrialProgress

INTERVAL_S = 2.0
LIMIT = 1000


class ProgressReporter:
    def __init__(self, patterns: tuple[str, ...], send: Callable[[TrialProgress], None], trial_id: str,
                 attempt: int, interval_s: float = INTERVAL_S, limit: int = LIMIT, clock=time.monotonic):
        self.patterns, self.send, self.trial_id, self.attempt = patterns, send, trial_id, attempt
        self.interval_s, self.limit, self.clock = interval_s, limit, clock
        self.label: str | None = None
        self.budget_s: float | None = None
        self.started = 0.0
        self.latest: TrialProgress | None = None  # parsed, not sent yet
        self.last_sent = float("-inf")
        self.sent = 0
        self.lock = threading.Lock()

    def phase(self, label: str, budget_s: float | None) -> Callable[[bytes], None] | None:
        """A new phase begins: the previous one's last point goes out; returns the line callback
        (None when the environment declares no progress format)."""
        self.flush(force=True)
        with self.lock:
            self.label, self.budget_s, self.started = label, budget_s, self.clock()
        return self.line if self.patterns else None

    def line(self, raw: bytes) -> None:
        point = parse_line(self.patterns, raw.decode(errors="replace").rstrip("\r"))
        if point is None:
            return
        with self.lock:
            self.latest = TrialProgress(trial_id=self.trial_id, attempt=self.attempt, phase=self.label or "",
                                        elapsed_s=round(self.clock() - self.started, 3), budget_s=self.budget_s,
                                        step=point["step"], total_steps=point["total"], metrics=point["metrics"])

    def flush(self, force: bool = False) -> None:
        now = self.clock()
        with self.lock:
            point = self.latest
            if point is None or self.sent >= self.limit or (not force and now - self.last_sent < self.interval_s):
                return
            self.latest, self.last_sent = None, now
            self.sent += 1
        try:
            self.send(point)
        except Exception:  # the log is slow or gone: the trial goes on without its curve
            pass
