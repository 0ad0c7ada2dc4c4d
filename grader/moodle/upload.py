"""What Moodle's "Upload grading worksheet" will do with the filled-in worksheet, checked and said before the TA uploads.

Each rule is Moodle 4.5's own code, read in ``mod/assign/feedback/offline/``:

* ``importgradeslib.php``, ``assignfeedback_offline_grade_importer::init``: the columns are found by
  their exact header in the *importing user's* language (``$column == get_string('grade')``: case
  and spelling count), and the import fails (``invalidgradeimport``) without all three of
  Identifier, Grade and "Last modified (grade)".
* ``lib/csvlib.class.php``, ``csv_import_reader::load_csv_content``: every record must have as many
  fields as the header (else ``csvweirdcolumns``); the file is read with PHP's ``fgetcsv`` and its
  default escape character ``\\``, with the encoding and separator chosen in the upload form
  (defaults UTF-8 and comma).
* ``locallib.php``, ``assign_feedback_offline::process_import_grades``: "Last modified (grade)" is
  read with PHP's ``strtotime``; a participant already graded in Moodle whose grade was changed more
  than 60 s after that time (``$stalemodificationdate``) keeps their grade *and* feedback unless
  "Allow updating records that have been modified more recently in Moodle than in the spreadsheet"
  is ticked. ``strtotime`` cannot read a German date ("Dienstag, 4. Juni 2024, 08:00"): it returns
  false, which counts as the year 1970, so every such row already graded is stale. A grade above
  the assignment's maximum (``$record->grade > ...->grade``) or below 0 is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from grader.errors import WorksheetError
from grader.moodle.worksheet import Worksheet

# Moodle's own strings (lang/en/assign.php, lang/en/moodle.php and their German translations).
LANGUAGES: dict[str, dict[str, str]] = {
    "English": {"id": "Identifier", "grade": "Grade", "modified_grade": "Last modified (grade)",
                "feedback": "Feedback comments"},
    "Deutsch": {"id": "ID", "grade": "Bewertung", "modified_grade": "Zuletzt geändert (Bewertung)",
                "feedback": "Feedback als Kommentar"},
}
REQUIRED = ("id", "grade", "modified_grade")
SEPARATORS = {",": "comma", ";": "semicolon", ":": "colon", "\t": "tab"}
ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "WINDOWS-1252", "utf-16": "UTF-16"}
NO_DATE = frozenset({"", "-"})

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun"
# The forms Moodle writes (userdate with strftimedaydatetime / strftimedatetime in English) and ISO dates:
# those strtotime reads. Checked against PHP's strtotime in tests/test_moodle_upload.py.
_READABLE = [
    re.compile(rf"(?:(?:{_DAYS}),?\s+)?\d{{1,2}}\s+(?:{_MONTHS})\s+\d{{4}},?\s+\d{{1,2}}:\d{{2}}(?:\s*[ap]m)?", re.I),
    re.compile(r"\d{4}-\d{2}-\d{2}(?:[ t]\d{1,2}:\d{2}(?::\d{2})?)?", re.I),
]


def strtotime_reads(text: str) -> bool:
    """Whether PHP's strtotime reads this "Last modified (grade)" cell (the forms Moodle writes; German ones it cannot)."""
    return any(p.fullmatch(text.strip()) for p in _READABLE)


def check_importable(sheet: Worksheet) -> str:
    """The Moodle language the worksheet's headers are in; WorksheetError for anything Moodle's importer rejects."""
    header = sheet.header
    language = next((lang for lang, names in LANGUAGES.items() if all(names[r] in header for r in REQUIRED)), None)
    if language is None:
        folded = {h.strip().casefold(): h for h in header}
        problems = []
        for lang, names in LANGUAGES.items():
            near = [(names[r], folded[names[r].casefold()]) for r in REQUIRED
                    if names[r] not in header and names[r].casefold() in folded]
            missing = [names[r] for r in REQUIRED if names[r].casefold() not in folded]
            if len(missing) < len(REQUIRED):
                problems += [f"the column {got!r} must be written exactly {want!r}" for want, got in near]
                problems += [f"it has no column {want!r}" for want in missing]
        raise WorksheetError(
            f"Moodle would reject the grading worksheet {sheet.path} (it finds columns by their exact header and needs "
            f"Identifier, Grade and \"Last modified (grade)\"): {'; '.join(problems) or 'its headers are not Moodle’s'}. "
            "Download it again with \"Download grading worksheet\" and do not rename its columns.")
    width = len(sheet.records[0][0])
    for number, (raw, _) in enumerate(sheet.records[1:], start=2):
        if len(raw) != width:
            raise WorksheetError(
                f"Moodle would reject the grading worksheet {sheet.path}: record {number} has {len(raw)} fields and the "
                f"header {width} (Moodle's \"csvweirdcolumns\"). Download the worksheet again, or repair that row.")
    if sheet.delimiter not in SEPARATORS:
        raise WorksheetError(f"The grading worksheet {sheet.path} is separated by {sheet.delimiter!r}, which Moodle's "
                             "upload cannot read (comma, semicolon, colon or tab).")
    return language


def sheet_maximum(sheet: Worksheet) -> float | None:
    """The assignment's maximum grade, from the worksheet's Maximum Grade column (None when it has none)."""
    values = {sheet.max_grade(values["participant_id"]) for _, values in sheet.rows()} - {None}
    if len(values) > 1:
        raise WorksheetError(f"The grading worksheet {sheet.path} gives several maximum grades "
                             f"({', '.join(f'{v:g}' for v in sorted(v for v in values if v is not None))}).")
    return next(iter(values), None)


@dataclass(frozen=True)
class Scale:
    """How rubric points become the worksheet's grades."""

    rubric_total: float
    sheet_max: float | None
    scaled: bool

    def grade(self, points: float) -> float:
        """The grade written for `points`: mapped onto the sheet's maximum when scaled, rounded to 2 decimals."""
        if self.scaled and self.sheet_max is not None and self.rubric_total > 0:
            return round(points * self.sheet_max / self.rubric_total, 2)
        return round(points, 2)

    def text(self) -> str:
        if self.sheet_max is None:
            return f"points as they are (the worksheet has no Maximum Grade column; the rubric has {self.rubric_total:g})"
        if abs(self.sheet_max - self.rubric_total) < 1e-9:
            return f"points as they are (maximum {self.sheet_max:g} in Moodle and the rubric)"
        if self.scaled:
            return (f"scaled (--scale): rubric points out of {self.rubric_total:g} mapped onto Moodle's maximum "
                    f"{self.sheet_max:g}, rounded to 2 decimals")
        return (f"not scaled (--no-scale): rubric points out of {self.rubric_total:g} written as they are; Moodle's "
                f"maximum is {self.sheet_max:g}, and Moodle skips any grade above it")


def resolve_scale(sheet: Worksheet, rubric_total: float, choice: bool | None) -> Scale:
    """The scale for this worksheet; WorksheetError when its maximum differs from the rubric's and no choice was made."""
    top = sheet_maximum(sheet)
    if top is not None and abs(top - rubric_total) > 1e-9 and choice is None:
        raise WorksheetError(
            f"The grading worksheet's maximum grade is {top:g}, the rubric's total {rubric_total:g}. Say how grades go "
            f"in: --scale maps the rubric's points onto {top:g} (a full score becomes {top:g}), --no-scale writes the "
            f"points as they are (Moodle skips grades above {top:g}).")
    return Scale(rubric_total, top, bool(choice))


@dataclass(frozen=True)
class Row:
    """One graded participant to write: their grade in points (None: leave the row) and feedback."""

    participant_id: str
    who: str
    points: float | None
    feedback: str | None


@dataclass
class UploadPlan:
    """What the upload will do, for the batch summary: how to upload, and every row Moodle will not take as is."""

    sheet: Worksheet
    language: str
    scale: Scale
    written: dict[str, float] = field(default_factory=dict)
    """Participant id to the grade written into the worksheet."""
    stale: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """How to upload, how grades were made, and the rows whose Moodle state the upload meets."""
        sheet = self.sheet
        tick = ("tick \"Allow updating records that have been modified more recently in Moodle than in the "
                f"spreadsheet\", because {len(self.stale)} row(s) already graded in Moodle carry a "
                "\"Last modified (grade)\" that Moodle cannot read (a German date): without it Moodle keeps their old "
                "grade and feedback" if self.stale else
                "leave \"Allow updating records that have been modified more recently\" unticked unless grades were "
                "changed in Moodle after the worksheet was downloaded (Moodle then keeps those)")
        out = [f"Upload grading worksheet: encoding {ENCODINGS.get(sheet.encoding, sheet.encoding.upper())}, separator "
               f"{SEPARATORS[sheet.delimiter]}, with Moodle's language set to {self.language} (its column names); {tick}.",
               f"Grades: {self.scale.text()}."]
        out += [f"Moodle keeps the old grade and feedback unless ticked: {s}" for s in self.stale]
        out += [f"Replaces what Moodle has: {r}" for r in self.replaced]
        return out

    def warnings(self) -> list[str]:
        """What will not reach Moodle: grades it skips, participants the worksheet lacks, a missing column."""
        out = [f"Moodle will skip: {s}" for s in self.skipped]
        if self.missing:
            out.append("participants not in the worksheet (nothing uploaded for them): " + ", ".join(sorted(self.missing)))
        if "feedback" not in self.sheet.columns:
            out.append("the worksheet has no Feedback comments column: only grades go in; the reports go in by the "
                       "feedback zip")
        return out


def fill(sheet: Worksheet, rows: list[Row], scale: Scale, language: str) -> UploadPlan:
    """Write the rows' grades and feedback into the worksheet and say what Moodle will do with each."""
    plan = UploadPlan(sheet, language, scale)
    present = sheet.participants()
    for row in rows:
        values = present.get(row.participant_id)
        if values is None:
            plan.missing.append(f"{row.who} ({row.participant_id})")
            continue
        grade = None if row.points is None else scale.grade(row.points)
        sheet.set(row.participant_id, grade, row.feedback)
        if grade is None:
            continue
        plan.written[row.participant_id] = grade
        who = f"{row.who} (participant {row.participant_id})"
        modified = values.get("modified_grade", "").strip()
        if modified not in NO_DATE and not strtotime_reads(modified):
            plan.stale.append(f"{who}: \"Last modified (grade)\" is {modified!r}")
        old_grade = values.get("grade", "").strip()
        if old_grade and old_grade != sheet.format_grade(grade):
            plan.replaced.append(f"{who}: grade {old_grade} becomes {sheet.format_grade(grade)}")
        old_comment = values.get("feedback", "").strip()
        if row.feedback is not None and "feedback" in sheet.columns and old_comment and old_comment != row.feedback:
            plan.replaced.append(f"{who}: its feedback comment ({len(old_comment)} characters) is replaced")
        if scale.sheet_max is not None and grade > scale.sheet_max + 1e-9:
            plan.skipped.append(f"{who}: grade {sheet.format_grade(grade)} is above the maximum "
                                f"{sheet.format_grade(scale.sheet_max)}")
        if grade < 0:
            plan.skipped.append(f"{who}: grade {sheet.format_grade(grade)} is below 0")
    return plan
