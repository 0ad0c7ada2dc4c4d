"""The flags a result can carry: one table of names, meanings and severity, rendered by reports and the README.

A flag is a word in `GradingResult.flags` (results.json's `extra_data.flags`, grades.csv's flags
column, a badge in report.html and index.html). `Flag` is a `StrEnum`, so a flag is its own name
wherever it is written or compared.
"""

from __future__ import annotations

import enum


class Flag(enum.StrEnum):
    # A submission that was not graded (its verdict says why).
    NAMING = "naming"
    CORRUPT_ZIP = "corrupt-zip"
    ENCRYPTED_ZIP = "encrypted-zip"
    EMPTY_ZIP = "empty-zip"
    ZIP_LIMITS = "zip-limits"
    UNSAFE_MEMBER = "unsafe-member"
    BAD_ENCODING = "bad-encoding"
    BAD_NOTEBOOK = "bad-notebook"
    NOTEBOOK_LIMITS = "notebook-limits"
    NO_CODE = "no-code"
    GRADER_ERROR = "grader-error"
    TIMEOUT = "timeout"
    NO_ZIP = "no-zip"
    NO_UPLOAD = "no-upload"
    # Graded, with something a TA should know.
    NESTED_ZIP = "nested-zip"
    CODE_RENAMED = "code-renamed"
    NOTEBOOK_FILTERED = "notebook-filtered"
    PDF_MISSING = "pdf-missing"
    PDF_INVALID = "pdf-invalid"
    PDF_MISMATCH = "pdf-mismatch"
    PDF_UNCHECKED = "pdf-unchecked"
    IMPORT_ERROR = "import-error"
    TOP_LEVEL_SKIPPED = "top-level-skipped"
    MALFORMED_REPLY = "malformed-reply"
    TIME_LIMIT = "time-limit"
    SANDBOX_FALLBACK = "sandbox-fallback"
    PARTIAL = "partial"
    # The term's bookkeeping (grader batch).
    DUPLICATES = "duplicates"
    SUPERSEDED = "superseded"
    MOODLE_MISMATCH = "moodle-mismatch"
    MATRICULATION_SHARED = "matriculation-shared"

    @property
    def meaning(self) -> str:
        return MEANINGS[self]

    @property
    def severe(self) -> bool:
        """Shown in red in index.html: the result needs a TA before its grade is uploaded."""
        return self in SEVERE


MEANINGS: dict[Flag, str] = {
    Flag.NAMING: "The zip's name is not Surname-Matriculation.zip; not graded.",
    Flag.CORRUPT_ZIP: "The zip cannot be read (corrupt, not a zip, names not UTF-8, a member cannot be unpacked); not graded.",
    Flag.ENCRYPTED_ZIP: "The zip is password-protected; not graded.",
    Flag.EMPTY_ZIP: "The zip holds no files; not graded.",
    Flag.ZIP_LIMITS: "The zip is over the grader's size, entry or compression-ratio limits; not graded.",
    Flag.UNSAFE_MEMBER: "A member of the zip was skipped: its path leaves the zip, is too long, or it is a link or not a file.",
    Flag.BAD_ENCODING: "The code file is not UTF-8 text; not graded.",
    Flag.BAD_NOTEBOOK: "The notebook cannot be read as a Jupyter notebook or has no code cells; not graded.",
    Flag.NOTEBOOK_LIMITS: "The notebook could not be read within 60 s and 2 GiB; not graded.",
    Flag.NO_CODE: "The zip holds neither exercise4.py nor a notebook; not graded.",
    Flag.GRADER_ERROR: "The grader itself failed on this submission; a TA must look at it.",
    Flag.TIMEOUT: "Grading took longer than `grader batch --timeout` and was stopped; a TA must look at it.",
    Flag.NO_ZIP: "A participant of the Moodle download handed in no zip.",
    Flag.NO_UPLOAD: "Gradescope: nothing gradable was uploaded; not graded.",
    Flag.NESTED_ZIP: "The zip holds another zip, which is not opened.",
    Flag.CODE_RENAMED: "No exercise4.py or exercise4.ipynb: another .py or .ipynb file was graded as the code (the notes name it).",
    Flag.NOTEBOOK_FILTERED: "Statements of the notebook that do work (calls, loops, magics) were left out; its definitions were graded.",
    Flag.PDF_MISSING: "The zip holds no PDF of the code.",
    Flag.PDF_INVALID: "The PDF cannot be read as a PDF (or is encrypted).",
    Flag.PDF_MISMATCH: "The PDF's text does not show the submitted code.",
    Flag.PDF_UNCHECKED: "The PDF could not be checked within 60 s and 2 GiB; graded without the check.",
    Flag.IMPORT_ERROR: "Importing the student's module failed, so no check could run.",
    Flag.TOP_LEVEL_SKIPPED: "The module's top level failed in the sandbox; its definitions alone were graded.",
    Flag.MALFORMED_REPLY: "A reply of the student's process did not have the probes' shape; those checks failed.",
    Flag.TIME_LIMIT: "Grading reached `--time-limit`; the checks not started by then got no points.",
    Flag.SANDBOX_FALLBACK: "bubblewrap was not available: the code ran with resource limits only.",
    Flag.PARTIAL: "Only the checks named with `--only` were run.",
    Flag.DUPLICATES: "The student handed in several zips; the newest counts.",
    Flag.SUPERSEDED: "An older zip of a student who handed in a newer one; left out of grades.csv and Moodle.",
    Flag.MOODLE_MISMATCH: "The zip's surname does not match the Moodle participant whose folder holds it.",
    Flag.MATRICULATION_SHARED: "Zips of different people carry the same matriculation number.",
}

SEVERE = frozenset({Flag.GRADER_ERROR, Flag.TIMEOUT, Flag.NAMING, Flag.MOODLE_MISMATCH, Flag.MATRICULATION_SHARED,
                    Flag.NO_ZIP})


def meaning(flag: str) -> str:
    """What a flag found in a result means; a word the table does not know (an older results.json) says so."""
    try:
        return Flag(flag).meaning
    except ValueError:
        return "A flag this version of the grader does not know."


def severe(flag: str) -> bool:
    try:
        return Flag(flag).severe
    except ValueError:
        return False


def markdown_table() -> str:
    """The README's table of flags (a test keeps the README's copy equal to this)."""
    rows = ["| flag | meaning |", "| --- | --- |"]
    rows += [f"| `{flag}` | {flag.meaning} |" for flag in Flag]
    return "\n".join(rows) + "\n"
