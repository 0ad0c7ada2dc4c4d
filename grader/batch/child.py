"""The child process that grades one submission: how it is started and limited, and how it tells how it ended.

The child is ``python -m grader.batch job TARGET ZIP SETTINGS_JSON`` (see :func:`main`), in a session
of its own, with its work folder (where SETTINGS_JSON lies) as the grading's output folder. It exits
0 when the grading wrote its results; on a GraderError it writes ``setup_failure.json`` beside its
settings (the error's class name, message and exit code) and exits with that error's code; the
parent stops the batch when the code is one of :data:`SETUP_ERRORS`. Anything else (a crash, a
signal, no report) is that submission's crash verdict.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, Generator

from grader.batch.cache import JobFailed, settings_from_json, settings_to_json, write_json
from grader.batch.status import RunStatus
from grader.config import Settings
from grader.errors import ConfigError, DataError, GraderError, SandboxError, exit_code, interrupt_on_sigterm
from grader.scoring import GradingResult

GradeFn = Callable[[Path, Settings], GradingResult]
"""A grading function run in this process (tests); the batch otherwise names one, ``"module:function"``."""
DEFAULT_GRADE = "grader.grading:grade_submission"
DEFAULT_TIMEOUT_S = 900.0
"""The hard limit on one child, set-up and report included."""
LOG_TAIL = 4000
"""Characters of a crashed child's log quoted in its crash verdict's log."""
SETUP_FAILURE_FILE = "setup_failure.json"
"""What a child that ended with a GraderError writes beside its settings file."""
MAX_SETUP_FAILURE_BYTES = 1 << 16
SETUP_ERRORS: dict[int, type[GraderError]] = {e.exit_code: e for e in (ConfigError, DataError, SandboxError)}
"""Child exit codes that mean the set-up is broken for every submission, and the error they raise here."""


class _Stop(Exception):
    """The batch is stopping; do not start another child."""


class Children:
    """The running child processes, so that an interrupt can stop them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen[bytes]] = set()
        self.stopping = False

    def check(self) -> None:
        """Refuse to start more work once the batch is stopping."""
        if self.stopping:
            raise _Stop()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            if self.stopping:
                _kill_group(proc)
                proc.wait()  # reaped here: an unwaited Popen warns when collected
                raise _Stop()
            self.procs.add(proc)

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.procs.discard(proc)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child and everything it started in its session."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def child_time_limit(timeout_s: float) -> float:
    """The `grader run` time limit a child gets under the batch's hard `timeout_s`: room left to end, report and exit."""
    return max(timeout_s / 2, timeout_s - max(60.0, 0.15 * timeout_s))


def run_child(zip_path: Path, settings: Settings, target: str, timeout_s: float, work: Path,
              children: Children) -> tuple[RunStatus, BaseException | None]:
    """Grade one zip in a child process with a hard time limit: graded, crashed or timeout, and the failure.

    The child's temporary files (the student's extracted files, the worker's folder) go to a folder
    this process makes beside `work` and removes when the child has ended, however it ended; the
    sandbox slots it held are swept too (see `sweep_free_slots`): a SIGKILLed child cleans up nothing.
    A set-up failure the child reports raises its GraderError here (see :data:`SETUP_ERRORS`).
    """
    # The child's own overall limit ends it in a verdict with the checks done so far, before the kill.
    settings = replace(settings, time_limit_s=min(settings.time_limit_s, child_time_limit(timeout_s)))
    settings_file = work / "settings.json"
    write_json(settings_file, settings_to_json(settings))
    (work / SETUP_FAILURE_FILE).unlink(missing_ok=True)
    log_path = work / "job.log"
    cmd = [sys.executable, "-m", "grader.batch", "job", target, str(zip_path), str(settings_file)]
    temp = work.parent / f"{work.name}.tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(mode=0o700)
    with open(log_path, "ab") as log, _removed_after(temp):
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "TMPDIR": str(temp)})
        try:
            children.add(proc)
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait()
                return RunStatus.TIMEOUT, JobFailed(f"Grading took longer than {timeout_s:g} s and was stopped.")
        finally:
            _kill_group(proc)  # leftovers of a finished child (its worker) go too
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            children.discard(proc)
    if children.stopping:
        raise _Stop()
    if code != 0:
        setup = _setup_failure(work / SETUP_FAILURE_FILE, code)
        if setup is not None:
            # Every submission would fail alike (a broken sandbox, missing data): stop the batch
            # rather than record hundreds of crash verdicts; nothing is cached for this one.
            error, message = setup
            raise error(f"Grading {zip_path.name} failed: {message}")
        text = log_path.read_text(encoding="utf-8", errors="replace")
        return RunStatus.CRASHED, JobFailed(f"The grading process exited with code {code}.\n{text[-LOG_TAIL:]}")
    return RunStatus.GRADED, None


def _setup_failure(path: Path, code: int) -> tuple[type[GraderError], str] | None:
    """The set-up error and message a child that exited with `code` reported; None when it reported none."""
    error = SETUP_ERRORS.get(code)
    if error is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(MAX_SETUP_FAILURE_BYTES))
        message, reported = data["message"], data["exit_code"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # died before it could say why: a crash of this submission
    if reported != code or not isinstance(message, str):
        return None
    return error, message.strip()


@contextlib.contextmanager
def _removed_after(temp: Path) -> Generator[None, None, None]:
    """Remove a child's temporary folder, and what its sandboxes left on free slots, once the child has ended."""
    from grader.sandbox import sweep_free_slots

    try:
        yield
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        sweep_free_slots()


# --------------------------------------------------------------------------- in the child


def main(argv: list[str]) -> None:
    """Child process entry: ``job TARGET ZIP SETTINGS_JSON`` grades one zip with TARGET (module:function)."""
    _, target, zip_path, settings_file = argv
    module, _, name = target.partition(":")
    grade = getattr(importlib.import_module(module), name)
    settings = settings_from_json(json.loads(Path(settings_file).read_text(encoding="utf-8")))
    interrupt_on_sigterm()  # a SIGTERMed child still removes its sandbox and temporary files
    try:
        grade(Path(zip_path), settings)
    except KeyboardInterrupt:
        print("Grading was stopped by a signal before it finished.", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)  # as a process killed by SIGTERM would
    except GraderError as exc:
        # Possibly the set-up's fault, not this submission's: the parent decides by the exit code.
        write_json(Path(settings_file).with_name(SETUP_FAILURE_FILE),
                   {"error": type(exc).__name__, "message": exc.message, "exit_code": exit_code(exc)})
        print(f"{type(exc).__name__}: {exc.message}", file=sys.stderr)
        sys.exit(exit_code(exc))
