"""The grading process's handle on one student worker: its lifecycle (launch, import, kill) and restart policy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.config import Device, Limits
from grader.errors import WorkerError, WorkerFailure
from grader.sandbox import messages
from grader.sandbox.bwrap import bubblewrap
from grader.sandbox.cgroup import Cgroup
from grader.sandbox.channel import Channel, OutputLog
from grader.sandbox.keyrings import libc
from grader.sandbox.launch import Command, plain_command, sandboxed_command, worker_library
from grader.sandbox.procfs import kill_until_gone, peak_rss, processes_in, sandbox_namespaces
from grader.sandbox.slots import Slot
from grader.worker import protocol


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs: the student's module folder, a folder of its own, limits."""

    module_dir: Path
    workdir: Path
    limits: Limits
    threads: int = 2
    device: str = Device.CPU
    sandbox: bool = True
    """Use bubblewrap where it can run; False forces the plain worker."""
    given_source: str = ""
    """The template's source: its given helpers are lent to a submission that lacks them."""
    own_names: tuple[str, ...] = ()
    """The names in the template a student writes (never lent)."""


class Worker:
    """One student worker process, restarted on demand after a crash or a hang."""

    isolation = messages.FALLBACK_ISOLATION
    """How the worker is isolated, in words, for every report and results.json (set per instance)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = OutputLog(spec.limits.log_bytes)
        self.starts = 0
        self.import_info: dict[str, Any] | None = None
        self.import_error: dict[str, Any] | None = None
        self.exit_text = ""
        """How the worker's last process ended, in words (set when it ended while answering)."""
        self.start_error: str | None = None
        """Why the worker never said hello (the sandbox is broken, not the submission); None when it did."""
        self.busy_s = 0.0
        self.peak_memory_bytes = 0
        """The largest peak memory of any of this worker's runs (cgroup peak, else the largest VmHWM)."""
        self.bwrap = bubblewrap() if spec.sandbox else None
        self._slot: Slot | None = None
        self._cgroup: Cgroup | None = None
        self._channel: Channel | None = None
        if self.bwrap is not None:
            self.isolation = messages.isolation(self.bwrap, None, False, spec.limits, spec.device)

    # ------------------------------------------------------------------ lifecycle

    def ensure_started(self) -> None:
        """Start a worker and import the student's module, unless one is running."""
        if self.launch():
            self.import_module()

    def launch(self) -> bool:
        """Start a worker process unless one is running; True when a new one was started.

        Call it from the thread that will outlive the worker: bubblewrap's --die-with-parent
        (PR_SET_PDEATHSIG) ends the worker when the *thread* that started it exits.
        """
        if self.proc is not None and self.proc.poll() is None:
            return False
        if self.import_error is not None and self.proc is None:
            return False  # a module whose import killed or hung its worker would do it again
        if self.start_error is not None:
            return False  # a sandbox that failed to start once is broken for this grading
        self.kill()
        self._launch()
        return True

    def _launch(self) -> None:
        """Start a worker process (under bubblewrap on a slot of its own where it runs) and open its channel."""
        spec, limits = self.spec, self.spec.limits
        lib = worker_library(spec.workdir)
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        if sys.platform.startswith("linux"):
            libc()  # loaded before the fork
        command: Command
        if self.bwrap is not None:
            self._slot = Slot()
            uid = self._slot.uid if self.bwrap.setpriv else os.geteuid()
            self._sweep_slot()  # a slot's uid runs nothing but its sandbox; leftovers of a crashed grader go
            self._cgroup = Cgroup.create(self._slot.cgroup_name, limits.memory_bytes, limits.max_processes)
            self.isolation = messages.isolation(self.bwrap, self._slot.uid, self._cgroup is not None, limits,
                                                spec.device)
            command = sandboxed_command(self.bwrap, uid, spec.module_dir, spec.workdir, lib, spec.threads,
                                        spec.device, limits.max_processes, (request_r, reply_w))
        else:
            command = plain_command(spec.workdir / f"run{self.starts}", spec.module_dir, lib, spec.threads,
                                    spec.device, limits.max_processes, (request_r, reply_w))
        self.proc = command.start(limits, spec.device, self._cgroup.procs_files() if self._cgroup else ())
        os.close(request_r)
        os.close(reply_w)
        self.starts += 1
        assert self.proc.stdout is not None
        self._channel = Channel(request_w, reply_r, self.proc.stdout, self.log)

    def import_module(self) -> None:
        """Import the student's module in the freshly launched worker (may run in another thread).

        First the worker's hello, sent before any student code is loaded: without it the sandbox
        itself is broken, which `start_error` records (the grading process then stops with a
        SandboxError, never a verdict against the student).
        """
        timeout = self.spec.limits.import_timeout_s
        try:
            hello = self._receive(time.monotonic() + timeout, "starting", started=time.monotonic())
        except WorkerError as exc:
            hello = {"ok": False, "error": {"message": messages.not_ready(exc, self.exit_text, timeout)}}
        if not hello.get("ok"):
            self.kill()
            # Only this launch's output, all of it from before any student code ran (an earlier
            # run's output in the log is the student's, and never reaches the TA's terminal this way).
            output = self._channel.first_output(wait_s=2) if self._channel is not None else ""
            self.start_error = messages.start_failed(self.isolation, hello.get("error") or {}, output)
            return
        try:
            reply = self._exchange({"op": "import", "given": self.spec.given_source, "own": list(self.spec.own_names)},
                                   timeout, "importing your module")
        except WorkerError as exc:
            self.kill()
            self.import_error = messages.import_error(exc)
            return
        if reply.get("ok"):
            self.import_info = reply["value"]
            self.import_error = None
        else:
            self.import_error = reply.get("error") or {}

    def kill(self) -> None:
        """End the worker and every process it started, and give back its slot and cgroup."""
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        self._record_peak(proc.pid)
        namespaces = sandbox_namespaces(proc.pid) if self.bwrap is not None and not self.bwrap.setpriv else set()
        try:
            # The sandbox's init dies with bwrap (--die-with-parent), and with it the whole PID namespace.
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if namespaces:
            # Without a slot uid to sweep: the sandbox's PID namespace dies with its init, but
            # its processes take a moment to go; wait until the last one has.
            kill_until_gone(lambda: processes_in(namespaces), rounds=250)
        if self._cgroup is not None:
            self._cgroup.kill_and_remove()
            self.peak_memory_bytes = max(self.peak_memory_bytes, self._cgroup.peak_bytes)
            self._cgroup = None
        if self._slot is not None:
            self._sweep_slot()
            self._slot.release()
            self._slot = None
        if self._channel is not None:
            self._channel.close()

    close = kill

    def _record_peak(self, pid: int) -> None:
        """Note the peak memory of the worker's processes before they go."""
        pids = [pid]
        if self._slot is not None and self.bwrap is not None and self.bwrap.setpriv:
            pids += self._slot.processes()
        peak = max(peak_rss(p) for p in pids)
        if self._cgroup is not None:
            peak = max(peak, self._cgroup.peak())
        self.peak_memory_bytes = max(self.peak_memory_bytes, peak)

    def _sweep_slot(self) -> None:
        """Kill what runs as the slot's uid and empty its keyrings; a keyring not cleared is noted in the TA's log."""
        if self._slot is None or self.bwrap is None or not self.bwrap.setpriv:
            return  # the grader's own user (in a user namespace of its own) is not a slot's to sweep
        why = self._slot.sweep()
        if why is not None:
            self.log.feed(f"\n[grader] {why}\n".encode())

    # ------------------------------------------------------------------ requests

    def request(self, message: dict[str, Any], timeout: float, what: str) -> dict[str, Any]:
        """Send one request and return the worker's reply; WorkerError if it dies, hangs or misbehaves."""
        if self.busy_s >= self.spec.limits.total_timeout_s:
            raise messages.budget_used(self.spec.limits.total_timeout_s)
        self.ensure_started()
        if self.start_error is not None:
            raise WorkerError(self.start_error, WorkerFailure.SANDBOX)
        if self.import_error is not None:
            raise messages.import_failed(self.import_error)
        timeout = min(timeout, self.spec.limits.total_timeout_s - self.busy_s)
        return self._exchange(message, timeout, what)

    def _exchange(self, message: dict[str, Any], timeout: float, what: str) -> dict[str, Any]:
        assert self.proc is not None and self._channel is not None
        started = time.monotonic()
        with self._channel.sending(message):
            return self._receive(started + timeout, what, started)

    def _receive(self, deadline: float, what: str, started: float) -> dict[str, Any]:
        """The worker's next message; WorkerError if it dies, hangs past `deadline` or misbehaves.

        A worker that hung or sent no reply is killed here, and the next request starts a new one.
        """
        assert self._channel is not None
        try:
            reply = self._channel.receive(deadline, self.spec.limits.max_message_bytes)
        except TimeoutError:
            self.kill()
            raise messages.hung(what, deadline - started) from None
        except EOFError:
            raise messages.ended(what, self._exit_text()) from None
        except protocol.ProtocolError as exc:
            self.kill()
            raise messages.unreadable(what, exc) from None
        finally:
            self.busy_s += time.monotonic() - started
        if not isinstance(reply, dict) or "ok" not in reply:
            self.kill()
            raise messages.not_a_reply(what)
        return reply

    def _exit_text(self) -> str:
        """How the worker's process ended, in words, once it is gone (it is killed if it lingers)."""
        proc = self.proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self.exit_text = messages.exit_in_words(code, self.bwrap is not None)
        return self.exit_text
