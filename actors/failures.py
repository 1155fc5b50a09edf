"""One rule for every actor: an exception inside a unit of work (a trial, an evaluation) ends
that unit with a recorded outcome, never a silent wait. These helpers say what happened in a
form the log can keep, and tell the failures no retry can cure (the run's storage) from the rest.
"""

from __future__ import annotations

import errno
import traceback

from events.store import LogWriteFailed

STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
EVIDENCE_CHARS = 2000


def storage_failure(exc: BaseException | None) -> BaseException | None:
    """The failed write to the run's storage behind `exc` (a full disk, a read-only or failing
    device), through Ray's wrapping; None when `exc` is something else."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, LogWriteFailed) or (isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return None


def describe(exc: BaseException) -> str:
    """`Type: message`, one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def evidence(exc: BaseException) -> str:
    """The exception and where it was raised (the last frames), short enough for an event."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames)
    text = describe(exc) + (f" (at {where})" if where else "")
    return text[:EVIDENCE_CHARS]
