"""What the hidden checks are given: the student, the reference, the data, the seed."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import pytest

from grader import outfiles
from grader.config import Rubric
from grader.data import Split
from grader.scoring import Figure
from grader.student import Student


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
    cache: dict[str, Any] = field(default_factory=dict)
    readings: dict[str, str] = field(default_factory=dict)
    """Per check: which of several correct readings of the task it recognised (shown with a passed check)."""
    current: str = ""
    """The check running now (set by the checks' conftest)."""
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))

    def in_background(self, key: str, compute: Callable[[], Any]) -> Future[Any]:
        """Compute an expected value while the worker runs the student's code (torch frees the GIL)."""
        if key not in self.cache:
            self.cache[key] = self.pool.submit(compute)
        return self.cache[key]

    def recognise(self, text: str) -> None:
        """Say which correct reading the running check recognised; the feedback shows it if the check passes."""
        self.readings[self.current] = text

    def rng(self, salt: str) -> np.random.Generator:
        """A generator per check: the run's seed mixed with the check's name, so checks don't share draws."""
        return np.random.default_rng([self.seed, *salt.encode()])


CONTEXT = pytest.StashKey[CheckContext]()
