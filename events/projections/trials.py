"""The trials table: one row per trial, its lifecycle, verdict, timings, and the keep decision.

Keep/discard and the best so far are decided here, in log order, under the keep rule that
`RunStarted` recorded: a valid trial is kept iff it beats the best at the moment its verdict
was recorded by more than the noise margin. Nothing here reads wall time to decide anything.
"""

from __future__ import annotations

import msgspec

from events.envelope import Record
from events.ranking import better, has_score
from events.schema import (
    BlobRef,
    KeepRule,
    TrialCancelled,
    TrialClaimed,
    TrialEvaluated,
    TrialExecuted,
    TrialLost,
    TrialProposed,
    TrialRetried,
)

# Lifecycle phases of a trial (not its outcome; that is `status`).
RUNNABLE, CLAIMED, EXECUTED, EVALUATED, LOST, CANCELLED = (
    "runnable", "claimed", "executed", "evaluated", "lost", "cancelled")
# The phases an event may find its trial in (made once: the fold checks them for every event).
_JUDGED = frozenset((RUNNABLE, CLAIMED, EXECUTED))
_JUDGED_AFTER_ABORT = _JUDGED | {LOST}
_LOSABLE = frozenset((CLAIMED, EXECUTED))


class TrialRow(msgspec.Struct, gc=False):  # positional too: the fold builds one per proposal
    trial_id: str
    agent: str
    surface: str
    parent_id: str | None
    depth: int
    hypothesis: str
    expected_delta: float | None
    notes: str
    code: dict[str, BlobRef]
    diff: BlobRef | None
    session_id: str | None
    technique: str
    surface_violations: list[str]
    proposed_offset: int
    proposed_wall_ns: int
    phase: str = RUNNABLE
    attempt: int = 1
    executor: str | None = None
    verdict: str | None = None
    status: str | None = None  # keep | discard | a failure label
    score: float | None = None
    metrics: dict[str, float] = {}
    failed_checks: list[str] = []
    feedback: str = ""
    train_s: float | None = None
    eval_s: float | None = None
    total_s: float | None = None
    cpu_s: float = 0.0
    gpu_s: float = 0.0
    executed_offset: int | None = None  # where this attempt's outputs (its logs) are, for /trials/{id}
    evaluated_offset: int | None = None
    evaluated_wall_ns: int | None = None
    baseline_id: str | None = None  # the best when this verdict was recorded
    delta_vs_best: float | None = None
    realized_delta: float | None = None  # score minus the parent's score
    peak_rss_bytes: int | None = None  # the largest of this attempt's phases, as the executor measured it


class BestPoint(msgspec.Struct, array_like=True, gc=False):
    evaluated: int  # how many trials had a verdict when this one became best
    offset: int
    trial_id: str
    score: float


def is_better(score: float | None, best: float | None, rule: KeepRule) -> bool:
    if not has_score(score):
        return False
    if best is None:
        return True
    return better(score, best, rule.direction, rule.noise_margin)


class Trials:
    def __init__(self) -> None:
        self.rows: dict[str, TrialRow] = {}
        self.keep_rule = KeepRule(metric="score", direction="minimize")
        self.best_id: str | None = None
        self.best_history: list[BestPoint] = []
        self.evaluated = 0
        self.ignored = 0  # events about unknown trials or stale attempts

    @property
    def best(self) -> TrialRow | None:
        return self.rows[self.best_id] if self.best_id else None

    def proposed(self, rec: Record, ev: TrialProposed) -> TrialRow | None:
        trial_id, rows = ev.trial_id, self.rows
        if trial_id in rows:
            self.ignored += 1
            return None
        parent = rows.get(ev.parent_id) if ev.parent_id else None
        row = rows[trial_id] = TrialRow(  # positional, in TrialRow's field order: a third cheaper
            trial_id, ev.agent, ev.surface, ev.parent_id, parent.depth + 1 if parent else 0, ev.hypothesis,
            ev.expected_delta, ev.notes, ev.code, ev.diff, ev.session_id, ev.technique, ev.surface_violations,
            rec.offset, rec.wall_time_ns,
        )
        return row

    def _current(self, trial_id: str, attempt: int, phases: frozenset[str]) -> TrialRow | None:
        row = self.rows.get(trial_id)
        if row is None or row.attempt != attempt or row.phase not in phases:
            self.ignored += 1
            return None
        return row

    def claimed(self, rec: Record, ev: TrialClaimed) -> TrialRow | None:
        row = self.rows.get(ev.trial_id)  # _current, inlined: claims are frequent
        if row is None or row.attempt != ev.attempt or row.phase != RUNNABLE:
            self.ignored += 1
            return None
        row.phase, row.executor = CLAIMED, ev.executor
        return row

    def executed(self, rec: Record, ev: TrialExecuted) -> tuple[TrialRow, float] | None:
        """The row, and the attempt's CPU seconds (for the ledger)."""
        row = self.rows.get(ev.trial_id)  # _current, inlined
        if row is None or row.attempt != ev.attempt or row.phase != CLAIMED:
            self.ignored += 1
            return None
        train = evals = total = cpu = 0.0
        peak = None
        for p in ev.phases:  # repeated phases are named "train:0", "train:1", ...
            wall, name = p.wall_s, p.name
            total += wall
            cpu += p.cpu_s
            kind = name.partition(":")[0] if ":" in name else name
            if kind == "train":
                train += wall
            elif kind == "eval":
                evals += wall
            rss = p.peak_rss_bytes
            if rss is not None and (peak is None or rss > peak):
                peak = rss
        row.peak_rss_bytes = peak
        row.phase, row.executed_offset = EXECUTED, rec.offset
        row.train_s, row.eval_s, row.total_s = train or None, evals or None, total
        row.cpu_s += cpu
        row.gpu_s += ev.gpu_s
        return row, cpu

    def evaluated_(self, rec: Record, ev: TrialEvaluated) -> TrialRow | None:
        # A verdict may come straight after the proposal (invalid_edit, out_of_surface), or after
        # an attempt was lost for the last time (harness_abort).
        verdict, score, rows = ev.verdict, ev.score, self.rows
        row = self._current(ev.trial_id, ev.attempt, _JUDGED_AFTER_ABORT if verdict == "harness_abort" else _JUDGED)
        if row is None:
            return None
        row.phase = EVALUATED
        row.verdict, row.score, row.metrics, row.feedback = verdict, score, ev.metrics, ev.feedback
        failed = []  # a loop, not a comprehension: cheaper for the usual one or two checks
        for c in ev.checks:
            if not c.passed:
                failed.append(c.name)
        row.failed_checks = failed
        row.evaluated_offset, row.evaluated_wall_ns = rec.offset, rec.wall_time_ns
        self.evaluated += 1
        if verdict != "valid":
            row.status = verdict
            return row
        best_id = row.baseline_id = self.best_id
        best = rows[best_id] if best_id else None
        if best is not None and score is not None:
            row.delta_vs_best = score - best.score
        parent = rows.get(row.parent_id) if row.parent_id else None
        if parent is not None and parent.verdict == "valid" and parent.score is not None and score is not None:
            row.realized_delta = score - parent.score
        if is_better(ev.score, best.score if best else None, self.keep_rule):
            row.status = "keep"
            self.best_id = row.trial_id
            self.best_history.append(BestPoint(self.evaluated, rec.offset, row.trial_id, ev.score))
        else:
            row.status = "discard"
        return row

    def lost(self, rec: Record, ev: TrialLost) -> TrialRow | None:
        row = self._current(ev.trial_id, ev.attempt, _LOSABLE)
        if row:
            row.phase = LOST
        return row

    def retried(self, rec: Record, ev: TrialRetried) -> TrialRow | None:
        row = self.rows.get(ev.trial_id)
        retryable = row is not None and (row.phase == LOST or row.verdict == "harness_abort")
        if not retryable or ev.attempt != row.attempt + 1:
            self.ignored += 1
            return None
        if row.phase == EVALUATED:
            self.evaluated -= 1  # a harness abort is not a verdict on the recipe
        row.phase, row.attempt, row.executor = RUNNABLE, ev.attempt, None
        row.verdict = row.status = row.score = None
        row.metrics, row.failed_checks, row.feedback = {}, [], ""
        row.executed_offset = row.evaluated_offset = row.evaluated_wall_ns = row.peak_rss_bytes = None
        return row

    def cancelled(self, rec: Record, ev: TrialCancelled) -> TrialRow | None:
        row = self.rows.get(ev.trial_id)
        if row is None or row.phase == EVALUATED or row.phase == CANCELLED:
            self.ignored += 1
            return None
        row.phase = CANCELLED
        return row
