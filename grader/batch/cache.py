"""The batch's cache in OUT/.cache: keys, the settings as JSON and their hash, finished results and their markers.

A submission's raw result lives in ``OUT/.cache/<key>/`` and counts as done once the marker
``OUT/.cache/<key>.json`` exists, written last by :func:`record_result` however the grading ran.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
import tomllib
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grader
from grader.batch.status import RunStatus
from grader.config import CHECKS_DIR, Settings
from grader.errors import SubmissionRejected
from grader.flags import Flag
from grader.outfiles import write_atomic
from grader.scoring import GradingResult

if TYPE_CHECKING:
    from grader.batch.plan import Item

CACHE = ".cache"
"""The cache's folder in OUT."""


class JobFailed(Exception):
    """The grading of one submission died, hung or wrote nothing; its message goes into the crash verdict's log."""


def write_json(path: Path, data: Any) -> None:
    """Strict JSON (no NaN or Infinity, which other readers reject), written atomically."""
    write_atomic(path, (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------- settings


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """Settings as plain JSON (paths as strings), for the child process."""
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(settings)


def settings_from_json(data: dict[str, Any]) -> Settings:
    """The Settings `settings_to_json` made; unknown keys are ignored, missing ones keep their defaults."""
    base = Settings()
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name not in data:
            continue
        value, default = data[f.name], getattr(base, f.name)
        if value is None:
            changes[f.name] = None
        elif "Path" in str(f.type):
            changes[f.name] = Path(value)
        elif is_dataclass(default) and not isinstance(default, type):
            known = {g.name for g in fields(default)}
            changes[f.name] = replace(default, **{k: v for k, v in value.items() if k in known})
        elif isinstance(default, tuple):
            changes[f.name] = tuple(value)
        else:
            changes[f.name] = value
    return replace(base, **changes)


def grader_files_hash(settings: Settings) -> str:
    """A hash of the grader's files a grading uses: the rubric, the reference and the hidden checks."""
    digest = hashlib.sha256()
    for path in sorted([settings.rubric_path, settings.reference_path, *CHECKS_DIR.glob("*.py"),
                        *CHECKS_DIR.glob("*.ini")]):
        digest.update(path.name.encode())
        if path == settings.rubric_path:
            digest.update(_graded_rubric(path))
            continue
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _graded_rubric(path: Path) -> bytes:
    """The rubric as grading reads it, without the questions' default review items (`grader review`'s, which no
    result holds), so adding items before or during a term never regrades a zip; unreadable, its bytes."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        with contextlib.suppress(OSError):
            return path.read_bytes()
        return b""
    for question in raw.get("questions", {}).values():
        if isinstance(question, dict):
            question.pop("items", None)
    return json.dumps(raw, sort_keys=True, default=str).encode()


def settings_hash(settings: Settings) -> str:
    """A hash of every setting that changes a result (out_dir and seed excluded: the key adds the seed)."""
    data = settings_to_json(settings)
    data.pop("out_dir", None)
    data.pop("seed", None)
    data["data_dir"] = str(Path(settings.data_dir).resolve()) if settings.data_dir else None
    data["files"] = grader_files_hash(settings)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def cache_key(zip_sha256: str, zip_name: str, seed: int, settings_digest: str) -> str:
    """The cache key of one submission's grading."""
    text = json.dumps([zip_sha256, zip_name, seed, grader.__version__, settings_digest])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- results


def cached_result(cache: Path, key: str) -> tuple[GradingResult, str, Path] | None:
    """A finished, readable cached result, its status and folder; None when it must be graded."""
    from grader.report import result_from_json

    try:
        meta = json.loads((cache / f"{key}.json").read_text(encoding="utf-8"))
        folder = cache / key / str(meta["stem"])
        result = result_from_json(json.loads((folder / "results.json").read_text(encoding="utf-8")))
        return result, str(meta["status"]), folder
    except (OSError, ValueError, KeyError, TypeError):
        return None


def fresh_work(cache: Path, item: Item, settings: Settings) -> tuple[Path, Settings]:
    """An empty OUT/.cache/<key>/ to grade `item` into, and the settings of that grading (that folder, its seed)."""
    work = cache / item.key
    shutil.rmtree(work, ignore_errors=True)  # a run killed part way leaves half a folder
    work.mkdir(parents=True)
    return work, replace(settings, out_dir=work, seed=item.seed)


def record_result(item: Item, job_settings: Settings, cache: Path, status: str, failure: BaseException | None,
                  timeout_s: float, started: float) -> str:
    """Mark what a grading left in OUT/.cache/<key>/ done (a crash verdict when it left no result); returns its status.

    `started` is the ``time.perf_counter()`` at which its grading began.
    """
    from grader.outfiles import write_outputs

    stem = _result_stem(cache / item.key)
    if failure is None and stem is None:
        status, failure = RunStatus.CRASHED, JobFailed("The grading finished without writing results.json.")
    if failure is not None:
        result = _failure_result(item, job_settings, failure, status == RunStatus.TIMEOUT, timeout_s)
        shutil.rmtree(cache / item.key / result.stem, ignore_errors=True)
        write_outputs(result, cache / item.key)
        stem = result.stem
    write_json(cache / f"{item.key}.json", {
        "key": item.key, "stem": stem, "status": status, "zip_name": item.found.name, "zip_sha256": item.zip_sha256,
        "seed": item.seed, "grader_version": grader.__version__, "seconds": round(time.perf_counter() - started, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return status


def _result_stem(work: Path) -> str | None:
    """The folder a grading run wrote its results.json into."""
    found = sorted(p.parent.name for p in work.glob("*/results.json") if not p.parent.name.startswith("."))
    return found[0] if len(found) == 1 else None


def _failure_result(item: Item, settings: Settings, exc: BaseException, timed_out: bool,
                    timeout_s: float) -> GradingResult:
    """The crash verdict of a submission whose grading failed, with the student named when the file name allows."""
    from grader.grading import crash_result
    from grader.intake import parse_name

    assert item.found.zip_path is not None
    result = crash_result(item.found.zip_path, settings, exc)
    with contextlib.suppress(SubmissionRejected):
        result = replace(result, student=parse_name(item.found.name, settings.matriculation_digits))
    if timed_out:
        result = replace(result, flags=(*result.flags, Flag.TIMEOUT), notes=(
            *result.notes, f"Grading this submission took longer than the limit of {timeout_s:g} s and was stopped."))
    return replace(result, seed=item.seed)
