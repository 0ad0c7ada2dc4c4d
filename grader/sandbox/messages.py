"""What the sandbox says in words: the student's sentences for a worker that died, hung, ran out of time or
misbehaved, the TA's for a sandbox that could not start, and the one-line description of the isolation."""

from __future__ import annotations

import os
import signal
from typing import Any

from grader.config import Device, GiB, MiB, Limits
from grader.errors import WorkerError, WorkerFailure
from grader.sandbox import seccomp
from grader.sandbox.bwrap import TMP_BYTES, Bubblewrap
from grader.sandbox.slots import SLOT_UID_BASE

FALLBACK_ISOLATION = "worker process with resource limits only (no bubblewrap)"

_SIGNAL_HINTS = {"SIGKILL": ", most likely for using too much memory or time", "SIGSEGV": ", a segmentation fault",
                 "SIGXCPU": ", over the CPU time limit", "SIGXFSZ": ", writing a file over the size limit",
                 "SIGABRT": ", an abort (often out of memory)"}


def hung(what: str, seconds: float) -> WorkerError:
    return WorkerError(f"Your code did not finish {what} within {seconds:.0f} seconds and was stopped.", WorkerFailure.TIMEOUT)


def ended(what: str, exit_text: str) -> WorkerError:
    return WorkerError(f"Your code ended the worker process while {what} ({exit_text}).", WorkerFailure.CRASH)


def unreadable(what: str, why: Exception) -> WorkerError:
    return WorkerError(f"The worker's reply while {what} could not be read: {why}.", WorkerFailure.PROTOCOL)


def not_a_reply(what: str) -> WorkerError:
    return WorkerError(f"The worker's reply while {what} was not a reply.", WorkerFailure.PROTOCOL)


def budget_used(total_s: float) -> WorkerError:
    return WorkerError(f"Your code used up the time for the whole submission ({total_s:.0f} s); "
                       f"the remaining checks were not run.", "budget")


def import_failed(err: dict[str, Any]) -> WorkerError:
    """The error of every request after the student's module failed to import (`err` as the worker reported it)."""
    return WorkerError(f"Importing your module failed: {err.get('type', '')}: {err.get('message', '')}", WorkerFailure.IMPORT)


def import_error(exc: WorkerError) -> dict[str, Any]:
    """An import that killed or hung its worker, as the error the worker would have reported."""
    return {"type": {WorkerFailure.TIMEOUT: "TimeoutError", WorkerFailure.CRASH: "WorkerEnded"}.get(exc.kind, "WorkerError"),
            "message": exc.message, "traceback": ""}


def not_ready(exc: WorkerError, exit_text: str, timeout_s: float) -> str:
    """Why the worker sent no hello, in words."""
    return {WorkerFailure.CRASH: f"the worker process ended before it was ready ({exit_text})",
            WorkerFailure.TIMEOUT: f"the worker was not ready within {timeout_s:.0f} s"}.get(exc.kind, exc.message)


def start_failed(isolation: str, err: dict[str, Any], output: str) -> str:
    """The TA's sentence for a sandbox that could not start: the worker's own error and its first output."""
    return (f"The sandbox could not start the student's worker ({isolation}): "
            + ": ".join(str(err[k]) for k in ("type", "message") if err.get(k))
            + (f". Its output: {output}" if output else "."))


def exit_in_words(code: int | None, bubblewrap: bool) -> str:
    """An exit code in words, with the likely cause of a signal death."""
    if code is None:
        return "it stopped answering"
    if code > 128 and bubblewrap and code - 128 in signal.Signals._value2member_map_:
        code = 128 - code  # bubblewrap passes a signal death on as 128 + the signal's number
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return f"killed by {name}{_SIGNAL_HINTS.get(name, '')}"
    return f"exit status {code}"


def isolation(bw: Bubblewrap, slot_uid: int | None, cgroup: bool, limits: Limits, device: str) -> str:
    """What the sandbox applies, in one sentence (`slot_uid` None before a slot is taken; `cgroup`: one was made)."""
    user = (f"user {slot_uid if slot_uid is not None else f'{SLOT_UID_BASE}+slot'} with no capabilities"
            if bw.setpriv else f"the grader's own user {os.geteuid()} in a user namespace")
    memory = (f"cgroup memory {_size(limits.memory_bytes)} and {limits.max_processes} processes"
              if cgroup else f"{limits.max_processes} processes"
              + (" for its user" if bw.setpriv else " in its user namespace"))
    if device == Device.CPU:
        memory += f", address space {_size(limits.memory_bytes)}"
    return (f"bubblewrap sandbox ({user}, no network, read-only interpreter and submission, "
            f"private /tmp of {_size(TMP_BYTES)}, {memory}, files up to {_size(limits.file_bytes)}"
            + (", no keyrings, mounts, namespaces or ptrace)" if seccomp.SUPPORTED else ")"))


def _size(n: int) -> str:
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"
