"""The kernel's keyrings, which belong to a uid and outlive its processes: a fresh session keyring for each
worker, and a slot uid's own keyrings cleared before and after each use (x86_64 Linux, keyctl by number)."""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path
from typing import Any

from grader.sandbox import seccomp

SYS_KEYCTL = 250
"""keyctl's number on x86_64, the one architecture the sandbox's keyring handling (and filter) is written for."""
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_CLEAR = 7
KEYCTL_GET_PERSISTENT = 22
KEY_SPEC_THREAD_KEYRING = -1
KEY_SPEC_USER_KEYRING = -4
KEY_SPEC_USER_SESSION_KEYRING = -5


@functools.lru_cache(maxsize=1)
def libc() -> Any:
    """The C library (keyctl, prctl), loaded before any fork (dlopen is not for a child between fork and exec)."""
    return ctypes.CDLL(None, use_errno=True)


def join_fresh_session_keyring() -> None:
    """Give this process a new, empty session keyring (in the worker's child before exec; system calls only)."""
    libc().syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None)


def clear_keyrings(uid: int) -> str | None:
    """Empty `uid`'s user and user-session keyrings (the grader being root); None when done, else why not, in words.

    Those keyrings belong to the uid, not to a process: a key one submission left there would be
    read by the next one on the same slot. A forked child becomes `uid` and clears both.
    """
    if not seccomp.SUPPORTED or os.geteuid() != 0:
        return "keyrings are cleared by a root grader on x86_64 Linux only"
    lib = libc()
    pid = os.fork()
    if pid == 0:  # only system calls until _exit: this process may have had threads
        code = 1
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            rings = [KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING]
            # The uid's persistent keyring outlives its other ones (days); none where the kernel lacks them.
            persistent = lib.syscall(SYS_KEYCTL, KEYCTL_GET_PERSISTENT, ctypes.c_long(-1),
                                     ctypes.c_long(KEY_SPEC_THREAD_KEYRING))
            rings += [persistent] if persistent > 0 else []
            failed = [spec for spec in rings if lib.syscall(SYS_KEYCTL, KEYCTL_CLEAR, ctypes.c_long(spec)) != 0]
            code = 2 if failed else 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return f"the keyrings of uid {uid} could not be cleared (exit status {os.waitstatus_to_exitcode(status)})"
    return None


def uids_with_keys(uids: range) -> set[int]:
    """The uids in `uids` the kernel holds keys or keyrings for (/proc/key-users)."""
    try:
        lines = Path("/proc/key-users").read_text().splitlines()
    except OSError:
        return set()
    found = set()
    for line in lines:
        head = line.split(":", 1)[0].strip()
        if head.isdigit() and int(head) in uids:
            found.add(int(head))
    return found
