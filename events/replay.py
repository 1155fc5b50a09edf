"""Replay: rebuild every projection of a run from its segments, and say what it came to."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from events.projections.folded import decode_folded
from events.projections.state import RunState
from events.rundir import RunDir


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk fold. Folding allocates hundreds of
    thousands of acyclic objects, and the collector's repeated scans of them cost about a third
    of replay's time; reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def replay(run_dir: str | Path, until: int | None = None) -> RunState:
    """Fold the run's records with offset < `until` (all of them by default). The records are
    decoded as the fold's views of them (events/projections/folded.py): the same state, without
    building the fields nothing reads."""
    reader = RunDir(run_dir).reader()
    with gc_paused():
        return RunState().apply_all(reader.iter_records(0, until, decode=decode_folded))
