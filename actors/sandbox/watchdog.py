"""Watching a running phase: its end, its wall clock and stages, its group's CPU, its disk, a
caller's stop; and stopping it, TERM first, KILL after a grace."""

from __future__ import annotations

import os
import select
import signal
import time
from dataclasses import dataclass

from actors import cgroups
from actors.sandbox.disk import over_disk
from actors.sandbox.limits import Limits
from actors.sandbox.pidns import HARD_STOP
from actors.sandbox.signals import kill, signal_group
from actors.sandbox.stages import StageClock

TERM_GRACE_S = 2.0
# the disk is walked this often, or less where a walk takes long: at most a tenth of the
# watchdog's time goes to walking a tree of many files
DISK_EVERY_S = 0.1


@dataclass
class Watched:
    status: int | None = None  # wait4's status of the process Popen started
    rusage: object = None  # and its resource usage (with that of every child it reaped)
    killed: bool = False  # the watchdog (or a stop) fired
    cancelled: bool = False  # should_stop() said so
    killed_in: str | None = None  # the overdue stage
    disk_over: int | None = None


def watch(pid: int, start: float, limits: Limits, group: cgroups.Group | None, pid_ns: bool,
          stages: StageClock, should_stop=None, pids_of=None) -> Watched:
    """Wait for `pid` to end, looking about every 10 ms; stop it when a limit is passed or
    `should_stop()` (asked every 25th look) says so. `pids_of()` names the phase's processes,
    whose deleted but open files count against the disk cap. The disk is measured by the clock,
    not by looks: on a loaded machine looks come late, and a fast writer fills more between them."""
    w = Watched()
    polls = 0
    disk_due = start
    while w.status is None:
        done, st, ru = os.wait4(pid, os.WNOHANG)
        if done:
            w.status, w.rusage = st, ru
            break
        elapsed = time.monotonic() - start
        if not w.killed and should_stop is not None and polls % 25 == 0 and should_stop():
            w.cancelled = True
        polls += 1
        over_cpu = (group is not None and limits.cpu_kill_s is not None and polls % 5 == 0
                    and group.cpu_s() > limits.cpu_kill_s + 1)  # RLIMIT_CPU's hard limit, for the whole group
        if not w.killed and not w.cancelled:
            now = time.monotonic()
            w.killed_in = stages.overdue(now)
            if limits.disk_bytes is not None and now >= disk_due:
                w.disk_over = over_disk(limits, pids_of() if pids_of is not None else ())
                disk_due = now + max(DISK_EVERY_S, 10 * (time.monotonic() - now))
        if not w.killed and (elapsed > limits.kill_after_s or w.cancelled or w.killed_in or w.disk_over or over_cpu):
            w.killed = True
            w.status, w.rusage = stop(pid, pid_ns, group)
            continue
        select.select([], [], [], 0.01)
    return w


def stop(pid: int, pid_ns: bool, group: cgroups.Group | None):
    """TERM, then KILL after a grace; (status, rusage) if it ended within the graces, else (None, None)."""
    if pid_ns:  # the waiter passes it on to the init, which passes it to everyone
        kill(pid, signal.SIGTERM)
        status, rusage = _wait(pid, TERM_GRACE_S)
        if status is None and group is None:
            kill(pid, HARD_STOP)
            status, rusage = _wait(pid, TERM_GRACE_S)
    else:
        signal_group(pid, signal.SIGTERM)
        status, rusage = _wait(pid, TERM_GRACE_S)
    if status is None:
        if group is not None:
            group.kill()
        signal_group(pid, signal.SIGKILL)
    return status, rusage


def _wait(pid: int, seconds: float):
    """(status, rusage) of `pid` if it ends within `seconds`, else (None, None)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        done, st, ru = os.wait4(pid, os.WNOHANG)
        if done:
            return st, ru
        time.sleep(0.02)
    return None, None
