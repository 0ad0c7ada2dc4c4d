"""The hidden checks' view of the student's code: calls and probes across the sandbox boundary."""

from __future__ import annotations

import time
from typing import Any

from grader.errors import WorkerError, WorkerFailure
from grader.sandbox import Worker
from grader.worker import values
from grader.worker.values import error_text


class CheckFailed(AssertionError):
    """A check's verdict on the submission; `message` is shown to the student as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Student:
    """Calls into the student's module through its worker; failures become CheckFailed or WorkerError."""

    def __init__(self, worker: Worker, call_timeout_s: float) -> None:
        self.worker = worker
        self.call_timeout_s = call_timeout_s
        self.last_seconds = 0.0
        """Wall time of the last probe, measured here (speeds are never taken from what the worker reports)."""

    def probe(self, probe: str, what: str, /, timeout: float | None = None, **kwargs: Any) -> Any:
        """Run a worker probe; `what` names the student's code in the exercise's words."""
        started = time.perf_counter()
        reply = self.worker.request({"op": "probe", "name": probe, "kwargs": values.encode(kwargs, arguments=True)},
                                    timeout or self.call_timeout_s, what)
        self.last_seconds = time.perf_counter() - started
        if not reply["ok"]:
            raise CheckFailed(f"{what} should run without error, but raised {error_text(reply['error'])}")
        return reply["value"]

    def has(self, name: str) -> bool:
        """Whether the module defines a name (after a successful import)."""
        self.worker.ensure_started()
        info = self.worker.import_info or {}
        return name in info.get("names", [])

    def require(self, *names: str) -> None:
        """Fail the check at once, with the names, when the module lacks any of them."""
        missing = [n for n in names if not self.has(n)]
        if self.worker.import_error is not None:
            err = self.worker.import_error
            raise WorkerError(f"Importing your module failed, so nothing could be checked: {error_text(err)}", WorkerFailure.IMPORT)
        if missing:
            raise CheckFailed(f"Your module does not define {', '.join(missing)}.")


def outcome(result: dict[str, Any], what: str) -> Any:
    """The value of a guarded probe result, or CheckFailed with the student's error."""
    if not result.get("ok"):
        raise CheckFailed(f"{what} should run without error, but raised {error_text(result.get('error') or {})}")
    return result["value"]
