"""How the command line says what went wrong: one line on stderr, exit status 2."""

from __future__ import annotations

import sys

import click

from events import CorruptLog, LogLocked, RunDir


def message(exc: BaseException) -> str:
    """One line for an exception the command line did not expect."""
    if isinstance(exc, (CorruptLog, LogLocked)):
        return str(exc)
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]  # our KeyErrors carry a sentence; str() would quote it
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fail(text: str) -> None:
    click.echo(f"error: {text}", err=True)
    sys.exit(2)


def existing_run(path: str) -> RunDir:
    """RUN_DIR as given, or the one-line error that it holds no log."""
    run = RunDir(path)
    if not run.exists():
        fail(f"{path} is not a run directory: there is no {run.log_path}")
    return run
