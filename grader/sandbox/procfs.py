"""What the host's /proc says about processes: by uid, by PID namespace, their peak memory; and killing them for good."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable, Iterable


def sandbox_namespaces(bwrap_pid: int) -> set[str]:
    """The PID namespaces of a running bubblewrap's children (its sandbox), other than this process's."""
    found = set()
    for task in Path(f"/proc/{bwrap_pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                found.add(os.readlink(f"/proc/{child}/ns/pid"))
            except OSError:
                pass
    found.discard(os.readlink("/proc/self/ns/pid"))
    return found


def processes_in(namespaces: set[str]) -> list[int]:
    """Pids of the host's live processes in one of the given PID namespaces (zombies are already gone)."""

    def live_in(pid: str) -> bool:
        if os.readlink(f"/proc/{pid}/ns/pid") not in namespaces:
            return False
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"

    return _host_pids(live_in)


def tasks_of(uid: int) -> list[str]:
    """The host's threads (what RLIMIT_NPROC counts) whose process has real uid `uid`, as /proc paths."""
    tasks = []
    for pid in processes_of(uid):
        try:
            tasks += [f"/proc/{pid}/task/{t}" for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            pass
    return tasks


def processes_of(uid: int) -> list[int]:
    """Pids of the host's processes whose real uid is `uid`."""

    def owned(pid: str) -> bool:
        with open(f"/proc/{pid}/status", "rb") as fh:
            return any(line.startswith(b"Uid:") and int(line.split()[1]) == uid for line in fh)

    return _host_pids(owned)


def processes_by_uid(uids: range) -> dict[int, list[int]]:
    """Each uid in `uids` that runs processes, to their pids, in one pass over /proc."""
    found: dict[int, list[int]] = {}

    def note_uid(pid: str) -> bool:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Uid:"):
                    uid = int(line.split()[1])
                    if uid in uids:
                        found.setdefault(uid, []).append(int(pid))
                    return False
        return False

    _host_pids(note_uid)
    return found


def _host_pids(match: Callable[[str], bool]) -> list[int]:
    """Pids of the host's processes for which `match(pid)` holds; one that goes while being read is skipped."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if match(entry):
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return pids


def peak_rss(pid: int) -> int:
    """A process's peak resident memory (VmHWM) in bytes; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def kill_until_gone(find: Callable[[], Iterable[int]], rounds: int) -> None:
    """SIGKILL what `find` lists until it lists nothing (a fork can race one round), at most `rounds` times."""
    for _ in range(rounds):
        pids = list(find())
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
