"""One submission's grading session: the student's worker, the data, the check context and pytest, closed in one place.

`GradingSession` owns every resource a grading run holds (in the spirit of click's
`Context.with_resource`): entering it starts the worker and loads what the checks need, leaving it
(normally, on an error or on SIGTERM) kills the worker and stops the checks' thread pool. What it
finds is a `SessionOutcome`; `grader.grading.assemble` turns that into a result without side effects.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ContextManager, TypeVar

import numpy as np

from grader import outfiles
from grader.config import CHECKS_DIR, Rubric, Settings, resolve_device
from grader.errors import ConfigError, SandboxError
from grader.scoring import CheckResult, ManualItem, checks_from_report

if TYPE_CHECKING:
    from grader.checks.context import CheckContext
    from grader.intake import Intake
    from grader.sandbox import Worker

T = TypeVar("T")

TRAIN_SAMPLE = 5000
TEST_SAMPLE = 1017


def configure_process(threads: int) -> None:
    """The process-wide settings of a grading process, made once by each entry point before torch loads.

    OpenMP reads OMP_WAIT_POLICY when torch loads: idle threads then sleep instead of spinning, which
    matters when several gradings share the cores (2 on 2 cores: 130 s spinning, 26 s passive;
    alone: no change). Torch's thread count is what the seed's bit-identical results rest on.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@dataclass
class SessionOutcome:
    """What one session found: the checks' results, the written answers, and what the worker said of itself."""

    checks: list[CheckResult]
    manual: tuple[ManualItem, ...]
    import_error: dict[str, Any] | None
    import_info: dict[str, Any]
    restarts: int
    isolation: str
    not_run: list[str]
    figures: list[Any]
    timings: dict[str, float] = field(default_factory=dict)


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
        # Not run and not reported: scoring then fails it, and grading says why.
        self.not_run.append(item.name.split("[", 1)[0])
        return True


class GradingSession:
    """The worker, the thread pool and the figures of one submission's grading; use it as a context manager."""

    def __init__(self, intake: Intake, stem: str, work: Path, settings: Settings, rubric: Rubric,
                 seed: int, remaining_s: float) -> None:
        self.intake = intake
        self.stem = stem
        self.work = work
        self.settings = settings
        self.rubric = rubric
        self.seed = seed
        self.device: str = resolve_device(settings.device).value  # plain text: it crosses to the worker
        self.deadline = time.monotonic() + remaining_s
        self.remaining_s = remaining_s
        self.timings: dict[str, float] = {}
        self._stack = contextlib.ExitStack()
        self.worker: Worker
        self.ctx: CheckContext
        self._starter: threading.Thread

    def with_resource(self, manager: ContextManager[T]) -> T:
        """Enter `manager` now and leave it when the session closes (in reverse order of entering)."""
        return self._stack.enter_context(manager)

    def __enter__(self) -> GradingSession:
        try:
            self._open()
        except BaseException:
            self._stack.close()  # missing data, or SIGTERM during the set-up: the sandbox and its cgroups go too
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()

    def _open(self) -> None:
        from grader.checks.context import CheckContext, FigureRecorder
        from grader.data import data_root, load_split, sample
        from grader.reference import load_reference
        from grader.sandbox import Worker, WorkerSpec
        from grader.student import Student
        from grader.template import given_helpers

        settings = self.settings
        given_source, own_names = given_helpers(settings.reference_path)
        # The student's calls together get no more than what is left of the overall limit.
        limits = replace(settings.limits, total_timeout_s=min(settings.limits.total_timeout_s, self.remaining_s))
        self.worker = Worker(WorkerSpec(self.intake.module_dir, self.work / "sandbox", limits, settings.threads,
                                        self.device, given_source=given_source, own_names=tuple(own_names)))
        # The pool is shut down after the worker is killed (callbacks run last-registered first), so a
        # background computation waiting on the worker ends at once.
        pool = ThreadPoolExecutor(max_workers=1)
        self._stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        # Both processes import torch (seconds each): launch the worker here (it must outlive this
        # thread, see Worker.launch) and let its import overlap the grading process's set-up.
        t = time.perf_counter()
        self._stack.callback(self.worker.kill)
        self.worker.launch()
        self._starter = threading.Thread(target=self.worker.import_module, daemon=True)
        self._starter.start()
        reference = load_reference(settings.reference_path)
        root = data_root(settings.data_dir)
        rng = np.random.default_rng(self.seed)
        train = sample(load_split(root, True), TRAIN_SAMPLE, rng)
        test = sample(load_split(root, False), TEST_SAMPLE, rng)
        self.timings["setup"] = time.perf_counter() - t
        self._t_launch = t
        student = Student(self.worker, settings.limits.call_timeout_s)
        folder = outfiles.student_folder(settings.out_dir, self.stem)
        outfiles.clear_figures(folder)  # a regrade's pictures replace the last run's
        figures = FigureRecorder(folder)
        self.ctx = CheckContext(student, reference, self.seed, train, test, self.device, figures, self.rubric,
                                pool=pool)

    def run(self) -> SessionOutcome:
        """Wait for the student's module, run the hidden checks, read the written answers, keep the TA's log."""
        import pytest

        from grader.grading import collect_answers

        settings, worker = self.settings, self.worker
        self._starter.join()
        self.timings["worker_start"] = time.perf_counter() - self._t_launch
        require_started(worker)
        plugin = _ContextPlugin(self.ctx, self.deadline)
        report_file = self.work / "checks.json"
        log = io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = pytest.main([str(CHECKS_DIR), "-c", str(CHECKS_DIR / "pytest.ini"), "--rootdir", str(CHECKS_DIR),
                                "-q", "--json-report", f"--json-report-file={report_file}", "--json-report-omit",
                                "log", "streams", "-W", "ignore"], plugins=[plugin])
        self.timings["checks"] = time.perf_counter() - t
        if int(code) == int(pytest.ExitCode.INTERRUPTED) and plugin.interrupted:
            raise KeyboardInterrupt  # pytest caught Ctrl-C or SIGTERM (see interrupt_on_sigterm): pass it on
        # 0 and 1 are "checks passed" and "some failed"; anything else (a check file that does not import,
        # no check selected) is the grader's, and would give every submission the same wrong zero.
        if int(code) not in (0, 1):
            outfiles.save_log(settings.out_dir, self.stem, log.getvalue())
            raise ConfigError(f"The hidden checks did not run (pytest exit code {int(code)}): no submission can be "
                              f"graded until they do. pytest's output is in {settings.out_dir / '.logs' / self.stem}.log.")
        require_started(worker)  # a restart after a crash may have found the sandbox broken
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        checks = checks_from_report(report, self.rubric)
        manual = collect_answers(self.ctx.student, self.rubric)
        outfiles.save_log(settings.out_dir, self.stem, log.getvalue() + "\n--- worker output ---\n" + worker.log.text())
        timings = dict(self.timings)
        # Images per second timed by this process around the worker's call (never what the worker says).
        timings.update({f"images_per_s:{name}": value for name, value in self.ctx.timings.items()})
        return SessionOutcome(checks=checks, manual=manual, import_error=worker.import_error,
                              import_info=dict(worker.import_info or {}), restarts=worker.starts - 1,
                              isolation=worker.isolation, not_run=list(plugin.not_run),
                              figures=list(self.ctx.figures.saved), timings=timings)


def require_started(worker: Any) -> None:
    """Stop grading with a SandboxError when the worker never started: the machine's fault, not the student's."""
    if worker.start_error is not None:
        raise SandboxError(f"{worker.start_error} {SandboxError.advice}")
