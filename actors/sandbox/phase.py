"""`run`: one phase, start to verdict: isolation decided, cgroup made, the child started contained,
its output drained while the watchdog watches it, then what was measured."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from actors import cgroups
from actors.sandbox.contain import contain, needed_paths
from actors.sandbox.disk import over_disk, uid_pids
from actors.sandbox.drain import Drain
from actors.sandbox.environment import child_env
from actors.sandbox.limits import NOBODY, Limits, Run
from actors.sandbox.probes import isolation_available, pid_namespace_available
from actors.sandbox.signals import signal_group
from actors.sandbox.stages import StageClock
from actors.sandbox.watchdog import Watched, watch

_groups = itertools.count()


@dataclass
class _Usage:
    cpu_s: float
    peak_rss_bytes: int
    oom_kills: int
    cpu_clock: str


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
    group, clock = _control_group(limits, isolate)
    out_r, out_w = os.pipe()
    rep_r, rep_w = os.pipe()
    fds = dict(fds or {})
    full_env = child_env(cwd, env, limits.threads, rep_w, fds)
    readable = needed_paths(str(cwd), argv[0], limits.reach) if isolate else []
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
            start_new_session=True, pass_fds=(rep_w, *fds.values()), close_fds=True,
            preexec_fn=contain(limits, str(cwd), isolate, [p for p in readable if p != str(cwd)], pid_ns, group),
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
    stages = StageClock(limits.stages, start)
    output, reports = Drain(out_r, limits.log_bytes, stages, on_line), Drain(rep_r, 64 * 1024)
    output.start()
    reports.start()
    # the phase's processes: its cgroup's, or (isolated, no cgroup) its uid's, a trial's own
    pids_of = group.pids if group is not None else (lambda: uid_pids(limits.uid)) if isolate else None
    watched = watch(proc.pid, start, limits, group, pid_ns, stages, should_stop, pids_of)
    end = time.monotonic()
    proc.returncode = os.waitstatus_to_exitcode(watched.status)
    signal_group(proc.pid, signal.SIGKILL)  # whatever the recipe left behind in its group
    usage = _usage(group, watched.rusage, clock)
    output.join(timeout=5)
    reports.join(timeout=5)
    if limits.disk_bytes is not None and not watched.disk_over:  # a burst between two looks, or just before the end
        watched.disk_over = over_disk(limits)
    isolation = _isolation_text(isolate, pid_ns, limits.uid)
    return _result(limits, watched, usage, proc.returncode, end - start, output, reports, isolation,
                   stages.spans(end))


def _control_group(limits: Limits, isolate: bool) -> tuple[cgroups.Group | None, str]:
    """The phase's cgroup, where one is wanted and can be made, and what will count its CPU."""
    if not (isolate and limits.cgroup):
        return None, "wait4 (rlimits only: not isolated)"
    # the waiter, the init and the harness count as tasks too
    tasks = limits.processes + 3 if limits.processes is not None else None
    made = cgroups.make(f"{os.getpid()}-{next(_groups)}", limits.memory_bytes, tasks)
    group = made if isinstance(made, cgroups.Group) else None
    return group, group.describe if group else f"wait4 (no cgroup: {made})"


def _usage(group: cgroups.Group | None, rusage, clock: str) -> _Usage:
    """CPU, peak memory and OOM kills: the group's counters where there is one (and the group
    killed and removed), else wait4's."""
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
    return _Usage(cpu, peak, oom, clock)


def _result(limits: Limits, watched: Watched, usage: _Usage, code: int, wall: float, output: Drain,
            reports: Drain, isolation: str, stages: list[tuple[str, float]]) -> Run:
    log = output.text()
    if watched.disk_over:  # said by us, after everything the recipe printed: the verdict's last line
        log += (f"\n[autorecipe] stopped: the trial held at least {watched.disk_over:,} bytes under its writable "
                f"folders, over its disk cap of {limits.disk_bytes:,} bytes\n").encode()
    if usage.oom_kills:
        log += (f"\n[autorecipe] the kernel killed {usage.oom_kills} process(es) of the trial at its memory limit "
                f"of {limits.memory_bytes:,} bytes\n").encode()
    killed, cancelled = watched.killed, watched.cancelled
    return Run(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        wall_s=wall,
        cpu_s=usage.cpu_s,
        peak_rss_bytes=usage.peak_rss_bytes,
        killed_by_watchdog=killed and not cancelled and not watched.disk_over,
        cancelled=cancelled,
        log=log,
        log_dropped=output.dropped,
        reports=[line for line in reports.text().decode(errors="replace").splitlines() if line],
        isolation=isolation,
        stages=stages,
        killed_in=watched.killed_in if killed and not cancelled else None,
        disk_over=watched.disk_over,
        cpu_clock=usage.cpu_clock,
    )


def _isolation_text(isolate: bool, pid_ns: bool, uid: int) -> str:
    if not isolate:
        return "rlimits"
    who = "nobody" if uid == NOBODY else f"uid {uid}"
    return f"namespaces+{who}" if pid_ns else f"namespaces+{who}, no PID namespace (process group only)"
