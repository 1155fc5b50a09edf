"""What a phase may do (`Limits`) and what was measured of it (`Run`)."""

from __future__ import annotations

from dataclasses import dataclass, field

NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    kill_after_s: float  # wall-clock watchdog
    cpu_kill_s: float | None = None  # RLIMIT_CPU
    address_space: int | None = 4 * 1024**3
    file_size: int | None = 256 * 1024**2
    processes: int | None = 64
    log_bytes: int = 1024**2
    threads: int = 1
    isolate: bool = True
    # (name, regex that starts it, wall seconds it may take): the first starts with the process
    stages: tuple[tuple[str, str, float], ...] = ()
    reach: tuple[str, ...] = ()  # folders outside the work dir the trial reads (datasets, checkouts)
    hide: tuple[str, ...] = ()  # folders and files covered by empty ones for this process (held-out data)
    uid: int = NOBODY  # who the process runs as when isolated (uid and gid, no groups)
    disk_bytes: int | None = None  # what `disk_paths` may hold at once; checked a few times a second
    disk_paths: tuple[str, ...] = ()
    # where `disk_paths` are on a filesystem of their own (actors/trial_fs.py): its mount point, and
    # what it held when new. Its use counts too: files no walk can find (held in a socket) included
    disk_fs: str | None = None
    disk_fs_base: int = 0
    memory_bytes: int | None = None  # resident memory (and tmpfs) of the phase's cgroup, all processes together
    cgroup: bool = True  # count, cap and kill the phase's processes as a control group where one can be made


@dataclass
class Run:
    exit_code: int | None
    signal: int | None
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    killed_by_watchdog: bool
    log: bytes
    log_dropped: int
    reports: list[str] = field(default_factory=list)
    isolation: str = "none"
    cancelled: bool = False  # stopped because should_stop() said so
    stages: list[tuple[str, float]] = field(default_factory=list)  # (name, wall seconds) of each stage reached
    killed_in: str | None = None  # the stage whose watchdog fired
    disk_over: int | None = None  # bytes counted under disk_paths (until past the cap) when the cap stopped it
    cpu_clock: str = ""  # what counted cpu_s: a cgroup (every process), or wait4 (reaped children only)
