"""Run one harness phase as a contained subprocess and measure it from outside.

What is enforced, and where:
- everywhere: rlimits on address space, file size and CPU seconds; fixed thread counts; wall and
  CPU time measured by this process, never reported by the recipe; output captured with a size
  cap, keeping the head and the tail (where tracebacks are); a cap on what the writable folders
  hold (`disk_bytes`), looked at four times a second and once more at the end, so a phase
  overshoots it by at most what it writes in a quarter second;
- as root on Linux (CI and the executors here):
  - a control group of its own (actors/cgroups.py), joined before anything else happens in the
    child: CPU seconds are the group's counter (every process, however started: a libc fork
    with SIGCHLD ignored, whose time wait4 never sees, included), the CPU watchdog reads that
    counter, `pids.max` is the process limit, a memory limit holds the resident memory of all
    of them (and the tmpfs they fill), and the whole group is killed on a watchdog and at the
    end. Where no group can be made, wait4 and RLIMIT_NPROC do, and `Run.cpu_clock` says so;
  - a new network namespace with no interfaces but its own loopback, a private mount namespace
    and a root of its own (actors/fsview.py: the system's programs and libraries, the
    interpreter and its venv, declared folders, the work dir; fresh tmpfs on /tmp, /var/tmp,
    /dev/shm), and an unprivileged uid (a trial runner gives each trial its own,
    actors/trial_uid.py; nobody by default), so nothing but the work dir's writable folders can
    be written and nothing outside the view can be read, whatever its mode;
  - and a new PID namespace, so nothing the recipe starts outlives the phase: the harness runs as
    PID 2 under a tiny init (PID 1, root, ours) that forwards the watchdog's TERM to every process
    in the namespace, reaps orphans, and when the harness exits kills whatever is left (a daemon
    that called setsid() or double-forked included) before it exits itself; the kernel kills the
    rest of a namespace whose PID 1 is gone. A waiter outside the namespace (root, ours) is the
    process this one starts and waits for: it passes TERM on to the init and exits with the
    harness's status. The recipe sees only its own processes in /proc, and cannot signal the
    init or the waiter.
- without PID namespaces (`Run.isolation` says so): its own process group, which the watchdog
  sends TERM, then KILL, and which is killed when the phase ends (and its cgroup, where there is one).
- elsewhere (not root, or no namespaces): the rlimits, the process group and the measurements
  only; `Run.isolation` and `Run.cpu_clock` say which.

Audit reports (attempted opens of protected paths, sockets, process spawns) arrive on a pipe
named by AUTORECIPE_REPORT_FD, written by the harness's audit hook. They explain verdicts; no
promise above depends on them (a recipe can blind the hook, with dup2 over its pipe).
"""

from __future__ import annotations

import ctypes
import fcntl
import itertools
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

from actors import cgroups, fsview

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID = 0x00020000, 0x40000000, 0x20000000
MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV, MS_BIND, MS_RDONLY, MS_NOEXEC = 0x4000, 0x40000, 0x2, 0x4, 0x1000, 0x1, 0x8
O_PATH = getattr(os, "O_PATH", 0o10000000)
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_PDEATHSIG = 1
NOBODY = 65534
TERM_GRACE_S = 2.0

HARD_STOP = signal.SIGUSR1  # to the waiter: kill the namespace now (a SIGKILL to the waiter would lose the CPU count)
_WATCHED = {signal.SIGTERM, signal.SIGCHLD, HARD_STOP}


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
    uid: int = NOBODY  # who the process runs as when isolated (uid and gid, no groups)
    disk_bytes: int | None = None  # what `disk_paths` may hold at once; checked a few times a second
    disk_paths: tuple[str, ...] = ()
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


_pid_namespace: bool | None = None
_PID_PROBE = f"""
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).unshare({CLONE_NEWPID}) != 0:
    sys.exit(1)
child = os.fork()
if child == 0:
    os._exit(0 if os.getpid() == 1 else 1)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
"""


def pid_namespace_available() -> bool:
    """Whether trials can also get their own PID namespace (probed once, in a child)."""
    global _pid_namespace
    if _pid_namespace is None:
        _pid_namespace = isolation_available() and subprocess.run(
            [sys.executable, "-c", _PID_PROBE], capture_output=True, timeout=30).returncode == 0
    return _pid_namespace


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


def _contain(limits: Limits, cwd: str, isolate: bool, readable: list[str], pid_ns: bool = False,
             group: cgroups.Group | None = None):
    """The child's last steps before exec. Runs after fork: no allocation-heavy work, no locks."""
    procs_files = group.procs_files() if group is not None else []

    def apply() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if procs_files:  # first: everything this process becomes or starts is counted and capped
            cgroups.join(procs_files)
        if isolate:
            if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | (CLONE_NEWPID if pid_ns else 0)) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
            libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)
            _loopback_up()
            fsview.enter(libc, cwd, readable, limits.hide)
        if pid_ns:
            _split(libc)  # returns only in the harness, PID 2 of the new namespace
        # with a cgroup its pids.max is the process limit; RLIMIT_NPROC (per uid, machine-wide) only without one
        nproc = limits.processes if group is None else None
        for res, value in ((resource.RLIMIT_AS, limits.address_space), (resource.RLIMIT_FSIZE, limits.file_size),
                           (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
            if value is not None:
                resource.setrlimit(res, (value, value))
        if limits.cpu_kill_s is not None:
            soft = max(1, int(limits.cpu_kill_s))
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
        if isolate:
            os.setgroups([])
            os.setgid(limits.uid)
            os.setuid(limits.uid)
        # Die with the process that watches us (an executor killed mid-trial leaves no orphan
        # training on). Set last: a change of uid clears it.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if not pid_ns and os.getppid() == 1:  # the watcher died before the line above
            os._exit(137)

    return apply


def _split(libc) -> None:
    """In the child Popen made, just after unshare(CLONE_NEWPID): fork the namespace's init, which
    forks the harness. This process stays outside as the waiter, the init stays as PID 1; neither
    ever returns (they never exec, so they close every inherited descriptor, Popen's error pipe
    included, or Popen would wait for them). Only the harness returns, to exec."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the waiter dies with the executor...
    if os.getppid() == 1:
        os._exit(137)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)  # taken by sigtimedwait, never by a handler
    status_r, status_w = os.pipe()
    init = os.fork()
    if init:
        _never_return(_waiter, init, status_r)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # ...the init with the waiter, the namespace with the init
    os.close(status_r)
    poll = select.poll()
    poll.register(status_w, select.POLLOUT)
    if any(ev & select.POLLERR for _, ev in poll.poll(0)):  # the waiter died before the line above
        os._exit(137)
    # Our own /proc: the recipe sees its own processes only (best effort: a container may refuse).
    libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    harness = os.fork()
    if harness:
        _never_return(_init, harness, status_w)
    os.close(status_w)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _never_return(fn, *args) -> None:
    try:
        fn(*args)
    finally:
        os._exit(70)


def _only_fd(fd: int) -> int:
    """Close every descriptor but 0, 1, 2 and `fd`, which becomes 3."""
    if fd != 3:
        os.dup2(fd, 3)
    os.closerange(4, os.sysconf("SC_OPEN_MAX"))
    return 3


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _waiter(init: int, status_r: int) -> None:
    """Outside the namespace: pass TERM (and HARD_STOP as SIGKILL) to the init, reap it (its CPU,
    and that of everything it reaped, comes with it), then end as the harness ended."""
    status_r = _only_fd(status_r)
    while True:
        got = signal.sigtimedwait(_WATCHED, 1.0)
        if got is not None and got.si_signo == signal.SIGTERM:
            _kill(init, signal.SIGTERM)
        elif got is not None and got.si_signo == HARD_STOP:
            _kill(init, signal.SIGKILL)  # the kernel kills the namespace, and the dying init reaps it
        if os.waitpid(init, os.WNOHANG)[0]:
            break
    data = os.read(status_r, 4)
    status = struct.unpack("i", data)[0] if len(data) == 4 else None
    if status is not None and os.WIFEXITED(status):
        os._exit(os.WEXITSTATUS(status))
    sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else signal.SIGKILL
    if sig != signal.SIGKILL:
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)


def _init(harness: int, status_w: int) -> None:
    """PID 1 of the trial's namespace: forward TERM to everyone, reap everyone; when the harness
    exits, kill and reap what is left, and tell the waiter how the harness ended."""
    status_w = _only_fd(status_w)
    status = None
    while status is None:
        got = signal.sigtimedwait(_WATCHED, 1.0)
        if got is not None and got.si_signo == signal.SIGTERM:
            _kill(-1, signal.SIGTERM)  # every process in the namespace but this one
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            if pid == harness:
                status = st
    _kill(-1, signal.SIGKILL)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    os.write(status_w, struct.pack("i", status))
    os._exit(0)


class _Drain(threading.Thread):
    """Reads a pipe to the end: keeps the first `cap` bytes and the last `cap // 4`."""

    def __init__(self, fd: int, cap: int, clock: _StageClock | None = None, on_line=None):
        super().__init__(daemon=True)
        self.fd, self.cap, self.clock, self.on_line = fd, cap, clock, on_line
        self.partial = b""
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
            if self.on_line is not None:
                self._lines(chunk)
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

    def _lines(self, chunk: bytes) -> None:
        """Each complete line to `on_line`; a line longer than 4 KiB is not a progress line."""
        *lines, rest = (self.partial + chunk).split(b"\n")
        self.partial = rest if len(rest) <= 4096 else b""
        for line in lines:
            if len(line) <= 4096:
                try:
                    self.on_line(line)
                except Exception:  # a progress parser never stops the drain
                    pass

    def text(self) -> bytes:
        if not self.tail:
            return bytes(self.head)
        marker = f"\n[... {self.dropped:,} bytes of output dropped ...]\n".encode() if self.dropped else b""
        return bytes(self.head) + marker + bytes(self.tail)


_groups = itertools.count()


def run(argv: list[str], cwd: Path, env: dict[str, str], limits: Limits, should_stop=None,
        fds: dict[str, int] | None = None, on_line=None) -> Run:
    """Run `argv` in `cwd` under `limits`; returns what was measured. Never raises for anything
    the child does; raises only if the child could not be started. `should_stop()` is asked a
    few times a second; when it says yes, the child is stopped as the watchdog would and the
    result says `cancelled`. `fds` (environment variable -> descriptor) are passed on open, under
    those names: the pipes of a judge that drives the harness. `on_line(bytes)` gets each line of
    output as it comes (the drain's thread), for progress."""
    isolate = limits.isolate and isolation_available()
    pid_ns = isolate and pid_namespace_available()
    if isolate and not os.stat(cwd).st_mode & 0o001:
        raise ValueError(f"work dir {cwd} must be enterable by the sandbox user (mode 0755)")
    group = None
    clock = "wait4 (rlimits only: not isolated)"
    if isolate and limits.cgroup:
        # the waiter, the init and the harness count as tasks too
        tasks = limits.processes + 3 if limits.processes is not None else None
        made = cgroups.make(f"{os.getpid()}-{next(_groups)}", limits.memory_bytes, tasks)
        group = made if isinstance(made, cgroups.Group) else None
        clock = group.describe if group else f"wait4 (no cgroup: {made})"
    out_r, out_w = os.pipe()
    rep_r, rep_w = os.pipe()
    fds = dict(fds or {})
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "TMPDIR": str(cwd / "tmp"),
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
                **thread_env(limits.threads), **env, "AUTORECIPE_REPORT_FD": str(rep_w),
                **{name: str(fd) for name, fd in fds.items()}}
    readable = needed_paths(str(cwd), argv[0], limits.reach) if isolate else []
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
            start_new_session=True, pass_fds=(rep_w, *fds.values()), close_fds=True,
            preexec_fn=_contain(limits, str(cwd), isolate, [p for p in readable if p != str(cwd)], pid_ns, group),
        )
    except BaseException:
        if group is not None:
            group.remove()
        os.close(out_r)
        os.close(rep_r)
        raise
    finally:
        os.close(out_w)
        os.close(rep_w)
    stage_clock = _StageClock(limits.stages, start)
    output, reports = _Drain(out_r, limits.log_bytes, stage_clock, on_line), _Drain(rep_r, 64 * 1024)
    output.start()
    reports.start()
    killed = cancelled = False
    killed_in = disk_over = None
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
        over_cpu = (group is not None and limits.cpu_kill_s is not None and polls % 5 == 0
                    and group.cpu_s() > limits.cpu_kill_s + 1)  # RLIMIT_CPU's hard limit, for the whole group
        if not killed and not cancelled:
            killed_in = stage_clock.overdue(time.monotonic())
            if limits.disk_bytes is not None and polls % 25 == 0:
                used = disk_use(limits.disk_paths, limits.disk_bytes)
                disk_over = used if used > limits.disk_bytes else None
        if not killed and (elapsed > limits.kill_after_s or cancelled or killed_in or disk_over or over_cpu):
            killed = True
            if pid_ns:  # the waiter passes it on to the init, which passes it to everyone
                _kill(proc.pid, signal.SIGTERM)
                status, rusage = _wait(proc.pid, TERM_GRACE_S)
                if status is None and group is None:
                    _kill(proc.pid, HARD_STOP)
                    status, rusage = _wait(proc.pid, TERM_GRACE_S)
            else:
                _signal_group(proc.pid, signal.SIGTERM)
                status, rusage = _wait(proc.pid, TERM_GRACE_S)
            if status is None:
                if group is not None:
                    group.kill()
                _signal_group(proc.pid, signal.SIGKILL)
            continue
        select.select([], [], [], 0.01)
    end = time.monotonic()
    wall = end - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    _signal_group(proc.pid, signal.SIGKILL)  # whatever the recipe left behind in its group
    cpu = rusage.ru_utime + rusage.ru_stime
    peak = rusage.ru_maxrss * 1024
    oom = 0
    if group is not None:
        emptied = group.kill()  # every process of the phase, however it was started
        cpu = group.cpu_s()
        peak = group.peak_memory() or peak
        oom = group.oom_kills()
        group.remove()
        if not emptied:
            clock += " (some processes outlived a kill of the group)"
    output.join(timeout=5)
    reports.join(timeout=5)
    code = proc.returncode
    if limits.disk_bytes is not None and not disk_over:  # a burst between two looks, or just before the end
        used = disk_use(limits.disk_paths, limits.disk_bytes)
        disk_over = used if used > limits.disk_bytes else None
    log = output.text()
    if disk_over:  # said by us, after everything the recipe printed: the verdict's last line
        log += (f"\n[autorecipe] stopped: the trial held at least {disk_over:,} bytes under its writable folders, "
                f"over its disk cap of {limits.disk_bytes:,} bytes\n").encode()
    if oom:
        log += (f"\n[autorecipe] the kernel killed {oom} process(es) of the trial at its memory limit of "
                f"{limits.memory_bytes:,} bytes\n").encode()
    return Run(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        wall_s=wall,
        cpu_s=cpu,
        peak_rss_bytes=peak,
        killed_by_watchdog=killed and not cancelled and not disk_over,
        cancelled=cancelled,
        log=log,
        log_dropped=output.dropped,
        reports=[line for line in reports.text().decode(errors="replace").splitlines() if line],
        isolation=_isolation_text(isolate, pid_ns, limits.uid),
        stages=stage_clock.spans(end),
        killed_in=killed_in if killed and not cancelled else None,
        disk_over=disk_over,
        cpu_clock=clock,
    )


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


def _wait(pid: int, seconds: float):
    """(status, rusage) of `pid` if it ends within `seconds`, else (None, None)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        done, st, ru = os.wait4(pid, os.WNOHANG)
        if done:
            return st, ru
        time.sleep(0.02)
    return None, None


def _isolation_text(isolate: bool, pid_ns: bool, uid: int) -> str:
    if not isolate:
        return "rlimits"
    who = "nobody" if uid == NOBODY else f"uid {uid}"
    return f"namespaces+{who}" if pid_ns else f"namespaces+{who}, no PID namespace (process group only)"


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
