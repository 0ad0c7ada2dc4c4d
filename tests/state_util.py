"""Helpers of the tests that look for state a submission leaves behind: a pinned slot, the host's view of keyrings."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

from grader import sandbox
from grader.sandbox import keyrings
from grader.sandbox import worker as sandbox_worker

SLOT_ENV = "EX4_TEST_SLOT"
"""The slot a batch child graded by `grade_on_pinned_slot` takes (a test sets it)."""


def free_slot() -> int:
    """The index of a slot nobody holds now (other gradings on this machine take the others)."""
    slot = sandbox.Slot()
    index = slot.index
    slot.release()
    return index


def pinned_slot(index: int) -> type[sandbox.Slot]:
    """A Slot class that always takes slot `index`, waiting while someone else holds it."""

    class Pinned(sandbox.Slot):
        def __init__(self) -> None:
            folder = Path("/tmp") / f"ex4-grader-slots-{os.geteuid()}"
            folder.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(folder / str(index), os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.index, self._fd = index, fd

    return Pinned


@contextlib.contextmanager
def holding(index: int) -> Iterator[None]:
    """Hold slot `index` (waiting for it): what is on it then is no other grading's, on this busy machine."""
    slot = pinned_slot(index)()
    try:
        yield
    finally:
        slot.release()


def grade_on_pinned_slot(zip_path: Path, settings: Any) -> Any:
    """A batch child's grading function: grade_submission with the slot pinned to $EX4_TEST_SLOT."""
    from grader.grading import grade_submission

    sandbox_worker.Slot = pinned_slot(int(os.environ[SLOT_ENV]))  # type: ignore[misc]
    return grade_submission(zip_path, settings)


KEYCTL_READ = 11
KEYCTL_SEARCH = 10
KEY_SPEC_SESSION_KEYRING = -3


def keys_of(uid: int) -> dict[str, int]:
    """How many keys `uid`'s user and user-session keyrings hold, read as `uid` in a forked child (root only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        counts = {}
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for name, spec in (("user", keyrings.KEY_SPEC_USER_KEYRING), ("user-session", keyrings.KEY_SPEC_USER_SESSION_KEYRING)):
                # KEYCTL_READ on a keyring returns its key serials' size in bytes (4 each).
                size = libc.syscall(keyrings.SYS_KEYCTL, KEYCTL_READ, ctypes.c_long(spec), None, ctypes.c_long(0))
                counts[name] = size // 4 if size >= 0 else -ctypes.get_errno()
            os.write(write, json.dumps(counts).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def add_key_as(uid: int, description: str, payload: bytes) -> None:
    """Put a user key into `uid`'s user keyring, as a submission could without the filter (root only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            serial = libc.syscall(248, b"user", description.encode(), payload, ctypes.c_size_t(len(payload)),
                                  ctypes.c_long(keyrings.KEY_SPEC_USER_KEYRING))
            code = 0 if serial > 0 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "add_key as the slot's uid failed"


def in_own_session_keyring(description: str) -> bool:
    """Whether this process's session keyring holds a user key of that description."""
    libc = ctypes.CDLL(None, use_errno=True)
    found = libc.syscall(keyrings.SYS_KEYCTL, KEYCTL_SEARCH, ctypes.c_long(KEY_SPEC_SESSION_KEYRING), b"user",
                         description.encode(), ctypes.c_long(0))
    return found > 0
