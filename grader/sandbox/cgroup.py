"""A worker's memory and process budget as a cgroup (v2, or v1's memory and pids hierarchies) below the grader's own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.procfs import kill_until_gone


@dataclass
class Cgroup:
    """A memory and process budget for one worker: a cgroup v2, or v1's memory and pids hierarchies."""

    dirs: dict[str, Path]
    """Controller ("memory", "pids", or "v2") to the worker's cgroup folder."""
    v2: bool
    peak_bytes: int = 0

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> Cgroup | None:
        """A fresh cgroup with the limits set, or None where no writable memory and pids cgroup exists."""
        own = _own_cgroups()
        made: dict[str, Path] = {}
        try:
            if "" in own and Path("/sys/fs/cgroup/cgroup.controllers").exists():
                parent = Path("/sys/fs/cgroup") / own[""].lstrip("/")
                control = (parent / "cgroup.subtree_control").read_text().split()
                if not {"memory", "pids"} <= set(control):
                    (parent / "cgroup.subtree_control").write_text("+memory +pids")
                made["v2"] = parent / name
                remove_stale(made["v2"])
                made["v2"].mkdir(exist_ok=True)
                (made["v2"] / "memory.max").write_text(str(memory_bytes))
                _try_write(made["v2"] / "memory.swap.max", "0")
                (made["v2"] / "pids.max").write_text(str(processes))
                return cls(made, True)
            for controller in ("memory", "pids"):
                mount = Path("/sys/fs/cgroup") / controller
                parent = mount / own.get(controller, "/").lstrip("/")
                if not parent.is_dir():
                    parent = mount
                made[controller] = parent / name
                remove_stale(made[controller])
                made[controller].mkdir(exist_ok=True)
            (made["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
            _try_write(made["memory"] / "memory.memsw.limit_in_bytes", str(memory_bytes))
            (made["pids"] / "pids.max").write_text(str(processes))
            return cls(made, False)
        except OSError:
            for folder in made.values():
                _try_rmdir(folder)
            return None

    @staticmethod
    def existing(name: str) -> list[Path]:
        """The folders of cgroup `name` that exist now below this process's cgroups (v2, or v1's memory and pids)."""
        own = _own_cgroups()
        root = Path("/sys/fs/cgroup")
        candidates = [root / own[""].lstrip("/") / name] if "" in own else []
        candidates += [root / c / own.get(c, "/").lstrip("/") / name for c in ("memory", "pids")]
        candidates += [root / c / name for c in ("memory", "pids")]
        return [c for c in dict.fromkeys(candidates) if c.is_dir()]

    def procs_files(self) -> tuple[str, ...]:
        return tuple(str(d / "cgroup.procs") for d in self.dirs.values())

    def peak(self) -> int:
        """Peak memory use of the cgroup so far, in bytes (0 when the kernel does not say)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        folder = self.dirs["v2" if self.v2 else "memory"]
        try:
            self.peak_bytes = max(self.peak_bytes, int((folder / name).read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
        return self.peak_bytes

    def kill_and_remove(self) -> None:
        """SIGKILL every process in the cgroup, then remove it."""
        self.peak()
        if self.v2:
            _try_write(self.dirs["v2"] / "cgroup.kill", "1")
        kill_until_gone(self.procs, rounds=50)
        for folder in self.dirs.values():
            _rmdir_soon(folder)

    def procs(self) -> set[int]:
        """The processes in the cgroup now."""
        pids: set[int] = set()
        for folder in self.dirs.values():
            try:
                pids |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return pids


def remove_stale(folder: Path) -> None:
    """Kill what is in a cgroup folder left by a grader that was killed, and remove it (a fresh one has fresh counters)."""
    if not folder.is_dir():
        return
    _try_write(folder / "cgroup.kill", "1")

    def procs() -> list[int]:
        try:
            return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    kill_until_gone(procs, rounds=50)
    _rmdir_soon(folder)


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per controller ("" for v2's unified hierarchy)."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            out[controller] = path
    return out


def _try_write(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
        return True
    except OSError:
        return False


def _rmdir_soon(folder: Path) -> None:
    """Remove an emptied cgroup folder, retrying for a second while the kernel still counts its killed processes."""
    for _ in range(50):
        if _try_rmdir(folder):
            return
        time.sleep(0.02)


def _try_rmdir(path: Path) -> bool:
    try:
        path.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False
