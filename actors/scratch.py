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

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from actors import trial_fs


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
    a link; a path that is not there is fine. Python 3.11's rmtree recurses a frame a level and
    raises RecursionError (ignore_errors or not) past about a thousand: then GNU rm, which does not."""
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _work_of(entry: Path) -> Path:
    return entry.parent / re.sub(r"\.(judge|carried|fs|disk)$", "", entry.name)


def clear_work_dirs(folder: Path) -> None:
    """Remove the trial work dirs in an executor's scratch folder, and nothing else there."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return
    for entry in entries:
        if WORK_DIR.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            trial_fs.release(_work_of(entry))
            remove_tree(entry)
        elif IMAGE.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            trial_fs.release(_work_of(entry))


def clear(folder: Path) -> None:
    """Remove `folder` and what is in it; a folder that is not there is fine."""
    remove_tree(folder)
