"""Where a run ran: enough to tell two machines and two checkouts apart later."""

from __future__ import annotations

import hashlib
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from events import Fingerprint

PACKAGES = ("autorecipe", "ray", "torch", "numpy", "msgspec")
ENV_VARS = ("PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "RAY_AUTH_MODE")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> bytes | None:
    root = Path(__file__).resolve().parent.parent
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def fingerprint() -> Fingerprint:
    import os

    commit = _git("rev-parse", "HEAD")
    dirty = _git("diff", "HEAD")
    return Fingerprint(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=sys.version.split()[0],
        packages={p: v for p in PACKAGES if (v := _version(p))},
        git_commit=commit.decode().strip() if commit else None,
        git_dirty_sha256=hashlib.sha256(dirty).hexdigest() if dirty else None,
        env_vars={k: os.environ[k] for k in ENV_VARS if k in os.environ},
    )
