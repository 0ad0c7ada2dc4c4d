"""The worker's serve loop: import the student's module, then answer requests until told to stop.

Started by `grader.sandbox` as `python -I -c <bootstrap>` with the request channel on fd 3 and
the reply channel on fd 4; stdout and stderr are the student's and go to a capped log.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import time
from typing import Any

from . import probes, protocol, values
from .values import MODULE_NAME, describe_error, describe_failure

DEFINITIONS_NAME = "exercise4.definitions"  # grader.intake.DEFINITIONS_NAME (the worker imports nothing of the grader)


class Session:
    """The state of one worker: the student's module and what the probes built."""

    def __init__(self, module_dir: str, threads: int) -> None:
        self.module_dir = module_dir
        self.threads = threads
        self.module: Any = None

    def start(self, max_processes: int) -> dict[str, Any]:
        """Before any student code: the process limit, torch and its threads; what the hello reports."""
        import resource

        if max_processes > 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        import torch

        torch.set_num_threads(self.threads)
        return {"pid": os.getpid(), "torch": torch.__version__, "threads": torch.get_num_threads()}

    def import_student(self, given: str = "", own: list[str] | None = None) -> dict[str, Any]:
        """Import the student's module from its folder, in the student's world (see `environment`); report what it defines."""
        from . import environment

        path = os.path.join(self.module_dir, MODULE_NAME + ".py")
        sys.path.insert(0, self.module_dir)
        environment.install_notebook_builtins()
        lent = environment.given_names(given, own or []) if given else {}
        finder = environment.MissingModules(path)
        sys.meta_path.append(finder)
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        module.__dict__.update(lent)  # the student's own definitions, run next, replace any of these
        sys.modules[MODULE_NAME] = module
        started = time.perf_counter()
        fallback: dict[str, str] | None = None
        try:
            try:
                spec.loader.exec_module(module)
            except (Exception, SystemExit) as exc:
                definitions = os.path.join(self.module_dir, DEFINITIONS_NAME)
                if isinstance(exc, SyntaxError) or not os.path.isfile(definitions):
                    raise
                # The module's top level failed here (training on data only the student had): grade its
                # imports, definitions and constants alone, as for a notebook, and say so.
                fallback = describe_error(exc)
                module = importlib.util.module_from_spec(spec)
                module.__dict__.update(lent)
                sys.modules[MODULE_NAME] = module
                with open(definitions, encoding="utf-8") as fh:
                    exec(compile(fh.read(), path, "exec"), module.__dict__)  # noqa: S102 - the student's own code
                if own and not any(name in module.__dict__ for name in own):
                    raise exc from None  # nothing of the exercise in it: the import's own error says most
        finally:
            finder.importing = False
        self.module = module
        return {"names": sorted(n for n in vars(module) if not n.startswith("_")),
                "seconds": time.perf_counter() - started, "missing_modules": finder.missing,
                "lent": environment.lent_names(module, lent), "top_level_failed": fallback}


def arguments(request: dict[str, Any]) -> dict[str, Any]:
    """A request's keyword arguments, decoded (tensors as torch tensors)."""
    kwargs = values.decode(request.get("kwargs", {"__dict__": []}), torch_tensors=True)
    if not isinstance(kwargs, dict):
        raise TypeError("keyword arguments must be a dict")
    return kwargs


def handle(session: Session, request: dict[str, Any]) -> Any:
    """Answer one request."""
    op = request.get("op")
    if op == "import":
        return session.import_student(str(request.get("given") or ""), [str(n) for n in request.get("own") or []])
    if session.module is None:
        raise RuntimeError("the module was not imported")
    if op == "call":
        func = getattr(session.module, request["name"])
        args = values.decode(request.get("args", []), torch_tensors=True)
        return values.encode(func(*args, **arguments(request)))
    if op == "probe":
        probe = probes.PROBES[request["name"]]
        return probe(session.module, **arguments(request))
    raise ValueError(f"unknown request {op!r}")


def serve(module_dir: str, threads: int, request_fd: int = 3, reply_fd: int = 4, max_processes: int = 0) -> None:
    """Say hello, then answer requests until the channel closes.

    The hello (sent before any student code is loaded) tells the grader that the sandbox works:
    this process started, set its limits and imported torch. A failure before it is the grading
    machine's, never the student's. `max_processes` > 0 caps this user's processes from here on:
    inside the sandbox's own user namespace, where the kernel counts only the sandbox's processes.
    """
    requests = io.open(request_fd, "rb", buffering=0)
    replies = io.open(reply_fd, "wb", buffering=0)
    # Later fds are the student's business; keep ours away from accidental closes of 3/4.
    session = Session(module_dir, threads)
    try:
        hello = session.start(max_processes)
    except BaseException as exc:  # noqa: BLE001 - the grader reports it as a broken sandbox
        protocol.write_message(replies, {"ok": False, "error": describe_error(exc)})
        return
    protocol.write_message(replies, {"ok": True, "value": hello})
    while True:
        try:
            request = protocol.read_message(requests, 1 << 31)
        except EOFError:
            return
        started = time.perf_counter()
        try:
            value = handle(session, request)
            reply: dict[str, Any] = {"ok": True, "value": value}
        except BaseException as exc:  # noqa: BLE001 - every student failure is data
            reply = {"ok": False, "error": describe_failure(exc)}
        reply["seconds"] = time.perf_counter() - started
        try:
            protocol.write_message(replies, reply)
        except TypeError as exc:
            protocol.write_message(replies, {"ok": False, "error": {"type": "TypeError", "message": f"the result cannot be sent back: {exc}", "traceback": ""}})
