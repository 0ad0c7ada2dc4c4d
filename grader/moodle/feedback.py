"""Feedback for Moodle: the comment text of the worksheet, and the zip for "Upload multiple feedback files in a zip"."""

from __future__ import annotations

import html
import os
import tempfile
import zipfile
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


