"""The worker's sandbox: what bubblewrap applies, what the student's code can see and do, and the fallback."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from grader import sandbox
from grader.config import CHECKS_DIR, PACKAGE_DIR, PROJECT_DIR, REFERENCE_PATH, Limits, MiB
from grader.errors import WorkerError
from grader.sandbox import FALLBACK_ISOLATION, SLOT_UID_BASE, SLOTS, Slot, Worker, WorkerSpec, bubblewrap
from grader.sandbox import bwrap, launch, limits
from grader.sandbox import worker as sandbox_worker
from tests.helpers import leftovers, require_bubblewrap, sandbox_namespaces

needs_bwrap = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux's")

PROBE_MODULE = '''
import os, socket, subprocess, sys


def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    out = {k: fields.get(k, "") for k in ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")}
    for line in open("/proc/self/limits"):
        if line.startswith("Max processes"):
            out["max_processes"] = line.split()[2]
    return out


def look(paths, port):
    seen = {}
    for path in paths:
        try:
            seen[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path, "rb").read(100).decode("latin-1")
        except OSError as exc:
            seen[path] = type(exc).__name__
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        net = "connected"
    except OSError as exc:
        net = type(exc).__name__
    writable = {}
    for folder in ("/tmp", "/dev/shm", "/sandbox/submission", "/sandbox/lib", "/usr", "/", sys.prefix):
        try:
            with open(os.path.join(folder, "probe.txt"), "w") as fh:
                fh.write("x")
            writable[folder] = True
        except OSError:
            writable[folder] = False
    tmp = os.statvfs("/tmp")
    try:
        os.kill(os.getppid(), 9)
        killed_parent = "killed"
    except OSError as exc:
        killed_parent = type(exc).__name__
    return {"status": status(), "seen": seen, "net": net, "writable": writable, "tmp_bytes": tmp.f_blocks * tmp.f_frsize,
            "env": dict(os.environ), "argv": sys.argv, "cwd": os.getcwd(), "pid": os.getpid(), "ppid": os.getppid(),
            "killed_parent": killed_parent, "hostname": socket.gethostname(), "ps": sorted(os.listdir("/proc"))}


def spawn_daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(100000)", "ex4-hostile-marker"])
        os._exit(0)
    os.wait()
    return True
'''


@pytest.fixture(scope="module")
def probe_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A sandboxed worker that imported PROBE_MODULE."""
    require_bubblewrap()
    root = tmp_path_factory.mktemp("probe")
    (root / "module").mkdir()
    (root / "module" / "exercise4.py").write_text(PROBE_MODULE)
    worker = Worker(WorkerSpec(root / "module", root / "work", Limits(call_timeout_s=20, import_timeout_s=60)))
    worker.ensure_started()
    assert worker.import_error is None, worker.import_error
    yield worker
    worker.kill()


@pytest.fixture(scope="module")
def listening() -> Iterator[int]:
    """A port on the host's 127.0.0.1 that accepts connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(scope="module")
def view(probe_worker: Worker, listening: int) -> dict[str, Any]:
    """What the sandboxed code reports about itself and the file system."""
    paths = ["/", "/root", "/tmp", "/home", "/etc", "/sandbox", "/sandbox/submission", str(PROJECT_DIR),
             str(PACKAGE_DIR), str(CHECKS_DIR), str(CHECKS_DIR / "test_task1.py"), str(REFERENCE_PATH),
             str(PROJECT_DIR / "reports"), os.path.expanduser("~"), "/etc/passwd", "/etc/shadow", "/proc/1/root/root",
             str(Path(sys.prefix) / "pyvenv.cfg")]
    reply = probe_worker.request({"op": "call", "name": "look", "args": [paths, listening]}, 20, "look()")
    assert reply["ok"], reply
    return sandbox_untag(reply["value"])


def sandbox_untag(value: Any) -> Any:
    from grader.worker.values import decode as untag

    return untag(value)


# ---------------------------------------------------------------------- what the sandbox applies


@needs_bwrap
def test_runs_as_an_unprivileged_slot_user_without_capabilities(probe_worker: Worker, view: dict[str, Any]) -> None:
    status = view["status"]
    uid = os.geteuid()
    if bubblewrap().setpriv:  # the grader is root: the sandbox drops to its slot's uid
        assert SLOT_UID_BASE <= int(status["Uid"].split()[0]) < SLOT_UID_BASE + SLOTS
        assert len(set(status["Uid"].split())) == 1 and len(set(status["Gid"].split())) == 1
    else:
        assert status["Uid"].split()[0] == str(uid)
    assert status["Uid"].split()[0] != "0"
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, (cap, status[cap])
    assert status["NoNewPrivs"] == "1"
    assert status["max_processes"] == str(Limits().max_processes)
    assert probe_worker.isolation.startswith("bubblewrap sandbox (user " if bubblewrap().setpriv
                                             else "bubblewrap sandbox (the grader's own user ")
    assert "no network" in probe_worker.isolation and "private /tmp of 512 MiB" in probe_worker.isolation


@needs_bwrap
def test_sees_only_the_interpreter_its_module_and_private_tmp(view: dict[str, Any]) -> None:
    seen = view["seen"]
    for secret in (PROJECT_DIR, PACKAGE_DIR, CHECKS_DIR, CHECKS_DIR / "test_task1.py", REFERENCE_PATH,
                   PROJECT_DIR / "reports", "/etc/shadow"):
        value = seen[str(secret)]
        assert value in ("FileNotFoundError", "PermissionError") or (secret == PROJECT_DIR and value == [".venv"]), \
            (secret, value)
    assert seen["/sandbox/submission"] == ["exercise4.py"]
    # The root holds the system folders plus the first folder of each bound interpreter root, wherever the
    # clone lives (/work here, /check or /builds on a CI machine); nothing else of the host.
    bound_tops = {Path(r).parts[1] for r in sandbox.interpreter_roots()}
    assert set(seen["/"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sandbox", "sbin",
                              "sys", "tmp", "usr"} | bound_tops, bound_tops
    under_root = {Path(r).parts[2] for r in sandbox.interpreter_roots() if Path(r).parts[1:2] == ("root",)}
    assert seen["/root"] == "FileNotFoundError" or set(seen["/root"]) <= under_root, \
        "nothing of root's home but a bound interpreter"
    assert set(seen["/etc"]) <= {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "passwd", "group"}
    assert "student" in seen["/etc/passwd"]
    # An interpreter that lives under /tmp (a CI clone's venv) is bound there, read-only.
    bound_under_tmp = {Path(r).relative_to("/tmp").parts[0] for r in sandbox.interpreter_roots()
                       if Path(r).is_relative_to("/tmp")}
    assert set(seen["/tmp"]) <= {".matplotlib", ".torch", "probe.txt"} | bound_under_tmp
    assert seen["/proc/1/root/root"] in ("PermissionError", "FileNotFoundError")
    assert view["writable"] == {"/tmp": True, "/dev/shm": True, "/sandbox/submission": False, "/sandbox/lib": False,
                                "/usr": False, "/": False, sys.prefix: False}
    assert view["tmp_bytes"] == sandbox.TMP_BYTES
    assert view["cwd"] == "/tmp"


@needs_bwrap
def test_has_no_network_and_cannot_reach_the_host(probe_worker: Worker, view: dict[str, Any]) -> None:
    assert view["net"] == "ConnectionRefusedError", "the host's 127.0.0.1 is not the sandbox's"
    if bubblewrap().setpriv:
        assert view["killed_parent"] == "PermissionError"
    else:
        # As the grader's own user its parent is its namespace's init, same uid: kill() succeeds, and
        # the kernel drops the signal (an init is shielded from its namespace). The worker lives on.
        assert view["killed_parent"] in ("PermissionError", "killed")
        assert probe_worker.request({"op": "call", "name": "status", "args": []}, 20, "status()")["ok"]
    assert view["ppid"] == 1 and view["pid"] <= 4, "a PID namespace of its own"
    assert view["hostname"] == "sandbox"
    assert len([p for p in view["ps"] if p.isdigit()]) <= 3


@needs_bwrap
def test_nothing_secret_in_argv_or_environment(view: dict[str, Any]) -> None:
    assert set(view["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "MPLBACKEND", "OMP_WAIT_POLICY", "MPLCONFIGDIR", "TORCH_HOME",
                                "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED",
                                "CUDA_VISIBLE_DEVICES", "LC_CTYPE", "PWD"}
    assert view["env"]["HOME"] == "/tmp"
    assert all(str(PROJECT_DIR) not in str(a) or ".venv" in str(a) for a in view["argv"])


@needs_bwrap
def test_cgroup_holds_the_worker_while_it_runs(probe_worker: Worker) -> None:
    cgroup = probe_worker._cgroup
    if cgroup is None:
        pytest.skip("no writable cgroup here; memory is capped by RLIMIT_AS only")
    assert "cgroup memory 6 GiB" in probe_worker.isolation
    procs = {int(p) for d in cgroup.dirs.values() for p in (d / "cgroup.procs").read_text().split()}
    assert probe_worker.proc is not None and probe_worker.proc.pid in procs
    assert cgroup.peak() > 50 * MiB


@needs_bwrap
def test_a_daemon_is_gone_with_its_worker(tmp_path: Path) -> None:
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "exercise4.py").write_text(PROBE_MODULE)
    first = Worker(WorkerSpec(tmp_path / "module", tmp_path / "w1", Limits()))
    second = Worker(WorkerSpec(tmp_path / "module", tmp_path / "w2", Limits()))
    try:
        first.ensure_started()
        second.ensure_started()
        assert first.request({"op": "call", "name": "spawn_daemon"}, 20, "spawn_daemon()")["ok"]
        # spawn_daemon returns before the grandchild has exec'd: give it a moment on a loaded machine.
        deadline = time.monotonic() + 15
        while not [p for p in leftovers(set()) if "ex4-hostile-marker" in p] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p in leftovers(set()) if "ex4-hostile-marker" in p], "the daemon runs"
        namespaces = sandbox_namespaces(first)
        assert namespaces and namespaces != sandbox_namespaces(second)
        if bubblewrap().setpriv:
            assert first._slot is not None and second._slot is not None
            assert first._slot.uid != second._slot.uid, "each slot has its own uid, so its own process budget"
        cgroup = first._cgroup
        first.kill()
        assert leftovers(namespaces) == []
        if cgroup is not None:
            assert not any(d.exists() for d in cgroup.dirs.values())
        assert second.proc is not None and second.proc.poll() is None, "the other worker lives on"
    finally:
        first.kill()
        second.kill()


@needs_bwrap
def test_without_a_slot_uid_the_process_cap_is_set_inside_the_namespace(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as a TA's own user, RLIMIT_NPROC would count the TA's desktop too (hundreds of threads):
    the cap must not be set on bubblewrap (which then cannot even clone), but by the worker inside its
    user namespace, where only the sandbox's processes count."""
    require_bubblewrap()
    bw = bubblewrap()
    assert bw is not None
    monkeypatch.setattr(sandbox_worker, "bubblewrap", lambda: sandbox.Bubblewrap(bw.bwrap, None))
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "exercise4.py").write_text(PROBE_MODULE)
    worker = Worker(WorkerSpec(tmp_path / "module", tmp_path / "work", Limits(call_timeout_s=20, max_processes=48)))
    try:
        worker.ensure_started()
        assert worker.import_error is None and worker.start_error is None
        outside = Path(f"/proc/{worker.proc.pid}/limits").read_text()
        assert "Max processes" in outside and " 48 " not in next(
            line for line in outside.splitlines() if line.startswith("Max processes"))
        reply = worker.request({"op": "call", "name": "status", "args": []}, 20, "status()")
        assert sandbox_untag(reply["value"])["max_processes"] == "48"
        assert "48 processes" in worker.isolation
    finally:
        worker.kill()


@needs_bwrap
def test_a_sandbox_that_cannot_start_stops_grading_and_blames_no_student(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_submission: Any) -> None:
    from dataclasses import replace

    from grader.config import DEFAULT
    from grader.errors import SandboxError
    from grader.grading import grade_submission

    require_bubblewrap()
    argv = sandbox.bwrap_argv
    monkeypatch.setattr(launch, "bwrap_argv", lambda *a, **k: [*argv(*a, **k), "--no-such-bubblewrap-option"])
    zip_path = make_submission(REFERENCE_PATH.read_text(encoding="utf-8"))
    settings = replace(DEFAULT, out_dir=tmp_path / "reports", only=("test_conv_relu_stride1",))
    with pytest.raises(SandboxError) as raised:
        grade_submission(zip_path, settings)
    assert "The sandbox could not start the student's worker" in raised.value.message
    assert "no-such-bubblewrap-option" in raised.value.message, "bubblewrap's own words reach the TA"
    assert raised.value.exit_code == 8
    assert not (tmp_path / "reports" / "Mustermann-123456" / "results.json").exists(), "no verdict against the student"

    from click.testing import CliRunner

    from grader.cli import main

    ran = CliRunner().invoke(main, ["run", str(zip_path), "--out", str(tmp_path / "cli"), "--only", "test_conv_relu_stride1"])
    assert ran.exit_code == 8, ran.output
    assert "could not start the student's worker" in ran.output and "Traceback" not in ran.output
    assert not (tmp_path / "cli" / "Mustermann-123456").exists()


@needs_bwrap
def test_a_failed_restart_reports_only_its_own_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The student's earlier output is in the log, but never in the TA's sandbox error."""
    require_bubblewrap()
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "exercise4.py").write_text("print('STUDENT-SAYS \\x1b[2J rm -rf', flush=True)\n")
    worker = Worker(WorkerSpec(tmp_path / "module", tmp_path / "work", Limits(call_timeout_s=20)))
    try:
        worker.ensure_started()
        assert worker.import_error is None and worker.start_error is None
        worker.kill()
        assert "STUDENT-SAYS" in worker.log.text()
        argv = sandbox.bwrap_argv
        monkeypatch.setattr(launch, "bwrap_argv", lambda *a, **k: [*argv(*a, **k), "--no-such-bubblewrap-option"])
        worker.ensure_started()
        assert worker.start_error is not None and "no-such-bubblewrap-option" in worker.start_error
        assert "STUDENT-SAYS" not in worker.start_error
        with pytest.raises(WorkerError):
            worker.request({"op": "call", "name": "x", "args": []}, 5, "x")
    finally:
        worker.kill()


# ---------------------------------------------------------------------- detection and fallback


def test_fallback_without_bubblewrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sandbox.bubblewrap.cache_clear()
    monkeypatch.setattr(bwrap.shutil, "which", lambda name: None)
    monkeypatch.setattr(bwrap.os.path, "exists", lambda path: False)
    try:
        assert bubblewrap() is None
        worker = Worker(WorkerSpec(tmp_path, tmp_path / "w", Limits()))
        assert worker.isolation == FALLBACK_ISOLATION and worker.bwrap is None
    finally:
        sandbox.bubblewrap.cache_clear()


def test_fallback_when_not_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.bubblewrap.cache_clear()
    monkeypatch.setattr(bwrap.sys, "platform", "darwin")
    try:
        assert bubblewrap() is None
    finally:
        sandbox.bubblewrap.cache_clear()


def test_without_a_sandbox_the_process_budget_comes_on_top_of_the_users_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    mine = sandbox.tasks_of(os.getuid())
    assert f"/proc/{os.getpid()}/task/{threading.get_native_id()}" in mine
    monkeypatch.setattr(limits.os, "geteuid", lambda: 0)
    assert sandbox.fallback_nproc(64) is None, "root is never limited"
    monkeypatch.setattr(limits.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(limits, "tasks_of", lambda uid: ["t"] * 300)  # a TA's desktop
    assert sandbox.fallback_nproc(64) == 364


def test_sandbox_can_be_turned_off(tmp_path: Path) -> None:
    worker = Worker(WorkerSpec(tmp_path, tmp_path / "w", Limits(), sandbox=False))
    assert worker.isolation == FALLBACK_ISOLATION


def test_argv_binds_read_only_and_never_the_project(tmp_path: Path) -> None:
    bw = sandbox.Bubblewrap("/usr/bin/bwrap", "/usr/bin/setpriv")
    argv = sandbox.bwrap_argv(bw, 60123, tmp_path / "m", tmp_path / "l", tmp_path / "e", "cpu")
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                 "--new-session", "--cap-drop", "--reuid=60123", "--regid=60123", "--clear-groups",
                 "--bounding-set=-all", "--no-new-privs"):
        assert flag in argv
    assert "--bind" not in argv, "nothing of the host is bound writable"
    sources = [argv[i + 1] for i, a in enumerate(argv) if a in ("--ro-bind", "--ro-bind-try")]
    for source in sources:
        assert not (PROJECT_DIR / "x").is_relative_to(source) or source == str(PROJECT_DIR / ".venv")
        assert not Path(source).is_relative_to(PROJECT_DIR) or Path(source).is_relative_to(sys.prefix) \
            or source in (str(tmp_path / "m"), str(tmp_path / "l")), source
    assert argv.index("--tmpfs") > 0 and argv[argv.index("/tmp") - 1] == "--tmpfs"
    unprivileged = sandbox.bwrap_argv(sandbox.Bubblewrap("/usr/bin/bwrap", None), 1000, tmp_path, tmp_path, tmp_path, "cuda")
    assert "--unshare-user" in unprivileged and "--cap-add" not in unprivileged


def test_a_grader_package_inside_bound_site_packages_is_masked(tmp_path: Path) -> None:
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "grader" / "checks").mkdir(parents=True)
    (site / "torch").mkdir()
    assert sandbox.secret_paths([str(tmp_path / "venv")]) == [str(site / "grader")]


def test_slots_are_exclusive() -> None:
    first, second = Slot(), Slot()
    try:
        assert first.index != second.index and first.uid != second.uid
    finally:
        first.release()
        second.release()
    third = Slot()
    third.release()
    assert third.index == min(first.index, second.index)
