"""Reading a submission: its file name, its zip (safely), its code, what of a notebook runs, and its PDF.

Modules: ``naming`` (the file name), ``unzip`` (the zip), ``submission`` (`open_submission`: the code
file and the module to grade), ``notebook`` (the notebook filter, copied for students),
``pdf`` (the PDF shows the code) and ``parsing`` (the limited child that reads what a student wrote).
"""

from __future__ import annotations

from grader.intake.naming import EXAMPLE_NAME, parse_name
from grader.intake.notebook import NotebookError, notebook_code_text, notebook_to_module, script_to_module
from grader.intake.parsing import ParseFailed
from grader.intake.pdf import PdfCheck, check_pdf
from grader.intake.submission import DEFINITIONS_NAME, Intake, graded_constants, open_submission
from grader.intake.unzip import MAX_MEMBER_PATH

__all__ = [
    "DEFINITIONS_NAME", "EXAMPLE_NAME", "MAX_MEMBER_PATH", "Intake", "NotebookError", "ParseFailed", "PdfCheck",
    "check_pdf", "graded_constants", "notebook_code_text", "notebook_to_module", "open_submission", "parse_name",
    "script_to_module",
]
