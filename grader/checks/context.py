"""What the hidden checks are given: the student, the reference, the data, the seed."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, TypeVar

import numpy as np
import pytest

from grader import outfiles
from grader.config import Rubric
from grader.data import Split
from grader.scoring import Figure
from grader.student import Student

T = TypeVar("T")


@dataclass
class FigureRecorder:
    """PNG pictures for the report, written into the submission's output folder."""

    folder: Path
    saved: list[Figure] = field(default_factory=list)

    def save(self, name: str, png: bytes, title: str, task: str) -> None:
        if outfiles.save_figure(self.folder, name, png):
            self.saved.append(Figure(name, title, task))


@dataclass
class CheckContext:
    """Handed to the checks through pytest's config stash."""

    student: Student
    reference: ModuleType
    seed: int
    train: Split
    test: Split
    device: str
    figures: FigureRecorder
    rubric: Rubric
    timings: dict[str, float] = field(default_factory=dict)
    """Images per second of the student's code, timed by this process around a probe (never what the worker says)."""
    readings: dict[str, str] = field(default_factory=dict)
    """Per check: which of several correct readings of the task it recognised (shown with a passed check)."""
    current: str = ""
    """The check running now (set by the checks' conftest)."""
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)
    _failed: dict[str, BaseException] = field(default_factory=dict, repr=False)
    _background: dict[str, Future[Any]] = field(default_factory=dict, repr=False)

    def once(self, key: str, compute: Callable[[], T], keep_failure: bool = False) -> T:
        """What several checks share (a probe's reply, a run of the student's train()), computed by whichever runs first.

        So no check depends on another having run. A failure is raised to the check that computed
        it and computed again by the next one (a restarted worker may answer), unless `keep_failure`:
        then every later check gets the same failure (a run too costly to repeat).
        """
        if key in self._failed:
            raise self._failed[key]
        if key not in self._memo:
            try:
                self._memo[key] = compute()
            except Exception as exc:
                if keep_failure:
                    self._failed[key] = exc
                raise
        return self._memo[key]  # type: ignore[no-any-return]

    def record_timing(self, name: str, images_per_s: float) -> None:
        """A speed of the student's code for the TA's log and the benchmarks (see `timings`)."""
        self.timings[name] = float(images_per_s)

    def in_background(self, key: str, compute: Callable[[], T]) -> Future[T]:
        """Compute an expected value while the worker runs the student's code (torch frees the GIL)."""
        if key not in self._background:
            self._background[key] = self.pool.submit(compute)
        return self._background[key]

    def recognise(self, text: str) -> None:
        """Say which correct reading the running check recognised; the feedback shows it if the check passes."""
        self.readings[self.current] = text

    def rng(self, salt: str) -> np.random.Generator:
        """A generator per check: the run's seed mixed with the check's name, so checks don't share draws."""
        return np.random.default_rng([self.seed, *salt.encode()])


CONTEXT = pytest.StashKey[CheckContext]()
