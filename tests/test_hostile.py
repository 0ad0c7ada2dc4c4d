"""The adversarial corpus: hostile submissions graded end to end in the sandbox, each against its verdict.

Each case is a folder under tests/data/hostile: `exercise4.py` (appended to the reference's Task 1
and 2 when `base = "core"`), optional `zip/NAME.in` files (added as NAME) and `members`/`symlinks` for the zip, and
`expect.toml` with the exact points (of the Task 1 and 2 checks, which are all that is run), the
flags, the checks that must fail and the time budget. After each case the host is checked: no
process of a sandbox uid or with the corpus's marker is left, no canary file exists outside,
nothing connected to the host's loopback, and the report holds no unescaped script.
"""

from __future__ import annotations

import sys

import json
import socket
import stat
import time
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader.config import DEFAULT, Limits, Settings
from grader.grading import grade_submission
from grader.outfiles import LOG_CAP
from grader.report import REPORT_CAP, RESULTS_CAP
from grader.sandbox import bubblewrap
from tests.conftest import REFERENCE
from tests.helpers import TASK12, core, leftovers

HOSTILE = Path(__file__).parent / "data" / "hostile"
CASES = sorted(p.name for p in HOSTILE.iterdir() if (p / "expect.toml").exists())
CANARIES = "/tmp/ex4-hostile-canary*"
LOOPBACK_PORT = 47613
"""The network case connects here (127.0.0.1 only); the test listens on the host's side."""

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the corpus proves the Linux sandbox")]


@pytest.fixture(autouse=True)
def _bubblewrap_runs() -> None:
    # On Linux the set-up installs bubblewrap: if it cannot run, that is a failure to see, not a skip.
    assert bubblewrap() is not None, "bubblewrap cannot run here (install it: `make setup` does)"


def corpus_settings(tmp_path: Path, limits: dict[str, float] | None = None) -> Settings:
    """Short limits, so that a hanging case costs seconds; a case may shorten them further."""
    chosen = {"call_timeout_s": 4, "total_timeout_s": 120, "import_timeout_s": 45, **(limits or {})}
    return replace(DEFAULT, out_dir=tmp_path / "reports", seed=11, only=TASK12, device="cpu", limits=Limits(**chosen))


def build_case(case: str, spec: dict[str, Any], dest: Path) -> Path:
    """The case's submission zip: its code (after the core when asked), extra files, unsafe members."""
    folder = HOSTILE / case
    code = (folder / "exercise4.py").read_text(encoding="utf-8")
    if spec["base"] == "core":
        code = core() + "\n" + code
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(spec.get("code_name", "exercise4.py"), code)
        for extra in sorted((folder / "zip").glob("*")) if (folder / "zip").is_dir() else []:
            # Stored as NAME.in, so that our own pytest never takes tests/data's conftest.py for its own.
            zf.writestr(extra.name.removesuffix(".in"), extra.read_bytes())
        for name, text in spec.get("members", {}).items():
            zf.writestr(zipfile.ZipInfo(name), text)
        for name, target in spec.get("symlinks", {}).items():
            link = zipfile.ZipInfo(name)
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(link, target)
        if spec.get("bomb_bytes"):
            zf.writestr("zeros.bin", bytes(spec["bomb_bytes"]))
    return dest


@pytest.fixture(scope="module")
def listener():
    """A socket on the host's 127.0.0.1:LOOPBACK_PORT that records whether anything connected."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", LOOPBACK_PORT))
    except OSError:
        sock.close()
        yield None
        return
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections(sock: socket.socket | None) -> int:
    count = 0
    while sock is not None:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            break
        conn.close()
        count += 1
    return count


@pytest.mark.parametrize("case", CASES)
def test_hostile_case(case: str, tmp_path: Path, listener, watch_namespaces) -> None:
    spec = tomllib.loads((HOSTILE / case / "expect.toml").read_text(encoding="utf-8"))
    assert not list(Path("/tmp").glob("ex4-hostile-canary*")), "a canary is left from an earlier run"
    if spec.get("other_submission"):
        # Another student's submission on the same host, graded next to this one.
        other = tmp_path / "other" / "intake" / "module"
        other.mkdir(parents=True)
        (other / "exercise4.py").write_text(REFERENCE.read_text(encoding="utf-8"))
    settings = corpus_settings(tmp_path, spec.get("limits"))
    zip_path = build_case(case, spec, tmp_path / "zips" / "Mustermann-123456.zip")
    started = time.monotonic()
    result = grade_submission(zip_path, settings)
    seconds = time.monotonic() - started

    points = sum(c.points for c in result.checks)
    failing = {c.id: c.message[:200] for c in result.checks if c.status != "passed"}
    assert result.graded == spec.get("graded", True), result.verdict
    assert points == spec["score"], (result.verdict, failing, result.notes)
    assert set(spec.get("failed", ())) <= set(failing), failing
    assert set(spec.get("flags", ())) <= set(result.flags), result.flags
    if "says" in spec:
        text = " ".join([*failing.values(), *result.notes, result.verdict])
        assert spec["says"] in text, text
    assert seconds <= spec["seconds"], f"{case} took {seconds:.0f} s"
    if result.graded:
        assert result.sandbox.startswith("bubblewrap sandbox"), result.sandbox
        assert "sandbox-fallback" not in result.flags

    # Nothing of the sandbox is left on the host, and nothing it wrote or sent got out.
    assert leftovers(watch_namespaces) == []
    assert not list(Path("/tmp").glob("ex4-hostile-canary*"))
    assert connections(listener) == 0
    outputs = tmp_path / "reports" / "Mustermann-123456"
    data = json.loads((outputs / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == points
    assert "fake" not in json.dumps(data.get("extra_data", {}))
    assert [p for p in tmp_path.rglob("results.json") if outputs not in p.parents] == []
    # Whatever the submission sent, each output file stays under its cap.
    assert (outputs / "results.json").stat().st_size <= RESULTS_CAP
    assert (outputs / "report.html").stat().st_size <= REPORT_CAP
    log = tmp_path / "reports" / ".logs" / "Mustermann-123456.log"
    assert not log.exists() or log.stat().st_size <= LOG_CAP  # a submission not graded has no log
    html = (outputs / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html
    if case == "html_script":
        assert "&lt;script&gt;alert(&#39;exception&#39;)" in html or "&lt;script&gt;alert(&#x27;exception" in html, \
            "the exception's text is shown, escaped"
    print(f"{case}: {'graded' if result.graded else 'not graded'}, {points:g} points, {seconds:.1f} s")


def test_mixed_batch_leaves_the_honest_result_alone(tmp_path: Path, listener, watch_namespaces) -> None:
    """Three hostile cases and the reference in one batch: the reference's result is the one it gets alone."""
    from grader.batch import run_batch

    folder = tmp_path / "term"
    honest = REFERENCE.read_text(encoding="utf-8")
    folder.mkdir()
    (folder / "Ehrlich-111111.zip").write_bytes(_zip_of({"exercise4.py": honest}))
    for name, case in (("Bombe-222222.zip", "fork_bomb"), ("Daemon-333333.zip", "daemon"),
                       ("Leser-444444.zip", "read_secrets")):
        spec = tomllib.loads((HOSTILE / case / "expect.toml").read_text(encoding="utf-8"))
        build_case(case, spec, folder / name)
    settings = corpus_settings(tmp_path / "batch")
    summary = run_batch(folder, settings, workers=2)
    alone = grade_submission(folder / "Ehrlich-111111.zip", corpus_settings(tmp_path / "alone"))

    by_name = {e.result.stem: e for e in summary.entries}
    assert set(by_name) == {"Ehrlich-111111", "Bombe-222222", "Daemon-333333", "Leser-444444"}
    batch_ref = by_name["Ehrlich-111111"].result
    assert [(c.id, c.status, c.points) for c in batch_ref.checks] == [(c.id, c.status, c.points) for c in alone.checks]
    assert sum(c.points for c in alone.checks) == 14
    assert sum(c.points for c in by_name["Bombe-222222"].result.checks) == 10
    assert sum(c.points for c in by_name["Leser-444444"].result.checks) == 0
    assert leftovers(watch_namespaces) == []
    assert not list(Path("/tmp").glob("ex4-hostile-canary*"))
    assert connections(listener) == 0


def _zip_of(files: dict[str, str]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buffer.getvalue()
