"""A control group per trial phase: the kernel counts the CPU time of every process in it, however
it was started (a libc fork with SIGCHLD ignored included, whose time wait4 never sees), caps how
many tasks it may hold and how much memory it may use (resident, so it works with CUDA, unlike an
address-space limit; tmpfs pages the trial writes are charged to it too), and kills all of it at
once.

cgroup v2 is used where the unified hierarchy offers the memory and pids controllers; else v1's
cpuacct, memory and pids hierarchies (a hybrid machine, such as this one, has v2 mounted with no
controllers). A group is made under the executor's own group in each hierarchy, so a limit set
on the executor (a container's) still holds above it. Where no group can be made (not root, no
cgroup file system, a read-only one), `make` says why and the sandbox falls back to wait4 and
rlimits, and says so in what it measured.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1 = ("cpuacct", "memory", "pids")


@dataclass
class Group:
    version: int
    paths: dict[str, Path]  # controller (or "unified") -> the group's folder

    @property
    def describe(self) -> str:
        return "cgroup v2" if self.version == 2 else "cgroup v1 (" + ", ".join(self.paths) + ")"

    def procs_files(self) -> list[str]:
        """Where a process writes its pid to join the group (every hierarchy)."""
        return [str(p / "cgroup.procs") for p in self.paths.values()]

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of every task that was ever in the group."""
        if self.version == 2:
            for line in (self.paths["unified"] / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            raise OSError("cpu.stat has no usage_usec")
        return int((self.paths["cpuacct"] / "cpuacct.usage").read_text()) / 1e9

    def peak_memory(self) -> int | None:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        path = self.paths["unified" if self.version == 2 else "memory"] / name
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        """How many times the kernel killed a task of the group for its memory limit."""
        path = (self.paths["unified"] / "memory.events") if self.version == 2 else (self.paths["memory"] / "memory.oom_control")
        try:
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def pids(self) -> list[int]:
        out: set[int] = set()
        for p in self.paths.values():
            try:
                out.update(int(x) for x in (p / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process in the group until none is left; whether it emptied in time."""
        if self.version == 2 and (self.paths["unified"] / "cgroup.kill").exists():
            try:
                (self.paths["unified"] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        until = time.monotonic() + timeout_s
        while True:
            left = self.pids()
            if not left:
                return True
            if time.monotonic() > until:
                return False
            for pid in left:  # a process forking as fast as it can is caught by the next round
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.005)

    def remove(self) -> None:
        for p in self.paths.values():
            try:
                p.rmdir()
            except OSError:
                pass


def _own(controller: str) -> str:
    """This process's group in a v1 hierarchy (or in v2's, for "")."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller == "" and names == "") or controller in names.split(","):
            return path
    raise OSError(f"this process is in no {controller or 'unified'} cgroup")


def _unified_mount() -> Path | None:
    for candidate in (ROOT, ROOT / "unified"):
        if (candidate / "cgroup.controllers").exists():
            return candidate
    return None


def _v2_ready(mount: Path) -> bool:
    return {"memory", "pids"} <= set((mount / "cgroup.controllers").read_text().split())


def make(name: str, memory_bytes: int | None, tasks: int | None) -> Group | str:
    """A fresh group named `name` with these limits, or the reason none could be made."""
    if os.geteuid() != 0:
        return "not root"
    try:
        unified = _unified_mount()
        if unified is not None and _v2_ready(unified):
            return _make_v2(unified, name, memory_bytes, tasks)
        if all((ROOT / c / "cgroup.procs").exists() for c in V1):
            return _make_v1(name, memory_bytes, tasks)
        return "no cgroup hierarchy with cpu, memory and pids accounting is mounted"
    except OSError as exc:
        return f"{exc.strerror or exc} ({exc.filename or 'cgroup'})"


def _sweep(folder: Path) -> None:
    """Remove the empty groups of executors that died without removing theirs (SIGKILLed mid-trial:
    their trial's processes died with them). A group is named <executor pid>-<n>."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        owner = entry.name.split("-", 1)[0]
        try:  # a minute old at least: a group just made (by an executor this /proc cannot see) stays
            stale = (entry.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists()
                     and time.time() - entry.stat().st_mtime > 60)
            if stale:
                entry.rmdir()  # refused while it holds a process
        except OSError:
            pass


def _make_v1(name: str, memory_bytes: int | None, tasks: int | None) -> Group:
    paths = {}
    group = Group(1, paths)
    try:
        for c in V1:
            path = ROOT / c / _own(c).lstrip("/") / "autorecipe" / name
            path.mkdir(parents=True, exist_ok=True)
            _sweep(path.parent)
            paths[c] = path
        if memory_bytes is not None:
            (paths["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
            swap = paths["memory"] / "memory.memsw.limit_in_bytes"
            if swap.exists():  # no escape into swap either
                swap.write_text(str(memory_bytes))
        if tasks is not None:
            (paths["pids"] / "pids.max").write_text(str(tasks))
    except OSError:
        group.remove()
        raise
    return group


def _make_v2(mount: Path, name: str, memory_bytes: int | None, tasks: int | None) -> Group:
    # Controllers can be given to children only by a group that holds no process itself: the
    # trials' groups live under a parent of their own, next to the executor's group.
    parent = mount / _own("").lstrip("/")
    base = parent.parent / "autorecipe-trials" if parent != mount else mount / "autorecipe-trials"
    base.mkdir(exist_ok=True)
    (base / "cgroup.subtree_control").write_text("+memory +pids")
    path = base / name
    path.mkdir(exist_ok=True)
    _sweep(base)
    group = Group(2, {"unified": path})
    try:
        if memory_bytes is not None:
            (path / "memory.max").write_text(str(memory_bytes))
            if (path / "memory.swap.max").exists():
                (path / "memory.swap.max").write_text("0")
        if tasks is not None:
            (path / "pids.max").write_text(str(tasks))
    except OSError:
        group.remove()
        raise
    return group


def join(procs_files: list[str]) -> None:
    """In a child before exec (as root): move this process into the group. No allocation-heavy
    work: it runs between fork and exec."""
    pid = str(os.getpid()).encode()
    for f in procs_files:
        fd = os.open(f, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)
