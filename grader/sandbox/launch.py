"""Starting one worker process: its command line (under bubblewrap with the seccomp filter and the slot's uid,
or plain), its environment and folders, and the limits its child sets before exec."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.config import PACKAGE_DIR, Limits
from grader.sandbox import seccomp
from grader.sandbox.bwrap import SANDBOX_DIR, Bubblewrap, bwrap_argv, write_etc
from grader.sandbox.limits import fallback_nproc, limit_resources, scrubbed_env

WORKER_PACKAGE = PACKAGE_DIR / "worker"
"""`grader.worker`, copied on its own for each worker as `ex4worker`: all of the grader a worker holds."""
BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1])\n"
    "from ex4worker.main import serve\n"
    "serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))\n"
)
"""The worker's `python -I -c` program; its arguments: library, module folder, threads, the two fds, process cap."""


@dataclass
class Command:
    """How to start one worker process, and what its child sets before exec."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    pass_fds: tuple[int, ...]
    """The worker's ends of the request and reply pipes."""
    nproc: int | None
    """RLIMIT_NPROC, set before exec (None: left alone)."""
    filter_fd: int = -1
    """The seccomp filter's pipe for bubblewrap (-1: none); closed here once the process is started."""

    def start(self, limits: Limits, device: str, cgroup_procs: tuple[str, ...]) -> subprocess.Popen[bytes]:
        """The started process, its stdout and stderr on one pipe; the child joins the cgroup and sets its limits."""
        nproc = self.nproc
        try:
            return subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(*self.pass_fds, *([self.filter_fd] if self.filter_fd >= 0 else [])),
                preexec_fn=lambda: limit_resources(limits, device, cgroup_procs, nproc),
            )
        finally:
            if self.filter_fd >= 0:
                os.close(self.filter_fd)


def worker_library(workdir: Path) -> Path:
    """The folder holding this worker's copy of `grader.worker` (as `ex4worker`), made on first use."""
    lib = workdir / "lib"
    if not lib.exists():
        shutil.copytree(WORKER_PACKAGE, lib / "ex4worker", ignore=shutil.ignore_patterns("__pycache__"))
    return lib


def sandboxed_command(bw: Bubblewrap, uid: int, module_dir: Path, workdir: Path, lib: Path, threads: int,
                      device: str, max_processes: int, fds: tuple[int, int]) -> Command:
    """The worker under bubblewrap as `uid`, with the filter; makes the bound folders readable for `uid`."""
    _readable(lib)
    _readable(module_dir)
    write_etc(workdir / "etc", uid)
    workdir.chmod(0o755)
    home = Path("/tmp")
    # RLIMIT_NPROC counts a real uid's processes. As root the sandbox runs as the slot's own
    # uid: the cap applies before bubblewrap starts. Otherwise the uid is the TA's, whose
    # desktop may run hundreds of threads: the worker sets the cap itself inside the user
    # namespace, where the kernel (5.14 and later) counts only the sandbox's processes.
    nproc, inside = (max_processes, 0) if bw.setpriv else (None, max_processes)
    filter_fd = seccomp.program_fd() if seccomp.SUPPORTED else -1
    argv = [*bwrap_argv(bw, uid, module_dir, lib, workdir / "etc", device,
                        seccomp_fd=filter_fd if filter_fd >= 0 else None),
            *_worker_argv(f"{SANDBOX_DIR}/lib", f"{SANDBOX_DIR}/submission", threads, fds, inside)]
    return Command(argv, scrubbed_env(home, threads, device, tmp=home), workdir, fds, nproc, filter_fd)


def plain_command(home: Path, module_dir: Path, lib: Path, threads: int, device: str, max_processes: int,
                  fds: tuple[int, int]) -> Command:
    """The worker as a plain process of the grader's user in `home` (where bubblewrap cannot run)."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    argv = _worker_argv(str(lib), str(module_dir), threads, fds, 0)
    return Command(argv, scrubbed_env(home, threads, device), home, fds, fallback_nproc(max_processes))


def _worker_argv(lib: str, module_dir: str, threads: int, fds: tuple[int, int], nproc_inside: int) -> list[str]:
    request_r, reply_w = fds
    return [sys.executable, "-I", "-c", BOOTSTRAP, lib, module_dir, str(threads), str(request_r), str(reply_w),
            str(nproc_inside)]


def _readable(folder: Path) -> None:
    """Let the sandbox's user read a folder the grader made (whatever the grader's umask)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
