"""A filesystem of its own for a trial attempt's writable folders, out/ and tmp/, a little larger
than its disk cap. A walk of the folders cannot see everything they hold: a file unlinked while
a descriptor to it waits in a socket's queue (sent with SCM_RIGHTS) is on no name and in no
/proc/PID/fd, yet it takes the disk. On a filesystem of its own, the kernel bounds all of it,
and statvfs counts all of it (actors/sandbox/disk.py).

An ext4 image beside the work dir (<work>.disk, sparse), loop-mounted at <work>.fs in this, the
executor's, mount namespace, and bound over out/ and tmp/; a phase's private namespace inherits
the mounts with the work dir. About 0.1 s an attempt. Where it cannot be made (not root, no loop
devices or no mkfs.ext4, as in many containers), the cap is the walk's alone, and a warning says
so (once per process, as root).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from actors.sandbox.disk import filesystem_use

MS_BIND, MNT_DETACH = 0x1000, 2
MOUNT_TIMEOUT_S = 60
# past the cap: ext4's own metadata and its reserve for delayed allocation (16 MiB at most), and
# room to see a phase over its cap (a verdict that says so) before its writes fail
SLACK_BYTES = 64 * 1024**2
# the walk counts an entry as 4 KiB, so a cap's worth of entries is past the cap before the
# inodes run out; a cap of hundreds of GiB would need tens of millions: bounded
MAX_INODES = 4 * 1024**2

_broken: str | None = None  # why the last attempt to make one failed: not tried again
_warned = False


@dataclass(frozen=True)
class OwnFilesystem:
    mount: str  # where it is mounted
    base: int  # bytes in use when it was new (its root, lost+found, out/ and tmp/)


def available() -> bool:
    return missing() is None


def missing() -> str | None:
    """Why no filesystem of its own can be made here, or None."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "not root on Linux"
    if _broken is not None:
        return _broken
    if not os.path.exists("/dev/loop-control"):
        return "no loop devices (/dev/loop-control)"
    for tool in ("mkfs.ext4", "mount"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH"
    return None


def _warn_once(warn, why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warn(f"warning: no filesystem of its own for a trial's out/ and tmp/ ({why}); the disk cap is kept "
             "by walking them, which cannot see a file held only in a socket")


def image_bytes(cap: int) -> int:
    return cap + cap // 32 + SLACK_BYTES


@contextmanager
def own_filesystem(work: Path, cap: int | None, uid: int, keep: bool = False,
                   warn=lambda msg: print(msg, file=sys.stderr)) -> Iterator[OwnFilesystem | None]:
    """out/ and tmp/ of `work` on a filesystem of their own for the `with` block, owned by `uid`;
    None where there is no cap or none can be made here. `keep`: copy what they hold back into
    the work dir's own out/ and tmp/ at the end (--keep-work)."""
    global _broken
    why = missing()
    if cap is None or why is not None:
        if cap is not None and os.geteuid() == 0:  # as root the rest of the sandbox holds: say what is missing
            _warn_once(warn, why)
        yield None
        return
    release(work)
    try:
        made = _make(work, cap, uid)
    except (OSError, subprocess.SubprocessError) as e:
        _broken = str(e)
        _unmake(work)
        _warn_once(warn, _broken)
        yield None
        return
    try:
        yield made
    finally:
        if keep:
            _keep(work)
        _unmake(work)


def release(work: Path) -> None:
    """Unmount and remove what an attempt in `work` left (an executor killed mid-trial)."""
    if any(os.path.ismount(p) for p in _mount_points(work)) or os.path.exists(_image(work)):
        _unmake(work)


def _image(work: Path) -> Path:
    return work.parent / f"{work.name}.disk"


def _mount_points(work: Path) -> tuple[Path, ...]:
    return work / "out", work / "tmp", work.parent / f"{work.name}.fs"


def _make(work: Path, cap: int, uid: int) -> OwnFilesystem:
    image, fs = _image(work), work.parent / f"{work.name}.fs"
    with open(image, "wb") as f:  # sparse: the disk holds what is written, not the cap
        os.fchmod(f.fileno(), 0o600)
        f.truncate(image_bytes(cap))
    inodes = min(cap // 4096 + 1024, MAX_INODES)
    _tool(["mkfs.ext4", "-q", "-F", "-m", "0", "-N", str(inodes), "-O", "^has_journal",
           "-E", "lazy_itable_init=1,nodiscard", str(image)])
    fs.mkdir(mode=0o700, exist_ok=True)
    # noinit_itable: no kernel thread zeroing inode tables into the sparse image behind us
    _tool(["mount", "-o", "loop,nosuid,nodev,noinit_itable", str(image), str(fs)])
    for sub in ("out", "tmp"):
        inside = fs / sub
        inside.mkdir(mode=0o755)
        os.chown(inside, uid, uid)
        _bind(inside, work / sub)
    return OwnFilesystem(mount=str(fs), base=filesystem_use(str(fs)))


def _tool(argv: list[str]) -> None:
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=MOUNT_TIMEOUT_S)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        raise OSError(f"{argv[0]} exited {done.returncode}: {said[-1] if said else 'no message'}")


def _bind(source: Path, target: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(str(source).encode(), str(target).encode(), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bind {source} on {target}: {os.strerror(err)}")


def _keep(work: Path) -> None:
    """What out/ and tmp/ hold, copied under their mounts, into the work dir's own folders."""
    fs = work.parent / f"{work.name}.fs"
    for sub in ("out", "tmp"):
        _detach(work / sub)
        if (fs / sub).is_dir():
            shutil.copytree(fs / sub, work / sub, symlinks=True, dirs_exist_ok=True)


def _unmake(work: Path) -> None:
    """Detach the bindings and the filesystem (lazily: the loop device goes when nothing holds
    it) and remove the image."""
    for point in _mount_points(work):
        while os.path.ismount(point):
            if not _detach(point):
                break
    fs = work.parent / f"{work.name}.fs"
    if fs.is_dir() and not os.path.ismount(fs):
        shutil.rmtree(fs, ignore_errors=True)
    _image(work).unlink(missing_ok=True)


def _detach(point: Path) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.umount2(str(point).encode(), MNT_DETACH) == 0
