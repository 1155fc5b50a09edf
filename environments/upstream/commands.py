"""Running an upstream's own data commands, with their output shown as they run."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path


def show(commands: list[tuple[tuple[str, ...], Path]]) -> list[str]:
    return [f"(cd {shlex.quote(str(cwd))} && {shlex.join(argv)})" for argv, cwd in commands]


def run_commands(commands: list[tuple[tuple[str, ...], Path]], log=print) -> None:
    for (argv, cwd), line in zip(commands, show(commands)):
        log(f"running {line}")
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for out in proc.stdout:
            log(out.rstrip())
        if proc.wait() != 0:
            raise OSError(f"{line} failed with exit code {proc.returncode}")
