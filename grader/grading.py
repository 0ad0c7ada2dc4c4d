"""Grading one submission end to end: intake, the worker, the hidden checks, scores and outputs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from grader.config import CHECKS_DIR, Rubric, Settings, load_rubric, resolve_device
from grader.errors import ConfigError, GraderError, SandboxError, SubmissionRejected
from grader.scoring import CheckResult, GradingResult, ManualItem, Student as StudentName, checks_from_report

MAX_NAME_BYTES = 160
TRAIN_SAMPLE = 5000
TEST_SAMPLE = 1017


def output_name(stem: str) -> str:
    """The zip's stem as a safe folder name: never empty, no control characters, separators or dots.

    Every file the grader writes next to the students' folders has a dot in its name (``grades.csv``,
    ``index.html``, ``overrides.csv``, ``.logs``, ``.cache``, a temporary ``.x.tmp``) or is a reserved
    folder (``questions``, ``moodle``: see ``grader.batch.RESERVED``), so a dot-free name can never be
    one of them, whatever the zip is called (#15: ``grades.csv.zip`` broke every run).
    Valid submission names (``Surname-123456``) hold no dot and keep their name.
    """
    name = re.sub(r"[\x00-\x1f\x7f-\x9f/\\.]", "_", stem).strip()
    # A file name has at most 255 bytes; room is left for "_<participant id>" and ".log".
    name = name.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore").strip()
    return name or "_"


_LOG_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def log_text(text: str) -> str:
    """Text for the TA's log with every control character but newline and tab shown as an escape (``\\x1b``).

    What a student's code prints reaches the log; raw, an ANSI sequence would act on the TA's terminal.
    """
    return _LOG_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def rejected(stem: str, reason: str, flag: str, rubric: Rubric, student: StudentName | None = None,
             notes: tuple[str, ...] = (), flags: tuple[str, ...] = ()) -> GradingResult:
    """The result of a submission that was not graded: zero points and the reason."""
    return GradingResult(stem=stem, student=student, graded=False, verdict=f"Not graded: {reason}",
                         flags=(*flags, flag), notes=notes, task_titles=rubric.tasks, task_max=rubric.task_max())


def grade_submission(zip_path: Path, settings: Settings) -> GradingResult:
    """Grade one zip and write its results.json and report.html into `settings.out_dir`."""
    from grader.intake import open_submission
    from grader.report import write_outputs

    rubric = load_rubric(settings.rubric_path).only(settings.only)
    stem = output_name(zip_path.name[:-4] if zip_path.name.lower().endswith(".zip") else zip_path.name)
    folder = settings.out_dir / stem
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ex4-grade-") as tmp:
        work = Path(tmp)
        try:
            intake = open_submission(zip_path, work / "intake", settings)
        except SubmissionRejected as exc:
            student = None
            if exc.flag != "naming":
                with contextlib.suppress(SubmissionRejected):
                    from grader.intake import parse_name

                    student = parse_name(zip_path.name, settings.matriculation_digits)
            result = rejected(stem, exc.reason, exc.flag, rubric, student)
        else:
            timings = {"intake": time.perf_counter() - started}
            try:
                result = run_checks(intake, stem, folder, work, settings, rubric, timings)
            except GraderError:
                raise  # the set-up's fault (data, configuration): every submission would fail alike
            except Exception as exc:  # noqa: BLE001 - a grader bug on one submission still leaves a verdict
                result = replace(crash_result(zip_path, settings, exc), student=intake.student)
        timings = dict(result.timings)
        # Written once to time the report, and again below so that the files carry that time too
        # (about 50 ms; the first write also leaves a verdict if anything after it fails).
        report_started = time.perf_counter()
        write_outputs(result, settings.out_dir)
        timings["report"] = time.perf_counter() - report_started
        timings["total"] = time.perf_counter() - started
    final = GradingResult(**{**result.__dict__, "timings": timings})
    write_outputs(final, settings.out_dir)
    return final


class _ContextPlugin:
    """Hands the check context to the hidden checks' conftest; runs no check once the deadline has passed."""

    def __init__(self, ctx: Any, deadline: float = float("inf")) -> None:
        self.ctx = ctx
        self.deadline = deadline
        self.not_run: list[str] = []
        self.interrupted = False
        """Ctrl-C or SIGTERM reached pytest (its exit code 2 also means errors while collecting the checks)."""

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        import pytest

        # pytest reports errors while collecting the checks as Session.Interrupted too: those are not a signal.
        self.interrupted = not isinstance(excinfo.value, pytest.Session.Interrupted)

    def pytest_configure(self, config: Any) -> None:
        from grader.checks.context import CONTEXT

        config.stash[CONTEXT] = self.ctx

    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> bool | None:
        if time.monotonic() < self.deadline:
            return None
        # Not run and not reported: scoring then fails it, and run_checks says why.
        self.not_run.append(item.name.split("[", 1)[0])
        return True


def time_limit_text(limit_s: float) -> str:
    """Why a check was not run: the grading run reached its overall time limit."""
    return f"This check was not run: grading this submission reached its time limit of {limit_s:g} s before it."


def run_checks(intake: Any, stem: str, folder: Path, work: Path, settings: Settings, rubric: Rubric,
               timings: dict[str, float]) -> GradingResult:
    """Start the worker, run the hidden checks against it, collect the written answers."""
    import pytest

    from grader.checks.context import CheckContext, FigureRecorder
    from grader.data import data_root, load_split, sample
    from grader.reference import load_reference
    from grader.sandbox import FALLBACK_ISOLATION, Worker, WorkerSpec
    from grader.student import Student
    from grader.template import given_helpers

    seed = settings.seed if settings.seed is not None else secrets.randbits(31)
    device = resolve_device(settings.device)
    given_source, own_names = given_helpers(settings.reference_path)
    # The overall limit counts from the start of intake; the student's calls together get no more than what is left.
    remaining = max(settings.time_limit_s - timings.get("intake", 0.0), 0.0)
    deadline = time.monotonic() + remaining
    limits = replace(settings.limits, total_timeout_s=min(settings.limits.total_timeout_s, remaining))
    worker = Worker(WorkerSpec(intake.module_dir, work / "sandbox", limits, settings.threads, device,
                               given_source=given_source, own_names=tuple(own_names)))
    notes = list(intake.notes)
    flags = list(intake.flags)
    # Both processes import torch (seconds each): launch the worker here (it must outlive this
    # thread, see Worker.launch) and let its import overlap the grading process's set-up.
    t = time.perf_counter()
    worker.launch()
    try:
        starter = threading.Thread(target=worker.import_module, daemon=True)
        starter.start()
        # Read by OpenMP when torch loads: idle threads sleep instead of spinning, which matters when
        # several gradings share the cores (2 on 2 cores: 130 s spinning, 26 s passive; alone: no change).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch

        torch.set_num_threads(settings.threads)
        reference = load_reference(settings.reference_path)
        root = data_root(settings.data_dir)
        rng = np.random.default_rng(seed)
        train = sample(load_split(root, True), TRAIN_SAMPLE, rng)
        test = sample(load_split(root, False), TEST_SAMPLE, rng)
    except BaseException:
        worker.kill()  # missing data, or SIGTERM during the set-up: the sandbox and its cgroups go too
        raise
    timings["setup"] = time.perf_counter() - t

    student = Student(worker, settings.limits.call_timeout_s)
    for old in folder.glob("*.png") if folder.exists() else []:
        old.unlink()
    ctx = CheckContext(student, reference, seed, train, test, device, FigureRecorder(folder), rubric)
    manual: tuple[ManualItem, ...] = ()
    plugin = _ContextPlugin(ctx, deadline)
    try:
        starter.join()
        timings["worker_start"] = time.perf_counter() - t
        require_started(worker)
        if worker.import_error is not None:
            err = worker.import_error
            flags.append("import-error")
            notes.append(f"Importing your module failed: {err.get('type', '')}: {err.get('message', '')}")
        report_file = work / "checks.json"
        log = io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = pytest.main([str(CHECKS_DIR), "-c", str(CHECKS_DIR / "pytest.ini"), "--rootdir", str(CHECKS_DIR),
                                "-q", "--json-report", f"--json-report-file={report_file}", "--json-report-omit",
                                "log", "streams", "-W", "ignore"], plugins=[plugin])
        timings["checks"] = time.perf_counter() - t
        if int(code) == int(pytest.ExitCode.INTERRUPTED) and plugin.interrupted:
            raise KeyboardInterrupt  # pytest caught Ctrl-C or SIGTERM (see interrupt_on_sigterm): pass it on
        # 0 and 1 are "checks passed" and "some failed"; anything else (a check file that does not import,
        # no check selected) is the grader's, and would give every submission the same wrong zero.
        if int(code) not in (0, 1):
            save_log(settings.out_dir, stem, log.getvalue())
            raise ConfigError(f"The hidden checks did not run (pytest exit code {int(code)}): no submission can be "
                              f"graded until they do. pytest's output is in {settings.out_dir / '.logs' / stem}.log.")
        require_started(worker)  # a restart after a crash may have found the sandbox broken
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        checks = checks_from_report(report, rubric)
        if plugin.not_run:
            late = set(plugin.not_run)
            checks = [replace(c, message=time_limit_text(settings.time_limit_s)) if c.id in late else c for c in checks]
            flags.append("time-limit")
            notes.append(f"Grading this submission reached its time limit of {settings.time_limit_s:g} s: "
                         f"{len(late)} checks were not run and get no points; the others were graded as usual.")
        for task in sorted({c.task.split(".")[0] for c in checks}):
            timings[f"task{task}"] = sum(c.duration_s for c in checks if c.task.split(".")[0] == task)
        manual = collect_answers(student, rubric)
        save_log(settings.out_dir, stem, log.getvalue() + "\n--- worker output ---\n" + worker.log.text())
    finally:
        worker.kill()
        ctx.pool.shutdown(wait=True, cancel_futures=True)
    for name, value in ctx.timings.items():
        # Images per second timed by this process around the worker's call (never what the worker says).
        timings[f"images_per_s:{name}"] = value
    notes.extend(environment_notes(worker.import_info or {}, checks))
    if (worker.import_info or {}).get("top_level_failed"):
        flags.append("top-level-skipped")
    if any(c.malformed for c in checks):
        flags.append("malformed-reply")
        notes.append("Some replies of your code's process did not have the shape the grader's probes send "
                     "(was the grader's code inside your process changed?); those checks failed.")
    if worker.starts > 1:
        notes.append(f"Your code's worker process was restarted {worker.starts - 1} time(s) after crashing or hanging.")
    if settings.only:
        flags.append("partial")
        notes.append(f"Only these checks were run: {', '.join(settings.only)}.")
    if worker.isolation == FALLBACK_ISOLATION:
        flags.append("sandbox-fallback")
        notes.append("bubblewrap was not available on the grading machine: your code ran in a plain worker "
                     "process with resource limits only.")
    return GradingResult(
        stem=stem, student=intake.student, graded=True,
        verdict=verdict(checks, manual, worker.import_error, settings.time_limit_s if plugin.not_run else None),
        checks=tuple(checks), manual=manual, flags=tuple(dict.fromkeys(flags)), notes=tuple(notes),
        figures=tuple(ctx.figures.saved), seed=seed, timings=timings, task_titles=rubric.tasks,
        task_max=rubric.task_max(), sandbox=worker.isolation, code_file=intake.code_name)


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


def verdict(checks: list[CheckResult], manual: tuple[ManualItem, ...], import_error: dict[str, Any] | None,
            time_limit_s: float | None = None) -> str:
    """One sentence on the outcome; `time_limit_s` when the run reached that limit and left checks out."""
    auto = sum(c.points for c in checks)
    auto_max = sum(c.max_points for c in checks)
    passed = sum(c.status == "passed" for c in checks)
    text = f"Graded: {auto:g} of {auto_max:g} automatic points ({passed} of {len(checks)} checks passed)"
    if import_error is not None:
        text += "; your module could not be imported, so no check could run"
    if time_limit_s is not None:
        text += f"; grading reached its time limit of {time_limit_s:g} s, so the remaining checks were not run"
    waiting = [m for m in manual if m.points is None]
    if waiting:
        text += f"; {len(waiting)} written answers ({sum(m.max_points for m in waiting):g} points) await a TA"
    return text + "."


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


def require_started(worker: Any) -> None:
    """Stop grading with a SandboxError when the worker never started: the machine's fault, not the student's."""
    if worker.start_error is not None:
        raise SandboxError(f"{worker.start_error} {SandboxError.advice}")


LOG_CAP = 4 * 1024 * 1024
"""Largest TA log written (bytes): its first and last halves, with a line saying what was left out."""


def save_log(out_dir: Path, stem: str, text: str) -> None:
    """The TA's log of one grading run: pytest's output and the worker's; kept apart from the student's folder."""
    logs = out_dir / ".logs"
    logs.mkdir(parents=True, exist_ok=True)
    data = log_text(text).encode("utf-8", errors="replace")
    if len(data) > LOG_CAP:
        half = LOG_CAP // 2 - 100
        note = f"\n[… {len(data) - 2 * half} bytes of this log left out: it is capped at {LOG_CAP >> 20} MiB …]\n"
        # Cut on character boundaries: the log stays valid UTF-8.
        data = (data[:half].decode("utf-8", "ignore") + note + data[-half:].decode("utf-8", "ignore")).encode()
    (logs / f"{stem}.log").write_bytes(data)


def crash_result(zip_path: Path, settings: Settings, exc: BaseException) -> GradingResult:
    """A verdict for a submission whose grading itself failed, so it is never lost."""
    rubric = load_rubric(settings.rubric_path)
    stem = output_name(zip_path.stem)
    save_log(settings.out_dir, stem, "".join(traceback.format_exception(exc)))
    return rejected(stem, "the grader failed on this submission; a TA will look at it.", "grader-error", rubric)
