"""Feedback for Moodle: the comment text of the worksheet, and the zip for "Upload multiple feedback files in a zip"."""

from __future__ import annotations

import html
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from grader.moodle.download import FEEDBACK_FILE, feedback_folder


def feedback_comment(lines: list[str]) -> str:
    """Feedback comment text for Moodle, which stores it as HTML: each line escaped, lines joined by <br>.

    A backslash becomes ``&#92;`` (the same character in HTML): Moodle reads the worksheet with PHP's
    ``fgetcsv``, whose escape character ``\\`` would keep a following quote from closing or doubling,
    so ``\\"`` inside a quoted cell would come back corrupted (lib/csvlib.class.php).
    """
    return "<br>".join(html.escape(line, quote=False).replace("\\", "&#92;") for line in lines)


# --------------------------------------------------------------------------- feedback zip


DEFAULT_MAX_ZIP_MB = 100
"""Moodle's upload limit on many sites (the site's and course's "Maximum uploaded file size"); `--max-zip-mb`."""

ZIP_ENTRY_OVERHEAD = 200
"""Bytes a zip entry costs besides its compressed data (two headers holding its name, the central record)."""


@dataclass(frozen=True)
class FeedbackZips:
    """The feedback zip (or its parts) for Moodle, and what the TA must know about them."""

    paths: list[Path]
    warnings: list[str]


def write_feedback_zips(dest: Path, entries: list[tuple[str, str, Path]],
                        max_bytes: int = DEFAULT_MAX_ZIP_MB * 1024 * 1024) -> FeedbackZips:
    """Zips for "Upload multiple feedback files in a zip", each at most `max_bytes` and importable on its own.

    `entries` are (full name, participant id, report) each. One zip when all fit (`dest`), else parts named
    ``<stem>-1-of-N.zip`` …, each participant's report wholly in one part. Old parts of an earlier run go.
    """
    members: list[tuple[str, Path, int]] = []
    seen: set[str] = set()
    for full_name, pid, report in sorted(entries, key=lambda e: (e[1], e[0])):
        name = f"{feedback_folder(full_name, pid)}/{FEEDBACK_FILE}"
        if name in seen:
            continue
        seen.add(name)
        cost = len(zlib.compress(report.read_bytes(), 6)) + 2 * len(name.encode("utf-8")) + ZIP_ENTRY_OVERHEAD
        members.append((name, report, cost))
    parts: list[list[tuple[str, Path, int]]] = [[]]
    warnings = []
    for member in members:
        if parts[-1] and sum(m[2] for m in parts[-1]) + member[2] + 22 > max_bytes:
            parts.append([])
        if member[2] + 22 > max_bytes:
            warnings.append(f"{member[0]}: this report alone is {member[2] / 2**20:.1f} MB zipped, over --max-zip-mb "
                            f"({max_bytes / 2**20:g} MB); its part is larger than Moodle may accept")
        parts[-1].append(member)
    for old in dest.parent.glob(f"{dest.stem}-*-of-*.zip"):
        old.unlink()
    if len(parts) == 1:
        return FeedbackZips([_write_zip(dest, parts[0])], warnings)
    dest.unlink(missing_ok=True)
    paths = [_write_zip(dest.with_name(f"{dest.stem}-{i}-of-{len(parts)}.zip"), part)
             for i, part in enumerate(parts, start=1)]
    return FeedbackZips(paths, warnings)


def write_feedback_zip(dest: Path, entries: list[tuple[str, str, Path]]) -> Path:
    """One zip for "Upload multiple feedback files in a zip", whatever its size: (full name, participant id, report)."""
    return write_feedback_zips(dest, entries, max_bytes=2**62).paths[0]


def _write_zip(dest: Path, members: list[tuple[str, Path, int]]) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for name, report, _ in members:
                zf.write(report, name)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dest
