"""What `autorecipe run` prints while it runs: a line per verdict, and a status line now and then."""

from __future__ import annotations

import re
import time

import click

from agents.proposer import STOPS_FOR_GOOD
from events import AgentSessionEnded, Phase, Record, RunStopped, RunStopRequested, TrialEvaluated, TrialExecuted
from events.projections.trials import CLAIMED, EXECUTED, RUNNABLE

STATUS_EVERY_S = 15.0
COLORS = {"keep": "green", "discard": None, "harness_abort": "magenta"}
FAILED_SESSIONS = ("error", "limit", "abandoned", *STOPS_FOR_GOOD)  # ended with no trial, and why


def cause_of(detail: str) -> str:
    """A session's failure, with the parts that differ from one failure to the next (counts,
    times) blurred, so failures of one cause group together."""
    return re.sub(r"\d+(\.\d+)?", "N", detail.split("\n")[0])[:160]


def weaker_containment(phases: list[Phase]) -> list[str]:
    """What the executor's machine did not give a trial's phases that root on Linux gives them
    (README, what the sandbox enforces), in words for the run's console."""
    notes = []
    if any(p.isolation == "rlimits" for p in phases):
        notes.append("no namespaces or uid of its own (the executor is not root there): it ran as the executor's "
                     "user, with its network and its files")
    if any(p.cpu_clock and not p.cpu_clock.startswith("cgroup") for p in phases):
        notes.append("CPU counted by wait4 (no control group): processes never reaped are not charged")
    if any(p.disk_bound == "walk" for p in phases):
        notes.append("the disk cap kept by walking out/ and tmp/ (no filesystem of its own): a file held only in a "
                     "socket is not seen")
    return notes


class Progress:
    def __init__(self, total: int, echo=click.echo):
        self.total, self.echo = total, echo
        self.started = time.monotonic()
        self.last_status = self.started
        self.failures: dict[tuple[str, str, str], list] = {}  # (agent, outcome, cause) -> [count, shown, detail]
        self.containment_said: set[str] = set()  # each weaker containment note once a run

    def _elapsed(self) -> str:
        s = int(time.monotonic() - self.started)
        return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"

    def record(self, rec: Record, state) -> None:
        ev = rec.event
        if isinstance(ev, TrialEvaluated):
            row = state.trials.rows.get(ev.trial_id)
            if row is None or row.phase != "evaluated":
                return
            delta = "" if row.realized_delta is None else f"Δ{row.realized_delta:+.4f}"
            score = "-" if row.score is None else f"{row.score:.4f}"
            status = row.status or ev.verdict
            line = (f"[{self._elapsed()}] {row.trial_id} {row.agent:<9} {status:<20} {score:>9} {delta:>10}  "
                    f"{row.hypothesis[:60]}")
            if status not in ("keep", "discard") and row.feedback:
                line += f"  — {row.feedback[:80]}"
            fg = COLORS.get(status, "red")
            self.echo(click.style(line, fg=fg) if fg else line)  # click.echo drops the colour when not a terminal
        elif isinstance(ev, TrialExecuted):
            new = [n for n in weaker_containment(ev.phases) if n not in self.containment_said]
            if new:
                self.containment_said.update(new)
                self.echo(click.style(f"[{self._elapsed()}] note: {ev.executor} ran {ev.trial_id} with less "
                                      f"containment than root gives: " + "; ".join(new), fg="yellow"))
        elif isinstance(ev, AgentSessionEnded) and ev.outcome in FAILED_SESSIONS:
            key = (ev.agent, ev.outcome, cause_of(ev.detail))
            entry = self.failures.setdefault(key, [0, 0, ev.detail])
            entry[0] += 1
            if entry[1] == 0:  # the first of its kind at once; repeats summed up on the status line
                entry[1] = 1
                self.echo(click.style(f"[{self._elapsed()}] {ev.agent}: session failed ({ev.outcome}): "
                                      f"{ev.detail[:300]}", fg="red"))
        elif isinstance(ev, RunStopRequested):
            self.echo(f"[{self._elapsed()}] stopping: {ev.reason} {ev.detail} (trials in flight: {ev.in_flight})")
        elif isinstance(ev, RunStopped):
            self.echo(f"[{self._elapsed()}] stopped: {ev.reason}")

    def tick(self, state, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_status < STATUS_EVERY_S:
            return
        self.last_status = now
        rows = state.trials.rows
        judged = sum(1 for r in rows.values() if r.phase == "evaluated" and r.trial_id != "t0000")
        running = sum(1 for r in rows.values() if r.phase in (CLAIMED, EXECUTED))
        queued = sum(1 for r in rows.values() if r.phase == RUNNABLE)
        best = state.trials.best
        best_s = "none yet" if best is None else f"{best.score:.4f} ({best.trial_id}, {best.agent})"
        self.echo(f"[{self._elapsed()}] {judged}/{self.total} judged · {running} running · {queued} queued · "
                  f"best {best_s}")
        for (agent, outcome, _), entry in self.failures.items():
            if entry[0] > entry[1]:
                entry[1] = entry[0]
                self.echo(click.style(f"[{self._elapsed()}] {agent}: {entry[0]} sessions failed ({outcome}): "
                                      f"{entry[2][:300]}", fg="red"))
