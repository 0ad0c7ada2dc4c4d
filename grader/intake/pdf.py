"""The submitted PDF: whether it is a readable PDF and whether its text shows the submitted code.

pypdf reads it in the limited child of :mod:`grader.intake.parsing` (:func:`pdf_text` is what runs
there); the grading process only compares the text that comes back (:func:`check_pdf`).
"""

from __future__ import annotations

import io
import logging
import unicodedata
import warnings
from dataclasses import dataclass

from grader.config import DEFAULT, ZipLimits
from grader.intake.notebook import short_text as _short
from grader.intake.parsing import ParseFailed, parse

PDF_MAX_PAGES = 200
PDF_MAX_TEXT = 5_000_000
PDF_LINE_MIN_CHARS = 12
PDF_LINE_KEY_CHARS = 48
PDF_MAX_LINES = 400
PDF_SHOWS_CODE_FRACTION = 0.5


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
    """Text of the first pages of a PDF, quietly (pypdf warns loudly about broken files); runs in the parsing child."""
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

