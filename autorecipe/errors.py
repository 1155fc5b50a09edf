"""One line that says what went wrong, for an exception the command line did not expect."""

from __future__ import annotations

from events import CorruptLog, LogLocked


def message(exc: BaseException) -> str:
    if isinstance(exc, (CorruptLog, LogLocked)):
        return str(exc)
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]  # our KeyErrors carry a sentence; str() would quote it
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
