"""The grader's one exception tree: each carries a sentence for a person and an exit code."""

from __future__ import annotations


class GraderError(Exception):
    """A failure of the grader itself (not of a submission); the CLI shows `message` and exits."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(GraderError):
    """Settings, rubric or data set are missing or inconsistent."""

    exit_code = 3


class DataError(GraderError):
    """The CIFAR-10 data set could not be found or read."""

    exit_code = 4


class SandboxError(GraderError):
    """The sandbox could not start the student's worker: the grading machine's fault, never the submission's."""

    exit_code = 8

    advice = ("This is the grading machine's problem, not the submission's: fix it (README, \"The sandbox\") "
              "and grade again; results already finished are kept.")


class SubmissionRejected(Exception):
    """A submission cannot be graded; `reason` says why in the student's terms.

    Not a GraderError: a rejected submission still gets a verdict and a report.
    """

    def __init__(self, reason: str, flag: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.flag = flag


class WorkerError(Exception):
    """The student's worker process died, hung or broke the protocol."""

    def __init__(self, message: str, kind: str = "crash") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # "crash" | "timeout" | "protocol" | "memory"


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
