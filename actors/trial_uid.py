"""A uid of its own for each trial running on a machine.

RLIMIT_NPROC counts every task of a uid, machine-wide. When every trial ran as `nobody`, a fork
bomb in one trial used up the process (and thread) limit of every other trial on the machine
for the length of its phase. Each trial now takes a free uid from a range no account uses and
holds it, by an flock, until the trial ends; the lock dies with the process holding it, so a
SIGKILLed executor frees its uid.

The default range is systemd's for dynamic users, 61184-65519: below 65536, so it maps in the
usual container user namespaces. A uid that the machine's account database knows (a systemd
DynamicUser service, say) is skipped. AUTORECIPE_TRIAL_UIDS=FIRST-LAST picks another range.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_RANGE = (61184, 65519)
LOCKS = Path("/run/autorecipe/trial-uids")
FALLBACK_LOCKS = Path(tempfile.gettempdir()) / "autorecipe-trial-uids"  # where /run is read-only


class NoFreeUid(RuntimeError):
    pass


def uid_range(value: str | None = None) -> range:
    """The uids trials may take: AUTORECIPE_TRIAL_UIDS (FIRST-LAST) or systemd's dynamic range."""
    value = value if value is not None else os.environ.get("AUTORECIPE_TRIAL_UIDS")
    if not value:
        return range(DEFAULT_RANGE[0], DEFAULT_RANGE[1] + 1)
    first, sep, last = value.partition("-")
    try:
        lo, hi = int(first), int(last)
    except ValueError:
        lo = hi = -1
    if not sep or not 0 < lo <= hi < 2**31:
        raise ValueError(f"AUTORECIPE_TRIAL_UIDS={value!r}: write FIRST-LAST, two uids above 0 with FIRST <= LAST")
    return range(lo, hi + 1)


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def _lock_folder() -> Path:
    """The machine-wide folder of uid locks: every executor on the machine must use the same one."""
    try:
        LOCKS.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.access(LOCKS, os.W_OK):
            return LOCKS
    except OSError:
        pass
    FALLBACK_LOCKS.mkdir(parents=True, exist_ok=True, mode=0o700)
    return FALLBACK_LOCKS


@contextmanager
def trial_uid(uids: range | None = None, locks: Path | None = None) -> Iterator[int]:
    """Hold a uid no other trial on this machine holds, for the length of the `with` block."""
    uids = uids if uids is not None else uid_range()
    locks = locks or _lock_folder()
    for uid in uids:
        fd = os.open(locks / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if _has_account(uid):
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)
        return
    raise NoFreeUid(f"every trial uid in {uids.start}-{uids.stop - 1} is held by a running trial "
                    f"(locks in {locks}); widen AUTORECIPE_TRIAL_UIDS")
