"""Running an upstream's own data commands, with their output shown as they run."""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    def show(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"(cd {shlex.quote(str(self.cwd))} && {env + ' ' if env else ''}{shlex.join(self.argv)})"


def run_commands(commands: list[Command], log=print) -> None:
    for c in commands:
        log(f"running {c.show()}")
        proc = subprocess.Popen(c.argv, cwd=c.cwd, env={**os.environ, **c.env}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for out in proc.stdout:
            log(out.rstrip())
        if proc.wait() != 0:
            raise OSError(f"{c.show()} failed with exit code {proc.returncode}")


def prepare_upstream(folder: Path, check, log=print) -> dict:
    """An adapter's per-node preparation: `check(log)` finds the upstream data (running the
    upstream's commands when it is missing) and describes it. The data lives where the user
    keeps it, so it is checked every time, not trusted from a marker; a lock keeps two
    executors on one node from downloading at once."""
    import fcntl
    import json

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = check(log)
        (folder / "PREPARED").write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    return record
