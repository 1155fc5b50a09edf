"""The driver's no-progress watchdog: when nothing can happen any more, say what is stuck.

A trial waiting to run needs a live executor; a trial that ran needs a live evaluator; a run
with no open trial and no stop yet needs a live specialist. When an open trial has nobody left
who could move it, waiting is forever: the run stops (`RunStopRequested(reason="stuck")`, the
detail naming the trials and the role that is gone) and those trials are cancelled, so the run
closes with `RunStopped` instead of a progress line that reads "1 running" until Ctrl-C.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.decisions import Append
from events import RunState, TrialCancelled
from events.projections.trials import CLAIMED, EXECUTED, RUNNABLE
from events.streams import trial_stream

NEEDS = {RUNNABLE: "executor", CLAIMED: "executor", EXECUTED: "evaluator"}
SHOWN = 5


@dataclass(frozen=True)
class Stuck:
    detail: str
    trials: tuple[str, ...]  # open trials nobody can move


def stuck(state: RunState, live: dict[str, int]) -> Stuck | None:
    """What cannot progress, given how many actors of each role (specialist, executor,
    evaluator) are still alive; None while something still can."""
    if state.run.run_id is None or state.run.stopped:
        return None
    waiting: dict[str, list[str]] = {}
    for row in state.trials.rows.values():
        role = NEEDS.get(row.phase)
        if role is not None and not live.get(role, 0):
            waiting.setdefault(role, []).append(row.trial_id)
    if waiting:
        parts = []
        for role, ids in sorted(waiting.items()):
            shown = ", ".join(ids[:SHOWN]) + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")
            verb = "run" if role == "executor" else "be judged"
            parts.append(f"{len(ids)} trial(s) waiting to {verb} ({shown}) but no {role} is left")
        return Stuck("; ".join(parts), tuple(t for ids in waiting.values() for t in ids))
    open_trials = any(r.phase in NEEDS for r in state.trials.rows.values())
    if not state.run.stop_requested and not open_trials and not live.get("specialist", 0) and state.trials.rows:
        return Stuck("no trial is open and no specialist is left to propose one", ())
    return None


def unstick(supervisor, found: Stuck) -> None:
    """Stop the run naming what is stuck, and cancel the trials nobody can move."""
    supervisor.commit(supervisor.stop("stuck", found.detail))
    batch = [supervisor.event(TrialCancelled(trial_id=t, reason=f"stuck: {found.detail}"[:500]), trial_stream(t),
                              expected=supervisor.version(trial_stream(t))) for t in found.trials]
    if batch:
        supervisor.commit(Append(batch))


def live_roles(actors, abandoned: set[str], roles: dict[str, str]) -> dict[str, int]:
    """Role -> how many of its actors the driver has not given up on."""
    out: dict[str, int] = {role: 0 for role in roles.values()}
    for name in actors:
        for prefix, role in roles.items():
            if name.startswith(prefix) and name not in abandoned:
                out[role] += 1
    return out
