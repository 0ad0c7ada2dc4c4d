"""bubblewrap: finding how this machine runs it, and its command line (namespaces, read-only binds of the
interpreter, masked secrets, private tmpfs mounts, the seccomp filter, the drop to a slot's uid)."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.config import CHECKS_DIR, Device, MiB, PACKAGE_DIR, PROJECT_DIR, REFERENCE_PATH
from grader.sandbox import seccomp

TMP_BYTES = 512 * MiB
"""Size of the sandbox's private /tmp (its home and working folder) and of its /dev/shm."""
SANDBOX_DIR = "/sandbox"
"""Where the student's module (`submission`) and the worker library (`lib`) appear in the sandbox."""
PACKAGES = ("torch", "numpy", "matplotlib", "torchvision", "PIL", "skimage", "scipy")
"""Packages whose folders are bound into the sandbox even when they live outside the interpreter's prefix."""


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

    `seccomp_fd` holds the filter (`grader.sandbox.seccomp.program_fd`); every launch passes one.
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
    if device == Device.CUDA:
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


def write_etc(etc_dir: Path, uid: int) -> None:
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
        write_etc(root / "etc", uid)
        code = "import os, sys; sys.exit(0 if os.getuid() != 0 and os.path.isdir('/sandbox/lib') else 3)"
        filter_fd = seccomp.program_fd() if seccomp.SUPPORTED else None
        argv = [*bwrap_argv(bw, uid, root / "module", root / "lib", root / "etc", Device.CPU, seccomp_fd=filter_fd),
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
