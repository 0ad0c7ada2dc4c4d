"""A grading result as Gradescope's results.json, as a self-contained HTML report, and as a terminal summary."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

import grader
from grader import flags
from grader.outfiles import PNG_SIGNATURE
from grader.config import top_task
from grader.scoring import CheckResult, Figure, GradingResult, ManualItem, Student

SCHEMA = 1
"""Version of our `extra_data` layout; bump it when a cached results.json can no longer be read back."""

RESULTS_NAME = "results.json"
REPORT_NAME = "report.html"
RESULTS_CAP = 4 * 1024 * 1024
"""Largest results.json written (bytes); texts are cut further until it fits."""
REPORT_CAP = 16 * 1024 * 1024
"""Largest report.html written (bytes, figures embedded); texts are cut, then figures left out, until it fits."""
TEXT_STEPS = (20_000, 2_000, 200)
"""Characters each text of a result is cut to, in turn, while an output file is over its cap."""
MAX_NOTES = 200

# Gradescope knows only passed and failed; our "error" (the check could not run the student's
# code) is shown as failed there and kept in extra_data so nothing is lost on the way back.
_GRADESCOPE_STATUS = {"passed": "passed", "failed": "failed", "error": "failed"}
_STATUS_VIEW = {
    "passed": ("✓", "passed", "passed"),
    "failed": ("✗", "failed", "failed"),
    "error": ("!", "error", "could not run"),
}


# --- results.json ------------------------------------------------------------------------


def result_to_json(result: GradingResult) -> dict[str, Any]:
    """The result in Gradescope's results.json schema, with everything else in `extra_data`."""
    totals = result.task_totals()
    return {
        "score": float(result.score),
        "output": result.verdict,
        # "text" keeps the line breaks and alignment of expected-vs-got messages.
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "tests": [_check_to_json(c) for c in result.checks],
        "extra_data": {
            "schema": SCHEMA,
            "grader_version": grader.__version__,
            "stem": result.stem,
            "student": None if result.student is None else {
                "surname": result.student.surname,
                "matriculation": result.student.matriculation,
            },
            "graded": result.graded,
            "verdict": result.verdict,
            "flags": list(result.flags),
            "notes": list(result.notes),
            "max_score": float(result.max_score),
            "tasks": [
                {
                    "number": number,
                    # None marks a task the result has no title or maximum for, so that reading
                    # back does not invent one.
                    "title": result.task_titles.get(number),
                    "score": float(totals.get(number, 0.0)),
                    "max_score": None if number not in result.task_max else float(result.task_max[number]),
                }
                for number in _task_numbers(result)
            ],
            "manual": [_manual_to_json(m) for m in result.manual],
            "figures": [{"name": f.name, "title": f.title, "task": f.task} for f in result.figures],
            "seed": result.seed,
            # A speed the student's process reported may be inf or NaN; strict JSON has no such numbers.
            "timings": {k: float(v) for k, v in result.timings.items() if math.isfinite(float(v))},
            "sandbox": result.sandbox,
            "code_file": result.code_file,
            "time_limit_s": result.time_limit_s,
        },
    }


def result_from_json(data: dict[str, Any]) -> GradingResult:
    """The GradingResult a `result_to_json` dict was made from (for resuming from cached results)."""
    extra = data["extra_data"]
    if extra.get("schema") != SCHEMA:
        raise ValueError(f"results.json has schema {extra.get('schema')!r}, this grader reads schema {SCHEMA}.")
    student = extra.get("student")
    tasks = extra.get("tasks", [])
    return GradingResult(
        stem=extra["stem"],
        student=None if student is None else Student(student["surname"], student["matriculation"]),
        graded=bool(extra["graded"]),
        verdict=extra["verdict"],
        checks=tuple(_check_from_json(t) for t in data.get("tests", [])),
        manual=tuple(_manual_from_json(m) for m in extra.get("manual", [])),
        flags=tuple(extra.get("flags", [])),
        notes=tuple(extra.get("notes", [])),
        figures=tuple(Figure(f["name"], f["title"], f["task"]) for f in extra.get("figures", [])),
        seed=int(extra.get("seed", 0)),
        timings={k: float(v) for k, v in extra.get("timings", {}).items()},
        time_limit_s=None if extra.get("time_limit_s") is None else float(extra["time_limit_s"]),
        task_titles={t["number"]: t["title"] for t in tasks if t.get("title") is not None},
        task_max={t["number"]: float(t["max_score"]) for t in tasks if t.get("max_score") is not None},
        sandbox=extra.get("sandbox", ""),
        code_file=extra.get("code_file", ""),
    )


def _check_to_json(check: CheckResult) -> dict[str, Any]:
    return {
        "name": check.title,
        "number": check.task,
        "score": float(check.points),
        "max_score": float(check.max_points),
        "status": _GRADESCOPE_STATUS.get(check.status, "failed"),
        "output": check.message or check.reading,
        "visibility": "visible",
        "extra_data": {"id": check.id, "status": check.status, "duration_s": float(check.duration_s),
                       "reading": check.reading},
    }


def _check_from_json(test: dict[str, Any]) -> CheckResult:
    extra = test.get("extra_data", {})
    return CheckResult(
        id=extra["id"],
        task=str(test["number"]),
        title=test["name"],
        points=float(test["score"]),
        max_points=float(test["max_score"]),
        status=extra.get("status", test["status"]),
        message="" if extra.get("status", test["status"]) == "passed" else test.get("output", ""),
        duration_s=float(extra.get("duration_s", 0.0)),
        reading=str(extra.get("reading", "")),
    )


def _manual_to_json(item: ManualItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "task": item.task,
        "question": item.question,
        "max_points": float(item.max_points),
        "points": None if item.points is None else float(item.points),
        "answer": item.answer,
        "comment": item.comment,
    }


def _manual_from_json(item: dict[str, Any]) -> ManualItem:
    return ManualItem(
        id=item["id"],
        task=str(item["task"]),
        question=item["question"],
        max_points=float(item["max_points"]),
        answer=item["answer"],
        points=None if item.get("points") is None else float(item["points"]),
        comment=item.get("comment", ""),
    )


# --- files --------------------------------------------------------------------------------


def render_files(result: GradingResult, folder: Path) -> tuple[str, str]:
    """The report's HTML and results.json's text for a result whose figures lie in `folder`, each under its cap."""
    return _fitted(result, _read_figures(result.figures, folder))


def _fitted(result: GradingResult, figures: dict[str, bytes]) -> tuple[str, str]:
    """The report's HTML and results.json's text, texts cut (then figures left out) until each is under its cap."""
    def render(res: GradingResult, figs: dict[str, bytes]) -> tuple[str, str]:
        text = json.dumps(result_to_json(res), ensure_ascii=False, indent=2, allow_nan=False) + "\n"
        return render_report(res, figs), text

    def fits(html: str, text: str) -> bool:
        return len(html.encode("utf-8")) <= REPORT_CAP and len(text.encode("utf-8")) <= RESULTS_CAP

    html, text = render(result, figures)
    for limit in TEXT_STEPS:
        if fits(html, text):
            return html, text
        html, text = render(_shortened(result, limit), figures)
    if not fits(html, text):
        html, text = render(_shortened(result, TEXT_STEPS[-1], figures_left_out=True), {})
    return html, text


def _shortened(result: GradingResult, limit: int, figures_left_out: bool = False) -> GradingResult:
    """The result with each student-facing text cut to `limit` characters and at most MAX_NOTES notes, saying so."""
    def cut(text: str) -> str:
        return text if len(text) <= limit else f"{text[:limit]}… (cut: {len(text) - limit} characters more)"

    notes = [cut(n) for n in result.notes[:MAX_NOTES]]
    if len(result.notes) > MAX_NOTES:
        notes.append(f"… and {len(result.notes) - MAX_NOTES} more notes left out.")
    notes.append(f"Texts of this result were cut to {limit} characters to keep results.json under "
                 f"{RESULTS_CAP >> 20} MiB and report.html under {REPORT_CAP >> 20} MiB"
                 + (", and its figures were left out of the report." if figures_left_out else "."))
    return replace(
        result, verdict=cut(result.verdict), notes=tuple(notes), flags=tuple(cut(f)[:100] for f in result.flags[:50]),
        checks=tuple(replace(c, message=cut(c.message), reading=cut(c.reading)) for c in result.checks),
        manual=tuple(replace(m, answer=cut(m.answer), comment=cut(m.comment)) for m in result.manual),
        figures=() if figures_left_out else result.figures)


def _read_figures(figures: tuple[Figure, ...], folder: Path) -> dict[str, bytes]:
    """The bytes of each named figure that is a PNG file directly inside `folder`."""
    found: dict[str, bytes] = {}
    for fig in figures:
        # A figure name is a bare file name; anything with a path in it is not read.
        if not fig.name or Path(fig.name).name != fig.name or fig.name in (".", ".."):
            continue
        try:
            data = (folder / fig.name).read_bytes()
        except OSError:
            continue
        if _is_png(data):
            found[fig.name] = data
    return found


def _is_png(data: bytes) -> bool:
    return data[: len(PNG_SIGNATURE)] == PNG_SIGNATURE


# --- HTML ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one jinja2 environment of every HTML page: package templates, autoescaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml", "j2"),
                                            default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pts"] = format_points
    env.filters["href"] = relative_href
    env.filters["anchor"] = anchor
    env.filters["flag_meaning"] = flags.meaning
    env.tests["severe_flag"] = flags.severe
    return env


def anchor(name: str) -> str:
    """An HTML id for a name (a folder, a question): percent-encoded, so never whitespace, never empty."""
    return "a-" + quote(name, safe="")


def relative_href(path: str) -> str:
    """A relative URL for a path of our outputs: every segment percent-encoded, so never a scheme, host or query.

    A folder named after a zip such as ``javascript:alert(1)`` becomes ``javascript%3Aalert%281%29``
    (#15): a browser reads it as a file next to the page, not as a script.
    """
    return "/".join(quote(part, safe="") for part in path.split("/"))


def render_report(result: GradingResult, figures: dict[str, bytes]) -> str:
    """The self-contained HTML report; `figures` maps figure names to their PNG bytes."""
    totals = result.task_totals()
    tasks = []
    for number in _task_numbers(result):
        checks = [_check_view(c) for c in result.checks if top_task(c.task) == number]
        manual = [m for m in result.manual if top_task(m.task) == number]
        figs = [_figure_view(f, figures) for f in result.figures if top_task(f.task) == number]
        tasks.append({
            "number": number,
            "title": result.task_titles.get(number, ""),
            "score": totals.get(number, 0.0),
            "max_score": result.task_max.get(number),
            "points_text": task_points_text(result, number),
            "checks": checks,
            "passed": sum(1 for c in checks if c["status"] == "passed"),
            "manual": manual,
            "figures": figs,
        })
    pending = [m for m in result.manual if m.points is None]
    return environment().get_template("report.html.j2").render(
        r=result,
        tasks=tasks,
        score=result.score,
        max_score=result.max_score,
        pending_points=sum(m.max_points for m in pending),
        pending_count=len(pending),
        timings=timing_texts(result.timings),
        version=grader.__version__,
    )


def task_points_text(result: GradingResult, number: str) -> str:
    """A task's points as they stand: "9 / 9 automatic, 3 points of written answers pending"."""
    checks = [c for c in result.checks if top_task(c.task) == number]
    manual = [m for m in result.manual if top_task(m.task) == number]
    parts = []
    if checks:
        parts.append(f"{format_points(sum(c.points for c in checks))} / "
                     f"{format_points(sum(c.max_points for c in checks))} automatic")
    graded = [m for m in manual if m.points is not None]
    if graded:
        parts.append(f"{format_points(sum(m.points or 0.0 for m in graded))} / "
                     f"{format_points(sum(m.max_points for m in graded))} written")
    pending = sum(m.max_points for m in manual if m.points is None)
    if pending:
        parts.append(f"{format_points(pending)} point{'s' if pending != 1 else ''} of written answers pending")
    return ", ".join(parts) or f"{format_points(result.task_totals().get(number, 0.0))} / " \
                                f"{format_points(result.task_max.get(number))}"


TIMING_NAMES = {"intake": "reading the zip", "setup": "the grader's set-up", "worker_start": "starting your code",
                "checks": "all checks", "report": "writing the report", "total": "in all"}
RATE_NAMES = {"images_per_s:grader_trains_net": "the grader's Adam steps on your Net",
              "images_per_s:student_train": "your train() on the grader's data"}


def timing_texts(timings: dict[str, float]) -> list[str]:
    """Each timing as words a person reads: seconds as seconds, training speeds as images per second."""
    out = []
    for name, value in timings.items():
        if name.startswith("images_per_s:"):
            out.append(f"{RATE_NAMES.get(name, name.split(':', 1)[1])}: {value:,.0f} images/s")
        elif name.startswith("task") and name[4:].isdigit():
            out.append(f"Task {name[4:]} {value:.1f} s")
        else:
            out.append(f"{TIMING_NAMES.get(name, name)} {value:.1f} s")
    return out


def _check_view(check: CheckResult) -> dict[str, Any]:
    icon, css, label = _STATUS_VIEW.get(check.status, _STATUS_VIEW["error"])
    return {"c": check, "icon": icon, "css": css, "label": label, "status": check.status}


def _figure_view(fig: Figure, figures: dict[str, bytes]) -> dict[str, Any]:
    data = figures.get(fig.name)
    uri = None
    if data is not None and _is_png(data):
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return {"f": fig, "uri": uri}


def _task_numbers(result: GradingResult) -> list[str]:
    """Top-level task numbers in numeric order: those with a maximum, a title, or anything graded."""
    numbers = set(result.task_max) | set(result.task_titles)
    numbers |= {top_task(c.task) for c in result.checks}
    numbers |= {top_task(m.task) for m in result.manual}
    numbers |= {top_task(f.task) for f in result.figures}
    return sorted(numbers, key=_number_key)


def _number_key(number: str) -> tuple[tuple[int, int | str], ...]:
    # "10" after "9", and a non-numeric part still sorts somewhere instead of crashing.
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in number.split("."))


def format_points(value: float | None) -> str:
    """Points as a person writes them: 2, 0.5, 1.25."""
    if value is None:
        return "–"
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# --- text: the verdict, the terminal, Moodle's feedback comment ------------------------------


def verdict_text(checks: list[CheckResult], manual: tuple[ManualItem, ...], import_failed: bool = False,
                 time_limit_s: float | None = None) -> str:
    """One sentence on the outcome; `time_limit_s` when the run reached that limit and left checks out."""
    auto = sum(c.points for c in checks)
    auto_max = sum(c.max_points for c in checks)
    passed = sum(c.status == "passed" for c in checks)
    text = f"Graded: {auto:g} of {auto_max:g} automatic points ({passed} of {len(checks)} checks passed)"
    if import_failed:
        text += "; your module could not be imported, so no check could run"
    if time_limit_s is not None:
        text += f"; grading reached its time limit of {time_limit_s:g} s, so the remaining checks were not run"
    waiting = [m for m in manual if m.points is None]
    if waiting:
        text += f"; {len(waiting)} written answers ({sum(m.max_points for m in waiting):g} points) await a TA"
    return text + "."


def feedback_lines(result: GradingResult) -> list[str]:
    """The feedback comment for Moodle, as plain lines: total, tasks, verdict, TA comments, the report."""
    lines = [f"Exercise 4: {format_points(result.score)} of {format_points(result.max_score)} points."]
    if result.graded:
        totals = result.task_totals()
        lines.append("; ".join(f"Task {n}: {format_points(totals.get(n, 0.0))}/{format_points(m)}"
                               for n, m in result.task_max.items()))
    lines.append(result.verdict)
    lines.extend(f"{m.id}: {m.comment}" for m in result.manual if m.comment)
    lines.append("Details: the attached report.html.")
    return lines




def summary_lines(result: GradingResult) -> list[str]:
    """A few plain-text lines for the terminal: stem, verdict, points per task, total."""
    lines = [f"{result.stem}: {result.verdict}"]
    if result.graded:
        numbers = _task_numbers(result)
        width = max((len(result.task_titles.get(n, "")) for n in numbers), default=0)
        for number in numbers:
            title = result.task_titles.get(number, "")
            failed = sum(1 for c in result.checks if top_task(c.task) == number and c.status != "passed")
            remark = f"  ({failed} check{'s' if failed != 1 else ''} not passed)" if failed else ""
            lines.append(f"  Task {number:<2} {title:<{width}}  {task_points_text(result, number)}{remark}")
    pending = sum(m.max_points for m in result.manual if m.points is None)
    lines.append(f"  Total: {format_points(result.score)} / {format_points(result.max_score)}"
                 + (f", {format_points(pending)} point{'s' if pending != 1 else ''} of written answers pending"
                    if pending else ""))
    for flag in result.flags:
        lines.append(f"  flag: {flag}")
    return lines
