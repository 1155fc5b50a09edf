"""Attempts that ended without a result: which trials are claimed (by one executor, or by any),
and the events that close them. Each such attempt is lost, and runs again unless it has used its
attempts, in which case it is a harness_abort (an infrastructure failure, hidden from agents).

An executor recovers its own claims when it starts again, the driver those of an executor that
will not come back, and `--resume` every claim of the crashed run.
"""

from __future__ import annotations

from events import Check, NewEvent, RunState, TrialEvaluated, TrialLost, TrialRetried
from events.projections.trials import CLAIMED
from events.streams import trial_stream


def claimed(state: RunState, executor: str | None = None) -> list[str]:
    """The trials claimed and not yet executed, under `executor`'s name (None: anyone's)."""
    return [r.trial_id for r in state.trials.rows.values()
            if r.phase == CLAIMED and (executor is None or r.executor == executor)]


def recover(reactor, trial_ids: list[str], reason: str, max_attempts: int, evidence: str = "") -> list[NewEvent]:
    """Events that close these attempts: each lost, then retried or, after its last attempt, a
    harness_abort whose `harness` check carries `evidence` (an exception)."""
    out = []
    for tid in trial_ids:
        row = reactor.state.trials.rows[tid]
        stream = trial_stream(tid)
        out.append(reactor.fact(TrialLost(trial_id=tid, attempt=row.attempt, reason=reason), stream,
                                "lost", tid, row.attempt, expected=reactor.version(stream)))
        if row.attempt < max_attempts:
            nxt = TrialRetried(trial_id=tid, attempt=row.attempt + 1, reason=reason)
            out.append(reactor.fact(nxt, stream, "retried", tid, row.attempt + 1))
        else:
            verdict = TrialEvaluated(trial_id=tid, attempt=row.attempt, evaluator="supervisor", evaluator_version="1",
                                     verdict="harness_abort", feedback=f"{reason}; lost {row.attempt} times",
                                     checks=[Check(name="harness", passed=False, evidence=evidence)] if evidence else [])
            out.append(reactor.fact(verdict, stream, "evaluated", tid, row.attempt))
    return out
