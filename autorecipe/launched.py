"""What launching a run gives back: the run it drove, or why it could not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from events import RunState


class LaunchError(RuntimeError):
    pass


@dataclass
class Launched:
    run_dir: Path
    state: RunState
    actors: dict = field(default_factory=dict)  # name -> handle
    restarts: int = 0
