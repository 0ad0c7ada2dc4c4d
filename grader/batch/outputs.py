"""The batch's outputs in OUT: each result published to its folder, grades.csv, batch.json, the pages, Moodle's files.

Results are published from the cache with the overrides and the batch's flags merged in, so what
OUT holds is rebuilt the same way on every run, however its results were graded.
"""

from __future__ import annotations

import csv
import json
import io
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grader
from grader.batch.cache import cached_result, write_json
from grader.batch.plan import Item
from grader.errors import GraderError
from grader.flags import Flag
from grader.outfiles import write_atomic
from grader.report import feedback_lines
from grader.scoring import GradingResult

RUN_FAILED = frozenset({Flag.GRADER_ERROR, Flag.TIMEOUT})
"""Flags of a result whose grading run failed: not sent to Moodle, its worksheet row left as it was."""


@dataclass(frozen=True)
class Entry:
    """One submission in the finished batch."""

    item: Item
    result: GradingResult
    """With overrides and the batch's flags merged in."""
    status: str
    """How its grading ended: `graded`, `crashed`, `timeout`, or `no-zip` (nothing to grade)."""
    cached: bool = False
    """Taken from the cache rather than graded in this run."""


def publish(item: Item, cache: Path, out: Path, manual: list[Any], rubric: Any) -> tuple[GradingResult, str]:
    """Copy a cached result into OUT/<slot>/ with the overrides and the batch's flags merged in."""
    from grader.overrides import apply_overrides, matching
    from grader.outfiles import write_outputs

    cached = cached_result(cache, item.key)
    if cached is None:
        raise GraderError(f"The cached result of {item.found.source} is missing from {cache}; rerun the batch.")
    raw, status, source = cached
    stem = source.name
    result = apply_overrides(raw, matching(manual, override_names(item, raw)))
    result = replace(result, stem=item.slot, flags=tuple(dict.fromkeys((*result.flags, *item.flags))),
                     notes=(*result.notes, *item.notes))
    dest = out / item.slot
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.png"):
        old.unlink()
    for fig in result.figures:
        if fig.name and Path(fig.name).name == fig.name and (source / fig.name).is_file():
            shutil.copyfile(source / fig.name, dest / fig.name)
    write_outputs(result, out)
    log = cache / item.key / ".logs" / f"{stem}.log"
    if log.is_file():
        from grader.outfiles import save_log

        save_log(out, item.slot, log.read_text(encoding="utf-8", errors="replace"))  # control characters escaped
    return result, status


def override_names(item: Item, result: GradingResult) -> set[str]:
    """What an overrides row may call this submission: folder, matriculation number, participant id."""
    names = {item.slot}
    # A number several students' zips carry says nothing about whose answer a row means (#15).
    if result.student is not None and Flag.MATRICULATION_SHARED not in item.flags:
        names.add(result.student.matriculation)
    if item.found.participant_id:
        names.add(item.found.participant_id)
    return names


def no_zip_result(item: Item, rubric: Any, out: Path) -> GradingResult:
    """The verdict of a participant who handed in files but no zip, written into OUT/<slot>/."""
    from grader.grading import rejected
    from grader.outfiles import write_outputs

    files = ", ".join(item.found.other_files) or "nothing"
    result = rejected(item.slot, f"no .zip file was handed in (found: {files}). Submissions are one zip named like "
                      "Mustermann-123456.zip.", Flag.NO_ZIP, rubric, flags=item.flags, notes=item.notes)
    write_outputs(result, out)
    return result


@dataclass(frozen=True)
class MoodleUpload:
    """The worksheet to fill, already checked as Moodle reads it (grader.moodle.upload), its language and scale."""

    sheet: Any
    language: str
    scale: Any


def write_term_outputs(entries: tuple[Entry, ...], out: Path, upload: MoodleUpload | None, manual: list[Any],
                       overrides_path: Path, rubric: Any, notices: list[str] | None = None,
                       max_zip_bytes: int | None = None, closest: dict[str, dict[str, Any]] | None = None
                       ) -> tuple[dict[str, Path], list[str], list[str]]:
    """grades.csv, batch.json, index.html, the question pages, and the Moodle files.

    `closest` is each student's most similar submission (:mod:`grader.similarity`), a column of index.html.

    Returns what was written, warnings, and the lines telling the TA how to upload to Moodle.
    """
    from grader import moodle, overrides as ov
    from grader.batch import pages
    from grader.moodle import upload as mu

    outputs: dict[str, Path] = {}
    warnings: list[str] = list(notices or ())
    moodle_lines: list[str] = []
    sheet = upload.sheet if upload is not None else None
    plan = None
    if upload is not None:
        sheet_rows = []
        for e in entries:
            pid = e.item.found.participant_id
            if not e.item.counts:
                continue
            if not pid:
                warnings.append(f"{e.item.slot}: no Moodle participant id, so it is not in the worksheet")
                continue
            failed = RUN_FAILED & set(e.result.flags)
            if failed:
                warnings.append(f"{e.item.slot}: the grader failed, its worksheet row was left as it was")
            sheet_rows.append(mu.Row(pid, e.item.slot, None if failed else e.result.score,
                                     None if failed else moodle.feedback_comment(feedback_lines(e.result))))
        plan = mu.fill(upload.sheet, sheet_rows, upload.scale, upload.language)
        moodle_lines = plan.lines()
        warnings.extend(plan.warnings())
    write_atomic(out / "grades.csv", grades_csv(entries, plan.written if plan else None,
                                                plan.scale.text() if plan else "").encode("utf-8"))
    outputs["grades"] = out / "grades.csv"
    write_json(out / "batch.json", {"grader_version": grader.__version__, "submissions": [{
        "folder": e.item.slot, "zip": e.item.found.name, "source": e.item.found.source,
        "participant_id": e.item.found.participant_id, "moodle_name": e.item.found.moodle_name,
        "counts": e.item.counts, "status": e.status, "key": e.item.key, "seed": e.item.seed,
        "zip_sha256": e.item.zip_sha256, "flags": list(e.result.flags),
        "zip_path": str(e.item.found.zip_path) if e.item.found.zip_path else None} for e in entries],
        "notices": list(notices or [])})
    rows = [pages.IndexRow(e.item.slot, e.result, e.item.found.participant_id, e.item.found.moodle_name,
                           e.item.counts, e.status) for e in entries]
    for question in rubric.questions.values():
        write_atomic(out / pages.question_file(question.id), pages.render_question(question, rows).encode("utf-8"))
    write_atomic(out / "index.html", pages.render_index(rows, rubric, notices or [], closest).encode("utf-8"))
    outputs["index"] = out / "index.html"
    created = ov.ensure_file(overrides_path)
    outputs["overrides (new, header only)" if created else "overrides"] = overrides_path
    known = set().union(*(override_names(e.item, e.result) for e in entries))
    for o in manual:
        if o.student not in known:
            warnings.append(f"{overrides_path}, line {o.line}: no submission is called {o.student!r}")

    # A report that only says "the grader failed" is not sent to the student.
    moodle_entries = [e for e in entries if e.item.counts and e.item.found.participant_id
                      and not RUN_FAILED & set(e.result.flags)]
    if moodle_entries:
        names = sheet.participants() if sheet is not None else {}
        zip_entries = [(str(names.get(e.item.found.participant_id, {}).get("full_name") or e.item.found.moodle_name or ""),
                        str(e.item.found.participant_id), out / e.item.slot / "report.html") for e in moodle_entries]
        zips = moodle.write_feedback_zips(out / "moodle" / "feedback-files.zip", zip_entries,
                                          max_zip_bytes or moodle.DEFAULT_MAX_ZIP_MB * 1024 * 1024)
        for number, path in enumerate(zips.paths, start=1):
            outputs["feedback zip" if len(zips.paths) == 1 else f"feedback zip {number} of {len(zips.paths)}"] = path
        if len(zips.paths) > 1:
            moodle_lines.append(f"Upload multiple feedback files in a zip: {len(zips.paths)} parts, one after the other "
                                f"(each under --max-zip-mb {(max_zip_bytes or 0) / 2**20:g}).")
        warnings.extend(zips.warnings)
    if upload is not None:
        outputs["worksheet"] = upload.sheet.write(out / "moodle" / upload.sheet.path.name)
    return outputs, warnings, moodle_lines


_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def rewrite_index(out: Path, rubric: Any, closest: dict[str, dict[str, Any]] | None) -> Path:
    """index.html again from what a finished batch wrote (batch.json, each folder's results.json), with `closest`."""
    from grader.batch import pages
    from grader.report import result_from_json

    try:
        data = json.loads((out / "batch.json").read_text(encoding="utf-8"))
        rows = [pages.IndexRow(str(s["folder"]), result_from_json(json.loads(
                    (out / str(s["folder"]) / "results.json").read_text(encoding="utf-8"))),
                    s.get("participant_id"), s.get("moodle_name"), bool(s["counts"]), str(s["status"]))
                for s in data["submissions"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GraderError(f"{out} does not hold a finished batch (batch.json and each student's results.json): "
                          f"{exc}. Run grader batch first.") from exc
    write_atomic(out / "index.html", pages.render_index(rows, rubric, list(data.get("notices", [])),
                                                        closest).encode("utf-8"))
    return out / "index.html"


def _cell(text: str) -> str:
    """A text cell that a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(_CSV_FORMULA) else text


def grades_csv(entries: tuple[Entry, ...], moodle_grades: dict[str, float] | None = None, scale: str = "") -> str:
    """grades.csv: one row per submission, superseded ones included (column `counts`).

    `moodle_grades` (participant id to grade) are the grades written into the worksheet, on its scale;
    `scale` says how they were made from the points (the same in every row).
    """
    from grader.report import format_points

    tasks: list[str] = []
    for e in entries:
        tasks.extend(t for t in e.result.task_max if t not in tasks)
    grades = moodle_grades or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["folder", "surname", "matriculation", "participant_id", "moodle_name", "zip", "counts",
                     *[f"task{t}" for t in tasks], "total", "max", "written_pending", "verdict", "flags", "seed",
                     "status", "report", "moodle_grade", "moodle_scale"])
    for e in entries:
        r = e.result
        totals = r.task_totals()
        writer.writerow([
            _cell(e.item.slot), _cell(r.student.surname if r.student else ""),
            r.student.matriculation if r.student else "", e.item.found.participant_id or "",
            _cell(e.item.found.moodle_name or ""), _cell(e.item.found.name), "yes" if e.item.counts else "no",
            *[format_points(totals.get(t, 0.0)) for t in tasks], format_points(r.score), format_points(r.max_score),
            sum(1 for m in r.manual if m.points is None), _cell(r.verdict), " ".join(r.flags), r.seed, e.status,
            _cell(f"{e.item.slot}/report.html"),
            format_points(grades[pid]) if (pid := e.item.found.participant_id or "") in grades and e.item.counts else "",
            scale if grades else ""])
    return buffer.getvalue()
