"""The students' submission script and the grader's intake accept and reject the same file names."""

from __future__ import annotations

import functools
import importlib.util
import unicodedata

import pytest

from grader.config import PROJECT_DIR
from grader.errors import SubmissionRejected
from grader.intake import parse_name

NAMES = [
    "Mustermann-123456.zip", "Müller-1234567.zip", unicodedata.normalize("NFD", "Müller-1234567.zip"),
    "O'Brien-12345678.zip", "D’Angelo-123456.zip", "Meyer-Lüdenscheidt-112233.zip", "Ωμέγα-1234567.zip",
    "Mustermann-123456.ZIP", "mustermann_123456.zip", "Mustermann-12345.zip", "Mustermann-123456789.zip",
    "Mustermann-12a456.zip", "Muster mann-123456.zip", "-123456.zip", "Mustermann-123456.rar",
    "Mustermann-123456.zip.zip", "Mustermann-123456 (1).zip", "'Brien-123456.zip", "Mustermann--123456.zip",
    "Mustermann-١٢٣٤٥٦.zip", "Mustermann3-123456.zip",
]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_submission", PROJECT_DIR / "solutions" / "public" / "make_submission.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", NAMES)
def test_same_verdict(script, name):
    try:
        parse_name(name, (6, 7, 8))
        grader_accepts = True
    except SubmissionRejected:
        grader_accepts = False
    assert (script.name_problems(name) == []) == grader_accepts


# --- "the PDF shows the code": the same rule on both sides ----------------------------------------

REFERENCE_CODE = (PROJECT_DIR / "solutions" / "exercise4.py").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _pdfs() -> dict[str, tuple[str, bytes]]:
    """(code handed in, PDF bytes) pairs: matching, stale, half, other code, blank, not a PDF."""
    import io

    import numpy as np
    from matplotlib.figure import Figure

    from grader.example import code_pdf

    lines = REFERENCE_CODE.splitlines()
    blank = io.BytesIO()
    fig = Figure(figsize=(2, 2))
    fig.figimage(np.random.default_rng(0).random((50, 50)))
    fig.savefig(blank, format="pdf")
    return {
        "matching": (REFERENCE_CODE, code_pdf(REFERENCE_CODE)),
        "curly-quotes": ("x = 'a quoted string here'\n", code_pdf("x = \u2018a quoted string here\u2019\n")),
        "first-40%": (REFERENCE_CODE, code_pdf("\n".join(lines[: len(lines) * 2 // 5]))),
        "first-60%": (REFERENCE_CODE, code_pdf("\n".join(lines[: len(lines) * 3 // 5]))),
        "other-code": (REFERENCE_CODE, code_pdf("def conv_relu(x, w, b):\n    return None\n")),
        "blank": (REFERENCE_CODE, blank.getvalue()),
        "not-a-pdf": (REFERENCE_CODE, b"just text\n"),
        "short-code": ("X = 1\n", code_pdf("something else entirely, long enough\n")),
    }


@pytest.mark.parametrize("case", ["matching", "curly-quotes", "first-40%", "first-60%", "other-code", "blank",
                                  "not-a-pdf", "short-code"])
def test_same_pdf_verdict(script, case):
    from grader.intake import check_pdf

    code, pdf = _pdfs()[case]
    check = check_pdf(pdf, code)
    grader_accepts = check.readable and check.shows_code is not False
    assert (script.pdf_problems(pdf, "exercise4.pdf", code) == []) == grader_accepts, (case, check.message)
    if case in ("matching", "curly-quotes", "first-60%", "short-code"):
        assert grader_accepts, check.message
    else:
        assert not grader_accepts, check.message
