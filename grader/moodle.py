"""Moodle's assignment formats: the "Download all submissions" layout, the grading worksheet, the feedback zip.

What Moodle does, read in Moodle's own source (moodle/moodle, mod/assign):

* "Download all submissions" (``assign::download_submissions`` in ``mod/assign/locallib.php``)
  names each participant's folder ``clean_filename(str_replace('_', ' ', fullname) . '_' .
  uniqueid . '_')`` followed by ``<plugin subtype>_<plugin type>_``, so a file submission lands in
  ``Max Mustermann_123456_assignsubmission_file_/Mustermann-123456.zip`` (since Moodle 4.1 the
  trailing ``_`` may be missing; with "download as folders" off the prefix is glued to the file
  name instead: ``Max Mustermann_123456_assignsubmission_file_Mustermann-123456.zip``).
  Underscores in the full name become blanks, so the second ``_``-separated part is always the
  participant id.
* "Upload multiple feedback files in a zip" (``assignfeedback_file_zip_importer::
  is_valid_filename_for_import`` in ``mod/assign/feedback/file/importziplib.php``) splits every
  path part of every file in the zip with ``explode('_', $part, 5)``, needs at least four parts,
  a numeric second part that is a participant id of the assignment, and a known plugin in parts
  three and four; whatever follows becomes the feedback file's name. Hidden files (``.``, ``~``)
  are skipped. So ``<Full name>_<participant id>_assignsubmission_file_/report.html`` is
  attached to that participant as the feedback file ``report.html`` - the same folder names
  the download uses, which is what Moodle's documentation tells teachers to send back.
* "Upload grading worksheet" (``assignfeedback_offline_grade_importer`` in
  ``mod/assign/feedback/offline/importgradeslib.php`` and ``process_import_grades`` in
  ``.../offline/locallib.php``) finds its columns by their exact, translated header:
  ``get_string('recordid', 'assign')`` (``Identifier``; German ``ID``),
  ``get_string('grade')`` (``Grade``; ``Bewertung``), ``get_string('lastmodifiedgrade',
  'assign')`` (``Last modified (grade)``) and each feedback plugin's field description
  (``Feedback comments``; ``Feedback als Kommentar``). The participant id is what follows
  ``get_string('hiddenuser', 'assign')`` in the identifier (``Participant 123456``;
  ``Teilnehmer/in123456``). The grade is read with ``unformat_float``, i.e. with the decimal
  separator of the importing user's language (``7,5`` in German); a row whose
  "Last modified (grade)" is older than the grade in Moodle is skipped unless the teacher ticks
  "Allow updating records that have been modified more recently in Moodle", as is a grade
  above the assignment's maximum. Encoding and separator are chosen in the upload form.
  The worksheet download goes through Moodle's CSV dataformat (Box Spout), which writes a
  UTF-8 BOM and quotes like PHP's ``fputcsv``.

Hence the rules here: worksheet rows are matched by the digits at the end of the identifier;
only the Grade and Feedback comments cells of matched rows are rewritten and every other byte of
the file is kept (encoding, BOM, separator, quoting, line ends, other columns, "Last modified
(grade)"); the grade is written with the decimal separator the worksheet's own numbers use;
feedback comments are HTML (Moodle stores them as such), so their text is escaped.
"""

from __future__ import annotations

import codecs
import functools
import html
import io
import os
import re
import tempfile
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from grader.config import ZipLimits
from grader.errors import InputError, WorksheetError
from grader.outfiles import write_atomic

SUBMISSION_PLUGIN = "assignsubmission_file"
FEEDBACK_FILE = "report.html"
# Files and folders that zip tools and operating systems add; never a submission.
IGNORED = frozenset({"__macosx", ".ds_store", "thumbs.db", "desktop.ini"})
CHUNK = 1024 * 1024

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


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class MoodleName:
    """A path part of Moodle's download: ``<full name>_<participant id>_<subtype>_<type>_<rest>``."""

    full_name: str
    participant_id: str
    plugin: str
    """E.g. ``assignsubmission_file``."""
    rest: str
    """What follows the plugin: "" for a folder, the student's file name in the flat layout."""


def parse_moodle_name(part: str) -> MoodleName | None:
    """The participant a download path part names, split the way Moodle's importer splits it; else None."""
    pieces = part.split("_", 4)
    if len(pieces) < 4:
        return None
    name, pid, subtype, kind = pieces[:4]
    if not (pid.isascii() and pid.isdigit()) or not subtype.startswith("assign") or not name.strip() or not kind:
        return None
    return MoodleName(name.strip(), pid, f"{subtype}_{kind}", pieces[4] if len(pieces) == 5 else "")


def feedback_folder(full_name: str, participant_id: str) -> str:
    """The folder Moodle's feedback-zip import attaches files from to this participant."""
    # Moodle replaces underscores in names with blanks; a slash or control character would
    # make a path of its own.
    clean = re.sub(r"[\x00-\x1f/\\:*?\"<>|]", " ", full_name.replace("_", " ")).strip() or "Participant"
    return f"{clean}_{participant_id}_{SUBMISSION_PLUGIN}_"


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Found:
    """One submission found in the batch input."""

    zip_path: Path | None
    """The zip to grade (under its name as submitted); None when the participant handed in no zip."""
    name: str
    """The zip's file name as the student submitted it."""
    source: str
    """Where it was found, relative to the input, for the TA."""
    participant_id: str | None = None
    moodle_name: str | None = None
    """The full name of the Moodle folder (or flat-layout prefix) it came in."""
    mtime: float = 0.0
    other_files: tuple[str, ...] = ()
    """Files of the participant that are not zips (only kept when no zip was handed in)."""
    claimed: tuple[str, ...] = ()
    """Folders (or the file name) inside the participant's own submission named like another participant:
    the student's content, which never decides the owner, but which a TA is told about."""


def find_submissions(source: Path, staging: Path, limits: ZipLimits, exclude: Path | None = None) -> list[Found]:
    """Every submission in a folder of zips or a Moodle download (zip or unpacked), in a stable order.

    Zips inside a downloaded zip, and flat-layout zips whose name carries Moodle's prefix, are
    copied to `staging` under the name the student gave them; other zips are graded in place.
    """
    source = Path(source)
    stage = _Stager(staging)
    if source.is_dir():
        found = _from_folder(source, stage, exclude)
    elif source.is_file() and zipfile.is_zipfile(source):
        found = _from_download_zip(source, stage, limits)
    elif source.exists():
        raise InputError(f"{source} is neither a folder nor a zip; give a folder of submission zips or "
                         "Moodle's \"Download all submissions\" zip.")
    else:
        raise InputError(f"{source} does not exist.")
    return sorted(found, key=lambda f: (f.participant_id or "", f.source.casefold(), f.source))


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(p.casefold() in IGNORED or p.startswith((".", "~")) for p in parts)


def _from_folder(root: Path, stage: _Stager, exclude: Path | None) -> list[Found]:
    skip = {p.resolve() for p in (stage.root, exclude) if p is not None}
    zips: list[Found] = []
    others: dict[tuple[str, str], list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in skip)
        for filename in sorted(filenames):
            path = here / filename
            rel = path.relative_to(root)
            if _ignored(rel.parts) or path.is_symlink() or not path.is_file():
                continue
            owner, name, claimed = _owner(rel.parts)
            if not filename.lower().endswith(".zip"):
                if owner is not None:
                    others.setdefault((owner.participant_id, owner.full_name), []).append(rel.as_posix())
                continue
            mtime = path.stat().st_mtime
            if name != filename:
                # The flat layout prefixes the student's name; grade it under the name they gave it.
                path = stage.copy(owner, name, path.read_bytes, mtime)
            zips.append(Found(path, name, rel.as_posix(), owner.participant_id if owner else None,
                              owner.full_name if owner else None, mtime, claimed=claimed))
    return zips + _without_zip(zips, others)


def _from_download_zip(download: Path, stage: _Stager, limits: ZipLimits) -> list[Found]:
    zips: list[Found] = []
    others: dict[tuple[str, str], list[str]] = {}
    try:
        with zipfile.ZipFile(download) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) > 100 * limits.max_entries:
                raise InputError(f"{download} holds {len(members)} files, too many for a download of submissions.")
            for member in members:
                parts = tuple(p for p in PurePosixPath(member.filename.replace("\\", "/")).parts if p not in ("", "/"))
                if not parts or ".." in parts or _ignored(parts):
                    continue
                owner, name, claimed = _owner(parts)
                if not parts[-1].lower().endswith(".zip"):
                    if owner is not None:
                        others.setdefault((owner.participant_id, owner.full_name), []).append("/".join(parts))
                    continue
                if member.file_size > limits.max_total_bytes:
                    raise InputError(f"{member.filename} in {download} unpacks to {member.file_size} bytes, more "
                                     f"than a submission may hold ({limits.max_total_bytes}).")
                mtime = time.mktime((*member.date_time, 0, 0, -1))
                path = stage.copy(owner, name, functools.partial(_read_member, zf, member, limits), mtime,
                                  fallback="/".join(parts[:-1]))
                zips.append(Found(path, name, "/".join(parts), owner.participant_id if owner else None,
                                  owner.full_name if owner else None, mtime, claimed=claimed))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{download} cannot be read as a zip: {exc}") from exc
    if not zips and not others:
        raise InputError(f"{download} holds no submission zips. Give a folder of zips or Moodle's \"Download all "
                         "submissions\" zip; to grade one student's zip use `grader run`.")
    return zips + _without_zip(zips, others)


def _owner(parts: tuple[str, ...]) -> tuple[MoodleName | None, str, tuple[str, ...]]:
    """The participant a path belongs to, the file's own name, and deeper parts that name another participant.

    The owner is the outermost part named like a participant: in a download that is the top-level
    ``<Full name>_<id>_assignsubmission_file_`` folder Moodle made (or, in the flat layout, the file's
    prefix). Everything below it is the student's own upload, so a folder in there named like someone
    else never makes the zip theirs (#15: a planted ``B_1002_assignsubmission_file_/`` folder).
    """
    for index, part in enumerate(parts):
        owner = parse_moodle_name(part)
        if owner is None:
            continue
        if index == len(parts) - 1:
            if not owner.rest:
                break
            inner = parse_moodle_name(owner.rest)  # a file the student named like someone else's download
            return owner, owner.rest, (owner.rest,) if inner and inner.participant_id != owner.participant_id else ()
        claimed = tuple(p for p in parts[index + 1:]
                        if (other := parse_moodle_name(p)) is not None and other.participant_id != owner.participant_id)
        return owner, parts[-1], claimed
    return None, parts[-1], ()


def _read_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, limits: ZipLimits) -> bytes:
    """A member's bytes, counted while reading so a lying header cannot unpack more than allowed."""
    out = io.BytesIO()
    with zf.open(member) as handle:
        while chunk := handle.read(CHUNK):
            out.write(chunk)
            if out.tell() > limits.max_total_bytes:
                raise InputError(f"{member.filename} unpacks to more than {limits.max_total_bytes} bytes.")
    return out.getvalue()


def _safe_part(text: str) -> str:
    text = re.sub(r"[\x00-\x1f/\\]", "_", unicodedata.normalize("NFC", text)).strip()
    data = text.encode("utf-8")
    if len(data) > 200:
        # A member of a download zip may have any length; a file name at most 255 bytes.
        _, dot, ext = text.rpartition(".")
        tail = (dot + ext).encode("utf-8")[-16:] if dot else b""
        text = (data[:200 - len(tail)] + tail).decode("utf-8", "ignore")
    return text if text and not text.startswith(".") else "_" + text


class _Stager:
    """Writes zips into the staging folder under their submitted names, one folder per participant."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: set[Path] = set()

    def copy(self, owner: MoodleName | None, name: str, read: Callable[[], bytes], mtime: float,
             fallback: str = "") -> Path:
        """The staged path of one zip; its bytes are only rewritten when they changed."""
        folder = self.root / _safe_part(f"{owner.full_name}_{owner.participant_id}" if owner else (fallback or "_"))
        dest = folder / _safe_part(name)
        n = 1
        while dest in self.written:
            n += 1
            dest = folder / str(n) / _safe_part(name)
        self.written.add(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = read()
        if not dest.exists() or dest.read_bytes() != data:
            tmp = dest.with_name(f".{dest.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        # Keep the submission time: "the latest submission counts" reads it.
        os.utime(dest, (mtime, mtime))
        return dest


def _without_zip(zips: list[Found], others: dict[tuple[str, str], list[str]]) -> list[Found]:
    """Participants whose folder holds files but no zip: each a submission that cannot be graded."""
    with_zip = {f.participant_id for f in zips if f.participant_id}
    return [Found(None, "", files[0].split("/", 1)[0] if "/" in files[0] else files[0], pid, full_name, 0.0,
                  tuple(sorted(f.rsplit("/", 1)[-1] for f in files)))
            for (pid, full_name), files in sorted(others.items()) if pid not in with_zip]


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


def feedback_comment(lines: list[str]) -> str:
    """Feedback comment text for Moodle, which stores it as HTML: each line escaped, lines joined by <br>."""
    return "<br>".join(html.escape(line, quote=False) for line in lines)


# --------------------------------------------------------------------------- feedback zip


def write_feedback_zip(dest: Path, entries: list[tuple[str, str, Path]]) -> Path:
    """A zip for "Upload multiple feedback files in a zip": (full name, participant id, report) each."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", zipfile.ZIP_DEFLATED) as zf:
            seen: set[str] = set()
            for full_name, pid, report in sorted(entries, key=lambda e: (e[1], e[0])):
                name = f"{feedback_folder(full_name, pid)}/{FEEDBACK_FILE}"
                if name in seen:
                    continue
                seen.add(name)
                zf.write(report, name)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dest


