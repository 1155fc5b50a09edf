"""A filesystem of its own for a trial attempt's writable folders, out/ and tmp/, a little larger
than its disk cap. A walk of the folders cannot see everything they hold: a file unlinked while
a descriptor to it waits in a socket's queue (sent with SCM_RIGHTS) is on no name and in no
/proc/PID/fd, yet it takes the disk. On a filesystem of its own, the kernel bounds all of it,
and statvfs counts all of it (actors/sandbox/disk.py).

An ext4 image beside the work dir (<work>.disk, sparse), loop-mounted at <work>.fs in this, the
executor's, mount namespace; out/ and tmp/ are folders on it, bound over the work dir's, and a
phase's private namespace inherits the mounts with the work dir. Each phase that starts afresh
gets new folders (`fresh`), never emptied ones: what is set on a folder itself (extended
attributes, ACLs, times) would otherwise cross to the next phase. About 0.1 s an attempt.

Where none can be made (not root, no loop devices or no mkfs.ext4, as in many containers, or
the first try in this process failed), the cap is the walk's alone, and a warning says so once
per process. Once one was made here, a failure to make another is the attempt's (an OSError:
it is lost and runs again), never a silent fall back to the weaker cap.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import socket
import stat
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from actors.sandbox.kernel import MS_BIND
from actors.scratch import detach_mounts, remove_tree

MOUNT_TIMEOUT_S = 60
# past the cap: ext4's own metadata and its reserve for delayed allocation (16 MiB at most), and
# room to see a phase over its cap (a verdict that says so) before its writes fail
SLACK_BYTES = 64 * 1024**2
# the walk counts an entry as 4 KiB, so a cap's worth of entries is past the cap before the
# inodes run out; a cap of hundreds of GiB would need tens of millions: bounded
MAX_INODES = 4 * 1024**2
FOLDERS = ("out", "tmp")

_broken: str | None = None  # why the first one could not be made here: not tried again
_made_one = False
_warned = False
_warned_room = False
_serial = itertools.count()


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


def image_bytes(cap: int) -> int:
    return cap + cap // 32 + SLACK_BYTES


@contextmanager
def own_filesystem(work: Path, cap: int | None, uid: int, keep: bool = False,
                   warn=lambda msg: print(msg, file=sys.stderr)) -> Iterator[OwnFilesystem | None]:
    """out/ and tmp/ of `work` on a filesystem of their own for the `with` block, owned by `uid`;
    None where there is no cap or none can be made here. `keep`: copy what they hold into the
    work dir's own out/ and tmp/ at the end (--keep-work)."""
    global _broken, _made_one
    why = missing()
    if cap is None or why is not None:
        if cap is not None and os.geteuid() == 0:  # as root the rest of the sandbox holds: say what is missing
            _warn_once(warn, why)
        yield None
        return
    release(work)
    _check_room(work, cap, warn)
    try:
        made = _make(work, cap, uid)
    except (OSError, subprocess.SubprocessError) as e:
        release(work)
        if _made_one:
            raise OSError(f"could not give {work.name} a filesystem of its own: {e}") from e
        _broken = str(e)
        _warn_once(warn, _broken)
        yield None
        return
    _made_one = True
    try:
        yield made
    finally:
        try:
            if keep:
                _keep(work, warn)
        finally:
            release(work)


def fresh(work: Path, sub: str, uid: int) -> None:
    """A new, empty folder on the attempt's filesystem for out/ or tmp/ (`sub`), owned by `uid`,
    bound over the work dir's; the one before goes whole."""
    fs = _fs(work)
    detach_mounts(work / sub)
    for old in _folders(fs, sub):
        remove_tree(old)
    new = fs / f"{sub}.{next(_serial)}"
    new.mkdir(mode=0o755)
    os.chown(new, uid, uid)
    _bind(new, work / sub)


def release(work: Path) -> None:
    """Unmount and remove what an attempt in `work` has or left (an executor killed mid-trial):
    the bindings, the filesystem (lazily: its loop device goes when nothing holds it) and the
    image."""
    for sub in FOLDERS:
        detach_mounts(work / sub)
    remove_tree(_fs(work))
    _image(work).unlink(missing_ok=True)
    # A file in flight in a cycle of unix sockets (each sent into the other) is freed only by the
    # kernel's collector of such cycles, which runs when a unix socket is closed: close one, so
    # the filesystem and its loop device go now and not at some later close on the machine.
    for s in socket.socketpair():
        s.close()


def _fs(work: Path) -> Path:
    return work.parent / f"{work.name}.fs"


def _image(work: Path) -> Path:
    return work.parent / f"{work.name}.disk"


def _folders(fs: Path, sub: str) -> list[Path]:
    try:
        return [p for p in fs.iterdir() if p.name.split(".")[0] == sub]
    except OSError:
        return []


def _warn_once(warn, why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warn(f"warning: no filesystem of its own for a trial's out/ and tmp/ ({why}); the disk cap is kept "
             "by walking them, which cannot see a file held only in a socket")


def _check_room(work: Path, cap: int, warn) -> None:
    """The image is sparse: nothing reserves its size. Say once where the scratch disk has less
    room than one trial may fill, since that trial fills the disk (and a log beside it) first."""
    global _warned_room
    if _warned_room:
        return
    free = shutil.disk_usage(work.parent).free
    if free < image_bytes(cap):
        _warned_room = True
        warn(f"warning: the scratch disk at {work.parent} has {free / 2**30:.1f} GiB free, less than the "
             f"{image_bytes(cap) / 2**30:.1f} GiB a trial's out/ and tmp/ may fill (its disk cap): set "
             "AUTORECIPE_SCRATCH to a larger disk, or lower Resources.disk_bytes")


def _make(work: Path, cap: int, uid: int) -> OwnFilesystem:
    image, fs = _image(work), _fs(work)
    with open(image, "wb") as f:  # sparse: the disk holds what is written, not the cap
        os.fchmod(f.fileno(), 0o600)
        f.truncate(image_bytes(cap))
    inodes = min(cap // 4096 + 1024, MAX_INODES)
    _tool(["mkfs.ext4", "-q", "-F", "-m", "0", "-N", str(inodes), "-O", "^has_journal",
           "-E", "lazy_itable_init=1,nodiscard", str(image)])
    fs.mkdir(mode=0o700, exist_ok=True)
    # noinit_itable: no kernel thread zeroing inode tables into the sparse image behind us
    _tool(["mount", "-o", "loop,nosuid,nodev,noinit_itable", str(image), str(fs)])
    for sub in FOLDERS:
        fresh(work, sub, uid)
    return OwnFilesystem(mount=str(fs), base=shutil.disk_usage(fs).used)


def _tool(argv: list[str]) -> None:
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=MOUNT_TIMEOUT_S)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        raise OSError(f"{argv[0]} exited {done.returncode}: {said[-1] if said else 'no message'}")


def _bind(source: Path, target: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(os.fsencode(source), os.fsencode(target), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bind {source} on {target}: {os.strerror(err)}")


def _keep(work: Path, warn) -> None:
    """What out/ and tmp/ hold, copied into the work dir's own folders under their mounts: files,
    folders and links (a FIFO or a socket is no output, and is left out)."""
    for sub in FOLDERS:
        detach_mounts(work / sub)
        for folder in _folders(_fs(work), sub):
            try:
                shutil.copytree(folder, work / sub, symlinks=True, dirs_exist_ok=True, ignore=_not_files)
            except (OSError, shutil.Error) as e:
                warn(f"warning: --keep-work kept only part of {work.name}/{sub}: {str(e)[:300]}")


def _not_files(folder: str, names: list[str]) -> list[str]:
    skip = []
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            skip.append(name)
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skip.append(name)
    return skip
