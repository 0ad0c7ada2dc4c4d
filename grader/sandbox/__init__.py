"""Running the student's code in its own worker process, and talking to it.

The worker is a fresh Python process with a scrubbed environment and resource limits. It holds
a copy of `grader.worker` only: the hidden checks, the reference and the results are never in
its view. On Linux it runs under bubblewrap (`bwrap`): its own mount, PID, network, IPC and UTS
namespaces, a user id of its own (when the grader is root: one uid per concurrent slot, `slots`,
so the process limit of one worker is not shared with another), read-only views of the
interpreter, its packages, the student's module and the worker library, and private size-limited
tmpfs mounts for /tmp and /dev/shm; memory and processes are capped by a cgroup (`cgroup`) where
one can be made; on x86_64 a seccomp filter (`seccomp`) denies keyrings, ptrace, mounts, new
namespaces and the like, and a root grader clears the slot uid's keyrings (`keyrings`) before and
after each use, so nothing of one submission is left for the next on the slot. Where bubblewrap
cannot run, the worker is a plain process with rlimits (`limits`) and `FALLBACK_ISOLATION` says
so. Replies are read with a deadline (`channel`); a worker that dies or hangs is killed with
everything it started (`procfs`), and the next request starts a new one (`worker`), with the
student told why in the sentences of `messages`.
"""

from grader.sandbox.bwrap import TMP_BYTES, Bubblewrap, bubblewrap, bwrap_argv, interpreter_roots, secret_paths
from grader.sandbox.cgroup import Cgroup
from grader.sandbox.channel import OutputLog
from grader.sandbox.keyrings import clear_keyrings
from grader.sandbox.limits import fallback_nproc, scrubbed_env
from grader.sandbox.messages import FALLBACK_ISOLATION
from grader.sandbox.procfs import processes_of, sandbox_namespaces, tasks_of
from grader.sandbox.slots import SLOT_UID_BASE, SLOTS, Slot, slot_cgroup_name, sweep_free_slots
from grader.sandbox.worker import Worker, WorkerSpec

__all__ = [
    "FALLBACK_ISOLATION", "SLOTS", "SLOT_UID_BASE", "TMP_BYTES", "Bubblewrap", "Cgroup", "OutputLog", "Slot", "Worker",
    "WorkerSpec", "bubblewrap", "bwrap_argv", "clear_keyrings", "fallback_nproc", "interpreter_roots", "processes_of",
    "sandbox_namespaces", "scrubbed_env", "secret_paths", "slot_cgroup_name", "sweep_free_slots", "tasks_of",
]
