"""Running the student's code in its own worker process, and talking to it.

The worker is a fresh Python process with a scrubbed environment and resource limits. It holds
a copy of `grader.worker` only: the hidden checks, the reference and the results are never in
its view. On Linux it runs under bubblewrap: its own mount, PID, network, IPC and UTS
namespaces, a user id of its own (when the grader is root: one uid per concurrent slot, so the
process limit of one worker is not shared with another), read-only views of the interpreter,
its packages, the student's module and the worker library, and private size-limited tmpfs
mounts for /tmp and /dev/shm; memory and processes are capped by a cgroup where one can be
made; on x86_64 a seccomp filter (`grader.seccomp`) denies keyrings, ptrace, mounts, new namespaces
and the like, and a root grader clears the slot uid's keyrings before and after each use, so nothing
of one submission is left for the next on the slot. Where bubblewrap cannot run, the worker is a
plain process with rlimits and `FALLBACK_ISOLATION` says so. Replies are read with a deadline; a
worker that dies or hangs is killed with everything it started, and the next request starts a new one.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import importlib.util
import os
import resource
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from grader.config import CHECKS_DIR, GiB, MiB, PACKAGE_DIR, PROJECT_DIR, REFERENCE_PATH, Limits
from grader import seccomp
from grader.errors import WorkerError
from grader.worker import protocol

WORKER_PACKAGE = Path(__file__).resolve().parent / "worker"
PR_SET_PDEATHSIG = 1
SYS_KEYCTL = 250
"""keyctl's number on x86_64, the one architecture the sandbox's keyring handling (and filter) is written for."""
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_CLEAR = 7
KEYCTL_GET_PERSISTENT = 22
KEY_SPEC_THREAD_KEYRING = -1
KEY_SPEC_USER_KEYRING = -4
KEY_SPEC_USER_SESSION_KEYRING = -5

SLOT_UID_BASE = 60100
"""The sandbox of slot i runs as uid and gid SLOT_UID_BASE + i (when the grader is root)."""
SLOTS = 64
"""Concurrent workers on one machine; each holds a slot (a lock file) while it runs."""
TMP_BYTES = 512 * MiB
"""Size of the sandbox's private /tmp (its home and working folder) and of its /dev/shm."""
SANDBOX_DIR = "/sandbox"
"""Where the student's module (`submission`) and the worker library (`lib`) appear in the sandbox."""
PACKAGES = ("torch", "numpy", "matplotlib", "torchvision", "PIL", "skimage", "scipy")
"""Packages whose folders are bound into the sandbox even when they live outside the interpreter's prefix."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs: the student's module folder, a folder of its own, limits."""

    module_dir: Path
    workdir: Path
    limits: Limits
    threads: int = 2
    device: str = "cpu"
    sandbox: bool = True
    """Use bubblewrap where it can run; False forces the plain worker."""
    given_source: str = ""
    """The template's source: its given helpers are lent to a submission that lacks them."""
    own_names: tuple[str, ...] = ()
    """The names in the template a student writes (never lent)."""


START_OUTPUT_BYTES = 600
"""How much of a launch's first output a failed start reports (bubblewrap's error fits)."""


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


def _limit_resources(limits: Limits, device: str, cgroup_procs: tuple[str, ...] = (), nproc: int | None = None) -> None:
    """Runs in the child before exec: its own session, its cgroup and its resource limits.

    `nproc` (RLIMIT_NPROC) is counted per real uid: the slot's own uid when the grader is root; else
    the grader's user, whose other processes count too (see `Worker._launch`). None leaves it alone.
    """
    os.setsid()
    if sys.platform.startswith("linux"):
        # Killed with the grading process even when that is SIGKILLed (a batch job past its time):
        # bwrap's own --die-with-parent then takes the whole sandbox with it.
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if seccomp.SUPPORTED:
            # A fresh, empty session keyring: the grader's own (a TA's login keys) is not the sandbox's.
            _libc().syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None)
    for procs in cgroup_procs:
        with open(procs, "w") as fh:
            fh.write(str(os.getpid()))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    cpu = int(limits.total_timeout_s * 4) + 60
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    # CUDA reserves huge address ranges, so the address-space cap is for CPU workers only.
    if device == "cpu":
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if nproc is not None:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        except (ValueError, OSError):
            pass


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    """The C library, loaded before any fork (dlopen is not for a child between fork and exec)."""
    return ctypes.CDLL(None, use_errno=True)


def clear_keyrings(uid: int) -> str | None:
    """Empty `uid`'s user and user-session keyrings (the grader being root); None when done, else why not, in words.

    Those keyrings belong to the uid, not to a process: a key one submission left there would be
    read by the next one on the same slot. A forked child becomes `uid` and clears both.
    """
    if not seccomp.SUPPORTED or os.geteuid() != 0:
        return "keyrings are cleared by a root grader on x86_64 Linux only"
    libc = _libc()
    pid = os.fork()
    if pid == 0:  # only system calls until _exit: this process may have had threads
        code = 1
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            rings = [KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING]
            # The uid's persistent keyring outlives its other ones (days); none where the kernel lacks them.
            persistent = libc.syscall(SYS_KEYCTL, KEYCTL_GET_PERSISTENT, ctypes.c_long(-1),
                                      ctypes.c_long(KEY_SPEC_THREAD_KEYRING))
            rings += [persistent] if persistent > 0 else []
            failed = [spec for spec in rings if libc.syscall(SYS_KEYCTL, KEYCTL_CLEAR, ctypes.c_long(spec)) != 0]
            code = 2 if failed else 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return f"the keyrings of uid {uid} could not be cleared (exit status {os.waitstatus_to_exitcode(status)})"
    return None


def scrubbed_env(home: Path, threads: int, device: str, tmp: Path | None = None) -> dict[str, str]:
    """The worker's whole environment: nothing of the grader's (tokens, paths) leaks in."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(tmp if tmp is not None else home / "tmp"),
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "TORCH_HOME": str(home / ".torch"),
        "OMP_NUM_THREADS": str(threads),
        # Idle OpenMP threads sleep instead of spinning: with several gradings on few cores, spinning
        # threads steal the cores the working ones need (measured: 2 gradings on 2 cores, 4x slower).
        "OMP_WAIT_POLICY": "PASSIVE",
        "MKL_NUM_THREADS": str(threads),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0") if device == "cuda" else "",
    }
    return env


FALLBACK_ISOLATION = "worker process with resource limits only (no bubblewrap)"


# ---------------------------------------------------------------------- bubblewrap


@dataclass(frozen=True)
class Bubblewrap:
    """How this machine runs bubblewrap: as root with a drop to a slot uid, or unprivileged."""

    bwrap: str
    setpriv: str | None
    """setpriv's path when the grader is root (the sandbox then drops to a slot uid); None otherwise."""


def _ancestors(path: str) -> list[str]:
    """The folders above `path`, outermost first, without `/`."""
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def interpreter_roots() -> list[str]:
    """Host folders the worker's Python needs: its prefixes and the folders of its main packages."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots |= {os.path.realpath(r) for r in list(roots)}
    roots.add(os.path.dirname(os.path.realpath(sys.executable)))
    sites = [*site.getsitepackages()]
    for name in PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            sites.append(str(Path(spec.origin).resolve().parent.parent))
    roots |= {os.path.realpath(s) for s in sites if os.path.isdir(s)}
    roots = {r for r in roots if os.path.isdir(r) and r != "/"}
    # The project folder (checks, solutions) is never bound, even when a venv sits inside it.
    roots = {r for r in roots if not (_under(str(PROJECT_DIR), r) and r != sys.prefix)}
    kept: list[str] = []
    for root in sorted(roots, key=len):
        if not any(_under(root, k) for k in kept) and not _under(root, "/usr"):
            kept.append(root)
    return kept


def secret_paths(roots: list[str]) -> list[str]:
    """Folders inside the bound roots that the sandbox must not see: the grader package and the reference."""
    secrets = {str(PACKAGE_DIR), str(CHECKS_DIR), str(REFERENCE_PATH.parent), str(PROJECT_DIR / "solutions")}
    for root in roots:
        for sub in Path(root).glob("**/site-packages/grader"):
            if (sub / "checks").is_dir():
                secrets.add(str(sub))
        if (Path(root) / "grader" / "checks").is_dir():
            secrets.add(str(Path(root) / "grader"))
    out = []
    for path in sorted({os.path.realpath(s) for s in secrets} | secrets):
        if any(_under(path, r) for r in [*roots, "/usr"]) and os.path.isdir(path):
            out.append(path)
    return out


def bwrap_argv(bw: Bubblewrap, uid: int, module_dir: Path, lib_dir: Path, etc_dir: Path, device: str,
               tmp_bytes: int = TMP_BYTES, seccomp_fd: int | None = None) -> list[str]:
    """bubblewrap's command line up to the worker's own argv: namespaces, mounts, the filter and the drop to `uid`.

    `seccomp_fd` holds the filter (`grader.seccomp.program_fd`); every launch passes one.
    """
    argv = [bw.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if bw.setpriv is None:
        argv += ["--unshare-user"]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if bw.setpriv is not None:
        # Only what setpriv needs to switch to the slot's uid; it then clears them all.
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    argv += ["--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    argv += ["--perms", "0755", "--dir", "/etc"]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts"):
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    argv += ["--ro-bind", str(etc_dir / "passwd"), "/etc/passwd", "--ro-bind", str(etc_dir / "group"), "/etc/group"]
    # The private /tmp comes before the interpreter's binds: an interpreter or venv that lives under
    # /tmp (a CI clone, say) is then bound on top of it instead of being hidden by it.
    argv += ["--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    made = {"/", "/usr", "/etc", "/tmp"}
    roots = interpreter_roots()
    for root in roots:
        for parent in _ancestors(root):
            if parent not in made:
                # bubblewrap would copy the host's mode (e.g. /root's 0700); the slot's user must pass.
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += ["--ro-bind", root, root]
        made.add(root)
    for secret in secret_paths(roots):
        argv += ["--perms", "0000", "--size", str(4096), "--tmpfs", secret]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for parent in ("/sys", "/sys/devices", "/sys/devices/system"):
        argv += ["--perms", "0755", "--dir", parent]
    argv += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    if device == "cuda":
        for node in sorted(Path("/dev").glob("nvidia*")):
            argv += ["--dev-bind-try", str(node), str(node)]
        argv += ["--ro-bind-try", "/sys/bus/pci", "/sys/bus/pci", "--ro-bind-try", "/sys/module/nvidia", "/sys/module/nvidia"]
    argv += ["--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/dev/shm",
             "--perms", "0755", "--dir", SANDBOX_DIR,
             "--ro-bind", str(module_dir), f"{SANDBOX_DIR}/submission",
             "--ro-bind", str(lib_dir), f"{SANDBOX_DIR}/lib",
             # The root is bubblewrap's own tmpfs, without a size limit: read-only, or a worker
             # running as the TA's own user (who owns it in the namespace) could fill memory there.
             "--remount-ro", "/",
             "--chdir", "/tmp"]
    if bw.setpriv is not None:
        argv += [bw.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs"]
    return argv


def _write_etc(etc_dir: Path, uid: int) -> None:
    """A passwd and group naming only root and the sandbox's user."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    (etc_dir / "passwd").write_text(f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                                    f"student:x:{uid}:{uid}:student:/tmp:/usr/sbin/nologin\n")
    (etc_dir / "group").write_text(f"root:x:0:\nstudent:x:{uid}:\n")
    for f in etc_dir.iterdir():
        f.chmod(0o644)
    etc_dir.chmod(0o755)


@functools.lru_cache(maxsize=1)
def bubblewrap() -> Bubblewrap | None:
    """bubblewrap as this machine can run it, found once per process by running Python in a sandbox; None if it cannot."""
    if not sys.platform.startswith("linux"):
        return None
    path = shutil.which("bwrap") or ("/usr/bin/bwrap" if os.path.exists("/usr/bin/bwrap") else None)
    if path is None:
        return None
    setpriv = None
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv") or ("/usr/bin/setpriv" if os.path.exists("/usr/bin/setpriv") else None)
        if setpriv is None:
            return None
    bw = Bubblewrap(path, setpriv)
    uid = 65534
    with tempfile.TemporaryDirectory(prefix="ex4-bwrap-probe-") as tmp:
        root = Path(tmp)
        for sub in ("module", "lib"):
            (root / sub).mkdir()
            (root / sub).chmod(0o755)
        _write_etc(root / "etc", uid)
        code = "import os, sys; sys.exit(0 if os.getuid() != 0 and os.path.isdir('/sandbox/lib') else 3)"
        filter_fd = seccomp.program_fd() if seccomp.SUPPORTED else None
        argv = [*bwrap_argv(bw, uid, root / "module", root / "lib", root / "etc", "cpu", seccomp_fd=filter_fd),
                sys.executable, "-I", "-c", code]
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={"PATH": "/usr/bin:/bin"}, timeout=60, check=False,
                                  pass_fds=() if filter_fd is None else (filter_fd,))
        except (OSError, subprocess.TimeoutExpired):
            return None
        finally:
            if filter_fd is not None:
                os.close(filter_fd)
    return bw if done.returncode == 0 else None


# ---------------------------------------------------------------------- slots, uids, cgroups


def slot_cgroup_name(index: int) -> str:
    """The name of slot `index`'s cgroup folders (below the grader's own cgroup)."""
    return f"ex4-grader-slot{index}"


def _slot_lock(index: int) -> int | None:
    """An fd holding slot `index`'s lock, or None when another process holds it."""
    # Machine-wide, whatever TMPDIR says: a batch gives each child a TMPDIR of its own.
    folder = Path("/tmp") / f"ex4-grader-slots-{os.geteuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(folder / str(index), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class Slot:
    """One of SLOTS concurrent sandboxes on this machine, held through a lock file."""

    def __init__(self) -> None:
        for index in range(SLOTS):
            fd = _slot_lock(index)
            if fd is not None:
                self.index, self._fd = index, fd
                return
        raise WorkerError(f"All {SLOTS} sandbox slots of this machine are in use.", "crash")

    @property
    def uid(self) -> int:
        return SLOT_UID_BASE + self.index

    @property
    def cgroup_name(self) -> str:
        return slot_cgroup_name(self.index)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def sandbox_namespaces(bwrap_pid: int) -> set[str]:
    """The PID namespaces of a running bubblewrap's children (its sandbox), other than this process's."""
    found = set()
    for task in Path(f"/proc/{bwrap_pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                found.add(os.readlink(f"/proc/{child}/ns/pid"))
            except OSError:
                pass
    found.discard(os.readlink("/proc/self/ns/pid"))
    return found


def processes_in(namespaces: set[str]) -> list[int]:
    """Pids of the host's live processes in one of the given PID namespaces (zombies are already gone)."""

    def live_in(pid: str) -> bool:
        if os.readlink(f"/proc/{pid}/ns/pid") not in namespaces:
            return False
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"

    return _host_pids(live_in)


def fallback_nproc(max_processes: int) -> int | None:
    """RLIMIT_NPROC for a worker without a sandbox: none for root (never limited), else the budget on
    top of the threads the grader's user already runs (which the kernel counts too)."""
    if os.geteuid() == 0:
        return None
    return len(tasks_of(os.getuid())) + max_processes


def tasks_of(uid: int) -> list[str]:
    """The host's threads (what RLIMIT_NPROC counts) whose process has real uid `uid`, as /proc paths."""
    tasks = []
    for pid in processes_of(uid):
        try:
            tasks += [f"/proc/{pid}/task/{t}" for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            pass
    return tasks


def processes_of(uid: int) -> list[int]:
    """Pids of the host's processes whose real uid is `uid`."""

    def owned(pid: str) -> bool:
        with open(f"/proc/{pid}/status", "rb") as fh:
            return any(line.startswith(b"Uid:") and int(line.split()[1]) == uid for line in fh)

    return _host_pids(owned)


def _host_pids(match: Callable[[str], bool]) -> list[int]:
    """Pids of the host's processes for which `match(pid)` holds; one that goes while being read is skipped."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if match(entry):
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return pids


def peak_rss(pid: int) -> int:
    """A process's peak resident memory (VmHWM) in bytes; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Cgroup:
    """A memory and process budget for one worker: a cgroup v2, or v1's memory and pids hierarchies."""

    dirs: dict[str, Path]
    """Controller ("memory", "pids", or "v2") to the worker's cgroup folder."""
    v2: bool
    peak_bytes: int = 0

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> Cgroup | None:
        """A fresh cgroup with the limits set, or None where no writable memory and pids cgroup exists."""
        own = _own_cgroups()
        made: dict[str, Path] = {}
        try:
            if "" in own and Path("/sys/fs/cgroup/cgroup.controllers").exists():
                parent = Path("/sys/fs/cgroup") / own[""].lstrip("/")
                control = (parent / "cgroup.subtree_control").read_text().split()
                if not {"memory", "pids"} <= set(control):
                    (parent / "cgroup.subtree_control").write_text("+memory +pids")
                made["v2"] = parent / name
                _remove_stale(made["v2"])
                made["v2"].mkdir(exist_ok=True)
                (made["v2"] / "memory.max").write_text(str(memory_bytes))
                _try_write(made["v2"] / "memory.swap.max", "0")
                (made["v2"] / "pids.max").write_text(str(processes))
                return cls(made, True)
            for controller in ("memory", "pids"):
                mount = Path("/sys/fs/cgroup") / controller
                parent = mount / own.get(controller, "/").lstrip("/")
                if not parent.is_dir():
                    parent = mount
                made[controller] = parent / name
                _remove_stale(made[controller])
                made[controller].mkdir(exist_ok=True)
            (made["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
            _try_write(made["memory"] / "memory.memsw.limit_in_bytes", str(memory_bytes))
            (made["pids"] / "pids.max").write_text(str(processes))
            return cls(made, False)
        except OSError:
            for folder in made.values():
                _try_rmdir(folder)
            return None

    @staticmethod
    def existing(name: str) -> list[Path]:
        """The folders of cgroup `name` that exist now below this process's cgroups (v2, or v1's memory and pids)."""
        own = _own_cgroups()
        root = Path("/sys/fs/cgroup")
        candidates = [root / own[""].lstrip("/") / name] if "" in own else []
        candidates += [root / c / own.get(c, "/").lstrip("/") / name for c in ("memory", "pids")]
        candidates += [root / c / name for c in ("memory", "pids")]
        return [c for c in dict.fromkeys(candidates) if c.is_dir()]

    def procs_files(self) -> tuple[str, ...]:
        return tuple(str(d / "cgroup.procs") for d in self.dirs.values())

    def peak(self) -> int:
        """Peak memory use of the cgroup so far, in bytes (0 when the kernel does not say)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        folder = self.dirs["v2" if self.v2 else "memory"]
        try:
            self.peak_bytes = max(self.peak_bytes, int((folder / name).read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
        return self.peak_bytes

    def kill_and_remove(self) -> None:
        """SIGKILL every process in the cgroup, then remove it."""
        self.peak()
        if self.v2:
            _try_write(self.dirs["v2"] / "cgroup.kill", "1")
        kill_until_gone(self.procs, rounds=50)
        for folder in self.dirs.values():
            for _ in range(50):
                if _try_rmdir(folder):
                    break
                time.sleep(0.02)


    def procs(self) -> set[int]:
        """The processes in the cgroup now."""
        pids: set[int] = set()
        for folder in self.dirs.values():
            try:
                pids |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return pids


def _remove_stale(folder: Path) -> None:
    """Kill what is in a cgroup folder left by a grader that was killed, and remove it (a fresh one has fresh counters)."""
    if not folder.is_dir():
        return
    _try_write(folder / "cgroup.kill", "1")

    def procs() -> list[int]:
        try:
            return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    kill_until_gone(procs, rounds=50)
    for _ in range(50):
        if _try_rmdir(folder):
            return
        time.sleep(0.02)


def sweep_free_slots() -> list[str]:
    """Remove what a grader killed mid-grading (SIGKILL, OOM) left on the slots nobody holds now; returns what, in words.

    That is the slot uids' processes and keyrings (the grader being root) and the slots' cgroup folders:
    a worker's own clean-up never ran, so whoever grades next (a batch, after each child) does it.
    """
    removed: list[str] = []
    if not sys.platform.startswith("linux"):
        return removed
    root = os.geteuid() == 0
    slot_uids = _slot_uids_running() if root else {}
    keyed = _slot_uids_with_keys() if root else set()
    for index in range(SLOTS):
        stale = Cgroup.existing(slot_cgroup_name(index))
        uid = SLOT_UID_BASE + index
        if not stale and uid not in slot_uids and uid not in keyed:
            continue
        fd = _slot_lock(index)
        if fd is None:
            continue  # in use: its worker cleans up after itself
        try:
            if uid in slot_uids:
                kill_until_gone(lambda: processes_of(uid), rounds=100)
                removed.append(f"{len(slot_uids[uid])} process(es) of slot {index}")
            for folder in stale:
                _remove_stale(folder)
                removed.append(str(folder))
            if uid in keyed:
                clear_keyrings(uid)  # keyrings once made stay listed, empty: not worth a word
        finally:
            os.close(fd)
    return removed


def _slot_uids_running() -> dict[int, list[int]]:
    """Slot uid to the pids of its live processes, in one pass over /proc."""
    found: dict[int, list[int]] = {}

    def slot_uid(pid: str) -> bool:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Uid:"):
                    uid = int(line.split()[1])
                    if SLOT_UID_BASE <= uid < SLOT_UID_BASE + SLOTS:
                        found.setdefault(uid, []).append(int(pid))
                    return False
        return False

    _host_pids(slot_uid)
    return found


def _slot_uids_with_keys() -> set[int]:
    """The slot uids the kernel holds keys or keyrings for (/proc/key-users)."""
    try:
        lines = Path("/proc/key-users").read_text().splitlines()
    except OSError:
        return set()
    uids = set()
    for line in lines:
        head = line.split(":", 1)[0].strip()
        if head.isdigit() and SLOT_UID_BASE <= int(head) < SLOT_UID_BASE + SLOTS:
            uids.add(int(head))
    return uids


def kill_until_gone(find: Callable[[], Iterable[int]], rounds: int) -> None:
    """SIGKILL what `find` lists until it lists nothing (a fork can race one round), at most `rounds` times."""
    for _ in range(rounds):
        pids = list(find())
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per controller ("" for v2's unified hierarchy)."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            out[controller] = path
    return out


def _try_write(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
        return True
    except OSError:
        return False


def _try_rmdir(path: Path) -> bool:
    try:
        path.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _size(n: int) -> str:
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"


def _readable(folder: Path) -> None:
    """Let the sandbox's user read a folder the grader made (whatever the grader's umask)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


class Worker:
    """One student worker process, restarted on demand after a crash or a hang."""

    isolation = FALLBACK_ISOLATION
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
        self._request_w = -1
        self._reply_r = -1
        self.bwrap = bubblewrap() if spec.sandbox else None
        self._slot: Slot | None = None
        self._cgroup: Cgroup | None = None
        self._pump_thread: threading.Thread | None = None
        self._start_output = bytearray()
        if self.bwrap is not None:
            self.isolation = self._describe(None)

    def _describe(self, cgroup: Cgroup | None) -> str:
        """What the sandbox applies, in one sentence."""
        limits = self.spec.limits
        assert self.bwrap is not None
        user = (f"user {self._slot.uid if self._slot else f'{SLOT_UID_BASE}+slot'} with no capabilities"
                if self.bwrap.setpriv else f"the grader's own user {os.geteuid()} in a user namespace")
        memory = (f"cgroup memory {_size(limits.memory_bytes)} and {limits.max_processes} processes"
                  if cgroup is not None else f"{limits.max_processes} processes"
                  + (" for its user" if self.bwrap.setpriv else " in its user namespace"))
        if self.spec.device == "cpu":
            memory += f", address space {_size(limits.memory_bytes)}"
        return (f"bubblewrap sandbox ({user}, no network, read-only interpreter and submission, "
                f"private /tmp of {_size(TMP_BYTES)}, {memory}, files up to {_size(limits.file_bytes)}"
                + (", no keyrings, mounts, namespaces or ptrace)" if seccomp.SUPPORTED else ")"))

    # ------------------------------------------------------------------ lifecycle

    def _launch(self) -> None:
        spec = self.spec
        lib = spec.workdir / "lib"
        if not lib.exists():
            shutil.copytree(WORKER_PACKAGE, lib / "ex4worker", ignore=shutil.ignore_patterns("__pycache__"))
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        bootstrap = (
            "import sys; sys.path.insert(0, sys.argv[1])\n"
            "from ex4worker.main import serve\n"
            "serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))\n"
        )
        limits, device = spec.limits, spec.device
        if sys.platform.startswith("linux"):
            _libc()
        procs: tuple[str, ...] = ()
        if self.bwrap is not None:
            self._slot = Slot()
            uid = self._slot.uid if self.bwrap.setpriv else os.geteuid()
            self._kill_uid()  # a slot's uid runs nothing but its sandbox; leftovers of a crashed grader go
            self._clear_keyrings()
            self._cgroup = Cgroup.create(self._slot.cgroup_name, limits.memory_bytes, limits.max_processes)
            procs = self._cgroup.procs_files() if self._cgroup else ()
            self.isolation = self._describe(self._cgroup)
            _readable(lib)
            _readable(spec.module_dir)
            _write_etc(spec.workdir / "etc", uid)
            spec.workdir.chmod(0o755)
            home = Path("/tmp")
            cwd = spec.workdir
            # RLIMIT_NPROC counts a real uid's processes. As root the sandbox runs as the slot's own
            # uid: the cap applies before bubblewrap starts. Otherwise the uid is the TA's, whose
            # desktop may run hundreds of threads: the worker sets the cap itself inside the user
            # namespace, where the kernel (5.14 and later) counts only the sandbox's processes.
            nproc, inside = (limits.max_processes, 0) if self.bwrap.setpriv else (None, limits.max_processes)
            filter_fd = seccomp.program_fd() if seccomp.SUPPORTED else -1
            argv = [*bwrap_argv(self.bwrap, uid, spec.module_dir, lib, spec.workdir / "etc", device,
                                seccomp_fd=filter_fd if filter_fd >= 0 else None),
                    sys.executable, "-I", "-c", bootstrap, f"{SANDBOX_DIR}/lib", f"{SANDBOX_DIR}/submission",
                    str(spec.threads), str(request_r), str(reply_w), str(inside)]
            env = scrubbed_env(home, spec.threads, device, tmp=home)
        else:
            home = spec.workdir / f"run{self.starts}"
            (home / "tmp").mkdir(parents=True, exist_ok=True)
            cwd = home
            filter_fd = -1
            nproc = fallback_nproc(limits.max_processes)
            argv = [sys.executable, "-I", "-c", bootstrap, str(lib), str(spec.module_dir), str(spec.threads),
                    str(request_r), str(reply_w), "0"]
            env = scrubbed_env(home, spec.threads, device)
        try:
            self.proc = subprocess.Popen(
                argv, cwd=cwd, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(request_r, reply_w, *([filter_fd] if filter_fd >= 0 else [])),
                preexec_fn=lambda: _limit_resources(limits, device, procs, nproc),
            )
        finally:
            if filter_fd >= 0:
                os.close(filter_fd)
        os.close(request_r)
        os.close(reply_w)
        self._request_w, self._reply_r = request_w, reply_r
        self.starts += 1
        assert self.proc.stdout is not None
        self._start_output = bytearray()
        self._pump_thread = threading.Thread(target=self._pump, args=(self.proc.stdout, self._start_output),
                                             daemon=True)
        self._pump_thread.start()

    def _pump(self, stream: Any, first: bytearray) -> None:
        """Feed the log; also keep the first bytes of this launch, which a failed start reports."""
        with stream:
            for chunk in iter(lambda: stream.read1(65536), b""):
                self.log.feed(chunk)
                if len(first) < START_OUTPUT_BYTES:
                    first += chunk[:START_OUTPUT_BYTES - len(first)]

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
            why = {"crash": f"the worker process ended before it was ready ({self.exit_text})",
                   "timeout": f"the worker was not ready within {timeout:.0f} s"}.get(exc.kind, exc.message)
            hello = {"ok": False, "error": {"message": why}}
        if not hello.get("ok"):
            self.kill()
            if self._pump_thread is not None:
                self._pump_thread.join(timeout=2)  # the worker's last words (bubblewrap's error) into the log
            err = hello.get("error") or {}
            # Only this launch's output, all of it from before any student code ran (an earlier
            # run's output in the log is the student's, and never reaches the TA's terminal this way).
            output = self._start_output.decode("utf-8", "replace").strip()
            self.start_error = (f"The sandbox could not start the student's worker ({self.isolation}): "
                                + ": ".join(str(err[k]) for k in ("type", "message") if err.get(k))
                                + (f". Its output: {output}" if output else "."))
            return
        try:
            reply = self._exchange({"op": "import", "given": self.spec.given_source, "own": list(self.spec.own_names)},
                                   timeout, "importing your module")
        except WorkerError as exc:
            self.kill()
            self.import_error = {"type": {"timeout": "TimeoutError", "crash": "WorkerEnded"}.get(exc.kind, "WorkerError"),
                                 "message": exc.message, "traceback": ""}
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
            self._kill_uid()
            self._clear_keyrings()
            self._slot.release()
            self._slot = None
        for fd in (self._request_w, self._reply_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._request_w = self._reply_r = -1

    def _record_peak(self, pid: int) -> None:
        """Note the peak memory of the worker's processes before they go."""
        pids = [pid]
        if self._slot is not None and self.bwrap is not None and self.bwrap.setpriv:
            pids += processes_of(self._slot.uid)
        peak = max(peak_rss(p) for p in pids)
        if self._cgroup is not None:
            peak = max(peak, self._cgroup.peak())
        self.peak_memory_bytes = max(self.peak_memory_bytes, peak)

    def _kill_uid(self) -> None:
        """SIGKILL every process of the slot's uid until none is left."""
        if self._slot is None or self.bwrap is None or not self.bwrap.setpriv:
            return
        uid = self._slot.uid
        kill_until_gone(lambda: processes_of(uid), rounds=100)

    def _clear_keyrings(self) -> None:
        """Empty the slot uid's keyrings (see `clear_keyrings`); a failure is noted in the TA's log."""
        if self._slot is None or self.bwrap is None or not self.bwrap.setpriv:
            return  # the grader's own user (in a user namespace of its own) is not a slot's to clear
        why = clear_keyrings(self._slot.uid)
        if why is not None:
            self.log.feed(f"\n[grader] {why}\n".encode())

    close = kill

    # ------------------------------------------------------------------ requests

    def request(self, message: dict[str, Any], timeout: float, what: str) -> dict[str, Any]:
        """Send one request and return the worker's reply; WorkerError if it dies, hangs or misbehaves."""
        if self.busy_s >= self.spec.limits.total_timeout_s:
            raise WorkerError(f"Your code used up the time for the whole submission "
                              f"({self.spec.limits.total_timeout_s:.0f} s); the remaining checks were not run.", "budget")
        self.ensure_started()
        if self.start_error is not None:
            raise WorkerError(self.start_error, "sandbox")
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
            return self._receive(deadline, what, started)
        finally:
            writer.join(timeout=1)

    def _receive(self, deadline: float, what: str, started: float) -> dict[str, Any]:
        """The worker's next message; WorkerError if it dies, hangs past `deadline` or misbehaves."""
        try:
            reply = protocol.read_message(_DeadlineReader(self._reply_r, deadline), self.spec.limits.max_message_bytes,
                                          protocol.REPLY_BOUNDS)
        except TimeoutError:
            self.kill()
            raise WorkerError(f"Your code did not finish {what} within {deadline - started:.0f} seconds and was stopped.",
                              "timeout") from None
        except EOFError:
            raise WorkerError(f"Your code ended the worker process while {what} ({self._exit_text()}).", "crash") from None
        except protocol.ProtocolError as exc:
            self.kill()
            raise WorkerError(f"The worker's reply while {what} could not be read: {exc}.", "protocol") from None
        finally:
            self.busy_s += time.monotonic() - started
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
        self.exit_text = self._describe_exit(code)
        return self.exit_text

    def _describe_exit(self, code: int | None) -> str:
        """An exit code in words, with the likely cause of a signal death."""
        if code is None:
            return "it stopped answering"
        if code > 128 and self.bwrap is not None and code - 128 in signal.Signals._value2member_map_:
            code = 128 - code  # bubblewrap passes a signal death on as 128 + the signal's number
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            hint = {"SIGKILL": ", most likely for using too much memory or time",
                    "SIGSEGV": ", a segmentation fault", "SIGXCPU": ", over the CPU time limit",
                    "SIGXFSZ": ", writing a file over the size limit", "SIGABRT": ", an abort (often out of memory)"}.get(name, "")
            return f"killed by {name}{hint}"
        return f"exit status {code}"
