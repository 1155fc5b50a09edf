"""Where executors stage trial work dirs: on local disk, never inside the run directory (a trial
must not reach the log or blobs), one folder per run id and executor.

    $AUTORECIPE_SCRATCH/<run id>/<executor>/<trial>-a<attempt>
    default root: $TMPDIR/autorecipe-work (the system temp folder when TMPDIR is unset)

Keyed by run id, never by the run directory's name: two runs in `a/run1` and `b/run1` share a
basename, and each would delete the other's work dirs. A work dir goes when its attempt ends
(unless `--keep-work`); an executor that starts clears what an earlier incarnation of itself
left (a killed attempt); the driver removes the run's folder when the run ends.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from actors.sandbox.kernel import MNT_DETACH


def scratch_root() -> Path:
    override = os.environ.get("AUTORECIPE_SCRATCH")
    return Path(override) if override else Path(tempfile.gettempdir()) / "autorecipe-work"


def run_scratch(run_id: str) -> Path:
    if not run_id or "/" in run_id or run_id in (".", ".."):
        raise ValueError(f"run id {run_id!r} cannot name a scratch folder")
    return scratch_root() / run_id


def scratch_dir(run_id: str, executor: str) -> Path:
    return run_scratch(run_id) / executor.replace("/", "-")


# <trial id>-a<attempt>, and its judge's and carried files' folders beside it, as actors/trial_runner.py names them,
# and its own filesystem's mount point and image (actors/trial_fs.py)
WORK_DIR = re.compile(r".+-a\d+(\.judge|\.carried|\.fs)?")
IMAGE = re.compile(r".+-a\d+\.disk")


def remove_tree(path: Path) -> None:
    """Remove `path` and what is in it, however deep a trial nested its folders, never following
    a link nor descending into a mount: what is mounted at or below it (an attempt's own
    filesystem, actors/trial_fs.py) is detached first. A path that is not there is fine. Folders
    in it that their owner may not write or read (a staged tree made read-only where trials run
    as this user, or one a trial made so) are given the owner's permissions back. Python 3.11's
    rmtree recurses a frame a level and raises RecursionError (ignore_errors or not) past about
    a thousand: then GNU chmod and rm, which do not."""
    detach_mounts(path)
    try:
        _rmtree(path, _unlocking(os.fspath(path)))
    except RecursionError:
        for argv in (["chmod", "-R", "u+rwx"], ["rm", "-rf", "--one-file-system"]):
            subprocess.run([*argv, "--", str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)


def _unlocking(top: str):
    """rmtree's error handler for the tree at `top`: where a removal is refused, the folder it is
    in (never the one `top` is in) and the path itself get their owner's permissions, and it is
    tried again; any other failure is left, as ignore_errors would."""
    def retry(func, path: str, error) -> None:
        if not isinstance(error[1] if isinstance(error, tuple) else error, PermissionError):
            return
        try:
            if path != top:
                os.chmod(os.path.dirname(path), 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
                _rmtree(path, retry)
            else:
                func(path)
        except OSError:
            pass
    return retry


def _rmtree(path, handler) -> None:
    """rmtree with an error handler: `onexc` from Python 3.12 (which deprecates `onerror`)."""
    shutil.rmtree(path, **{"onexc" if sys.version_info >= (3, 12) else "onerror": handler})


def detach_mounts(path: Path) -> None:
    """Detach (lazily) every mount at or below `path` in this mount namespace, deepest first."""
    libc = ctypes.CDLL(None, use_errno=True)
    for point in mounts_at_or_under(path):
        while os.path.ismount(point) and libc.umount2(os.fsencode(point), MNT_DETACH) == 0:
            pass


def mounts_at_or_under(path: Path) -> list[str]:
    """The mount points at or below `path`, deepest first ([] where /proc says nothing)."""
    root = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            points = {os.fsdecode(_unescape(line.split()[4])) for line in f if len(line.split()) > 4}
    except OSError:
        return []
    return sorted((p for p in points if p == root or p.startswith(root.rstrip("/") + "/")), key=len, reverse=True)


def _unescape(field: bytes) -> bytes:
    """mountinfo writes space, tab, newline and backslash in a path as three octal digits."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)


def clear_work_dirs(folder: Path) -> None:
    """Remove the trial work dirs in an executor's scratch folder, and nothing else there."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return
    for entry in entries:
        if WORK_DIR.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            remove_tree(entry)  # its mounts first: an attempt's own filesystem, bound over out/ and tmp/
        elif IMAGE.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)  # the loop device that held it is released with the mount


def clear(folder: Path) -> None:
    """Remove `folder` and what is in it; a folder that is not there is fine."""
    remove_tree(folder)
