"""Replay: rebuild every projection of a run from its segments, and say what it came to."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from events.projections.folded import decode_folded
from events.projections.state import RunState
from events.reader import START_OVER, visit
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
    building the fields nothing reads. The records that pass every check are folded in one fused
    loop (events/reader.py `visit`); whatever does not, the careful reader takes over."""
    reader = RunDir(run_dir).reader()
    state = RunState()
    with gc_paused():
        visited, next_offset, careful = visit(reader, state.handlers, until, decode_folded)
        if visited == START_OVER:  # damage before the last segment: the careful path says where
            return RunState().apply_all(reader.iter_records(0, until, decode=decode_folded))
        state.applied, state.next_offset = visited, next_offset if visited else 0
        if careful:  # the rest, a torn tail or damage, or `until`, the careful way
            state.apply_all(reader.iter_records(next_offset, until, decode=decode_folded))
        return state
