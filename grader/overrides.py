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

Rubric items (``grader review`` writes these; a 4-column file as above keeps working). Optional
columns after ``comment``::

    student,question,points,comment,items,adjust,grader,time,flag
    Mustermann-123456,1b,1,,a;c,,anna,2026-12-02T07:01:12Z,
    Musterfrau-234567,1b,0.5,See the ReLU.,b,-0.5,ben,2026-12-02T07:02:40Z,1

* ``items``: ids of the question's rubric items (``;`` or space separated). Their definitions (id,
  points, the feedback sentence) are in ``rubric_items.json`` in the overrides file's folder
  (written by the app; a question it does not list has the ``items`` of its ``[questions."id"]``
  table in ``grader/rubric.toml``, if any).
* ``adjust``: points added to the items' sum (may be negative).
* ``grader``, ``time`` (ISO 8601 UTC): who decided and when; ``flag``: ``1`` marks "look again".

A row with items or an adjustment gets its points *computed when the file is read*: the items'
points now, plus ``adjust``, clamped to [0, the question's points]; its ``points`` cell only records
what they were worth when written. So changing an item's points in ``rubric_items.json`` changes
every answer that carries it, in the app and in the next ``grader batch`` alike: grades.csv, the
worksheet and the app compute with one function (`score`) from one file and cannot disagree. The
student's feedback is the items' sentences, then the free comment.

`record` appends rows the way two TAs' apps can share a file: under an exclusive ``flock`` on
``<file>.lock`` it re-reads the file, adds its rows, and replaces the file atomically, so neither
app's decision is lost and a reader never sees half a file. Both names hold a dot, so no student
folder can be called like them (`grader.outfiles.output_name`).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.config import Rubric
from grader.errors import OverridesError
from grader.flags import Flag
from grader.scoring import GradingResult

HEADER = ("student", "question", "points", "comment")
EXTRA = ("items", "adjust", "grader", "time", "flag")
"""The optional columns a rubric-item row adds (old 4-column files have none)."""
TEMPLATE = ("# Manual points for written answers; see grader/overrides.py. One row per student and question:\n"
            "# student (folder name, matriculation number or participant id),question,points,comment\n"
            "student,question,points,comment\n")
ITEMS_NAME = "rubric_items.json"
"""The rubric items' definitions, beside the overrides file."""
_ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class RubricItem:
    """One reusable rubric item of a question: points (may be negative) and the sentence the student reads."""

    id: str
    points: float
    text: str


def score(items: tuple[str, ...], adjust: float | None, defined: dict[str, RubricItem], max_points: float) -> float:
    """The points of an answer carrying `items` with `adjust` added, clamped to [0, max_points]."""
    total = sum(defined[i].points for i in items if i in defined) + (adjust or 0.0)
    return round(min(max(total, 0.0), max_points), 4)


def feedback(items: tuple[str, ...], comment: str, defined: dict[str, RubricItem]) -> str:
    """What the student reads: the items' sentences, then the free comment."""
    parts = [defined[i].text.strip() for i in items if i in defined and defined[i].text.strip()]
    if comment.strip():
        parts.append(comment.strip())
    return " ".join(parts)


def check_item(raw: Any, where: str) -> RubricItem:
    """A rubric item from its JSON or TOML table, with a sentence saying what is wrong when it is not one."""
    if not isinstance(raw, dict):
        raise OverridesError(f"{where}: a rubric item is a table with id, points and text, not {raw!r}.")
    item_id = str(raw.get("id", ""))
    if not _ITEM_ID.match(item_id):
        raise OverridesError(f"{where}: item id {item_id!r} must be 1 to 32 letters, digits, '-' or '_'.")
    points = raw.get("points")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points):
        raise OverridesError(f"{where}: item {item_id!r} needs a number of points, not {points!r}.")
    return RubricItem(item_id, float(points), str(raw.get("text", "")))


def items_path(overrides_path: Path) -> Path:
    """Where the rubric items of this overrides file are kept."""
    return Path(overrides_path).parent / ITEMS_NAME


def load_items(path: Path, rubric: Rubric) -> dict[str, dict[str, RubricItem]]:
    """Each question's rubric items by id: the items file's, else the rubric's defaults."""
    stored: dict[str, Any] = {}
    if Path(path).exists():
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise OverridesError(f"Cannot read the rubric items {path}: {exc}.") from exc
        stored = data.get("questions", {}) if isinstance(data, dict) else {}
        if not isinstance(stored, dict):
            raise OverridesError(f"{path}: 'questions' must map question ids to lists of items.")
    found: dict[str, dict[str, RubricItem]] = {}
    for qid, question in rubric.questions.items():
        raw = stored.get(qid, [{"id": i, "points": p, "text": t} for i, p, t in question.items])
        if not isinstance(raw, list):
            raise OverridesError(f"{path}: the items of question {qid} must be a list.")
        found[qid] = {}
        for r in raw:
            item = check_item(r, f"{path}, question {qid}")
            found[qid][item.id] = item
    return found


def save_items(path: Path, items: dict[str, dict[str, RubricItem]]) -> None:
    """Write every question's items atomically (under the same lock as the overrides; see `locked`)."""
    from grader.outfiles import write_atomic

    data = {"questions": {q: [{"id": i.id, "points": i.points, "text": i.text} for i in its.values()]
                          for q, its in items.items()}}
    write_atomic(Path(path), json.dumps(data, indent=1, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def locked(overrides_path: Path) -> Iterator[None]:
    """Hold the exclusive lock that every writer of this overrides file (and its items) takes."""
    lock = Path(overrides_path).with_name(Path(overrides_path).name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class Override:
    """Manual points (and a comment) for one student's answer to one question."""

    student: str
    question: str
    points: float | None
    comment: str
    line: int
    """Line in the file, for messages."""
    items: tuple[str, ...] = ()
    """Rubric item ids; with them (or an adjustment) `points` is computed from the items' definitions."""
    adjust: float | None = None
    grader: str = ""
    time: str = ""
    flag: bool = False
    """The TA marked the answer "look again"."""
    feedback: str = ""
    """What the student reads: the items' sentences, then the comment."""


def load_overrides(path: Path, rubric: Rubric, items: dict[str, dict[str, RubricItem]] | None = None) -> list[Override]:
    """The rows of an overrides file, checked against the rubric; an absent file has none.

    Rows naming rubric items are scored with `items` (default: the items file beside `path`).
    """
    path = Path(path)
    if not path.exists():
        return []
    defined = items if items is not None else load_items(items_path(path), rubric)
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
    col = {name: header.index(name) for name in (*HEADER, *EXTRA) if name in header}
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
        chosen = tuple(cell.get("items", "").replace(";", " ").split())
        adjust: float | None = None
        if cell.get("adjust"):
            try:
                adjust = float(cell["adjust"].replace(",", "."))
            except ValueError as exc:
                raise OverridesError(f"{where}: adjust {cell['adjust']!r} is not a number.") from exc
        known = defined.get(question.id, {})
        unknown = [i for i in chosen if i not in known]
        if unknown:
            raise OverridesError(f"{where}: question {question.id} has no rubric item {', '.join(unknown)} "
                                 f"(it has {', '.join(known) or 'none'}; see {ITEMS_NAME}).")
        if chosen or adjust is not None:
            points = score(chosen, adjust, known, question.points)
        elif cell["points"]:
            try:
                points = float(cell["points"].replace(",", "."))
            except ValueError as exc:
                raise OverridesError(f"{where}: points {cell['points']!r} is not a number.") from exc
            if not 0 <= points <= question.points:
                raise OverridesError(f"{where}: {points:g} points for question {question.id}, which is worth "
                                     f"0 to {question.points:g}.")
        comment = cell.get("comment", "")
        found.append(Override(cell["student"], question.id, points, comment, number, chosen, adjust,
                              cell.get("grader", ""), cell.get("time", ""), cell.get("flag", "") not in ("", "0"),
                              feedback(chosen, comment, known)))
    return found


def record(path: Path, rows: list[dict[str, str]], check: Callable[[], None] | None = None) -> None:
    """Append decisions (dicts of the columns) to the overrides file: locked, re-read, replaced atomically.

    A file with the old 4-column header gets the extended one; its rows stay as they are. `check` runs
    under the lock first (and may raise): another app cannot change the items between it and the write.
    """
    from grader.outfiles import write_atomic

    path = Path(path)
    with locked(path):
        if check is not None:
            check()
        text = path.read_bytes().decode("utf-8-sig") if path.exists() else TEMPLATE
        lines = text.splitlines(keepends=True)
        data = [n for n, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
        delimiter = ","
        columns = list(HEADER)
        if data:
            head = lines[data[0]]
            delimiter = ";" if head.count(";") > head.count(",") else ","
            columns = [h.strip().casefold() for h in next(csv.reader([head], delimiter=delimiter))]
            missing = [c for c in (*HEADER, *EXTRA) if c not in columns]
            if missing:
                columns += missing
                lines[data[0]] = delimiter.join(columns) + "\n"
        else:
            lines.append(",".join((*HEADER, *EXTRA)) + "\n")
            columns = [*HEADER, *EXTRA]
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
        write_atomic(path, "".join(lines) + buffer.getvalue())


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
    manual = tuple(replace(m, points=latest[m.id].points, comment=latest[m.id].feedback or latest[m.id].comment)
                   if m.id in latest else m
                   for m in result.manual)
    changed = replace(result, manual=manual)
    if result.graded:
        from grader.report import verdict_text

        changed = replace(changed, verdict=verdict_text(list(result.checks), manual, Flag.IMPORT_ERROR in result.flags,
                                                   result.time_limit_s))
    return changed
