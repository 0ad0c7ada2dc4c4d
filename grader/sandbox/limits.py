"""What a worker process is limited to beyond its sandbox: the session, cgroup and rlimits its child sets before
exec, the process budget of a worker without a sandbox, and its scrubbed environment."""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path

from grader.config import Device, Limits
from grader.sandbox import seccomp
from grader.sandbox.keyrings import join_fresh_session_keyring, libc
from grader.sandbox.procfs import tasks_of

PR_SET_PDEATHSIG = 1


def limit_resources(limits: Limits, device: str, cgroup_procs: tuple[str, ...] = (), nproc: int | None = None) -> None:
    """Runs in the child before exec: its own session, its cgroup and its resource limits.

    `nproc` (RLIMIT_NPROC) is counted per real uid: the slot's own uid when the grader is root; else
    the grader's user, whose other processes count too (see `fallback_nproc`). None leaves it alone.
    """
    os.setsid()
    if sys.platform.startswith("linux"):
        # Killed with the grading process even when that is SIGKILLed (a batch job past its time):
        # bwrap's own --die-with-parent then takes the whole sandbox with it.
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if seccomp.SUPPORTED:
            # A fresh, empty session keyring: the grader's own (a TA's login keys) is not the sandbox's.
            join_fresh_session_keyring()
    for procs in cgroup_procs:
        with open(procs, "w") as fh:
            fh.write(str(os.getpid()))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    cpu = int(limits.total_timeout_s * 4) + 60
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    # CUDA reserves huge address ranges, so the address-space cap is for CPU workers only.
    if device == Device.CPU:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if nproc is not None:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        except (ValueError, OSError):
            pass


def fallback_nproc(max_processes: int) -> int | None:
    """RLIMIT_NPROC for a worker without a sandbox: none for root (never limited), else the budget on
    top of the threads the grader's user already runs (which the kernel counts too)."""
    if os.geteuid() == 0:
        return None
    return len(tasks_of(os.getuid())) + max_processes


def scrubbed_env(home: Path, threads: int, device: str, tmp: Path | None = None) -> dict[str, str]:
    """The worker's whole environment: nothing of the grader's (tokens, paths) leaks in."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(tmp if tmp is not None else home / "tmp"),
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "TORCH_HOME": str(home / ".torch"),
        "OMP_NUM_THREADS": str(threads),
        # Idle OpenMP threads sleep instead of spinning: with several gradings on few cores, spinning
        # threads steal the cores the working ones need (measured: 2 gradings on 2 cores, 4x slower).
        "OMP_WAIT_POLICY": "PASSIVE",
        "MKL_NUM_THREADS": str(threads),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0") if device == Device.CUDA else "",
    }
    return env
