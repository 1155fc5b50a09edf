"""Whether this machine lets a phase have namespaces, and a PID namespace: each probed once, in a
child process, so a refusal costs the probe and never this process."""

from __future__ import annotations

import os
import subprocess
import sys

from actors.sandbox.kernel import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID

_isolation: bool | None = None
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


def isolation_available() -> bool:
    """Whether this machine lets us make namespaces and drop to nobody (probed once, in a child)."""
    global _isolation
    if _isolation is None:
        if os.geteuid() != 0 or not sys.platform.startswith("linux"):
            _isolation = False
        else:
            probe = ("import ctypes,os,sys;l=ctypes.CDLL(None,use_errno=True);"
                     f"sys.exit(0 if l.unshare({CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC})==0 else 1)")
            done = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=30)
            _isolation = done.returncode == 0
    return _isolation


def pid_namespace_available() -> bool:
    """Whether trials can also get their own PID namespace (probed once, in a child)."""
    global _pid_namespace
    if _pid_namespace is None:
        _pid_namespace = isolation_available() and subprocess.run(
            [sys.executable, "-c", _PID_PROBE], capture_output=True, timeout=30).returncode == 0
    return _pid_namespace
