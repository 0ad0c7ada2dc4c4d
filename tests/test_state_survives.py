"""Nothing of one submission survives it: the seccomp filter, keyrings, state left for the next one on the slot,
and the clean-up after a grading killed by the batch timeout or SIGTERM.

Written against issue #15: as root the sandbox had no user namespace and no seccomp filter, so a key
added to the slot uid's keyring (`add_key`) was read by the next submission on that slot, and a killed
child left its temporary folder (the student's files) and its slot's cgroups behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader import sandbox
from grader.sandbox import bwrap, seccomp
from grader.sandbox import worker as sandbox_worker
from grader.config import DEFAULT, Limits, Settings
from tests.conftest import DATA
from tests.state_util import (SLOT_ENV, add_key_as, free_slot, holding, in_own_session_keyring, keys_of,
                              pinned_slot)
from tests.helpers import TASK12, core, leftovers, require_bubblewrap

STATE = DATA / "state_leak"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="slot uids (and their keyrings) exist for a root grader only")

CALLS = r'''
import ctypes, errno, json, mmap, os, subprocess, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
denied = json.loads(sys.argv[1])
CLONE_THREAD = 0x10000  # without CLONE_SIGHAND: an invalid clone the kernel refuses (EINVAL) before doing anything
out = {}
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
for name, nr in denied.items():
    # Harmless arguments: were a call let through, it would fail on them (or do nothing).
    args = {"ptrace": (0x7fffffff, 0, 0, 0), "personality": (0x0040000,), "unshare": (0,),
            "keyctl": (0, -4, 0), "syslog": (10, 0, 0), "iopl": (0,), "ioperm": (0, 0, 0)}.get(name, (-1, 0, 0, 0, 0, 0))
    out[name] = call(nr, *args)
for flag in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000):
    out[f"clone:{flag:#x}"] = call(56, flag | CLONE_THREAD, 0, 0, 0, 0)
out["clone3"] = call(435, 0, 0)
out["x32 getpid"] = call(0x40000000 | 39)
out["personality query"] = call(135, 0xffffffff)
t = threading.Thread(target=lambda: None); t.start(); t.join()
out["thread"] = "ok"
pid = os.fork()
if pid == 0:
    os._exit(7)
out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
out["subprocess"] = subprocess.run([sys.executable, "-c", "import numpy; print(1)"], capture_output=True).stdout.strip().decode()
# The 32-bit entry (int 0x80, getpid) from a forked child: the filter kills it with SIGSYS.
pid = os.fork()
if pid == 0:
    code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(bytes([0xb8, 0x14, 0, 0, 0, 0xcd, 0x80, 0xc3]))
    address = ctypes.addressof(ctypes.c_char.from_buffer(code))
    ctypes.CFUNCTYPE(ctypes.c_int)(address)()
    os._exit(0)
out["int 0x80"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
out["seccomp"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")][0]
print(json.dumps(out))
'''


def run_filtered(tmp_path: Path, setpriv: bool) -> dict[str, Any]:
    """CALLS's findings, run under the sandbox's bubblewrap command line with the filter."""
    bw = sandbox.bubblewrap()
    assert bw is not None
    if setpriv and not bw.setpriv:
        pytest.skip("the grader is not root: no slot uid to drop to")
    mode = sandbox.Bubblewrap(bw.bwrap, bw.setpriv if setpriv else None)
    for sub in ("module", "lib"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub).chmod(0o755)
    uid = sandbox.SLOT_UID_BASE + free_slot()
    bwrap.write_etc(tmp_path / "etc", uid)
    tmp_path.chmod(0o755)
    fd = seccomp.program_fd()
    try:
        argv = [*sandbox.bwrap_argv(mode, uid, tmp_path / "module", tmp_path / "lib",
                                    tmp_path / "etc", "cpu", seccomp_fd=fd),
                sys.executable, "-I", "-c", CALLS, json.dumps(seccomp.DENIED)]
        done = subprocess.run(argv, pass_fds=(fd,), capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                              timeout=120)
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.skipif(not seccomp.SUPPORTED, reason="the filter is written for x86_64 Linux")
@pytest.mark.parametrize("setpriv", [True, False], ids=["root-slot-uid", "user-namespace"])
def test_the_filter_denies_kernel_state_calls_and_allows_normal_work(tmp_path: Path, setpriv: bool) -> None:
    require_bubblewrap()
    out = run_filtered(tmp_path, setpriv)
    assert {name: out[name] for name in seccomp.DENIED} == {name: "EPERM" for name in seccomp.DENIED}
    assert {k: v for k, v in out.items() if k.startswith("clone:")} == {k: "EPERM" for k in out if k.startswith("clone:")}
    assert out["clone3"] == "ENOSYS", "glibc falls back to clone, whose flags the filter sees"
    assert out["x32 getpid"] == "EPERM"
    assert out["int 0x80"] == -signal.SIGSYS, "a 32-bit system call kills the process"
    assert out["personality query"] == "ok"
    assert (out["thread"], out["fork"], out["subprocess"]) == ("ok", 7, "1")
    assert out["seccomp"] == "2"


def test_the_filter_is_passed_in_both_modes(tmp_path: Path) -> None:
    for setpriv in ("/usr/bin/setpriv", None):
        argv = sandbox.bwrap_argv(sandbox.Bubblewrap("/usr/bin/bwrap", setpriv), 60123, tmp_path, tmp_path, tmp_path,
                                  "cpu", seccomp_fd=17)
        assert argv[argv.index("--seccomp") + 1] == "17"
        assert argv.index("--seccomp") < argv.index("--chdir"), "an option of bubblewrap's, not of the worker"


def test_a_workers_sandbox_runs_under_the_filter(tmp_path: Path) -> None:
    """A real worker's launch passes the filter (Seccomp: 2 in its /proc/self/status) and can still import torch."""
    require_bubblewrap()
    if not seccomp.SUPPORTED:
        pytest.skip("the filter is written for x86_64 Linux")
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "exercise4.py").write_text(
        "import torch, numpy, matplotlib.pyplot\n"
        "def seccomp():\n    return [l.split()[1] for l in open('/proc/self/status') if l.startswith('Seccomp:')][0]\n"
        "def keyring():\n    import ctypes\n    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    return libc.syscall(250, 0, ctypes.c_long(-4), 0), ctypes.get_errno()\n")
    worker = sandbox.Worker(sandbox.WorkerSpec(tmp_path / "module", tmp_path / "work", Limits(import_timeout_s=90)))
    try:
        worker.ensure_started()
        assert worker.start_error is None and worker.import_error is None, (worker.start_error, worker.import_error)
        from grader.worker.values import decode as untag

        assert untag(worker.request({"op": "call", "name": "seccomp", "args": []}, 20, "seccomp()")["value"]) == "2"
        assert untag(worker.request({"op": "call", "name": "keyring", "args": []}, 20, "keyring()")["value"]) == (-1, 1)
        assert "no keyrings, mounts, namespaces or ptrace" in worker.isolation
    finally:
        worker.kill()


@root_only
def test_a_slot_uids_keyrings_are_cleared_before_and_after_its_worker(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A key some earlier grader left on the slot (say one without the filter) is gone when the next worker starts."""
    require_bubblewrap()
    index = free_slot()
    monkeypatch.setattr(sandbox_worker, "Slot", pinned_slot(index))
    uid = sandbox.SLOT_UID_BASE + index
    add_key_as(uid, "ex4-left-behind", b"secret")
    assert keys_of(uid)["user"] >= 1
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "exercise4.py").write_text("x = 1\n")
    worker = sandbox.Worker(sandbox.WorkerSpec(tmp_path / "module", tmp_path / "work", Limits()))
    try:
        worker.launch()
        assert keys_of(uid) == {"user": 0, "user-session": 0}
        add_key_as(uid, "ex4-left-during", b"secret")
    finally:
        worker.kill()
    assert keys_of(uid) == {"user": 0, "user-session": 0}


def _zip(path: Path, code: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("exercise4.py", code)
    return path


def _settings(out: Path, **limits: float) -> Settings:
    chosen: dict[str, Any] = {"call_timeout_s": 10, "total_timeout_s": 120, "import_timeout_s": 60, **limits}
    return replace(DEFAULT, out_dir=out, seed=11, only=TASK12, device="cpu", limits=Limits(**chosen))


def _log_line(out: Path, stem: str, tag: str) -> Any:
    text = (out / ".logs" / f"{stem}.log").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith(tag + " ")]
    assert lines, f"{tag} is not in the TA's log: {text[-2000:]}"
    return json.loads(lines[-1][len(tag) + 1:])


@pytest.mark.slow
def test_nothing_one_submission_leaves_is_found_by_the_next_on_its_slot(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       watch_namespaces) -> None:
    """The writer (the reference's Task 1 and 2) leaves its own source in every channel it can: keys in
    four keyrings, files in every folder it sees, SysV shm/msg/sem, a POSIX queue, an abstract socket
    served by a background process, its environment. The reader, graded next on the same slot, has no
    solution of its own and uses any it finds: it must find nothing and get no point."""
    from grader.grading import grade_submission

    require_bubblewrap()
    index = free_slot()
    monkeypatch.setattr(sandbox_worker, "Slot", pinned_slot(index))
    channels = (STATE / "channels.py").read_text(encoding="utf-8")
    writer = _zip(tmp_path / "zips" / "Schreiber-111111.zip",
                  core() + "\n" + channels + (STATE / "writer.py").read_text(encoding="utf-8"))
    reader = _zip(tmp_path / "zips" / "Leser-222222.zip", channels + (STATE / "reader.py").read_text(encoding="utf-8"))
    out = tmp_path / "reports"

    first = grade_submission(writer, _settings(out))
    assert sum(c.points for c in first.checks) == 14, first.verdict
    wrote = _log_line(out, "Schreiber-111111", "EX4-LEAK-WROTE")
    # What the sandbox lets it write lives in the sandbox's own tmpfs and namespaces; the rest is refused.
    assert wrote["file:/tmp"] == "ok" and wrote["sysv:shm"] == "ok" and wrote["process+socket"] == "started", wrote
    if seccomp.SUPPORTED:
        assert {k: v for k, v in wrote.items() if k.startswith("key:")} == {
            k: "Operation not permitted" for k in wrote if k.startswith("key:")}, wrote

    second = grade_submission(reader, _settings(out))
    found = _log_line(out, "Leser-222222", "EX4-LEAK-FOUND")
    assert found == [], f"the next submission on slot {index} found: {found}"
    assert sum(c.points for c in second.checks) == 0, second.verdict

    # Nor is any of it on the host: the slot uid's keyrings, the grader's own session keyring, processes.
    if os.geteuid() == 0:
        with holding(index):
            assert keys_of(sandbox.SLOT_UID_BASE + index) == {"user": 0, "user-session": 0}
    assert not any(in_own_session_keyring(f"ex4-leak-{ring}") for ring in ("session", "user", "persistent"))
    assert leftovers(watch_namespaces) == []
    assert not list(Path("/tmp").glob("ex4-leak-file")) and not list(Path("/dev/shm").glob("ex4-leak-file"))


HANG = "import time\nMARK = {mark!r}\nwhile True:\n    time.sleep(1)\n"
"""A submission whose import never ends, so that its grading is stopped from outside."""


def _student_files(folder: Path, mark: str) -> list[Path]:
    """Extracted copies of the hanging submission (found by its unique mark) in `folder`'s grading folders."""
    found = []
    tops = [folder] if folder != Path(tempfile.gettempdir()) else list(folder.glob("ex4-grade-*"))
    for top in tops:
        for dirpath, _, filenames in os.walk(top):  # folders of other gradings come and go: errors are skipped
            if "exercise4.py" not in filenames:
                continue
            path = Path(dirpath) / "exercise4.py"
            try:
                if mark in path.read_text(encoding="utf-8", errors="replace"):
                    found.append(path)
            except OSError:
                pass
    return found


class _Watch:
    """Notes, while a grading runs, whether the pinned slot's cgroup and the student's files appeared."""

    def __init__(self, index: int, tmp_roots: list[Path], mark: str) -> None:
        self.index, self.tmp_roots, self.mark = index, tmp_roots, mark
        self.cgroup = self.files = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.cgroup |= bool(sandbox.Cgroup.existing(sandbox.slot_cgroup_name(self.index)))
            self.files |= any(_student_files(root, self.mark) for root in self.tmp_roots)

    def done(self) -> None:
        self.stop.set()
        self.thread.join()


def _cgroups_possible() -> bool:
    made = sandbox.Cgroup.create(f"ex4-test-probe-{os.getpid()}", 1 << 30, 64)
    if made is None:
        return False
    made.kill_and_remove()
    return True


@pytest.mark.slow
def test_a_child_killed_by_the_batch_timeout_leaves_no_files_or_cgroups(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.batch import run_batch

    require_bubblewrap()
    index = free_slot()
    mark = f"ex4-timeout-{os.getpid()}-{time.time_ns()}"
    term = tmp_path / "term"
    _zip(term / "Haenger-333333.zip", HANG.format(mark=mark))
    monkeypatch.setenv(SLOT_ENV, str(index))
    out = tmp_path / "out"
    watch = _Watch(index, [Path(tempfile.gettempdir()), out], mark)
    try:
        summary = run_batch(term, _settings(out, import_timeout_s=300), workers=1, timeout_s=25,
                            grade="tests.state_util:grade_on_pinned_slot")
    finally:
        watch.done()
    (entry,) = summary.entries
    assert entry.status == "timeout" and "timeout" in entry.result.flags, (entry.status, entry.result.flags)
    assert watch.files, "the child had extracted the student's files before it was killed"
    assert _student_files(Path(tempfile.gettempdir()), mark) == [] and _student_files(out, mark) == []
    assert not [p for p in (out / ".cache").iterdir() if p.name.endswith(".tmp")]
    if _cgroups_possible():
        assert watch.cgroup, "the worker's slot cgroup existed while it ran"
    with holding(index):
        assert sandbox.Cgroup.existing(sandbox.slot_cgroup_name(index)) == []
        if os.geteuid() == 0:
            assert sandbox.processes_of(sandbox.SLOT_UID_BASE + index) == []


IN_CHECKS = ("import ctypes, time\nMARK = {mark!r}\n\n\ndef conv_relu(*args, **kwargs):\n"
             "    ctypes.CDLL(None).prctl(15, b'ex4-in-checks', 0, 0, 0)  # PR_SET_NAME: seen in the host's /proc\n"
             "    time.sleep(300)\n")
"""A submission whose first check never ends and says so in its process name."""


def _named(name: str) -> bool:
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                return True
        except OSError:
            pass
    return False


@pytest.mark.slow
@pytest.mark.parametrize("during", ["set-up", "checks"])
def test_a_sigtermed_grading_cleans_up_after_itself(tmp_path: Path, during: str) -> None:
    """SIGTERM (a scheduler ending the job) to a batch child, while the worker imports the module or while
    pytest runs the checks: the child removes its sandbox, cgroups and files itself and exits as stopped
    (not as a set-up failure, which would stop the whole batch)."""
    from grader.batch import settings_to_json

    require_bubblewrap()
    index = free_slot()
    mark = f"ex4-sigterm-{os.getpid()}-{time.time_ns()}"
    code = (HANG if during == "set-up" else IN_CHECKS).format(mark=mark)
    zip_path = _zip(tmp_path / "Haenger-444444.zip", code)
    settings_file = tmp_path / "settings.json"
    settings = _settings(tmp_path / "out", import_timeout_s=300, call_timeout_s=300, total_timeout_s=600)
    settings_file.write_text(json.dumps(settings_to_json(settings)))
    temp = tmp_path / "child-tmp"
    temp.mkdir()
    env = {**os.environ, SLOT_ENV: str(index), "TMPDIR": str(temp)}
    cgroups = _cgroups_possible()
    proc = subprocess.Popen([sys.executable, "-m", "grader.batch", "job", "tests.state_util:grade_on_pinned_slot",
                             str(zip_path), str(settings_file)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    watch = _Watch(index, [temp], mark)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (watch.files and (watch.cgroup or not cgroups)
                                                   and (during == "set-up" or _named("ex4-in-checks"))):
            time.sleep(0.2)
        time.sleep(2 if during == "set-up" else 0.5)
        assert watch.files, "the child extracted the student's files"
        assert during == "set-up" or _named("ex4-in-checks"), "the first check is running"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    finally:
        watch.done()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, output.decode(errors="replace")[-3000:]
    assert b"Traceback" not in output and b"stopped by a signal" in output
    assert [p.name for p in temp.iterdir() if p.name.startswith("ex4-grade-")] == [], "the student's files are gone"
    assert not _named("ex4-in-checks")
    with holding(index):
        assert sandbox.Cgroup.existing(sandbox.slot_cgroup_name(index)) == []
        if os.geteuid() == 0:
            assert sandbox.processes_of(sandbox.SLOT_UID_BASE + index) == []


def test_sigterm_becomes_an_interrupt() -> None:
    """Python's default would end the process on the spot, running no `finally`; a second SIGTERM is ignored."""
    from grader.errors import interrupt_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    try:
        interrupt_on_sigterm()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs at the next bytecode; never reached
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)
