"""The students' submission script and the grader's intake accept and reject the same file names."""

from __future__ import annotations

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
