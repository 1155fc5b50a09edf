"""What launching a run gives back: the run it drove, or why it could not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from events import RunDir, RunState
from events.store import LogLocked, probe_lock


class LaunchError(RuntimeError):
    pass


def refuse_taken(rd: RunDir, resume: bool) -> None:
    """A run's folder that another driver is writing is refused, and so is a new run's folder
    that already holds a run. Cheap, so the CLI asks before it checks or prepares anything."""
    if rd.exists():
        try:
            probe_lock(rd.log_path, wait_s=3.0)
        except LogLocked as exc:  # another driver is running this run right now
            raise LaunchError(f"{exc}; one driver at a time: wait for it to stop, or stop it first") from None
    if not resume and rd.exists() and any(rd.log_path.glob("*.log")):
        raise LaunchError(f"{rd.path} already holds a run; continue it with --resume, or pick a new RUN_DIR")


@dataclass
class Launched:
    run_dir: Path
    state: RunState
    actors: dict = field(default_factory=dict)  # name -> handle
    restarts: int = 0
