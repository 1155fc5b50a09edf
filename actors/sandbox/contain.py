"""The child's last steps before exec: join the cgroup, enter the namespaces and the trial's own
root, set the rlimits, drop to the sandbox user. And what a trial must still reach in its root."""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import signal
import socket
import struct
import sys

from actors import cgroups, fsview
from actors.sandbox import pidns, seccomp
from actors.sandbox.kernel import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    IFF_UP,
    MS_PRIVATE,
    MS_REC,
    PR_SET_PDEATHSIG,
    SIOCGIFFLAGS,
    SIOCSIFFLAGS,
)
from actors.sandbox.limits import Limits


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


def contain(limits: Limits, cwd: str, isolate: bool, readable: list[str], pid_ns: bool = False,
            group: cgroups.Group | None = None):
    """The child's last steps before exec. Runs after fork: no allocation-heavy work, no locks,
    no imports (everything `apply` calls was imported with this module)."""
    procs_files = group.procs_files() if group is not None else []
    keyless = seccomp.program() if isolate else None  # built here: nothing heavy after fork

    def apply() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if procs_files:  # first: everything this process becomes or starts is counted and capped
            cgroups.join(procs_files)
        if isolate:
            # an IPC namespace of its own: SysV shared memory, semaphores and message queues are
            # the machine's otherwise, and outlive the phase (a channel to the next, and leaked memory)
            if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | (CLONE_NEWPID if pid_ns else 0)) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
            libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)
            _loopback_up()
            fsview.enter(libc, cwd, readable, limits.hide)
        if pid_ns:
            pidns.split(libc)  # returns only in the harness, PID 2 of the new namespace
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
            if keyless is not None:
                seccomp.install(libc, keyless)
        # Die with the process that watches us (an executor killed mid-trial leaves no orphan
        # training on). Set last: a change of uid clears it.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if not pid_ns and os.getppid() == 1:  # the watcher died before the line above
            os._exit(137)

    return apply
