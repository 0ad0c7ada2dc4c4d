"""Moodle's grading worksheet: read as Moodle wrote it, filled in with only the Grade and Feedback cells changed."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import WorksheetError
from grader.outfiles import write_atomic

# Worksheet headers, as Moodle writes them in English and German (compared case-insensitively).
HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("identifier", "id"),
    "full_name": ("full name", "vollständiger name"),
    "grade": ("grade", "bewertung"),
    "max_grade": ("maximum grade", "bestmögliche bewertung", "maximale bewertung", "höchste bewertung"),
    "feedback": ("feedback comments", "feedback als kommentar"),
    "modified_grade": ("last modified (grade)", "zuletzt geändert (bewertung)"),
}
_DECIMAL_COMMA = re.compile(r"\s*-?\d+,\d+\s*")
_DECIMAL_POINT = re.compile(r"\s*-?\d+\.\d+\s*")


# --------------------------------------------------------------------------- worksheet


@dataclass
class Worksheet:
    """A grading worksheet as Moodle wrote it: raw fields kept so untouched bytes stay untouched."""

    path: Path
    encoding: str
    delimiter: str
    records: list[tuple[list[str], str]]
    """Each record's raw fields (quotes included) and its line ending."""
    columns: dict[str, int]
    """Role (see HEADERS) to column index."""
    decimal: str
    """The decimal separator the worksheet's numbers use."""
    changes: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def header(self) -> list[str]:
        return [unquote(f) for f in self.records[0][0]]

    def rows(self) -> list[tuple[int, dict[str, str]]]:
        """(record index, {role: value}) of each data row that has a participant id."""
        out = []
        for index, (raw, _) in enumerate(self.records[1:], start=1):
            values = {role: unquote(raw[col]) if col < len(raw) else "" for role, col in self.columns.items()}
            match = re.search(r"(\d+)\s*$", values.get("id", ""))
            if match:
                values["participant_id"] = match.group(1)
                out.append((index, values))
        return out

    def participants(self) -> dict[str, dict[str, str]]:
        """Participant id to its row's values."""
        return {values["participant_id"]: values for _, values in self.rows()}

    def set(self, participant_id: str, grade: float | None, feedback: str | None) -> bool:
        """Set a participant's Grade (and Feedback comments, when the sheet has that column); False if not in the sheet."""
        for index, values in self.rows():
            if values["participant_id"] != participant_id:
                continue
            if grade is not None:
                self.changes[(index, self.columns["grade"])] = self.format_grade(grade)
            if feedback is not None and "feedback" in self.columns:
                self.changes[(index, self.columns["feedback"])] = feedback
            return True
        return False

    def format_grade(self, points: float) -> str:
        """Points as the worksheet writes numbers: 27.5 or 27,5."""
        text = f"{points:.2f}".rstrip("0").rstrip(".")
        return (text if text != "-0" else "0").replace(".", self.decimal)

    def max_grade(self, participant_id: str) -> float | None:
        """The Maximum Grade column of a participant's row, as a number, if there is one."""
        value = self.participants().get(participant_id, {}).get("max_grade", "")
        try:
            return float(value.strip().replace(self.decimal, ".")) if value.strip() else None
        except ValueError:
            return None

    def text(self) -> str:
        """The worksheet with the changes applied, every other byte as it was read."""
        lines = []
        for index, (raw, ending) in enumerate(self.records):
            fields = list(raw)
            for (row, col), value in self.changes.items():
                if row == index:
                    while len(fields) <= col:
                        fields.append("")
                    fields[col] = quote(value, self.delimiter, fields[col].startswith('"'))
            lines.append(self.delimiter.join(fields) + ending)
        return "".join(lines)

    def write(self, dest: Path) -> Path:
        """Write the filled-in worksheet atomically, in the encoding it was read in."""
        # Characters the encoding lacks become HTML references, which Moodle's feedback (HTML) shows right.
        data = self.text().encode(self.encoding, errors="xmlcharrefreplace")
        write_atomic(dest, data)
        return dest


def read_worksheet(path: Path) -> Worksheet:
    """Read a grading worksheet downloaded from a Moodle assignment; WorksheetError if it is not one."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WorksheetError(f"Cannot read the grading worksheet {path}: {exc.strerror or exc}") from exc
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise WorksheetError(f"The grading worksheet {path} is neither UTF-8 nor Windows-1252 text.") from exc
    if not text.strip():
        raise WorksheetError(f"The grading worksheet {path} is empty.")
    delimiter = _sniff_delimiter(text)
    records = tokenize(text, delimiter)
    header = [unquote(f).strip().casefold() for f in records[0][0]]
    columns: dict[str, int] = {}
    for role, names in HEADERS.items():
        for index, name in enumerate(header):
            if name in names and role not in columns:
                columns[role] = index
    missing = [HEADERS[r][0].title() for r in ("id", "grade") if r not in columns]
    if missing:
        raise WorksheetError(
            f"The grading worksheet {path} has no {' and no '.join(repr(m) for m in missing)} column (its columns: "
            f"{', '.join(unquote(f) for f in records[0][0])}). Download it again with \"Download grading worksheet\".")
    sheet = Worksheet(Path(path), encoding, delimiter, records, columns, ".")
    sheet.decimal = _sniff_decimal(sheet)
    return sheet


def _sniff_delimiter(text: str) -> str:
    """The separator of the header line: the most frequent of , ; tab and : outside quotes."""
    counts = {d: 0 for d in (",", ";", "\t", ":")}
    in_quotes = False
    for ch in text:
        if ch == '"':
            in_quotes = not in_quotes
        elif not in_quotes and ch in "\r\n":
            break
        elif not in_quotes and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _sniff_decimal(sheet: Worksheet) -> str:
    """The decimal separator the worksheet's own numbers use (Maximum Grade, then Grade); German headers mean a comma."""
    for role in ("max_grade", "grade"):
        for _, values in sheet.rows():
            value = values.get(role, "")
            if _DECIMAL_COMMA.fullmatch(value):
                return ","
            if _DECIMAL_POINT.fullmatch(value):
                return "."
    grade_header = sheet.header[sheet.columns["grade"]].strip().casefold()
    return "," if grade_header == "bewertung" else "."


def tokenize(text: str, delimiter: str) -> list[tuple[list[str], str]]:
    """CSV records as raw fields (quotes kept) and line endings, so that joining them gives `text` back."""
    records: list[tuple[list[str], str]] = []
    fields: list[str] = []
    i, n, start, in_quotes = 0, len(text), 0, False
    while i < n:
        ch = text[i]
        if in_quotes:
            if ch == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 2
                    continue
                in_quotes = False
            i += 1
        elif ch == '"' and i == start:
            in_quotes = True
            i += 1
        elif ch == delimiter:
            fields.append(text[start:i])
            i += 1
            start = i
        elif ch in "\r\n":
            ending = "\r\n" if text.startswith("\r\n", i) else ch
            fields.append(text[start:i])
            records.append((fields, ending))
            fields = []
            i += len(ending)
            start = i
        else:
            i += 1
    if start < n or fields:
        fields.append(text[start:n])
        records.append((fields, ""))
    return records


def unquote(raw: str) -> str:
    """A raw CSV field's value."""
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        return raw[1:-1].replace('""', '"')
    return raw


def quote(value: str, delimiter: str, was_quoted: bool) -> str:
    """A value as a raw CSV field, quoted like PHP's fputcsv (or as the cell was before)."""
    if was_quoted or any(c in value for c in (delimiter, '"', "\n", "\r", " ", "\t", "\\")):
        return '"' + value.replace('"', '""') + '"'
    return value
