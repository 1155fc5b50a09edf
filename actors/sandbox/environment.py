"""The environment variables a phase starts with: a fixed, small set, never the executor's own."""

from __future__ import annotations

import os
from pathlib import Path


def thread_env(threads: int) -> dict[str, str]:
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "NUMEXPR_NUM_THREADS": n, "VECLIB_MAXIMUM_THREADS": n, "AUTORECIPE_THREADS": n}


def child_env(cwd: Path, env: dict[str, str], threads: int, report_fd: int, fds: dict[str, int]) -> dict[str, str]:
    """The phase's environment: `env` over the defaults, then the descriptors it is handed, by name."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "TMPDIR": str(cwd / "tmp"),
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
            **thread_env(threads), **env, "AUTORECIPE_REPORT_FD": str(report_fd),
            **{name: str(fd) for name, fd in fds.items()}}
