"""A phase in a PID namespace of its own: the waiter (outside, the process Popen started), the
namespace's init (PID 1) and the harness (PID 2). Everything here runs in the child after fork,
before exec: it uses only what this module imported when it was loaded."""

from __future__ import annotations

import os
import resource
import select
import signal
import struct

from actors.sandbox.kernel import MS_NODEV, MS_NOEXEC, MS_NOSUID, PR_SET_PDEATHSIG
from actors.sandbox.signals import kill

HARD_STOP = signal.SIGUSR1  # to the waiter: kill the namespace now (a SIGKILL to the waiter would lose the CPU count)
_WATCHED = {signal.SIGTERM, signal.SIGCHLD, HARD_STOP}


def split(libc) -> None:
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


def _waiter(init: int, status_r: int) -> None:
    """Outside the namespace: pass TERM (and HARD_STOP as SIGKILL) to the init, reap it (its CPU,
    and that of everything it reaped, comes with it), then end as the harness ended."""
    status_r = _only_fd(status_r)
    while True:
        got = signal.sigtimedwait(_WATCHED, 1.0)
        if got is not None and got.si_signo == signal.SIGTERM:
            kill(init, signal.SIGTERM)
        elif got is not None and got.si_signo == HARD_STOP:
            kill(init, signal.SIGKILL)  # the kernel kills the namespace, and the dying init reaps it
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
            kill(-1, signal.SIGTERM)  # every process in the namespace but this one
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            if pid == harness:
                status = st
    kill(-1, signal.SIGKILL)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    os.write(status_w, struct.pack("i", status))
    os._exit(0)
