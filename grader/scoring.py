"""Results of grading one submission, and the pure translation of pytest's JSON report into them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from grader.config import Rubric, top_task

Status = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class Figure:
    """A picture for the report, drawn from the student's own functions."""

    name: str
    """File name inside the submission's output folder, e.g. `accuracy.png`."""
    title: str
    """Caption, in the exercise's words."""
    task: str
    """Task number it belongs to, e.g. "3.3"."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one automatic check."""

    id: str
    """The check's test function name, also its key in the rubric."""
    task: str
    """Task number such as "3.2"."""
    title: str
    """What the check awards points for, in the exercise's words."""
    points: float
    """Points awarded."""
    max_points: float
    """Points available."""
    status: Status
    """passed, failed (the submission is wrong) or error (the check could not run its code)."""
    message: str
    """For the student: what was expected and what came back; empty when passed."""
    duration_s: float = 0.0
    """Seconds the check took."""
    reading: str = ""
    """For a passed check that accepts several correct readings: the one it recognised."""
    malformed: bool = False
    """Failed because the worker's reply did not have the shape the grader's probes send (flagged for the TA)."""


@dataclass(frozen=True)
class ManualItem:
    """A written answer waiting for a TA's points."""

    id: str
    """Question id, the key in the student's `ANSWERS`."""
    task: str
    question: str
    max_points: float
    answer: str
    """The student's text, as submitted (escaped when shown)."""
    points: float | None = None
    """Points a TA gave, None until graded by hand."""
    comment: str = ""


@dataclass(frozen=True)
class Student:
    """Who a submission belongs to, as read from its file name."""

    surname: str
    matriculation: str


@dataclass(frozen=True)
class GradingResult:
    """Everything known about one graded (or rejected) submission."""

    stem: str
    """The zip's file name without `.zip`: the name of its output folder."""
    student: Student | None
    """None when the file name does not follow the convention."""
    graded: bool
    """False when the submission was rejected before any check ran."""
    verdict: str
    """One sentence for the student: graded, or why not."""
    checks: tuple[CheckResult, ...] = ()
    manual: tuple[ManualItem, ...] = ()
    flags: tuple[str, ...] = ()
    """Machine-readable remarks: `naming`, `pdf-missing`, `pdf-mismatch`, `sandbox-fallback`, …"""
    notes: tuple[str, ...] = ()
    """Sentences for the student and TA that go with the flags."""
    figures: tuple[Figure, ...] = ()
    seed: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    task_titles: dict[str, str] = field(default_factory=dict)
    task_max: dict[str, float] = field(default_factory=dict)
    """Maximum points per top-level task, automatic and manual together."""
    sandbox: str = ""
    """How the student's code was isolated, e.g. `bubblewrap` or `rlimits only`."""
    code_file: str = ""
    """The submitted file that was graded."""
    time_limit_s: float | None = None
    """The `--time-limit` the run reached, leaving checks out; None when every check was run."""

    @property
    def score(self) -> float:
        """Automatic points plus the manual points given so far."""
        return sum(c.points for c in self.checks) + sum(m.points or 0.0 for m in self.manual)

    @property
    def max_score(self) -> float:
        return sum(self.task_max.values())

    def task_totals(self) -> dict[str, float]:
        """Points per top-level task."""
        totals = {t: 0.0 for t in self.task_max}
        for item in self.checks:
            totals[top_task(item.task)] = totals.get(top_task(item.task), 0.0) + item.points
        for m in self.manual:
            totals[top_task(m.task)] = totals.get(top_task(m.task), 0.0) + (m.points or 0.0)
        return totals


def checks_from_report(report: dict[str, Any], rubric: Rubric) -> list[CheckResult]:
    """Translate a pytest-json-report dict into check results; checks that never ran fail.

    The feedback text comes from the `feedback` metadata our check plugin attaches; a crash of
    the check itself (no feedback) is reported without its traceback, which would show the
    hidden check's source.
    """
    seen: dict[str, dict[str, Any]] = {}
    for test in report.get("tests", []):
        name = test["nodeid"].rsplit("::", 1)[-1].split("[", 1)[0]
        seen[name] = test
    results: list[CheckResult] = []
    for cid, item in rubric.checks.items():
        test = seen.get(cid)
        if test is None:
            results.append(CheckResult(cid, item.task, item.title, 0.0, item.points, "error",
                                       "This check did not run (the grading run ended before it)."))
            continue
        results.append(check_from_test(test, item.id, item.task, item.title, item.points))
    return results


def check_from_test(test: dict[str, Any], cid: str, task: str, title: str, max_points: float) -> CheckResult:
    """One pytest-json-report test entry as a check result."""
    meta = test.get("metadata") or {}
    outcome = test.get("outcome")
    duration = sum(float((test.get(phase) or {}).get("duration", 0.0)) for phase in ("setup", "call", "teardown"))
    if outcome == "passed":
        return CheckResult(cid, task, title, max_points, max_points, "passed", "", duration,
                           str(meta.get("recognised") or ""))
    feedback = meta.get("feedback")
    if feedback:
        status: Status = "error" if meta.get("kind") == "worker" else "failed"
        return CheckResult(cid, task, title, 0.0, max_points, status, str(feedback), duration,
                           malformed=meta.get("kind") == "malformed")
    return CheckResult(cid, task, title, 0.0, max_points, "error",
                       "The check could not be completed (an internal error of the grader; "
                       "a TA has been told in the run log).", duration)
