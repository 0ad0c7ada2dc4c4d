"""The one writer of output files: atomic writes (a reader sees the old file or the new one) and each submission's folder and log."""

from __future__ import annotations

import contextlib
import re
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.scoring import GradingResult


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` by `data` (text is written as UTF-8) via a synced temp file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file readable by its owner only; outputs are handed to others.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable where the platform allows syncing a directory."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the output folder
# Everything written into OUT/<stem>/ (the student's folder) and OUT/.logs/ goes through here.

LOG_CAP = 4 * 1024 * 1024
"""Largest TA log written (bytes): its first and last halves, with a line saying what was left out."""

MAX_FIGURE_BYTES = 8 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_LOG_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


MAX_NAME_BYTES = 160


def output_name(stem: str) -> str:
    """The zip's stem as a safe folder name: never empty, no control characters, separators or dots.

    Every file the grader writes next to the students' folders has a dot in its name (``grades.csv``,
    ``index.html``, ``overrides.csv``, ``.logs``, ``.cache``, a temporary ``.x.tmp``; ``grader review``'s
    ``rubric_items.json`` and ``overrides.csv.lock``) or is a reserved folder (``questions``, ``moodle``,
    ``similarity``: see ``grader.batch.plan.RESERVED``), so a dot-free name can never be
    one of them, whatever the zip is called (#15: ``grades.csv.zip`` broke every run).
    Valid submission names (``Surname-123456``) hold no dot and keep their name.
    """
    name = re.sub(r"[\x00-\x1f\x7f-\x9f/\\.]", "_", stem).strip()
    # A file name has at most 255 bytes; room is left for "_<participant id>" and ".log".
    name = name.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore").strip()
    return name or "_"


def folder_name(zip_name: str) -> str:
    """The output folder of a zip: its name without ``.zip``, made safe by `output_name`."""
    return output_name(zip_name[:-4] if zip_name.lower().endswith(".zip") else zip_name)


def student_folder(out_dir: Path, stem: str) -> Path:
    """The folder of one submission's outputs (`stem` is already a safe name: `folder_name`)."""
    return Path(out_dir) / stem


def clear_figures(folder: Path) -> None:
    """Remove the pictures a previous grading of this submission left, before its checks draw new ones."""
    for old in folder.glob("*.png") if folder.exists() else []:
        old.unlink()


def save_figure(folder: Path, name: str, png: bytes) -> bool:
    """Write one PNG of the report; only a real PNG of sane size is written (a student's figure is their bytes)."""
    if not png.startswith(PNG_SIGNATURE) or len(png) > MAX_FIGURE_BYTES:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(png)
    return True


def write_outputs(result: GradingResult, out_dir: Path) -> Path:
    """Write `<out_dir>/<stem>/results.json` and `report.html` atomically; return that folder."""
    from grader.report import REPORT_NAME, RESULTS_NAME, render_files

    folder = student_folder(out_dir, result.stem)
    folder.mkdir(parents=True, exist_ok=True)
    # Render before writing anything, so a template failure cannot leave a results.json whose
    # report is missing.
    html, text = render_files(result, folder)
    write_atomic(folder / RESULTS_NAME, text)
    write_atomic(folder / REPORT_NAME, html)
    return folder


def log_text(text: str) -> str:
    """Text for the TA's log with every control character but newline and tab shown as an escape (``\\x1b``).

    What a student's code prints reaches the log; raw, an ANSI sequence would act on the TA's terminal.
    """
    return _LOG_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def save_log(out_dir: Path, stem: str, text: str) -> None:
    """The TA's log of one grading run: pytest's output and the worker's; kept apart from the student's folder."""
    logs = Path(out_dir) / ".logs"
    logs.mkdir(parents=True, exist_ok=True)
    data = log_text(text).encode("utf-8", errors="replace")
    if len(data) > LOG_CAP:
        half = LOG_CAP // 2 - 100
        note = f"\n[… {len(data) - 2 * half} bytes of this log left out: it is capped at {LOG_CAP >> 20} MiB …]\n"
        # Cut on character boundaries: the log stays valid UTF-8.
        data = (data[:half].decode("utf-8", "ignore") + note + data[-half:].decode("utf-8", "ignore")).encode()
    (logs / f"{stem}.log").write_bytes(data)
