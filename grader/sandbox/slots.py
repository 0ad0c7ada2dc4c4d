"""The machine's sandbox slots: SLOTS lock files, each lending its holder a uid and a cgroup name of its own,
and the sweep of what a killed grader left on the slots nobody holds."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from grader.errors import WorkerError, WorkerFailure
from grader.sandbox.cgroup import Cgroup, remove_stale
from grader.sandbox.keyrings import clear_keyrings, uids_with_keys
from grader.sandbox.procfs import kill_until_gone, processes_by_uid, processes_of

SLOT_UID_BASE = 60100
"""The sandbox of slot i runs as uid and gid SLOT_UID_BASE + i (when the grader is root)."""
SLOTS = 64
"""Concurrent workers on one machine; each holds a slot (a lock file) while it runs."""
SLOT_UIDS = range(SLOT_UID_BASE, SLOT_UID_BASE + SLOTS)


def slot_cgroup_name(index: int) -> str:
    """The name of slot `index`'s cgroup folders (below the grader's own cgroup)."""
    return f"ex4-grader-slot{index}"


def _slot_lock(index: int) -> int | None:
    """An fd holding slot `index`'s lock, or None when another process holds it."""
    # Machine-wide, whatever TMPDIR says: a batch gives each child a TMPDIR of its own.
    folder = Path("/tmp") / f"ex4-grader-slots-{os.geteuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(folder / str(index), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class Slot:
    """One of SLOTS concurrent sandboxes on this machine, held through a lock file."""

    def __init__(self) -> None:
        for index in range(SLOTS):
            fd = _slot_lock(index)
            if fd is not None:
                self.index, self._fd = index, fd
                return
        raise WorkerError(f"All {SLOTS} sandbox slots of this machine are in use.", WorkerFailure.CRASH)

    @property
    def uid(self) -> int:
        return SLOT_UID_BASE + self.index

    @property
    def cgroup_name(self) -> str:
        return slot_cgroup_name(self.index)

    def processes(self) -> list[int]:
        """Pids of the host's processes running as the slot's uid."""
        return processes_of(self.uid)

    def sweep(self) -> str | None:
        """SIGKILL every process of the slot's uid until none is left and empty the uid's keyrings (a root grader's
        slot uid runs nothing but its sandbox); None when done, else why the keyrings were not cleared, in words."""
        kill_until_gone(self.processes, rounds=100)
        return clear_keyrings(self.uid)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def sweep_free_slots() -> list[str]:
    """Remove what a grader killed mid-grading (SIGKILL, OOM) left on the slots nobody holds now; returns what, in words.

    That is the slot uids' processes and keyrings (the grader being root) and the slots' cgroup folders:
    a worker's own clean-up never ran, so whoever grades next (a batch, after each child) does it.
    """
    removed: list[str] = []
    if not sys.platform.startswith("linux"):
        return removed
    root = os.geteuid() == 0
    slot_uids = processes_by_uid(SLOT_UIDS) if root else {}
    keyed = uids_with_keys(SLOT_UIDS) if root else set()
    for index in range(SLOTS):
        stale = Cgroup.existing(slot_cgroup_name(index))
        uid = SLOT_UID_BASE + index
        if not stale and uid not in slot_uids and uid not in keyed:
            continue
        fd = _slot_lock(index)
        if fd is None:
            continue  # in use: its worker cleans up after itself
        try:
            if uid in slot_uids:
                kill_until_gone(lambda: processes_of(uid), rounds=100)
                removed.append(f"{len(slot_uids[uid])} process(es) of slot {index}")
            for folder in stale:
                remove_stale(folder)
                removed.append(str(folder))
            if uid in keyed:
                clear_keyrings(uid)  # keyrings once made stay listed, empty: not worth a word
        finally:
            os.close(fd)
    return removed
