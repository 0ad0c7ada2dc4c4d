"""The batch's HTML pages: the index of every submission and one page per written question."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


import grader
from grader.config import Rubric, RubricQuestion
from grader.report import environment
from grader.scoring import GradingResult

HISTOGRAM_WIDTH = 640
HISTOGRAM_HEIGHT = 160
MAX_BINS = 40


@dataclass(frozen=True)
class IndexRow:
    """One submission as the batch pages show it."""

    folder: str
    result: GradingResult
    participant_id: str | None
    moodle_name: str | None
    counts: bool
    status: str


def question_file(question_id: str) -> str:
    """The page of a written question, relative to the batch folder."""
    return "questions/" + re.sub(r"[^A-Za-z0-9._-]", "_", question_id).lstrip(".") + ".html"


def histogram(rows: list[IndexRow]) -> dict[str, Any]:
    """Bars of the totals of the counting, graded submissions, for an inline SVG."""
    totals = [r.result.score for r in rows if r.counts and r.result.graded]
    top = max([r.result.max_score for r in rows] + totals + [1.0])
    width = max(1, math.ceil(top / MAX_BINS))
    bins = [0] * (int(top // width) + 1)
    for total in totals:
        bins[min(len(bins) - 1, int(max(total, 0) // width))] += 1
    peak = max(bins + [1])
    bar = HISTOGRAM_WIDTH / len(bins)
    bars = [{"x": round(i * bar, 2), "w": round(max(bar - 2, 1), 2), "h": round(HISTOGRAM_HEIGHT * n / peak, 2),
             "y": round(HISTOGRAM_HEIGHT - HISTOGRAM_HEIGHT * n / peak, 2), "n": n,
             "label": f"{i * width:g}" if width == 1 else f"{i * width:g}–{(i + 1) * width - 1:g}"}
            for i, n in enumerate(bins)]
    return {"bars": bars, "width": HISTOGRAM_WIDTH, "height": HISTOGRAM_HEIGHT, "count": len(totals),
            "mean": sum(totals) / len(totals) if totals else None, "bin": width,
            "ticks": [b for i, b in enumerate(bars) if i % max(1, len(bars) // 10) == 0]}


def pass_rates(rows: list[IndexRow]) -> list[dict[str, Any]]:
    """Per check: how many of the counting, graded submissions passed it; the most failed first."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not (row.counts and row.result.graded):
            continue
        for check in row.result.checks:
            entry = seen.setdefault(check.id, {"id": check.id, "task": check.task, "title": check.title,
                                               "passed": 0, "failed": 0, "error": 0})
            entry[check.status if check.status in ("passed", "failed", "error") else "error"] += 1
    for entry in seen.values():
        entry["n"] = entry["passed"] + entry["failed"] + entry["error"]
        entry["rate"] = entry["passed"] / entry["n"] if entry["n"] else 0.0
    return sorted(seen.values(), key=lambda e: (e["rate"], e["task"], e["id"]))


def render_index(rows: list[IndexRow], rubric: Rubric, notices: list[str] | None = None,
                 closest: dict[str, dict[str, Any]] | None = None) -> str:
    """index.html: the sortable table of everyone, the histogram of totals, pass rates, links.

    `closest` (folder: other, score, page) fills the "Most similar" column; without it the column is left out.

    `notices` are sentences a TA must read before uploading grades (several students on one matriculation
    number, a zip found under another participant's name); they head the page.
    """
    tasks = list(rubric.tasks)
    table = []
    for row in rows:
        r = row.result
        totals = r.task_totals()
        table.append({"row": row, "r": r, "totals": [totals.get(t, 0.0) for t in tasks],
                      "pending": sum(1 for m in r.manual if m.points is None)})
    questions = [{"q": q, "file": question_file(q.id),
                  "pending": sum(1 for row in rows if row.counts for m in row.result.manual
                                 if m.id == q.id and m.points is None)}
                 for q in rubric.questions.values()]
    counting = [row for row in rows if row.counts]
    return environment().get_template("index.html.j2").render(
        table=table, tasks=tasks, titles=rubric.tasks, histogram=histogram(rows), checks=pass_rates(rows),
        questions=questions, total=len(rows), counting=len(counting), notices=list(notices or []),
        graded=sum(1 for row in counting if row.result.graded), version=grader.__version__,
        closest=closest)


def render_question(question: RubricQuestion, rows: list[IndexRow]) -> str:
    """A written question's page: every student's answer side by side, with points given so far."""
    answers: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (not r.counts, r.folder.casefold())):
        item = next((m for m in row.result.manual if m.id == question.id), None)
        if item is None:
            continue
        answers.append({"row": row, "m": item})
    return environment().get_template("question.html.j2").render(
        q=question, answers=answers, pending=sum(1 for a in answers if a["row"].counts and a["m"].points is None),
        version=grader.__version__)
