"""The TA's manual points for written answers: one CSV file, applied after grading, every time.

Format (UTF-8, with or without BOM; comma or semicolon separated; a header row, then one row per
student and question; lines starting with ``#`` are comments)::

    student,question,points,comment
    Mustermann-123456,1b,1,"Right: the ReLU only passes patches that match the kernel."
    123456,2c,0.5,Depth helps; the formula is missing.
    654321,4.5,,Comment only: points stay open.

* ``student``: the submission's folder name in the batch output (e.g. ``Mustermann-123456``),
  or the matriculation number, or the Moodle participant id. A matriculation number or
  participant id applies to every submission of that student (superseded ones included). A
  matriculation number that several students' zips carry (two Moodle participants, or two surnames
  without Moodle) is refused: name the folder or the participant id.
* ``question``: a question id of the rubric (``1b``, ``1d``, ``1e``, ``2c``, ``2d``, ``3.3``,
  ``3.4``, ``4.5``); they head the batch's question pages.
* ``points``: between 0 and the question's points; ``,`` or ``.`` as decimal separator; empty
  leaves the points open (only the comment is set).
* ``comment``: shown to the student under the answer in the report and in Moodle's feedback.

A later row for the same student and question wins. The file lives outside the cached grading
results, so regrading (``--force``, a new grader version) never loses it: the overrides are
merged into every result each time the batch runs.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

from grader.config import Rubric
from grader.errors import OverridesError
from grader.flags import Flag
from grader.scoring import GradingResult

HEADER = ("student", "question", "points", "comment")
TEMPLATE = ("# Manual points for written answers; see grader/overrides.py. One row per student and question:\n"
            "# student (folder name, matriculation number or participant id),question,points,comment\n"
            "student,question,points,comment\n")


@dataclass(frozen=True)
class Override:
    """Manual points (and a comment) for one student's answer to one question."""

    student: str
    question: str
    points: float | None
    comment: str
    line: int
    """Line in the file, for messages."""


def load_overrides(path: Path, rubric: Rubric) -> list[Override]:
    """The rows of an overrides file, checked against the rubric; an absent file has none."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverridesError(f"Cannot read the overrides file {path}: it must be UTF-8 text ({exc}).") from exc
    lines = [(n, line) for n, line in enumerate(text.splitlines(keepends=True), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return []
    delimiter = ";" if lines[0][1].count(";") > lines[0][1].count(",") else ","
    rows = list(csv.reader(io.StringIO("".join(line for _, line in lines)), delimiter=delimiter))
    header = [h.strip().casefold() for h in rows[0]]
    if header[:2] != ["student", "question"] or "points" not in header:
        raise OverridesError(f"{path}: the first row must be the header {','.join(HEADER)}, not {','.join(rows[0])}.")
    col = {name: header.index(name) for name in HEADER if name in header}
    found: list[Override] = []
    for (number, _), row in zip(lines[1:], rows[1:]):
        cell = {name: (row[i].strip() if i < len(row) else "") for name, i in col.items()}
        where = f"{path}, line {number}"
        if not cell["student"]:
            raise OverridesError(f"{where}: the student is missing.")
        question = rubric.questions.get(cell["question"])
        if question is None:
            raise OverridesError(f"{where}: there is no written question {cell['question']!r}; the rubric has "
                                 f"{', '.join(rubric.questions)}.")
        points: float | None = None
        if cell["points"]:
            try:
                points = float(cell["points"].replace(",", "."))
            except ValueError as exc:
                raise OverridesError(f"{where}: points {cell['points']!r} is not a number.") from exc
            if not 0 <= points <= question.points:
                raise OverridesError(f"{where}: {points:g} points for question {question.id}, which is worth "
                                     f"0 to {question.points:g}.")
        found.append(Override(cell["student"], question.id, points, cell.get("comment", ""), number))
    return found


def refuse_shared(overrides: list[Override], shared: dict[str, list[str]], path: Path) -> None:
    """Stop when a row names a matriculation number that several students' zips carry (`shared`: number to their keys).

    Such a row would give one student's points to another, so it is refused rather than applied to all.
    """
    for o in overrides:
        if o.student in shared:
            raise OverridesError(
                f"{path}, line {o.line}: {o.student} is the matriculation number on the zips of several students "
                f"({'; '.join(shared[o.student])}), so it does not say whose answer this is. Name the student by "
                "the folder or the participant id instead.")


def ensure_file(path: Path) -> bool:
    """Create an overrides file holding only the header and a hint; True when it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE, encoding="utf-8")
    return True


def matching(overrides: list[Override], names: set[str]) -> list[Override]:
    """The overrides whose student is one of `names` (folder name, matriculation, participant id), in file order."""
    return [o for o in overrides if o.student in names]


def apply_overrides(result: GradingResult, overrides: list[Override]) -> GradingResult:
    """The result with the overrides' points and comments in its written answers and its verdict updated."""
    if not overrides or not result.manual:
        return result
    latest = {o.question: o for o in overrides}
    manual = tuple(replace(m, points=latest[m.id].points, comment=latest[m.id].comment) if m.id in latest else m
                   for m in result.manual)
    changed = replace(result, manual=manual)
    if result.graded:
        from grader.report import verdict_text

        changed = replace(changed, verdict=verdict_text(list(result.checks), manual, Flag.IMPORT_ERROR in result.flags,
                                                   result.time_limit_s))
    return changed
