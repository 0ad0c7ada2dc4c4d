"""The sandbox's seccomp filter: a classic-BPF program that denies the system calls a worker never needs.

Written by hand (libseccomp is not a dependency) for x86_64 only: a call from another architecture
(the 32-bit `int 0x80` entry) kills the process, an x32 call (bit 0x40000000 set) is denied, and
the calls below fail with EPERM. They are the ones that leave kernel state behind a worker
(keyrings), reach other processes or the kernel's inner workings (ptrace, perf, bpf,
userfaultfd, modules, io_uring), or rebuild what bubblewrap took away (mounts, namespaces).
`clone` is allowed unless it asks for a new namespace (threads and fork ask for none); `clone3`
answers ENOSYS, its flags being out of a filter's reach, and glibc then falls back to `clone`.
bubblewrap installs the program (`--seccomp FD`) just before it runs the worker's command.
"""

from __future__ import annotations

import errno
import os
import platform
import struct
import sys

SUPPORTED = sys.platform.startswith("linux") and platform.machine() == "x86_64"
"""Whether this machine runs the filter (elsewhere the sandbox goes without it and says so)."""
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little endian).
_NR, _ARCH, _ARG0 = 0, 4, 16

# Classic BPF opcodes.
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

DENIED = {
    "ptrace": 101, "syslog": 103, "uselib": 134, "personality": 135, "ustat": 136, "sysfs": 139,
    "vhangup": 153, "pivot_root": 155, "_sysctl": 156, "adjtimex": 159, "chroot": 161, "acct": 163,
    "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173, "create_module": 174,
    "init_module": 175, "delete_module": 176, "get_kernel_syms": 177, "query_module": 178, "quotactl": 179,
    "nfsservctl": 180, "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298, "fanotify_init": 300,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "mount_setattr": 442, "quotactl_fd": 443,
}
"""x86_64 system call numbers that fail with EPERM in the sandbox (personality: see PERSONALITIES)."""

SYS_CLONE = 56
SYS_CLONE3 = 435
CLONE_NEW_FLAGS = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
                   | 0x40000000)
"""CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (CLONE_NEWTIME is unshare's only)."""
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
"""personality() values allowed: Linux, with or without UNAME26-free flags, and the query (as Docker does)."""


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program() -> bytes:
    """The filter as an array of struct sock_filter, the form bubblewrap's --seccomp reads."""
    eperm = RET_ERRNO | errno.EPERM
    out = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, AUDIT_ARCH_X86_64, jt=1),
        _insn(_RET_K, RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _NR),
        _insn(_JGE_K, X32_SYSCALL_BIT, jf=1),
        _insn(_RET_K, eperm),
        _insn(_JEQ_K, SYS_CLONE3, jf=1),
        _insn(_RET_K, RET_ERRNO | errno.ENOSYS),
    ]
    for name, nr in sorted(DENIED.items(), key=lambda item: item[1]):
        if name == "personality":
            continue
        out += [_insn(_JEQ_K, nr, jf=1), _insn(_RET_K, eperm)]
    # The flags' low 32 bits hold every CLONE_NEW* flag (args[0] is read from its low word).
    out += [_insn(_JEQ_K, SYS_CLONE, jf=4),
            _insn(_LD_W_ABS, _ARG0),
            _insn(_JSET_K, CLONE_NEW_FLAGS, jf=1),
            _insn(_RET_K, eperm),
            _insn(_RET_K, RET_ALLOW)]
    allowed = len(PERSONALITIES)
    out += [_insn(_JEQ_K, DENIED["personality"], jf=allowed + 3), _insn(_LD_W_ABS, _ARG0)]
    for i, value in enumerate(PERSONALITIES):
        out.append(_insn(_JEQ_K, value, jt=allowed - i))  # to the ALLOW after the EPERM below
    out += [_insn(_RET_K, eperm), _insn(_RET_K, RET_ALLOW)]
    out.append(_insn(_RET_K, RET_ALLOW))
    return b"".join(out)


def program_fd() -> int:
    """A pipe's read end holding the filter, for bubblewrap's --seccomp (the caller closes it after the launch)."""
    data = program()
    read, write = os.pipe()
    try:
        os.write(write, data)  # a few hundred bytes: far below a pipe's buffer
    finally:
        os.close(write)
    return read
