"""What the writable folders of a phase hold on disk, for the disk cap."""

from __future__ import annotations

import os
import shutil
import stat

from actors.sandbox.limits import Limits

# a descriptor a level: past this depth (no training recipe nests so deep) the walk stops, and
# the trial counts as past its cap
MAX_DEPTH = 512


def disk_use(folders: tuple[str, ...], stop_past: int | None = None) -> int:
    """Bytes the files under `folders` take on disk, or yield when read, whichever is more: a
    sparse file holds few blocks, but an output is read and stored whole. Plus a block for every
    entry, so a million empty files count too. Stops counting once past `stop_past`: the
    watchdog waits on this walk. Walked by descriptors, a level at a time: a path through
    folders nested past PATH_MAX cannot be named, but it can hold files; a tree deeper than
    MAX_DEPTH is past `stop_past` (with no `stop_past`, what lies below is not counted)."""
    total = 0
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        used, subdirs = _scan(fd, None if stop_past is None else stop_past - total)
        total += used
        stack = [(fd, iter(subdirs))]
        while stack:
            if stop_past is not None and total > stop_past:
                break
            parent, pending = stack[-1]
            name = next(pending, None)
            if name is None:
                os.close(parent)
                stack.pop()
                continue
            if len(stack) >= MAX_DEPTH:
                if stop_past is not None:
                    total = max(total, stop_past + 1)
                continue
            try:
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
            except OSError:
                continue
            used, subdirs = _scan(child, None if stop_past is None else stop_past - total)
            total += used
            stack.append((child, iter(subdirs)))
        for parent, _ in stack:
            os.close(parent)
        if stop_past is not None and total > stop_past:
            return total
    return total


def _scan(fd: int, room: int | None) -> tuple[int, list[str]]:
    """What the entries of one folder count (stopping once past `room`), and its folders' names."""
    total, subdirs = 0, []
    try:
        entries = os.scandir(fd)
    except OSError:
        return 0, []
    with entries:
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            held = st.st_blocks * 512
            total += (max(held, st.st_size) if stat.S_ISREG(st.st_mode) else held) + 4096
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(entry.name)
            if room is not None and total > room:
                break
    return total, subdirs


def held_unlinked(pids, folders: tuple[str, ...]) -> int:
    """Bytes in files on the folders' filesystems that `pids` hold open after deleting them: they
    take the disk until closed, yet no walk of the folders finds a name for them."""
    devices = set()
    for folder in folders:
        try:
            devices.add(os.stat(folder).st_dev)
        except OSError:
            pass
    seen, total = set(), 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone already
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")  # the open file itself, named or not
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 0 and st.st_dev in devices and key not in seen:
                seen.add(key)
                total += st.st_blocks * 512
    return total


def uid_pids(uid: int) -> list[int]:
    """The processes of `uid`: a trial's, where no cgroup names them (each trial has its own uid)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    out.append(int(name))
            except OSError:
                pass
    return out


def over_disk(limits: Limits, pids=()) -> int | None:
    """The bytes counted under `limits.disk_paths`, when they are past `limits.disk_bytes`, else
    None. Added where the walk is under the cap: on a filesystem of their own, what it holds
    (all of it); else what deleted files there that `pids` (the phase's processes) hold open take."""
    used = disk_use(limits.disk_paths, limits.disk_bytes)
    if used <= limits.disk_bytes and limits.disk_fs is not None:
        used = max(used, shutil.disk_usage(limits.disk_fs).used - limits.disk_fs_base)
    elif used <= limits.disk_bytes and pids:
        used += held_unlinked(pids, limits.disk_paths)
    return used if used > limits.disk_bytes else None
