"""A seccomp filter for the trial's processes: the kernel's key management calls (add_key,
request_key, keyctl) fail with ENOSYS. A uid's keyrings are the machine's, not a namespace's: a
key one phase adds is there for the next phase, and for the next trial given the same uid, past
every fresh folder and namespace. Nothing a recipe needs uses them.

Every call through another arch's entry fails the same way: a 64-bit process can still enter the
kernel as a 32-bit one (`int 0x80` on x86_64, where the kernel has ia32 emulation), and there the
key calls have other numbers. A recipe built for this machine never makes such a call."""

from __future__ import annotations

import ctypes
import errno
import platform

# (the arch's audit number, its key management calls)
_ARCHES = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}
_LD_ABS, _JEQ, _AND, _RET = 0x20, 0x15, 0x54, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, ALU|AND|K, RET|K
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_X32 = 0x40000000  # x86_64's x32 calls are the same numbers with this bit set
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_Insn))]


def program():
    """The filter for this machine's arch, built before fork; None where the arch is not known."""
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return None
    audit, calls = arch
    n = len(calls)
    insns = [(_LD_ABS, 0, 0, 4),  # seccomp_data.arch
             (_JEQ, 0, n + 3, audit),  # another arch (a 32-bit call): the errno return
             (_LD_ABS, 0, 0, 0),  # seccomp_data.nr
             (_AND, 0, 0, 0xFFFFFFFF & ~_X32)]
    insns += [(_JEQ, n - i, 0, nr) for i, nr in enumerate(calls)]  # each jumps to the errno return
    insns += [(_RET, 0, 0, _ALLOW), (_RET, 0, 0, _ERRNO | errno.ENOSYS)]
    array = (_Insn * len(insns))(*[_Insn(*i) for i in insns])
    prog = _Prog(len(insns), ctypes.cast(array, ctypes.POINTER(_Insn)))
    prog._keep = array  # the instructions live as long as the program
    return prog


def install(libc, prog) -> None:
    """In the child, after it dropped to the sandbox user: the filter, for it and all it starts."""
    zero = ctypes.c_ulong(0)  # prctl checks that unused arguments are 0: pass them as full words
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), zero, zero, zero) != 0 or \
            libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog), zero, zero) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")
