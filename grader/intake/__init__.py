"""Reading a submission: its file name, its zip (safely), its code, its notebook and its PDF."""

from __future__ import annotations

from grader.intake.notebook import NotebookError, notebook_code_text, notebook_to_module, script_to_module
from grader.intake.parsing import ParseFailed
from grader.intake.submission import (
    DEFINITIONS_NAME,
    EXAMPLE_NAME,
    MAX_MEMBER_PATH,
    Intake,
    PdfCheck,
    check_pdf,
    graded_constants,
    open_submission,
    parse_name,
)

__all__ = [
    "DEFINITIONS_NAME", "EXAMPLE_NAME", "MAX_MEMBER_PATH", "Intake", "NotebookError", "ParseFailed", "PdfCheck",
    "check_pdf", "graded_constants", "notebook_code_text", "notebook_to_module", "open_submission", "parse_name",
    "script_to_module",
]
