"""How the command line says what went wrong: one line on stderr, exit status 2 for a refusal
(bad input, a missing run, an unknown environment), 1 for a finding (the command ran and what it
checked or measured failed: a divergence, an invalid environment, no valid baseline run)."""

from __future__ import annotations

import re
import sys

import click

from events import CorruptLog, DamagedWitness, LogLocked, RunDir

# the last line of a Python traceback: "package.module.Class: what happened"
_RAISED = re.compile(r"^(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*: (.+)$")


def unwrapped(exc: BaseException) -> BaseException | str:
    """What an actor raised, out of Ray's wrapping: a RayTaskError carries it as `cause` (its own
    str is the remote traceback); an actor whose __init__ raised dies with an ActorDiedError that
    keeps only the text, so the last line of that traceback is what it said."""
    ray_exceptions = sys.modules.get("ray.exceptions")  # never import Ray to print an error
    if ray_exceptions is None:
        return exc
    for _ in range(10):  # a cause of a cause: a task that called an actor that failed
        if isinstance(exc, ray_exceptions.RayTaskError) and isinstance(exc.cause, BaseException):
            exc = exc.cause
        elif isinstance(exc, ray_exceptions.RayActorError) and exc.actor_init_failed:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            said = _RAISED.match(lines[-1]) if lines else None
            return said.group(1) if said else exc
        else:
            return exc
    return exc


def message(exc: BaseException) -> str:
    """One line for an exception the command line did not expect."""
    exc = unwrapped(exc)
    if isinstance(exc, str):
        return exc
    if isinstance(exc, (CorruptLog, DamagedWitness, LogLocked)):
        return str(exc)
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]  # our KeyErrors carry a sentence; str() would quote it
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fail(text: str) -> None:
    click.echo(f"error: {text}", err=True)
    sys.exit(2)


def found(text: str) -> None:
    """A finding, not a refusal: exit status 1."""
    click.echo(f"error: {text}", err=True)
    sys.exit(1)


def existing_run(path: str) -> RunDir:
    """RUN_DIR as given, or the one-line error that it holds no log."""
    run = RunDir(path)
    if not run.exists():
        fail(f"{path} is not a run directory: there is no {run.log_path}")
    return run


def warn_if_short(run: RunDir, end: int) -> None:
    """On stderr, when the log ends (at `end`) below the offset its COMMITTED mark says was
    acknowledged: events a writer was told were durable are gone (a truncated or lost segment),
    and what is printed covers only the ones before them."""
    from events.store import COMMITTED, read_committed

    try:
        committed = read_committed(run.log_path)
    except DamagedWitness as exc:
        click.echo(f"warning: {exc}", err=True)
        return
    if committed is not None and end < committed:
        click.echo(f"warning: {run.log_path} ends at offset {end} but {COMMITTED} says {committed} events were "
                   f"acknowledged: {committed - end} acknowledged event(s) are missing (offsets {end} to "
                   f"{committed - 1}); the output covers only the events before offset {end}", err=True)
