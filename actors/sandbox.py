"""Run one harness phase as a contained subprocess and measure it from outside.

What is enforced, and where:
- everywhere: its own process group (the watchdog sends TERM, then KILL, to all of it); rlimits
  on address space, file size and CPU seconds; fixed thread counts; wall and CPU time measured by
  this process (os.wait4), never reported by the recipe; output captured with a size cap, keeping
  the head and the tail (where tracebacks are);
- as root on Linux (CI and the executors here): a new network namespace with no interfaces (no
  network at all), a private mount namespace with fresh tmpfs over /tmp, /var/tmp and /dev/shm
  (a work dir under one of them is bound back alone), folders nobody may enter (such as /root)
  covered so that only the interpreter inside stays reachable, and an unprivileged uid (nobody),
  so the process limit holds and nothing but the work dir's writable folders can be written.
  Held-out data lives in root-only folders (mode 0700).
- elsewhere (not root, or no namespaces): the rlimits and measurements only; `Run.isolation`
  says which.

Audit reports (attempted opens of protected paths, sockets, process spawns) arrive on a pipe
named by AUTORECIPE_REPORT_FD, written by the harness's audit hook; the recipe cannot retract
what was already reported.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV, MS_BIND, MS_RDONLY = 0x4000, 0x40000, 0x2, 0x4, 0x1000, 0x1
O_PATH = getattr(os, "O_PATH", 0o10000000)
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_PDEATHSIG = 1
NOBODY = 65534
TERM_GRACE_S = 2.0
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")


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
    hide: tuple[str, ...] = ()  # folders covered by an empty one for this process (held-out data)


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


class _StageClock:
    """Notes when each stage's first line appears in the output, as the output is read."""

    def __init__(self, stages: tuple[tuple[str, str, float], ...], start: float):
        self.stages = stages
        self.starts = [start] if stages else []
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        if len(self.starts) >= len(self.stages):
            return
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()[-4096:]
        for line in lines:
            i = len(self.starts)
            if i < len(self.stages) and re.search(self.stages[i][1], line.decode(errors="replace")):
                self.starts.append(time.monotonic())

    def overdue(self, now: float) -> str | None:
        if not self.starts:
            return None
        i = len(self.starts) - 1
        name, _, allowed = self.stages[i]
        return name if now - self.starts[i] > allowed else None

    def spans(self, end: float) -> list[tuple[str, float]]:
        ends = self.starts[1:] + [end]
        return [(self.stages[i][0], ends[i] - t) for i, t in enumerate(self.starts)]


def thread_env(threads: int) -> dict[str, str]:
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "NUMEXPR_NUM_THREADS": n, "VECLIB_MAXIMUM_THREADS": n, "AUTORECIPE_THREADS": n}


_isolation: bool | None = None


def isolation_available() -> bool:
    """Whether this machine lets us make namespaces and drop to nobody (probed once, in a child)."""
    global _isolation
    if _isolation is None:
        if os.geteuid() != 0 or not sys.platform.startswith("linux"):
            _isolation = False
        else:
            probe = ("import ctypes,os,sys;l=ctypes.CDLL(None,use_errno=True);"
                     f"sys.exit(0 if l.unshare({CLONE_NEWNS | CLONE_NEWNET})==0 else 1)")
            done = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=30)
            _isolation = done.returncode == 0
    return _isolation


def closed_ancestors(paths: list[str]) -> list[tuple[str, str]]:
    """(folder, entry) pairs, outermost first: folders on the way to `paths` that nobody may not
    enter (e.g. a Python under /root), and the entry inside each that the trial needs."""
    out: list[tuple[str, str]] = []
    for path in paths:
        parts = Path(os.path.realpath(path)).parts
        for i in range(1, len(parts) - 1):
            folder = str(Path(*parts[: i + 1]))
            if not os.stat(folder).st_mode & 0o001 and (folder, parts[i + 1]) not in out:
                out.append((folder, parts[i + 1]))
    return out


def _expose(libc, openings: list[tuple[str, str]]) -> None:
    """Cover each closed folder with an empty, enterable tmpfs and bind back only the entries the
    trial needs: the trial reaches its interpreter and its work dir, and nothing else in there."""
    folders: dict[str, list[str]] = {}
    for folder, entry in openings:
        folders.setdefault(folder, []).append(entry)
    for folder, entries in folders.items():  # outermost first, as closed_ancestors lists them
        keep = [(os.path.join(folder, e), os.open(os.path.join(folder, e), O_PATH)) for e in entries]
        if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0755") != 0:
            raise OSError(ctypes.get_errno(), f"mount tmpfs on {folder}")
        for inner, fd in keep:
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.mkdir(inner)
            else:
                open(inner, "w").close()
            if libc.mount(f"/proc/self/fd/{fd}".encode(), inner.encode(), None, MS_BIND | MS_REC, None) != 0:
                raise OSError(ctypes.get_errno(), f"bind {inner}")
            os.close(fd)


def _loopback_up() -> None:
    """A new network namespace has only `lo`, and it is down. Up, it lets a trial's own processes
    talk to each other (torchrun's rendezvous store) while nothing leaves the namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))
    finally:
        sock.close()


def needed_paths(cwd: str, argv0: str, reach: tuple[str, ...] = ()) -> list[str]:
    """What a trial must still reach once /tmp and closed folders are covered: its work dir, its
    interpreter, the environment (venv) it runs in, and what its environment declares (datasets,
    an upstream checkout)."""
    paths = [cwd, sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.realpath(argv0)), *reach]
    return list(dict.fromkeys(os.path.realpath(p) for p in paths))


def _contain(limits: Limits, cwd: str, isolate: bool, openings: list[tuple[str, str]], needed: list[str]):
    """The child's last steps before exec. Runs after fork: no allocation-heavy work, no locks."""

    def apply() -> None:
        if isolate:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
            libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)
            _loopback_up()
            _expose(libc, openings)
            for folder in limits.hide:
                if os.path.isdir(folder) and libc.mount(b"tmpfs", folder.encode(), b"tmpfs",
                                                        MS_NOSUID | MS_NODEV | MS_RDONLY, b"size=4k,mode=0555") != 0:
                    raise OSError(ctypes.get_errno(), f"hide {folder}")
            for tmp in PRIVATE_TMP:
                if not os.path.isdir(tmp):
                    continue
                inside = [(p, os.open(p, O_PATH)) for p in needed if (p + "/").startswith(tmp + "/")]
                libc.mount(b"tmpfs", tmp.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=256m,mode=1777")
                for path, fd in inside:  # the work dir, or a venv, under /tmp comes back without its neighbours
                    os.makedirs(path, exist_ok=True)
                    if libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None) != 0:
                        raise OSError(ctypes.get_errno(), f"bind {path}")
                    os.close(fd)
        for res, value in ((resource.RLIMIT_AS, limits.address_space), (resource.RLIMIT_FSIZE, limits.file_size),
                           (resource.RLIMIT_NPROC, limits.processes), (resource.RLIMIT_CORE, 0)):
            if value is not None:
                resource.setrlimit(res, (value, value))
        if limits.cpu_kill_s is not None:
            soft = max(1, int(limits.cpu_kill_s))
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
        if isolate:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        # Die with the process that watches us (an executor killed mid-trial leaves no orphan
        # training on). Set last: a change of uid clears it.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the watcher died before the line above
            os._exit(137)

    return apply


class _Drain(threading.Thread):
    """Reads a pipe to the end: keeps the first `cap` bytes and the last `cap // 4`."""

    def __init__(self, fd: int, cap: int, clock: _StageClock | None = None):
        super().__init__(daemon=True)
        self.fd, self.cap, self.clock = fd, cap, clock
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def run(self) -> None:
        keep_tail = self.cap // 4
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if self.clock is not None:
                self.clock.feed(chunk)
            room = self.cap - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > keep_tail:
                    self.dropped += len(self.tail) - keep_tail
                    del self.tail[: len(self.tail) - keep_tail]
        os.close(self.fd)

    def text(self) -> bytes:
        if not self.tail:
            return bytes(self.head)
        marker = f"\n[... {self.dropped:,} bytes of output dropped ...]\n".encode() if self.dropped else b""
        return bytes(self.head) + marker + bytes(self.tail)


def run(argv: list[str], cwd: Path, env: dict[str, str], limits: Limits, should_stop=None) -> Run:
    """Run `argv` in `cwd` under `limits`; returns what was measured. Never raises for anything
    the child does; raises only if the child could not be started. `should_stop()` is asked a
    few times a second; when it says yes, the child is stopped as the watchdog would and the
    result says `cancelled`."""
    isolate = limits.isolate and isolation_available()
    if isolate and not os.stat(cwd).st_mode & 0o001:
        raise ValueError(f"work dir {cwd} must be enterable by the sandbox user (mode 0755)")
    out_r, out_w = os.pipe()
    rep_r, rep_w = os.pipe()
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "TMPDIR": str(cwd / "tmp"),
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
                **thread_env(limits.threads), **env, "AUTORECIPE_REPORT_FD": str(rep_w)}
    needed = needed_paths(str(cwd), argv[0], limits.reach) if isolate else []
    openings = closed_ancestors(needed) if isolate else []
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
        start_new_session=True, pass_fds=(rep_w,), preexec_fn=_contain(limits, str(cwd), isolate, openings, needed),
        close_fds=True,
    )
    os.close(out_w)
    os.close(rep_w)
    clock = _StageClock(limits.stages, start)
    output, reports = _Drain(out_r, limits.log_bytes, clock), _Drain(rep_r, 64 * 1024)
    output.start()
    reports.start()
    killed = cancelled = False
    killed_in = None
    polls = 0
    status = rusage = None
    while status is None:
        pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, rusage = st, ru
            break
        elapsed = time.monotonic() - start
        if not killed and should_stop is not None and polls % 25 == 0 and should_stop():
            cancelled = True
        polls += 1
        if not killed and not cancelled:
            killed_in = clock.overdue(time.monotonic())
        if not killed and (elapsed > limits.kill_after_s or cancelled or killed_in):
            killed = True
            _signal_group(proc.pid, signal.SIGTERM)
            term_at = time.monotonic()
            while time.monotonic() - term_at < TERM_GRACE_S:
                pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    status, rusage = st, ru
                    break
                time.sleep(0.02)
            if status is None:
                _signal_group(proc.pid, signal.SIGKILL)
            continue
        select.select([], [], [], 0.01)
    end = time.monotonic()
    wall = end - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    _signal_group(proc.pid, signal.SIGKILL)  # whatever the recipe left behind in its group
    output.join(timeout=5)
    reports.join(timeout=5)
    code = proc.returncode
    return Run(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        wall_s=wall,
        cpu_s=rusage.ru_utime + rusage.ru_stime,
        peak_rss_bytes=rusage.ru_maxrss * 1024,
        killed_by_watchdog=killed and not cancelled,
        cancelled=cancelled,
        log=output.text(),
        log_dropped=output.dropped,
        reports=[line for line in reports.text().decode(errors="replace").splitlines() if line],
        isolation="namespaces+nobody" if isolate else "rlimits",
        stages=clock.spans(end),
        killed_in=killed_in if killed and not cancelled else None,
    )


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
