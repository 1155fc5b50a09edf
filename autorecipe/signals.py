"""SIGINT and SIGTERM both end `autorecipe run` the same clean way: KeyboardInterrupt in the
driver, whose handlers stop the actors and print how to resume. A job started in the background
(`cmd &`) inherits SIGINT ignored, so both are set here. While Ray starts, both are held
(`held`): ray.init must not be interrupted half-way, nor put its own SIGTERM handler in place."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_installed = False
_holding = False


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install() -> None:
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    _installed = True


@contextmanager
def held():
    """SIGINT and SIGTERM that arrive inside are acted on as it ends, as KeyboardInterrupt: for
    what must not be interrupted half-way. ray.init is such a call: a KeyboardInterrupt raised
    while it builds its core worker leaves that half made, and the process dies of SIGSEGV at
    exit. Only where `install` ran (the CLI); elsewhere the caller's handlers stay as they are."""
    if not _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    global _holding
    caught: list[int] = []
    _holding = True
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        _holding = False
        install()
        if caught:
            raise KeyboardInterrupt(f"signal {signal.Signals(caught[0]).name}")


def holding() -> bool:
    """Whether a `held` block is in force (and the CLI's handlers will be back when it ends)."""
    return _holding
