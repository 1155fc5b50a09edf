"""What the writable folders of a phase hold on disk, for the disk cap."""

from __future__ import annotations

import os

from actors.sandbox.limits import Limits


def disk_use(folders: tuple[str, ...], stop_past: int | None = None) -> int:
    """Bytes the files under `folders` take on disk (allocated blocks, so a sparse file counts for
    what it really holds), plus a block for every entry, so a million empty files count too.
    Stops counting once past `stop_past`: the watchdog waits on this walk."""
    total = 0
    stack = list(folders)
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += st.st_blocks * 512 + 4096
                if stop_past is not None and total > stop_past:
                    return total
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return total


def over_disk(limits: Limits) -> int | None:
    """The bytes counted under `limits.disk_paths` when they are past `limits.disk_bytes`, else None."""
    used = disk_use(limits.disk_paths, limits.disk_bytes)
    return used if used > limits.disk_bytes else None
