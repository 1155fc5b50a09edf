"""The filesystem a trial sees: a fresh root that holds the system's programs and libraries, the
interpreter and its environment (venv), the folders its environment declares, its own work dir,
and nothing else: no home folders, package or download caches, other runs or other trials, no
held-out data. Made in the trial's private mount namespace, between fork and exec, and entered
with pivot_root (chroot where the machine refuses it), so the view is the kernel's, not a
convention the recipe is asked to follow.

/tmp, /var/tmp and /dev/shm are fresh tmpfs (charged to the trial's memory cgroup); /dev holds a
few character devices (and GPUs, where there are); /proc and /sys are the machine's (a PID
namespace mounts its own /proc over it).
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform

MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_RDONLY, MS_REMOUNT = 0x2, 0x4, 0x1000, 0x4000, 0x1, 0x20
MNT_DETACH = 2
O_PATH = getattr(os, "O_PATH", 0o10000000)
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217}.get(platform.machine())
SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# what programs read from /etc: the loader's cache, users (getpwuid), name resolution for
# localhost (torchrun's rendezvous), time zone, alternatives (the cc and python links)
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf", "hosts",
       "host.conf", "hostname", "alternatives", "gai.conf", "mime.types")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
GPU_DEVICES = ("nvidia*", "dri", "kfd")
STAGING = "/tmp"  # where the new root is built: every Linux has it, and the host's is hidden anyway


def _fail(libc, what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def _bind(libc, fd: int, target: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    if libc.mount(f"/proc/self/fd/{fd}".encode(), target.encode(), None, MS_BIND | MS_REC, None) != 0:
        _fail(libc, f"bind {target}")


def _tmpfs(libc, target: str, options: bytes, flags: int = MS_NOSUID | MS_NODEV) -> None:
    os.makedirs(target, exist_ok=True)
    if libc.mount(b"tmpfs", target.encode(), b"tmpfs", flags, options) != 0:
        _fail(libc, f"tmpfs on {target}")


def enter(libc, work: str, readable: list[str], hide: tuple[str, ...] = ()) -> None:
    """Build the trial's root and move into it. `work` is bound writable at its own path (only its
    out/ and tmp/ are the trial's to write); `readable` folders at theirs. Runs after fork, as root,
    inside a private mount namespace."""
    sources, links, proc, sys_ = _open_sources(work, readable)
    root = STAGING
    _build(libc, root, sources, links, proc, sys_, hide)
    _pivot(libc, root)
    os.chdir(work)


def _open_sources(work: str, readable: list[str]):
    """Everything the root will hold, opened (O_PATH) before STAGING is covered, since a work dir
    may be under it: (sources as (fd, path in the root, is a folder), the system's top-level
    links, /proc, /sys or -1)."""
    sources: list[tuple[int, str, bool]] = []
    links: list[tuple[str, str]] = []

    def keep(path: str, at: str) -> None:
        sources.append((os.open(path, O_PATH), at, os.path.isdir(path)))

    for name in SYSTEM:
        path = "/" + name
        if os.path.islink(path):
            links.append((os.readlink(path), name))
        elif os.path.isdir(path):
            keep(path, name)
    for name in ETC:
        if os.path.exists("/etc/" + name):
            keep("/etc/" + name, "etc/" + name)
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            keep("/dev/" + name, "dev/" + name)
    for pattern in GPU_DEVICES:
        for path in glob.glob("/dev/" + pattern):
            keep(path, path[1:])
    for path in dict.fromkeys(os.path.realpath(p) for p in readable):
        if os.path.exists(path) and path != "/":
            keep(path, path[1:])
    keep(work, work[1:])
    proc, sys_ = os.open("/proc", O_PATH), os.open("/sys", O_PATH) if os.path.isdir("/sys") else -1
    return sources, links, proc, sys_


def _build(libc, root: str, sources, links, proc: int, sys_: int, hide: tuple[str, ...]) -> None:
    """The new root on a tmpfs at `root`: fresh tmpfs for the temporary folders, the sources bound
    in (and closed), /sys read-only, /dev's links to /proc, the hidden folders and files covered."""
    _tmpfs(libc, root, b"size=16m,mode=0755")
    for tmp in ("/tmp", "/var/tmp", "/dev/shm"):  # first: a work dir or venv under /tmp is bound over it
        _tmpfs(libc, root + tmp, b"size=256m,mode=1777")
    for fd, at, is_dir in sources:
        _bind(libc, fd, os.path.join(root, at), is_dir)
        os.close(fd)
    for target, name in links:
        os.symlink(target, os.path.join(root, name))
    _bind(libc, proc, root + "/proc", True)
    os.close(proc)
    if sys_ >= 0:
        _bind(libc, sys_, root + "/sys", True)
        os.close(sys_)
        libc.mount(None, (root + "/sys").encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    for hidden in hide:
        inside = root + os.path.realpath(hidden)
        if os.path.isdir(inside):
            _tmpfs(libc, inside, b"size=4k,mode=0555", MS_NOSUID | MS_NODEV | MS_RDONLY)
        elif os.path.isfile(inside):  # a file (an archive of the held-out data): an empty one over it
            empty = root + "/.hidden"
            open(empty, "w").close()
            fd = os.open(empty, O_PATH)
            _bind(libc, fd, inside, False)
            os.close(fd)
            libc.mount(None, inside.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    os.chmod(root, 0o755)


def _pivot(libc, root: str) -> None:
    """Make `root` the process's root: pivot_root with the old root detached, else chroot."""
    old = root + "/.old-root"
    os.mkdir(old)
    if SYS_PIVOT_ROOT is not None and libc.syscall(SYS_PIVOT_ROOT, root.encode(), old.encode()) == 0:
        os.chdir("/")
        if libc.umount2(b"/.old-root", MNT_DETACH) != 0:
            _fail(libc, "detach the old root")
        os.rmdir("/.old-root")
    else:  # e.g. a root that is not a mount point (initramfs): the trial is not root, so chroot holds
        os.rmdir(old)
        os.chroot(root)
