"""Linux numbers the sandbox hands to libc (unshare, mount, ioctl, prctl): Python's os module
has no names for them."""

import os

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWIPC = 0x00020000, 0x40000000, 0x20000000, 0x08000000
MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV, MS_BIND, MS_RDONLY, MS_NOEXEC = 0x4000, 0x40000, 0x2, 0x4, 0x1000, 0x1, 0x8
MNT_DETACH = 2
O_PATH = getattr(os, "O_PATH", 0o10000000)
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_PDEATHSIG = 1
