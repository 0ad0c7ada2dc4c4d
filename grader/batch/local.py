"""This machine's pool: the batch's jobs graded side by side, each in a child process of its own."""

from __future__ import annotations

import concurrent.futures
import os
import time
from pathlib import Path
from typing import Generator

from grader.batch.cache import fresh_work, record_result
from grader.batch.child import SETUP_ERRORS, Children, GradeFn, run_child
from grader.batch.plan import Item
from grader.batch.status import RunStatus
from grader.config import Settings


def default_workers(threads: int = 2) -> int:
    """Parallel gradings the machine holds: its cores divided by the torch threads each one uses."""
    return max(1, (os.cpu_count() or 1) // max(1, threads))


class LocalExecutor:
    """Grades a batch's jobs on this machine: `workers` at a time (default :func:`default_workers`)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    def grade(self, jobs: list[Item], settings: Settings, cache: Path, grade: GradeFn | str,
              timeout_s: float) -> Generator[tuple[Item, str], None, None]:
        """Grade each job into `cache`, yielding it with its outcome as it finishes.

        `grade` named as ``"module:function"`` runs in a child process per job (with `timeout_s`); a
        callable runs in this process's threads (tests).
        """
        children = Children()
        workers = max(1, self.workers or default_workers(settings.threads))
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")
        try:
            futures = {pool.submit(_grade_one, job, settings, cache, grade, timeout_s, children): job for job in jobs}
            for future in concurrent.futures.as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            # Ctrl-C, the caller closing early, or a failure of the batch itself: stop every child;
            # what finished is cached.
            children.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _grade_one(item: Item, settings: Settings, cache: Path, grade: GradeFn | str, timeout_s: float,
               children: Children) -> str:
    """Grade one submission into OUT/.cache/<key>/ and mark it done; returns graded, crashed or timeout."""
    children.check()
    work, job_settings = fresh_work(cache, item, settings)
    assert item.found.zip_path is not None
    started = time.perf_counter()
    failure: BaseException | None = None
    status = RunStatus.GRADED
    if isinstance(grade, str):
        status, failure = run_child(item.found.zip_path, job_settings, grade, timeout_s, work, children)
    else:
        try:
            grade(item.found.zip_path, job_settings)
        except tuple(SETUP_ERRORS.values()):
            raise  # the set-up's fault: the batch stops, as with a child (see run_child)
        except Exception as exc:  # noqa: BLE001 - a grader failure on one submission is that submission's result
            status, failure = RunStatus.CRASHED, exc
    return record_result(item, job_settings, cache, status, failure, timeout_s, started)
