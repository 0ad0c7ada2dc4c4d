"""Bounded everything (issue #15): output files under their caps, the overall time limit, parsing in a limited child."""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.config import DEFAULT, load_rubric
from grader.errors import SubmissionRejected
from grader.grading import time_limit_text
from grader.outfiles import LOG_CAP, save_log
from grader.intake import open_submission
from grader.outfiles import write_outputs
from grader.report import REPORT_CAP, RESULTS_CAP
from grader.scoring import CheckResult, GradingResult, ManualItem, Student
from tests.conftest import REFERENCE
from tests.helpers import TASK12


def test_outputs_stay_under_their_caps_whatever_the_texts(tmp_path: Path) -> None:
    huge = "<b>x</b>" * 250_000  # 2 MB in every check, note and answer
    checks = tuple(CheckResult(f"test_{i}", "1", f"check {i}", 0.0, 1.0, "failed", huge) for i in range(30))
    result = GradingResult(stem="Mustermann-123456", student=Student("Mustermann", "123456"), graded=True,
                           verdict="Graded: 0 of 30 automatic points.", checks=checks, notes=(huge,) * 500,
                           manual=(ManualItem("q1", "1", "Why?", 3.0, huge),), task_titles={"1": "Conv"},
                           task_max={"1": 33.0})
    folder = write_outputs(result, tmp_path)
    assert (folder / "results.json").stat().st_size <= RESULTS_CAP
    assert (folder / "report.html").stat().st_size <= REPORT_CAP
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert data["output"] == result.verdict and len(data["tests"]) == 30
    assert "characters more)" in data["tests"][0]["output"]
    assert any("were cut to" in n for n in data["extra_data"]["notes"])


def test_the_log_is_capped_with_a_note_where_it_was_cut(tmp_path: Path) -> None:
    save_log(tmp_path, "Mustermann-123456", "head\n" + "é" * 8_000_000 + "\ntail")
    data = (tmp_path / ".logs" / "Mustermann-123456.log").read_bytes()
    assert len(data) <= LOG_CAP
    text = data.decode("utf-8")
    assert text.startswith("head\n") and text.endswith("\ntail") and "bytes of this log left out" in text


@pytest.mark.slow
def test_grader_run_ends_at_its_time_limit_with_the_checks_done_so_far(tmp_path: Path) -> None:
    # Task 1 is the reference's; receptive_field hangs. Its first check waits until the student's time (what
    # is left of the limit) is spent, so every later check finds the deadline passed: no timing luck involved.
    source = REFERENCE.read_text(encoding="utf-8")
    source = source[: source.index("# Task 3:")] + "\n\ndef receptive_field(layers):\n    import time\n    time.sleep(3600)\n"
    zip_path = tmp_path / "Mustermann-123456.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("exercise4.py", source)
    only = [arg for check in TASK12 for arg in ("--only", check)]
    started = time.monotonic()
    run = CliRunner().invoke(main, ["run", str(zip_path), "--out", str(tmp_path / "out"), "--seed", "11",
                                    "--device", "cpu", "--time-limit", "40", *only])
    seconds = time.monotonic() - started
    assert run.exit_code == 0, run.output
    assert seconds < 40 + 30
    data = json.loads((tmp_path / "out" / "Mustermann-123456" / "results.json").read_text(encoding="utf-8"))
    outputs = {t["extra_data"]["id"]: t["output"] for t in data["tests"]}
    rubric = load_rubric()
    task1 = [c for c in TASK12 if rubric.checks[c].task.startswith("1")]
    # Task 1 was graded as usual; receptive_field's first check timed out; the rest were not run, and say so.
    assert data["score"] == sum(rubric.checks[c].points for c in task1), outputs
    not_run = [c for c, text in outputs.items() if text == time_limit_text(40)]
    assert len(not_run) >= 2 and not set(not_run) & set(task1), outputs
    assert "time-limit" in data["extra_data"]["flags"]
    assert "time limit of 40 s" in data["extra_data"]["verdict"]


def test_a_batch_child_gets_a_time_limit_below_the_batch_timeout(tmp_path: Path) -> None:
    from grader.batch.child import Children, child_time_limit, run_child
    from grader.config import DEFAULT

    zip_path = tmp_path / "Mustermann-123456.zip"
    zip_path.write_bytes(b"")
    status, _ = run_child(zip_path, DEFAULT, "no_such_module:grade", 900.0, tmp_path, Children())
    written = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))
    assert status == "crashed"
    # Room to end in a verdict with the checks done so far, rather than being killed at 900 s.
    assert written["time_limit_s"] == child_time_limit(900.0) <= 900.0 - 60


def test_a_5_mb_single_line_notebook_is_read_in_seconds() -> None:
    from grader.intake import notebook_to_module

    source = "; ".join(f'v{i} = "{"x" * 2500}"' for i in range(2000))
    nb = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}]}).encode()
    assert len(nb) > 5_000_000
    started = time.monotonic()
    module, dropped = notebook_to_module(nb)
    # Each statement's source was taken by splitting the whole line again: 1,060 s in the issue.
    assert time.monotonic() - started < 10
    assert module.count('= "xxx') == 2000 and dropped == []


def xobject_pdf(pages: int = 200, calls: int = 1000) -> bytes:
    """A ~50 KB PDF written against pypdf: every page draws form X0 `calls` times and X0 draws X1 as often.

    pypdf caps form invocations per page (5,000), not per document: each page costs it seconds, so
    200 pages sharing one content stream kept intake busy for many minutes.
    """
    fonts = 5 + 2
    resources = f"/Resources << /XObject << /X0 5 0 R /X1 6 0 R >> /Font << /F1 {fonts} 0 R >> >>"
    page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] {resources} /Contents 4 0 R >>"
    kids = " ".join(["3 0 R", *(f"{fonts + 1 + k} 0 R" for k in range(pages - 1))])

    def stream(body: bytes, extra: str = "") -> str:
        return f"<< {extra} /Length {len(body)} >>\nstream\n{body.decode()}\nendstream"

    form = f"/Type /XObject /Subtype /Form /BBox [0 0 612 792] {resources}"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>", page,
               stream(b"/X0 Do\n" * calls), stream(b"/X1 Do\n" * calls, form),
               stream(b"BT /F1 12 Tf 10 10 Td (def conv_relu) Tj ET", form),
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", *[page] * (pages - 1)]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def test_a_pdf_that_keeps_pypdf_busy_is_flagged_not_checked_and_still_graded(tmp_path: Path) -> None:
    pdf = xobject_pdf()
    assert len(pdf) < 64_000
    settings = replace(DEFAULT, zip_limits=replace(DEFAULT.zip_limits, parse_timeout_s=5))
    zip_path = tmp_path / "Mustermann-123456.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("exercise4.py", REFERENCE.read_text(encoding="utf-8"))
        zf.writestr("exercise4.pdf", pdf)
    started = time.monotonic()
    intake = open_submission(zip_path, tmp_path / "work", settings)
    assert time.monotonic() - started < 5 + 10
    assert "pdf-unchecked" in intake.flags and not intake.pdf.checked
    assert "longer than the limit of 5 s" in intake.pdf.message
    assert (intake.module_dir / "exercise4.py").exists()  # graded all the same


def test_a_notebook_over_the_reading_limits_gets_a_verdict_saying_so(tmp_path: Path) -> None:
    # Half a million statements on one 5 MB line: read in linear time, but not in 2 s.
    nb = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": "".join(f"a{i}=1;" for i in range(500_000)), "metadata": {}, "outputs": [], "execution_count": None}]})
    zip_path = tmp_path / "Mustermann-123456.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("exercise4.ipynb", nb)
    settings = replace(DEFAULT, zip_limits=replace(DEFAULT.zip_limits, parse_timeout_s=2))
    started = time.monotonic()
    with pytest.raises(SubmissionRejected) as caught:
        open_submission(zip_path, tmp_path / "work", settings)
    assert time.monotonic() - started < 2 + 10
    assert caught.value.flag == "notebook-limits"
    assert "could not be read within the grader's limits (2 s" in caught.value.reason
