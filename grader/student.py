"""The hidden checks' view of the student's code: calls and probes across the sandbox boundary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.errors import WorkerError, WorkerFailure
from grader.sandbox import Worker


class CheckFailed(AssertionError):
    """A check's verdict on the submission; `message` is shown to the student as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Unsupported:
    """A value the student returned that cannot cross the boundary (shown by its type name)."""

    description: str

    def __repr__(self) -> str:
        return f"<{self.description}>"


def arg(value: Any) -> Any:
    """A torch tensor or numpy array as a call argument for the worker; other values unchanged."""
    import torch

    if isinstance(value, torch.Tensor):
        return {"__tensor__": value.detach().cpu().contiguous().numpy()}
    if isinstance(value, np.ndarray):
        return {"__tensor__": np.ascontiguousarray(value)}
    if isinstance(value, dict):
        return {k: arg(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [arg(v) for v in value]
    return value


def untag(value: Any) -> Any:
    """A tagged reply of the worker's "call" op as Python data (tensors as torch tensors)."""
    import torch

    if isinstance(value, dict):
        if "__tensor__" in value:
            return torch.from_numpy(np.array(value["__tensor__"]))
        if "__ndarray__" in value:
            return np.array(value["__ndarray__"])
        if "__list__" in value:
            return [untag(v) for v in value["__list__"]]
        if "__tuple__" in value:
            return tuple(untag(v) for v in value["__tuple__"])
        if "__dict__" in value:
            out = {}
            for k, v in value["__dict__"]:
                key = untag(k)
                out[key if isinstance(key, (str, int, float, bool, tuple)) or key is None else repr(key)] = untag(v)
            return out
        if "__unsupported__" in value:
            return Unsupported(str(value["__unsupported__"]))
    return value


def error_text(error: Any) -> str:
    """A student's exception as one readable line plus their own frames."""
    if not isinstance(error, dict):  # a forged reply's "error" may be anything
        error = {"type": "Error", "message": str(error)[:2000]}
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}".strip()
    tb = error.get("traceback") or ""
    return text + (f"\n{tb.rstrip()}" if tb else "")


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
        reply = self.worker.request({"op": "probe", "name": probe, "kwargs": arg(kwargs)},
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
