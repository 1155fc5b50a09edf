"""Staged into every trial's harness folder. Installs a Python audit hook before the recipe is
imported and reports, on the pipe AUTORECIPE_REPORT_FD names, every attempt to read protected
data, write outside out/ and tmp/, change harness or recipe files, use the network, or start
processes. The operating system already refuses most of these (see actors/sandbox/); the
report is how the evaluator learns why, so the verdict can say so. An audit hook cannot be
removed once installed.

The frameworks the harness names are imported before the hook, since their own start-up is not the
recipe's doing: PyPI's CUDA build of torch runs `/sbin/ldconfig -p` while it is imported (its
cuda.pathfinder calls ctypes.util.find_library), which the hook would report as the recipe
starting a process, and every trial on a GPU node would be disqualified."""

import importlib
import json
import os
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_ALLOWED_DEVICES = ("/dev/null", "/dev/urandom", "/dev/random", "/dev/zero", "/dev/tty")
_MAX_REPORTS = 50


def install_audit(frameworks: tuple[str, ...] = ()) -> None:
    for name in frameworks:  # before the recipe's folder is on sys.path: the installed ones
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the recipe's own import will fail, and say so, where the recipe can see it
    fd = int(os.environ.get("AUTORECIPE_REPORT_FD", "-1"))
    if fd < 0:
        return
    report = os.fdopen(fd, "w", buffering=1, closefd=False)
    work = os.getcwd()
    writable = tuple(os.path.join(work, d) + os.sep for d in ("out", "tmp"))
    guarded = tuple(os.path.join(work, d) + os.sep for d in ("harness", "recipe", "data"))
    protected = tuple(p.rstrip(os.sep) + os.sep for p in os.environ.get("AUTORECIPE_PROTECTED", "").split(os.pathsep) if p)
    sent = {"n": 0}
    writer = report.write
    dumps = json.dumps
    realpath = os.path.realpath

    def emit(kind, detail):
        if sent["n"] < _MAX_REPORTS:
            sent["n"] += 1
            writer(dumps({"kind": kind, "detail": str(detail)[:300]}) + "\n")

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes)):
                return
            path = realpath(os.fsdecode(path))
            writing = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and flags is not None and flags & _WRITE_FLAGS)
            if any((path + os.sep).startswith(p) for p in protected):
                emit("read_protected", path)
            elif writing and path not in _ALLOWED_DEVICES and not path.startswith(writable):
                emit("edit_harness" if path.startswith(guarded) else "write_outside", path)
        elif event in ("socket.connect", "socket.bind", "socket.sendto"):
            emit("network", f"{event} {args[1] if len(args) > 1 else ''}")
        elif event in ("os.fork", "os.forkpty", "os.posix_spawn", "subprocess.Popen", "os.exec", "os.system"):
            emit("spawn", f"{event} {args[:2] if args else ''}")

    sys.addaudithook(hook)
