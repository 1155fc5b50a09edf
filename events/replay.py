"""Replay: rebuild every projection of a run from its segments, and say what it came to."""

from __future__ import annotations

from pathlib import Path

from events.projections.state import RunState
from events.rundir import RunDir


def replay(run_dir: str | Path, until: int | None = None) -> RunState:
    """Fold the run's records with offset < `until` (all of them by default)."""
    reader = RunDir(run_dir).reader()
    return RunState().apply_all(reader.iter_records(0, until))
