"""Running the student's code in its own worker process, and talking to it.

The worker is a fresh Python process in a throwaway folder with a scrubbed environment and
resource limits. It holds a copy of `grader.worker` only: the hidden checks, the reference
and the results are never in its view. Replies are read with a deadline; a worker that dies
or hangs is killed with its whole process group, and the next request starts a new one.
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.config import Limits
from grader.errors import WorkerError
from grader.worker import protocol

WORKER_PACKAGE = Path(__file__).resolve().parent / "worker"


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs: the student's module folder, a folder of its own, limits."""

    module_dir: Path
    workdir: Path
    limits: Limits
    threads: int = 2
    device: str = "cpu"


class OutputLog:
    """The worker's stdout and stderr, keeping the first and last bytes only."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self.lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        with self.lock:
            room = self.keep - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            self.tail += chunk
            if len(self.tail) > self.keep:
                self.dropped += len(self.tail) - self.keep
                del self.tail[: len(self.tail) - self.keep]

    def text(self) -> str:
        with self.lock:
            middle = f"\n[… {self.dropped} bytes of output left out …]\n" if self.dropped else ""
            return (bytes(self.head) + middle.encode() + bytes(self.tail)).decode("utf-8", "replace")


class _DeadlineReader:
    """A file-like reader on a pipe that gives up at a deadline."""

    def __init__(self, fd: int, deadline: float) -> None:
        self.fd = fd
        self.deadline = deadline

    def read(self, n: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
            raise TimeoutError
        return os.read(self.fd, min(n, 1 << 20))


def _limit_resources(limits: Limits, device: str) -> None:
    """Runs in the child before exec: its own session and its resource limits."""
    os.setsid()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    cpu = int(limits.total_timeout_s * 4) + 60
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    # CUDA reserves huge address ranges, so the address-space cap is for CPU workers only.
    if device == "cpu":
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    except (ValueError, OSError):
        pass


def scrubbed_env(home: Path, threads: int, device: str) -> dict[str, str]:
    """The worker's whole environment: nothing of the grader's (tokens, paths) leaks in."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "TORCH_HOME": str(home / ".torch"),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0") if device == "cuda" else "",
    }
    return env


FALLBACK_ISOLATION = "worker process with resource limits only (no bubblewrap)"


class Worker:
    """One student worker process, restarted on demand after a crash or a hang."""

    isolation = FALLBACK_ISOLATION
    """How the worker is isolated, in words, for every report and results.json."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = OutputLog(spec.limits.log_bytes)
        self.starts = 0
        self.import_info: dict[str, Any] | None = None
        self.import_error: dict[str, Any] | None = None
        self.busy_s = 0.0
        self._request_w = -1
        self._reply_r = -1

    # ------------------------------------------------------------------ lifecycle

    def _launch(self) -> None:
        spec = self.spec
        home = spec.workdir / f"run{self.starts}"
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        lib = spec.workdir / "lib"
        if not lib.exists():
            shutil.copytree(WORKER_PACKAGE, lib / "ex4worker", ignore=shutil.ignore_patterns("__pycache__"))
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        bootstrap = (
            "import sys; sys.path.insert(0, sys.argv[1])\n"
            "from ex4worker.main import serve\n"
            "serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))\n"
        )
        argv = [sys.executable, "-I", "-c", bootstrap, str(lib), str(spec.module_dir), str(spec.threads),
                str(request_r), str(reply_w)]
        limits, device = spec.limits, spec.device
        self.proc = subprocess.Popen(
            argv, cwd=home, env=scrubbed_env(home, spec.threads, device),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(request_r, reply_w), preexec_fn=lambda: _limit_resources(limits, device),
        )
        os.close(request_r)
        os.close(reply_w)
        self._request_w, self._reply_r = request_w, reply_r
        self.starts += 1
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            self.log.feed(chunk)

    def ensure_started(self) -> None:
        """Start a worker and import the student's module, unless one is running."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.kill()
        self._launch()
        reply = self._exchange({"op": "import"}, self.spec.limits.import_timeout_s, "importing your module")
        if reply.get("ok"):
            self.import_info = reply["value"]
            self.import_error = None
        else:
            self.import_error = reply.get("error") or {}

    def kill(self) -> None:
        """End the worker and every process in its session."""
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self._request_w, self._reply_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._request_w = self._reply_r = -1

    close = kill

    # ------------------------------------------------------------------ requests

    def request(self, message: dict[str, Any], timeout: float, what: str) -> dict[str, Any]:
        """Send one request and return the worker's reply; WorkerError if it dies, hangs or misbehaves."""
        if self.busy_s >= self.spec.limits.total_timeout_s:
            raise WorkerError(f"Your code used up the time for the whole submission "
                              f"({self.spec.limits.total_timeout_s:.0f} s); the remaining checks were not run.", "budget")
        self.ensure_started()
        if self.import_error is not None:
            err = self.import_error
            raise WorkerError(f"Importing your module failed: {err.get('type', '')}: {err.get('message', '')}", "import")
        timeout = min(timeout, self.spec.limits.total_timeout_s - self.busy_s)
        return self._exchange(message, timeout, what)

    def _exchange(self, message: dict[str, Any], timeout: float, what: str) -> dict[str, Any]:
        assert self.proc is not None
        started = time.monotonic()
        deadline = started + timeout
        writer_error: list[BaseException] = []

        def send() -> None:
            try:
                with open(self._request_w, "wb", buffering=0, closefd=False) as fh:
                    protocol.write_message(fh, message)
            except (BrokenPipeError, OSError) as exc:
                writer_error.append(exc)

        writer = threading.Thread(target=send, daemon=True)
        writer.start()
        try:
            reply = protocol.read_message(_DeadlineReader(self._reply_r, deadline), self.spec.limits.max_message_bytes)
        except TimeoutError:
            self.kill()
            raise WorkerError(f"Your code did not finish {what} within {timeout:.0f} seconds and was stopped.",
                              "timeout") from None
        except EOFError:
            raise WorkerError(f"Your code ended the worker process while {what} ({self._exit_text()}).", "crash") from None
        except protocol.ProtocolError as exc:
            self.kill()
            raise WorkerError(f"The worker's reply while {what} could not be read: {exc}.", "protocol") from None
        finally:
            self.busy_s += time.monotonic() - started
        writer.join(timeout=1)
        if not isinstance(reply, dict) or "ok" not in reply:
            self.kill()
            raise WorkerError(f"The worker's reply while {what} was not a reply.", "protocol")
        return reply

    def _exit_text(self) -> str:
        proc = self.proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        if code is None:
            return "it stopped answering"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            hint = {"SIGKILL": ", most likely for using too much memory or time",
                    "SIGSEGV": ", a segmentation fault", "SIGXCPU": ", over the CPU time limit",
                    "SIGXFSZ": ", writing a file over the size limit", "SIGABRT": ", an abort (often out of memory)"}.get(name, "")
            return f"killed by {name}{hint}"
        return f"exit status {code}"
