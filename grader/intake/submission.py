"""Reading a submission: its file name, its zip (safely), its code and its PDF.

Rules:

* File name: ``Surname-MatriculationNumber.zip``. The name is NFC-normalized first (macOS
  zips and file systems hand out NFD). The surname is one or more hyphen-joined parts of
  Unicode letters of any script (combining marks allowed after a letter), with apostrophes
  (``'`` or ``’``) only between letters; the last hyphen-separated part is the
  matriculation number, ASCII digits of an allowed length; ``.zip`` in any case.
* Zip: limits on entries, declared member and total size and compression ratio (of members
  and of the whole zip once over 1 MiB unpacked) are checked before anything is extracted, and actual bytes are counted while extracting. Members
  with absolute paths, drive letters or ``..`` are skipped, symlinks and other special
  files are never created, ``__MACOSX/``, ``.DS_Store``, ``._*``, ``.ipynb_checkpoints/``,
  ``__pycache__/`` and ``.git/`` are ignored, nested zips are not extracted, and single
  folders wrapping everything are stripped. Files are written only under
  ``workdir/files/``.
* Code file, first match wins: ``exercise4.py`` at the top; ``exercise4.ipynb`` at the
  top; ``exercise4.py`` / ``exercise4.ipynb`` deeper (shallowest first); otherwise among
  the other ``.py`` and ``.ipynb`` files (not tests, conftest, setup, sitecustomize,
  usercustomize, make_submission, notebook_filter, student_world or ``__init__``) the one that defines any contract name
  wins over one that defines none, then ``.py`` over ``.ipynb``, then the most contract
  names, then the shallowest and alphabetically first path (flag ``code-renamed``).
  Names are compared case-insensitively.
* Notebook: see :func:`grader.intake.notebook.notebook_to_module`.
* PDF: see :func:`check_pdf`.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import stat
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.config import DEFAULT, MiB, Settings, ZipLimits
from grader.errors import SubmissionRejected
from grader.intake.notebook import short_text as _short
from grader.intake.parsing import ParseFailed, parse
from grader.scoring import Student

EXAMPLE_NAME = "Mustermann-123456.zip"
DEFINITIONS_NAME = "exercise4.definitions"

# The shape only; surname letters and number length are checked by `parse_name`, which can
# then say precisely what is wrong.
NAME_PATTERN = re.compile(r"(?P<surname>[^\s/\\]+)-(?P<number>[^-\s/\\]+)\.zip", re.IGNORECASE)

APOSTROPHES = "'\u2019"

CONTRACT_NAMES = (
    "X", "W1", "W2", "W3", "B1", "B2", "B3", "conv_relu", "HAND_COMPUTED", "conv_output_size",
    "receptive_field", "RF_ANSWERS", "make_transform", "make_loaders", "Net", "train",
    "plot_accuracy", "show_augmentations", "resnet_layers", "get_activations", "saliency_maps",
    "ANSWERS",
)

# Folders and files that tools add to zips and that never hold the submission.
IGNORED_DIRS = frozenset({"__macosx", ".ipynb_checkpoints", "__pycache__", ".git"})
IGNORED_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
# .py files that are not the submission even when they are the only other .py file.
NOT_CODE = re.compile(r"(test_.*|.*_test|conftest|setup|sitecustomize|usercustomize|make_submission|notebook_filter|student_world|__init__)\.py",
                      re.IGNORECASE)

# A member is only judged by its compression ratio when it unpacks to more than this:
# small text files of blanks legitimately compress 300:1, bombs need size to hurt.
RATIO_MIN_BYTES = 1 * MiB
CHUNK = 64 * 1024
MAX_MEMBER_PATH = 1024
"""Bytes a member's path may have (UTF-8): far below Linux's PATH_MAX (4096) once under the work folder."""
# Ranking candidate files only needs their definitions, which come early.
CONTRACT_SCAN_BYTES = 2 * MiB

PDF_MAX_PAGES = 200
PDF_MAX_TEXT = 5_000_000
PDF_LINE_MIN_CHARS = 12
PDF_LINE_KEY_CHARS = 48
PDF_MAX_LINES = 400
PDF_SHOWS_CODE_FRACTION = 0.5
MAX_PDFS = 3


# --------------------------------------------------------------------------- file name

def parse_name(filename: str, digits: tuple[int, ...] = DEFAULT.matriculation_digits) -> Student:
    """The student named by a submission's file name; SubmissionRejected (flag `naming`) if it is wrong."""
    name = unicodedata.normalize("NFC", filename)
    problem = _name_problem(name, digits)
    if problem is not None:
        lengths = _or_list([str(d) for d in sorted(digits)])
        raise SubmissionRejected(
            f"The file name {filename!r} {problem}. It should look like {EXAMPLE_NAME}: your surname, "
            f"a hyphen, your matriculation number ({lengths} digits) and .zip.", flag="naming")
    match = NAME_PATTERN.fullmatch(name)
    assert match is not None  # _name_problem accepted it
    return Student(surname=match["surname"], matriculation=match["number"])


def _name_problem(name: str, digits: tuple[int, ...]) -> str | None:
    """What is wrong with an NFC file name, as a clause after "The file name …", or None."""
    if not name.lower().endswith(".zip"):
        ext = name.rsplit(".", 1)[-1] if "." in name else ""
        return f"does not end in .zip (it ends in .{ext})" if ext and len(ext) <= 8 else "does not end in .zip"
    stem = name[:-4]
    if any(ch.isspace() for ch in stem):
        return "contains spaces"
    if "/" in stem or "\\" in stem:
        return "contains a slash"
    if "." in stem:
        return "has more than one extension (a dot before .zip)"
    if "-" not in stem:
        return "has no hyphen between surname and matriculation number"
    surname, number = stem.rsplit("-", 1)
    if not number:
        return "has no matriculation number after the last hyphen"
    if not (number.isascii() and number.isdigit()):
        return f"should end in the matriculation number, digits only, but the part after the last hyphen is {number!r}"
    if len(number) not in digits:
        return f"has a matriculation number of {len(number)} digits ({number})"
    if not surname:
        return "has no surname before the matriculation number"
    for part in surname.split("-"):
        if not part:
            return "has an empty surname part (a leading hyphen or two hyphens in a row)"
        bad = _surname_part_problem(part)
        if bad is not None:
            return bad
    return None


def _surname_part_problem(part: str) -> str | None:
    """What is wrong with one hyphen-separated part of a surname, or None."""
    for i, ch in enumerate(part):
        cat = unicodedata.category(ch)
        if ch.isalpha():
            continue
        if cat.startswith("M") and i > 0:
            continue  # combining marks left after NFC (e.g. Devanagari vowel signs)
        if ch in APOSTROPHES and 0 < i < len(part) - 1 and part[i - 1] not in APOSTROPHES:
            continue
        if ch in APOSTROPHES:
            return f"has an apostrophe that is not between two letters in the surname part {part!r}"
        if ch.isdigit():
            return f"has a digit in the surname part {part!r}"
        return (f"has the character {ch!r} in the surname part {part!r}; only letters, hyphens and "
                "apostrophes belong there")
    return None


def _or_list(items: list[str]) -> str:
    """'6, 7 or 8'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


# --------------------------------------------------------------------------- PDF

@dataclass(frozen=True)
class PdfCheck:
    """What the submitted PDF is and whether it shows the submitted code."""

    present: bool
    """A .pdf file was in the zip."""
    readable: bool
    """It is a real PDF that pypdf could open and read text from."""
    shows_code: bool | None
    """Enough of the code's lines appear in its text; None when that could not be judged."""
    message: str
    """One sentence for the student and TA."""
    checked: bool = True
    """False when reading it went over its limits (time, memory), so nothing could be said about it."""


def check_pdf(pdf_bytes: bytes, code_text: str, limits: ZipLimits = DEFAULT.zip_limits) -> PdfCheck:
    """Whether bytes are a readable PDF whose text shows the code; never raises.

    "Shows the code": the code's distinctive lines (at least 12 non-blank characters, at
    most 400 of them, evenly sampled) are compared by their first 48 non-blank characters
    with the PDF's text with all whitespace removed (after NFKC, with typographic quotes and
    minus signs mapped to ASCII); at least half of them must be found. Whitespace is ignored
    because PDF text extraction loses and adds blanks and line breaks; the prefix tolerates
    long lines wrapped by the printer. Only the first 200 pages are read, by pypdf in a separate
    process with the limits' time and memory (see `grader.intake.parsing`).
    """
    if b"%PDF-" not in pdf_bytes[:1024]:
        return PdfCheck(True, False, None, "The PDF file is not a PDF (it does not start with %PDF-).")
    try:
        reply = parse("pdf", pdf_bytes, limits.parse_timeout_s, limits.parse_memory_bytes)
    except ParseFailed as exc:
        return PdfCheck(True, False, None, f"The PDF was not checked against the code: {exc.reason}.", checked=False)
    if reply.get("encrypted"):
        return PdfCheck(True, False, None, "The PDF is password-protected, so its text cannot be read.")
    if not reply.get("ok"):
        return PdfCheck(True, False, None, f"The PDF could not be read ({_short(str(reply.get('error')))}).")
    text = str(reply.get("text", ""))
    keys = _code_keys(code_text)
    if not keys:
        return PdfCheck(True, True, None, "The PDF was read, but the code has no lines to look for in it.")
    hay = _squash(text)
    if not hay:
        return PdfCheck(True, True, False,
                        "No text could be read from the PDF (a scan or an image?), so it does not show the code.")
    found = sum(1 for key in keys if key in hay)
    share = found / len(keys)
    if share >= PDF_SHOWS_CODE_FRACTION:
        return PdfCheck(True, True, True, f"The PDF shows the submitted code ({found} of {len(keys)} lines found).")
    return PdfCheck(True, True, False,
                    f"The PDF does not show the submitted code: only {found} of {len(keys)} of its lines were found "
                    f"in the PDF's text (at least {PDF_SHOWS_CODE_FRACTION:.0%} needed).")


class PdfEncrypted(Exception):
    """The PDF needs a password."""


def pdf_text(pdf_bytes: bytes) -> str:
    """Text of the first pages of a PDF, quietly (pypdf warns loudly about broken files); run in `grader.intake.parsing`'s child."""
    import pypdf  # only intake needs it; keeps `grader --help` light

    log = logging.getLogger("pypdf")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = pypdf.PdfReader(io.BytesIO(pdf_bytes), strict=False)
            if reader.is_encrypted:
                try:
                    ok = reader.decrypt("")  # many "protected" PDFs only restrict printing
                except Exception as exc:  # noqa: BLE001 - e.g. AES without the crypto package
                    raise PdfEncrypted() from exc
                if not ok:
                    raise PdfEncrypted()
            parts: list[str] = []
            size = 0
            for i, page in enumerate(reader.pages):
                if i >= PDF_MAX_PAGES or size >= PDF_MAX_TEXT:
                    break
                try:
                    chunk = page.extract_text() or ""
                except Exception:  # noqa: BLE001 - one broken page should not hide the others
                    continue
                parts.append(chunk)
                size += len(chunk)
            return "\n".join(parts)[:PDF_MAX_TEXT]  # one page's text can be any length
    finally:
        log.setLevel(level)


_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2212": "-",
                             "\u2013": "-", "\u00a0": " "})


def _squash(text: str) -> str:
    """Text compared for "shows the code": NFKC, ASCII quotes, no whitespace."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY)
    return "".join(text.split())


def _code_keys(code_text: str) -> list[str]:
    """The distinctive lines of code looked for in the PDF, squashed and cut to a prefix."""
    keys = []
    for line in code_text.splitlines():
        squashed = _squash(line)
        if len(squashed) >= PDF_LINE_MIN_CHARS:
            keys.append(squashed[:PDF_LINE_KEY_CHARS])
    keys = list(dict.fromkeys(keys))
    if len(keys) > PDF_MAX_LINES:
        step = len(keys) / PDF_MAX_LINES
        keys = [keys[int(i * step)] for i in range(PDF_MAX_LINES)]
    return keys


# --------------------------------------------------------------------------- the zip

@dataclass(frozen=True)
class Intake:
    """A submission read and unpacked, ready for grading."""

    student: Student
    code_path: Path
    """The submitted code file as extracted under `workdir/files/`."""
    code_kind: str
    """`py` or `ipynb`."""
    code_name: str
    """The code file's path inside the zip, as the student named it."""
    module_dir: Path
    """A folder holding `exercise4.py`, what the worker imports, and for a .py its definitions alone
    (`DEFINITIONS_NAME`), imported instead when running the module's top level fails."""
    pdf: PdfCheck
    flags: tuple[str, ...]
    """Machine-readable remarks, e.g. `code-renamed`, `pdf-missing`."""
    notes: tuple[str, ...]
    """Sentences for the student and TA that go with the flags, then details."""


@dataclass
class _Member:
    """A zip member that will be extracted."""

    info: zipfile.ZipInfo
    parts: tuple[str, ...]


def graded_constants(settings: Settings) -> tuple[str, ...]:
    """The constants a student writes (HAND_COMPUTED, RF_ANSWERS, ANSWERS): a notebook may compute them."""
    from grader.template import stub_names

    return tuple(n for n in stub_names(settings.reference_path.read_text(encoding="utf-8")) if n.isupper())


def open_submission(zip_path: Path, workdir: Path, settings: Settings = DEFAULT) -> Intake:
    """Check a submission's name, unpack it safely under workdir and pick its code and PDF.

    Raises SubmissionRejected (with its flag) when the submission cannot be graded.
    """
    student = parse_name(zip_path.name, settings.matriculation_digits)
    limits = settings.zip_limits
    flags: list[str] = []
    notes: list[str] = []
    files_dir = workdir / "files"
    module_dir = workdir / "module"
    for folder in (files_dir, module_dir):
        if folder.exists():
            shutil.rmtree(folder)  # left over from an earlier run in the same workdir
        folder.mkdir(parents=True)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise SubmissionRejected("The submission is not a readable zip file (it is corrupt or not a zip).",
                                 flag="corrupt-zip") from exc
    except UnicodeDecodeError as exc:
        raise SubmissionRejected("The zip's file names are not valid UTF-8 although the zip says they are.",
                                 flag="corrupt-zip") from exc
    with zf:
        infos = zf.infolist()
        _check_before_extracting(infos, settings)
        members = _select_members(infos, flags, notes)
        if not members:
            raise SubmissionRejected("The zip holds no files (or only folders and system files).", flag="empty-zip")
        extracted = _extract(zf, members, files_dir, settings)
    code_rel, kind, renamed_note = _choose_code(extracted, files_dir)
    code_path = files_dir / code_rel
    code_bytes = code_path.read_bytes()
    if renamed_note:
        _flag(flags, notes, "code-renamed", renamed_note)
    if kind == "py":
        try:
            code_text = code_bytes.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SubmissionRejected(f"The code file {code_rel} is not UTF-8 text, so Python cannot read it.",
                                     flag="bad-encoding") from exc
        (module_dir / "exercise4.py").write_bytes(code_bytes)
        # Only used if running the module's top level fails in the sandbox (a notebook exported as a script
        # whose training cells need the student's data): then its definitions alone are graded. Without
        # them (reading went over its limits) such a module simply fails to import.
        try:
            script = parse("script", code_bytes, limits.parse_timeout_s, limits.parse_memory_bytes,
                           computed=graded_constants(settings))
            (module_dir / DEFINITIONS_NAME).write_text(str(script["module"]), encoding="utf-8")
        except (ParseFailed, KeyError):
            pass
    else:
        try:
            read = parse("notebook", code_bytes, limits.parse_timeout_s, limits.parse_memory_bytes,
                         computed=graded_constants(settings))
        except ParseFailed as exc:
            raise SubmissionRejected(f"The notebook {code_rel} could not be read within the grader's limits "
                                     f"({limits.parse_timeout_s:g} s, {limits.parse_memory_bytes >> 20} MiB): "
                                     f"{exc.reason}.", flag="notebook-limits") from exc
        if not read.get("ok"):
            raise SubmissionRejected(str(read.get("reason")), flag=str(read.get("flag")))
        module_text, dropped = str(read["module"]), [str(d) for d in read["dropped"]]
        (module_dir / "exercise4.py").write_text(module_text, encoding="utf-8")
        code_text = str(read["code_text"])
        if dropped:
            _flag(flags, notes, "notebook-filtered",
                  f"The notebook was graded as a module of its imports and definitions; {len(dropped)} "
                  "statements or cells (calls, loops, magics) were not executed.")
            notes.extend(dropped[:30])
            if len(dropped) > 30:
                notes.append(f"… and {len(dropped) - 30} more left out.")
    pdf = _pdf_of(extracted, files_dir, code_text, flags, notes, limits)
    return Intake(student=student, code_path=code_path, code_kind=kind, code_name=extracted[code_rel],
                  module_dir=module_dir, pdf=pdf, flags=tuple(flags), notes=tuple(notes))


def _flag(flags: list[str], notes: list[str], flag: str, note: str) -> None:
    """Record a flag once, with its sentence."""
    if flag not in flags:
        flags.append(flag)
    notes.append(note)


def _check_before_extracting(infos: list[zipfile.ZipInfo], settings: Settings) -> None:
    """Reject encrypted zips and zips over the limits, by their declared sizes."""
    limits = settings.zip_limits
    if len(infos) > limits.max_entries:
        raise SubmissionRejected(f"The zip holds {len(infos)} entries; at most {limits.max_entries} are accepted.",
                                 flag="zip-limits")
    if any(info.flag_bits & 0x1 for info in infos):
        raise SubmissionRejected("The zip is password-protected (encrypted); submit it without a password.",
                                 flag="encrypted-zip")
    total = 0
    packed = 0
    for info in infos:
        if info.file_size > limits.max_member_bytes:
            raise SubmissionRejected(
                f"The zip member {_short(info.filename)!r} unpacks to {info.file_size} bytes; at most "
                f"{limits.max_member_bytes} bytes per file are accepted.", flag="zip-limits")
        if info.file_size > RATIO_MIN_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                raise SubmissionRejected(
                    f"The zip member {_short(info.filename)!r} is compressed {ratio:.0f}:1 ({info.compress_size} "
                    f"bytes unpacking to {info.file_size}); at most {limits.max_compression_ratio:.0f}:1 is "
                    "accepted.", flag="zip-limits")
        total += info.file_size
        packed += info.compress_size
    if total > limits.max_total_bytes:
        raise SubmissionRejected(f"The zip unpacks to {total} bytes; at most {limits.max_total_bytes} are accepted.",
                                 flag="zip-limits")
    if total > RATIO_MIN_BYTES and total / max(packed, 1) > limits.max_compression_ratio:
        raise SubmissionRejected(
            f"The zip is compressed {total / max(packed, 1):.0f}:1 ({packed} bytes unpacking to {total}); at most "
            f"{limits.max_compression_ratio:.0f}:1 is accepted.", flag="zip-limits")


def _select_members(infos: list[zipfile.ZipInfo], flags: list[str], notes: list[str]) -> list[_Member]:
    """The regular, safe, non-system files of a zip, with a single wrapping folder stripped."""
    members: list[_Member] = []
    for info in infos:
        mode = info.external_attr >> 16
        if info.is_dir():
            continue
        parts = _safe_parts(info.filename)
        if parts is None:
            _flag(flags, notes, "unsafe-member",
                  f"The zip member {_short(info.filename)!r} points outside the submission (absolute path, drive "
                  "or '..'); it was skipped.")
            continue
        if not parts or any(p.lower() in IGNORED_DIRS for p in parts[:-1]) \
                or parts[-1].lower() in IGNORED_FILES or parts[-1].startswith("._"):
            continue
        if len("/".join(parts).encode("utf-8")) > MAX_MEMBER_PATH:
            # Unpacked, it would end grading with "File name too long" instead of a verdict (#15).
            _flag(flags, notes, "unsafe-member",
                  f"The zip member {_short(info.filename)!r} has a path of {len('/'.join(parts).encode('utf-8'))} "
                  f"bytes, longer than the {MAX_MEMBER_PATH} a file in a submission may have; it was skipped.")
            continue
        if stat.S_ISLNK(mode):
            _flag(flags, notes, "unsafe-member",
                  f"The zip member {_short(info.filename)!r} is a symbolic link; it was skipped.")
            continue
        if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            _flag(flags, notes, "unsafe-member",
                  f"The zip member {_short(info.filename)!r} is not a regular file; it was skipped.")
            continue
        if parts[-1].lower().endswith(".zip"):
            _flag(flags, notes, "nested-zip",
                  f"The zip holds another zip, {_short(info.filename)!r}; zips inside the zip are not opened.")
            continue
        members.append(_Member(info, parts))
    # Students often zip the folder rather than its contents; strip such wrappers.
    while members and all(len(m.parts) > 1 for m in members) and len({m.parts[0] for m in members}) == 1:
        for m in members:
            m.parts = m.parts[1:]
    return members


_ODD_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """A member name as safe relative path parts, or None when it escapes (absolute, drive, '..')."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/"))
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return None
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        part = _ODD_CHARS.sub("_", part).encode("utf-8", "replace").decode("utf-8")
        part = part.encode("utf-8")[:200].decode("utf-8", "ignore").strip() or "_"
        if part in (".", ".."):
            part = "_"
        parts.append(part)
    return tuple(parts)


def _extract(zf: zipfile.ZipFile, members: list[_Member], files_dir: Path, settings: Settings) -> dict[str, str]:
    """Write members under files_dir, counting real bytes; {relative path: name in the zip}."""
    limits = settings.zip_limits
    root = files_dir.resolve()
    written_total = 0
    extracted: dict[str, str] = {}
    seen: set[str] = set()
    for member in members:
        rel = PurePosixPath(*member.parts).as_posix()
        target = files_dir.joinpath(*member.parts)
        # Case-insensitive: the same zip must unpack the same way on macOS and Windows.
        if rel.lower() in seen or not target.resolve().is_relative_to(root):
            continue  # a duplicate name: the first one stays
        seen.add(rel.lower())
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            dst = open(target, "xb")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue  # a file and a folder of the same name: the first one stays
        try:
            with dst, zf.open(member.info) as src:
                while chunk := src.read(CHUNK):
                    written_total += len(chunk)
                    # Declared sizes can lie; the real bytes decide.
                    if dst.tell() + len(chunk) > limits.max_member_bytes or written_total > limits.max_total_bytes:
                        raise SubmissionRejected(
                            f"The zip unpacks to more than its limits ({limits.max_member_bytes} bytes per file, "
                            f"{limits.max_total_bytes} in total) although it declared less.", flag="zip-limits")
                    dst.write(chunk)
        except BaseException as exc:
            target.unlink(missing_ok=True)  # no half-written file is left to be mistaken for a whole one
            if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError)):
                raise SubmissionRejected(f"The zip is corrupt: {_short(member.info.filename)!r} cannot be unpacked.",
                                         flag="corrupt-zip") from exc
            if isinstance(exc, NotImplementedError):
                raise SubmissionRejected(f"The zip member {_short(member.info.filename)!r} uses a compression "
                                         "method that is not supported; use ordinary (deflate) zip.",
                                         flag="corrupt-zip") from exc
            raise
        extracted[rel] = member.info.filename
    return extracted


def _choose_code(extracted: dict[str, str], files_dir: Path) -> tuple[str, str, str]:
    """(relative path, kind, note when it was not exercise4.*) of the code to grade."""
    by_kind: dict[str, list[str]] = {"py": [], "ipynb": []}
    for rel in extracted:
        base = rel.rsplit("/", 1)[-1]
        low = base.lower()
        if low.endswith(".py") and not NOT_CODE.fullmatch(base):
            by_kind["py"].append(rel)
        elif low.endswith(".ipynb"):
            by_kind["ipynb"].append(rel)

    def depth(rel: str) -> tuple[int, str]:
        return rel.count("/"), rel

    for kind in ("py", "ipynb"):
        top = [r for r in by_kind[kind] if r.lower() == f"exercise4.{kind}"]
        if top:
            return top[0], kind, ""
    for kind in ("py", "ipynb"):
        deeper = sorted((r for r in by_kind[kind] if r.lower().rsplit("/", 1)[-1] == f"exercise4.{kind}"), key=depth)
        if deeper:
            return deeper[0], kind, ""
    candidates = [(r, k) for k in ("py", "ipynb") for r in by_kind[k]]
    if not candidates:
        raise SubmissionRejected("The zip holds no code: neither exercise4.py nor a notebook (.ipynb) was found.",
                                 flag="no-code")
    if len(candidates) == 1:
        rel, kind = candidates[0]
        return rel, kind, f"The code was not named exercise4.{kind}; the only code file, {rel}, was graded."
    scored = []
    for rel, kind in candidates:
        count = _contract_count((files_dir / rel).read_bytes())
        scored.append(((count == 0, kind != "py", -count, *depth(rel)), rel, kind))
    scored.sort()
    _, rel, kind = scored[0]
    names = ", ".join(r for _, r, _ in scored)
    return rel, kind, (f"No file was named exercise4.py or exercise4.ipynb; of the candidates ({names}) {rel} was "
                       "graded, as the file that defines the exercise's names.")


def _contract_count(data: bytes) -> int:
    """How many of the module contract's names a .py or .ipynb file seems to define."""
    text = data[:CONTRACT_SCAN_BYTES].decode("utf-8", "replace")
    found = set()
    for name in CONTRACT_NAMES:
        if re.search(rf"\b(?:def|class)\s+{name}\b|\b{name}\s*(?::[^=\n]*)?=(?!=)", text):
            found.add(name)
    return len(found)


def _pdf_of(extracted: dict[str, str], files_dir: Path, code_text: str, flags: list[str],
            notes: list[str], limits: ZipLimits) -> PdfCheck:
    """Check the zip's PDFs against the code; flag a missing, invalid or mismatching PDF."""
    pdfs = sorted((r for r in extracted if r.lower().endswith(".pdf")), key=lambda r: (r.count("/"), r))
    if not pdfs:
        check = PdfCheck(False, False, None, "The zip holds no PDF of the code.")
        _flag(flags, notes, "pdf-missing", "The zip holds no PDF of the code, which the course requires.")
        return check
    # Each PDF costs a reader process (up to its time limit): a zip of many PDFs gets the first few read.
    checks = [(rel, check_pdf((files_dir / rel).read_bytes(), code_text, limits)) for rel in pdfs[:MAX_PDFS]]
    # The best of several PDFs counts: one that shows the code, else one that is readable.
    rel, check = min(checks, key=lambda rc: (rc[1].shows_code is not True, not rc[1].readable))
    if len(pdfs) > 1:
        notes.append(f"The zip holds {len(pdfs)} PDFs; {rel} was checked against the code.")
    if not check.checked:
        _flag(flags, notes, "pdf-unchecked", f"{rel}: {check.message}")
    elif not check.readable:
        _flag(flags, notes, "pdf-invalid", f"{rel}: {check.message}")
    elif check.shows_code is False:
        _flag(flags, notes, "pdf-mismatch", f"{rel}: {check.message}")
    return check
