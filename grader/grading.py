"""Grading one submission end to end: intake, a grading session, the result assembled, its files written."""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import outfiles
from grader.config import Rubric, Settings, load_rubric
from grader.errors import GraderError, SubmissionRejected
from grader.flags import Flag
from grader.report import verdict_text
from grader.scoring import CheckResult, GradingResult, ManualItem, Student as StudentName
from grader.session import GradingSession, SessionOutcome

if TYPE_CHECKING:
    from grader.intake import Intake

def rejected(stem: str, reason: str, flag: str, rubric: Rubric, student: StudentName | None = None,
             notes: tuple[str, ...] = (), flags: tuple[str, ...] = ()) -> GradingResult:
    """The result of a submission that was not graded: zero points and the reason."""
    return GradingResult(stem=stem, student=student, graded=False, verdict=f"Not graded: {reason}",
                         flags=(*flags, flag), notes=notes, task_titles=rubric.tasks, task_max=rubric.task_max())


def grade_submission(zip_path: Path, settings: Settings) -> GradingResult:
    """Grade one zip and write its results.json and report.html into `settings.out_dir` (once)."""
    from grader.intake import open_submission

    rubric = load_rubric(settings.rubric_path).only(settings.only)
    stem = outfiles.folder_name(zip_path.name)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ex4-grade-") as tmp:
        work = Path(tmp)
        try:
            intake = open_submission(zip_path, work / "intake", settings)
        except SubmissionRejected as exc:
            student = None
            if exc.flag != Flag.NAMING:
                with contextlib.suppress(SubmissionRejected):
                    from grader.intake import parse_name

                    student = parse_name(zip_path.name, settings.matriculation_digits)
            result = rejected(stem, exc.reason, exc.flag, rubric, student)
        else:
            intake_s = time.perf_counter() - started
            try:
                result = run_checks(intake, stem, work, settings, rubric, intake_s)
            except GraderError:
                raise  # the set-up's fault (data, configuration): every submission would fail alike
            except Exception as exc:  # noqa: BLE001 - a grader bug on one submission still leaves a verdict
                result = replace(crash_result(zip_path, settings, exc), student=intake.student)
    return write_timed(result, settings.out_dir, started)


def write_timed(result: GradingResult, out_dir: Path, started: float) -> GradingResult:
    """Write the result's files once, carrying the time their rendering took and the run's total."""
    from grader.report import render_files

    # Rendered once to time it (about 50 ms) and again, in memory, so that the files carry that time.
    t = time.perf_counter()
    render_files(result, outfiles.student_folder(out_dir, result.stem))
    timings = {**result.timings, "report": time.perf_counter() - t, "total": time.perf_counter() - started}
    final = replace(result, timings=timings)
    outfiles.write_outputs(final, out_dir)
    return final


def time_limit_text(limit_s: float) -> str:
    """Why a check was not run: the grading run reached its overall time limit."""
    return f"This check was not run: grading this submission reached its time limit of {limit_s:g} s before it."


def run_checks(intake: Intake, stem: str, work: Path, settings: Settings, rubric: Rubric,
               intake_s: float = 0.0) -> GradingResult:
    """Grade an unpacked submission in a session: the worker, the hidden checks, the written answers."""
    seed = settings.seed if settings.seed is not None else secrets.randbits(31)
    # The overall limit counts from the start of intake.
    remaining = max(settings.time_limit_s - intake_s, 0.0)
    with GradingSession(intake, stem, work, settings, rubric, seed, remaining) as session:
        outcome = session.run()
    return assemble(intake, stem, outcome, settings, rubric, seed, {"intake": intake_s, **outcome.timings})


def assemble(intake: Intake, stem: str, outcome: SessionOutcome, settings: Settings, rubric: Rubric, seed: int,
             timings: dict[str, float]) -> GradingResult:
    """The result of a graded submission from what its session found: flags, notes, verdict. No side effects."""
    from grader.sandbox import FALLBACK_ISOLATION
    from grader.sandbox.messages import import_failed

    notes = list(intake.notes)
    flags = list(intake.flags)
    checks = outcome.checks
    if outcome.import_error is not None:
        err = outcome.import_error
        flags.append(Flag.IMPORT_ERROR)
        notes.append(import_failed(err).message)
    if outcome.not_run:
        late = set(outcome.not_run)
        checks = [replace(c, message=time_limit_text(settings.time_limit_s)) if c.id in late else c for c in checks]
        flags.append(Flag.TIME_LIMIT)
        notes.append(f"Grading this submission reached its time limit of {settings.time_limit_s:g} s: "
                     f"{len(late)} checks were not run and get no points; the others were graded as usual.")
    for task in sorted({c.task.split(".")[0] for c in checks}):
        timings[f"task{task}"] = sum(c.duration_s for c in checks if c.task.split(".")[0] == task)
    notes.extend(environment_notes(outcome.import_info, checks))
    if outcome.import_info.get("top_level_failed"):
        flags.append(Flag.TOP_LEVEL_SKIPPED)
    if any(c.malformed for c in checks):
        flags.append(Flag.MALFORMED_REPLY)
        notes.append("Some replies of your code's process did not have the shape the grader's probes send "
                     "(was the grader's code inside your process changed?); those checks failed.")
    if outcome.restarts > 0:
        notes.append(f"Your code's worker process was restarted {outcome.restarts} time(s) after crashing or hanging.")
    if settings.only:
        flags.append(Flag.PARTIAL)
        notes.append(f"Only these checks were run: {', '.join(settings.only)}.")
    if outcome.isolation == FALLBACK_ISOLATION:
        flags.append(Flag.SANDBOX_FALLBACK)
        notes.append("bubblewrap was not available on the grading machine: your code ran in a plain worker "
                     "process with resource limits only.")
    return GradingResult(
        stem=stem, student=intake.student, graded=True,
        verdict=verdict_text(checks, outcome.manual, outcome.import_error is not None,
                        settings.time_limit_s if outcome.not_run else None),
        checks=tuple(checks), manual=outcome.manual, flags=tuple(dict.fromkeys(flags)), notes=tuple(notes),
        figures=tuple(outcome.figures), seed=seed, timings=timings, task_titles=rubric.tasks,
        task_max=rubric.task_max(), sandbox=outcome.isolation, code_file=intake.code_name,
        time_limit_s=settings.time_limit_s if outcome.not_run else None)


def environment_notes(info: dict[str, Any], checks: list[CheckResult]) -> list[str]:
    """Sentences on what the grader lent the submission: given helpers it lacked, stand-ins for missing modules."""
    from grader.worker.environment import MISSING_TEXT

    notes = []
    # Both lists come from the student's process: bounded in count and length before they reach a report.
    for name in [str(m)[:100] for m in list(info.get("missing_modules") or [])[:20]]:
        needing = [c.title for c in checks if name.split(".")[0] in c.message and MISSING_TEXT in c.message]
        tail = (f"it was needed by: {'; '.join(needing)}" if needing else "your graded functions did not need it")
        notes.append(f"`import {name}`: {name} is not available on the grader; {tail}.")
    failed = info.get("top_level_failed")
    if isinstance(failed, dict):
        notes.append(f"Running your module's top level failed on the grader ({str(failed.get('type', ''))[:100]}: "
                     f"{str(failed.get('message', ''))[:300]}), so the grader took only its imports, definitions and "
                     "constants, as it does for a notebook, and graded those. Keep training under "
                     "`if __name__ == \"__main__\":` so that importing your module runs none of it.")
    lent = [str(n)[:100] for n in list(info.get("lent") or [])[:30]]
    if lent:
        notes.append("Your code does not define " + ", ".join(lent) + ": the template gives "
                     + ("these" if len(lent) > 1 else "it") + ", and the grader used the template's.")
    return notes


def collect_answers(student: Any, rubric: Rubric) -> tuple[ManualItem, ...]:
    """The written answers for the rubric's questions; a missing answer is an empty one."""
    answers: dict[str, str] = {}
    try:
        got = student.probe("answers", "ANSWERS")
        if got.get("present"):
            answers = got["answers"]
    except Exception:  # noqa: BLE001 - any failure here just means no answers could be read
        answers = {}
    return tuple(ManualItem(q.id, q.task, q.question, q.points, str(answers.get(q.id, "")).strip())
                 for q in rubric.questions.values())


def crash_result(zip_path: Path, settings: Settings, exc: BaseException) -> GradingResult:
    """A verdict for a submission whose grading itself failed, so it is never lost."""
    rubric = load_rubric(settings.rubric_path)
    stem = outfiles.folder_name(zip_path.name)
    outfiles.save_log(settings.out_dir, stem, "".join(traceback.format_exception(exc)))
    return rejected(stem, "the grader failed on this submission; a TA will look at it.", Flag.GRADER_ERROR, rubric)
