"""The grader's one exception tree: each carries a sentence for a person, and `exit_code` maps it to the exit status.

Every error class of the grader lives here; `exit_code` is the one place an exception becomes a
process's exit status (the CLI and a batch child both use it).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What the `grader` command's exit status says (README, "The CLI")."""

    OK = 0
    FAILED = 1  # a selftest or `template --check` that found a problem
    GRADER = 2
    CONFIG = 3
    DATA = 4
    INPUT = 5
    WORKSHEET = 6
    OVERRIDES = 7
    SANDBOX = 8
    INTERRUPTED = 130


class GraderError(Exception):
    """A failure of the grader itself (not of a submission); the CLI shows `message` and exits."""

    exit_code: int = ExitCode.GRADER

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(GraderError):
    """Settings, rubric or data set are missing or inconsistent."""

    exit_code = ExitCode.CONFIG


class DataError(GraderError):
    """The CIFAR-10 data set could not be found or read."""

    exit_code = ExitCode.DATA


class SandboxError(GraderError):
    """The sandbox could not start the student's worker: the grading machine's fault, never the submission's."""

    exit_code = ExitCode.SANDBOX

    advice = ("This is the grading machine's problem, not the submission's: fix it (README, \"The sandbox\") "
              "and grade again; results already finished are kept.")


class InputError(GraderError):
    """The batch input is not a folder of zips nor a Moodle download."""

    exit_code = ExitCode.INPUT


class WorksheetError(GraderError):
    """The grading worksheet cannot be read or lacks a column Moodle needs."""

    exit_code = ExitCode.WORKSHEET


class OverridesError(GraderError):
    """The overrides file cannot be read or names a question or points the rubric does not have."""

    exit_code = ExitCode.OVERRIDES


def exit_code(exc: BaseException) -> int:
    """The exit status for an exception that ends a grader process: its class's code, 130 for an interrupt.

    Anything else is a bug of the grader (2): its traceback is for a developer, and the process says so.
    """
    if isinstance(exc, GraderError):
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.GRADER


class SubmissionRejected(Exception):
    """A submission cannot be graded; `reason` says why in the student's terms.

    Not a GraderError: a rejected submission still gets a verdict and a report.
    """

    def __init__(self, reason: str, flag: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.flag = flag


class WorkerFailure(enum.StrEnum):
    """How a call into the student's worker failed (`WorkerError.kind`)."""

    CRASH = "crash"  # the worker process ended (a crash, a kill, an exit of the student's code)
    TIMEOUT = "timeout"  # it did not answer within the call's time or the submission's
    PROTOCOL = "protocol"  # its reply could not be read or was not a reply
    SANDBOX = "sandbox"  # the sandbox could not start it: the machine's fault
    IMPORT = "import"  # the student's module could not be imported, so nothing can be called


class WorkerError(Exception):
    """The student's worker process died, hung or broke the protocol."""

    def __init__(self, message: str, kind: WorkerFailure | str = WorkerFailure.CRASH) -> None:
        super().__init__(message)
        self.message = message
        self.kind = WorkerFailure(kind)


def interrupt_on_sigterm() -> None:
    """From now on SIGTERM (a scheduler stopping a job, `kill`) interrupts this process as Ctrl-C does.

    Python's default for SIGTERM ends the process at once, skipping every `finally`: the worker's
    sandbox, cgroups and the temporary folder of the student's files would stay behind. A second
    SIGTERM during that clean-up is ignored, so the clean-up finishes (SIGKILL still ends it).
    """
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():  # elsewhere Python refuses a handler
        signal.signal(signal.SIGTERM, interrupt)
