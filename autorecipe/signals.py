"""SIGINT and SIGTERM both end `autorecipe run` the same clean way: KeyboardInterrupt in the
driver, whose handlers stop the actors and print how to resume. A job started in the background
(`cmd &`) inherits SIGINT ignored, and ray.init puts its own SIGTERM handler (sys.exit) in place,
so both are set here, and again once Ray is up."""

from __future__ import annotations

import signal
import threading

_installed = False


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install() -> None:
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    _installed = True


def reinstall() -> None:
    """After ray.init: only where `install` ran (the CLI), never inside a library caller."""
    if _installed:
        install()
