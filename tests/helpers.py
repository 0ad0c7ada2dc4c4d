"""Plain helpers and constants the project's test modules share (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import csv
import json
import os
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader.config import DEFAULT, Settings
from grader.example import build_submission, build_zip


# --------------------------------------------------------------------------- batch: a term, its outputs, Moodle files


FAKE_CHILD = "tests.fake_grade:grade_child"
"""The fake grader (tests/fake_grade.py) as the batch's child processes run it."""
FAKE_REFERENCE = "X = 1\n# ANSWER 1b: The kernel picks patches that look like it.\n"
"""Code the fake grader gives every point."""
T0 = 1_700_000_000.0
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>"

# (Moodle full name, participant id, zip name, code, mtime): the term's generated submissions.
TERM: list[tuple[str, str, str, str, float]] = [
    ("Max Mustermann", "1001", "Mustermann-123456.zip", FAKE_REFERENCE, T0),
    ("Erika Musterfrau", "1002", "Musterfrau-234567.zip", "MISTAKE test_conv_relu_stride1\n" + FAKE_REFERENCE, T0),
    ("Jürgen Müller-Lüdenscheidt", "1003", "Müller-Lüdenscheidt-345678.zip", "def (:\n", T0),
    ("Ana O'Neil", "1004", "O'Neil-456789.zip", "import os; os._exit(1)\n", T0),
    ("Lee Chen", "1005", "Chen-567890.zip", "while True:\n    pass\n", T0),
    ("Ola Nordmann", "1006", "nordmann_final.zip", FAKE_REFERENCE, T0),
    ("Kim Park", "1007", "Park 678901.zip", FAKE_REFERENCE, T0),
    # Two zips from one participant: the later one counts.
    ("Sam Smith", "1008", "smith_draft.zip", "MISTAKE test_conv_output_size\n" + FAKE_REFERENCE, T0),
    ("Sam Smith", "1008", "Smith-789012.zip", FAKE_REFERENCE, T0 + 3600),
    # Handed in through someone else's account: moodle-mismatch.
    ("Eve Evans", "1009", "Mallory-890123.zip", FAKE_REFERENCE, T0),
    ("Zoë Żak", "1010", "Żak-901234.zip", FAKE_REFERENCE + f"# ANSWER 1b: {PAYLOAD}\n# ANSWER 2c: depth\n", T0),
    ("Bo Li", "1011", "Li-112233.zip", "MISTAKE test_conv_output_size\nMISTAKE test_rf_answer_a\n" + FAKE_REFERENCE,
     T0),
]

MOODLE_DATA = Path(__file__).parent / "data" / "moodle"
# Worksheets as Moodle writes them (English: UTF-8 with BOM, comma, PHP-style quoting, LF) and as a
# German TA's spreadsheet saves them (Windows-1252, semicolon, CRLF, decimal comma).
WORKSHEETS = {"en": MOODLE_DATA / "worksheet_en.csv", "de": MOODLE_DATA / "worksheet_de.csv"}


def calls(tmp_path: Path) -> list[str]:
    """The zips the fake grader graded (with the `fake` fixture), in order."""
    path = tmp_path / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def make_download(root: Path, term: list[tuple[str, str, str, str, float]] = TERM, pdf: bool = False) -> Path:
    """A Moodle "Download all submissions" folder of the given submissions."""
    for full_name, pid, name, code, mtime in term:
        dest = root / f"{full_name}_{pid}_assignsubmission_file_" / name
        if pdf:
            build_submission(dest, code)
        else:
            build_zip(dest, {"exercise4.py": code})
        os.utime(dest, (mtime, mtime))
    return root


def settings(out: Path, **changes: Any) -> Settings:
    """The default settings with `out` as the output folder."""
    return replace(DEFAULT, out_dir=out, **changes)


def grades(out: Path) -> dict[str, dict[str, str]]:
    """The rows of OUT/grades.csv by folder."""
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["folder"]: row for row in csv.DictReader(handle)}


def results(out: Path) -> dict[str, dict[str, Any]]:
    """Every submission's results.json without timings, by folder."""
    found = {}
    for path in sorted(out.glob("*/results.json")):
        data = json.loads(path.read_text())
        data["extra_data"].pop("timings")
        found[path.parent.name] = data
    return found


def moodle_import_target(path: str) -> tuple[str, str] | None:
    """(participant id, feedback file name) as Moodle's feedback-zip importer reads a zip entry, else None.

    A transcription of assignfeedback_file_zip_importer::is_valid_filename_for_import.
    """
    parts = path.split("/")
    if parts[-1].startswith((".", "~")):
        return None
    while parts:
        info = parts.pop(0).split("_", 4)
        if len(info) < 4 or not info[1].isdigit():
            continue
        rest = info[4] if len(info) == 5 else ""
        return info[1], "/".join([rest, *parts]).lstrip("/")
    return None


def zip_folder(folder: Path, dest: Path) -> Path:
    """A zip of everything in `folder` (a Moodle download zip, say), paths relative to it."""
    with zipfile.ZipFile(dest, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return dest


# ---------------------------------------------------------------------- sandbox (tests of the worker's sandbox)


MARKER = b"ex4-hostile-marker"
"""In the command line of every process the hostile corpus starts, so that one left behind is found."""

TASK12 = ("test_conv_relu_stride1", "test_hand_computed_stride1", "test_conv_relu_stride_padding",
          "test_hand_computed_stride2", "test_conv_output_size", "test_receptive_field_stride1", "test_rf_answer_a",
          "test_receptive_field_strided_dilated", "test_rf_answer_b")
"""The checks of Task 1 and 2, all that the corpus runs."""


def require_bubblewrap() -> None:
    """On Linux the set-up installs bubblewrap: if it cannot run, the tests that prove it fail."""
    from grader.sandbox import bubblewrap

    if sys.platform.startswith("linux"):
        assert bubblewrap() is not None, "bubblewrap cannot run here (install it: `make setup` does)"
    else:
        pytest.skip("the sandbox is Linux's")


def leftovers(namespaces: set[str]) -> list[str]:
    """Live host processes in one of the given PID namespaces, or with the corpus's marker in their command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            ns = os.readlink(f"/proc/{entry}/ns/pid")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state in "ZX":
            continue  # dead, waiting for its parent to read its exit status
        if ns in namespaces or MARKER in cmdline:
            shown = cmdline.replace(b"\0", b" ")[:120]
            found.append(f"{entry} ({ns}): {shown!r}")
    return found


def sandbox_namespaces(worker: Any) -> set[str]:
    """The PID namespaces of a running worker's sandbox (its bwrap's children)."""
    from grader import sandbox

    return sandbox.sandbox_namespaces(worker.proc.pid) if worker.proc is not None else set()


def core() -> str:
    """The reference's Task 1 and 2."""
    from tests.conftest import REFERENCE

    source = REFERENCE.read_text(encoding="utf-8")
    source = source[: source.index("# Task 3:")]
    # Task 1 and 2 need torch only; leaving out the heavy imports saves seconds on every worker start.
    for heavy in ("import torchvision\n", "from matplotlib.figure import Figure\n", "from torchvision import transforms\n"):
        source = source.replace(heavy, "")
    return source


# --------------------------------------------------------------------------- stand-in graders (tests/fake_grade.py, test_identity)


def stand_in_start(zip_path: Path, settings: Settings) -> tuple[Any, str, Any, str] | Any:
    """What a stand-in grader starts from: (rubric, stem, student, the zip's exercise4.py), or the written
    result of a zip whose name is not a submission's (as the real grader writes it)."""
    from grader.config import load_rubric
    from grader.errors import SubmissionRejected
    from grader.grading import rejected
    from grader.intake import parse_name
    from grader.outfiles import folder_name, write_outputs

    rubric = load_rubric(settings.rubric_path)
    stem = folder_name(zip_path.name)
    try:
        student = parse_name(zip_path.name, settings.matriculation_digits)
    except SubmissionRejected as exc:
        result = rejected(stem, exc.reason, exc.flag, rubric)
        write_outputs(result, settings.out_dir)
        return result
    with zipfile.ZipFile(zip_path) as zf:
        code = zf.read("exercise4.py").decode()
    return rubric, stem, student, code


# --------------------------------------------------------------------------- review (grader review's batches)


def written_term(answers: list[dict[str, str]], mtime: float = T0) -> list[tuple[str, str, str, str, float]]:
    """A term of students whose zips answer the written questions with the given texts (kept as they are)."""
    term = []
    for n, given in enumerate(answers):
        lines = "".join(f"# ANSWERJSON {qid}: {json.dumps(text)}\n" for qid, text in given.items())
        term.append((f"Student {review_surname(n)}", str(5000 + n), f"{review_surname(n)}-{300000 + n}.zip",
                     "X = 1\n" + lines, mtime))
    return term


def review_surname(n: int) -> str:
    """The surname of the n-th student of `written_term` (letters only, as submission names need)."""
    return "S" + "".join(chr(97 + (n // 26 ** i) % 26) for i in (2, 1, 0))


def review_folder(n: int) -> str:
    """The output folder of the n-th student of `written_term`."""
    return f"{review_surname(n)}-{300000 + n}"


def review_batch(root: Path, answers: list[dict[str, str]], worksheet: bool = False) -> Path:
    """Grade a Moodle download of `answers` with the fake grader (in-process) into root/out; return that folder."""
    from grader.batch import run_batch
    from tests import fake_grade

    term = written_term(answers)
    download = make_download(root / "download", term)
    sheet = None
    if worksheet:
        sheet = root / "worksheet.csv"
        header = ('\ufeffIdentifier,"Full name","Email address",Status,Grade,"Maximum Grade","Grade can be changed",'
                  '"Last modified (submission)","Online text","Last modified (grade)","Feedback comments"\n')
        rows = "".join(f'"Participant {5000 + n}","Student {review_surname(n)}",s{n}@example.org,"Submitted for grading",,49.00,'
                       'Yes,"Monday, 3 June 2024, 10:12 AM",,-,\n' for n in range(len(term)))
        sheet.write_text(header + rows, encoding="utf-8")
    run_batch(download, settings(root / "out"), grade=fake_grade.grade_inproc, worksheet=sheet,
              scale=True if worksheet else None)
    return root / "out"
