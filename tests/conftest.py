"""Fixtures shared by the project's tests: submissions built from the reference into tmp_path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Callable

import pytest

from grader.config import PROJECT_DIR
from grader.example import build_submission

DATA = Path(__file__).parent / "data"
REFERENCE = PROJECT_DIR / "solutions" / "exercise4.py"
TEMPLATE = PROJECT_DIR / "student_template" / "exercise4.py"


def load_cases(name: str) -> dict[str, dict[str, Any]]:
    """A TOML file of test cases from tests/data, keyed by case id."""
    return tomllib.loads((DATA / name).read_text(encoding="utf-8"))


def mutate(source: str, replacements: list[list[Any]]) -> str:
    """The source with each (old, new[, count]) replaced; fails when `old` does not occur exactly count times."""
    for item in replacements:
        old, new = item[0], item[1]
        count = item[2] if len(item) > 2 else 1
        found = source.count(old)
        assert found == count, f"{old!r} occurs {found} times in the reference, expected {count}"
        source = source.replace(old, new)
    return source


@pytest.fixture
def reference_source() -> str:
    return REFERENCE.read_text(encoding="utf-8")


@pytest.fixture
def make_submission(tmp_path: Path) -> Callable[..., Path]:
    """Build `name` (a zip) in tmp_path holding the given code and a PDF of it."""

    def make(code: str, name: str = "Mustermann-123456.zip", code_name: str = "exercise4.py", pdf: bool = True) -> Path:
        return build_submission(tmp_path / "zips" / name, code, code_name, pdf)

    return make


# --------------------------------------------------------------------------- batch: the fake grader


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fake grader module (tests/fake_grade.py), importable here and in the batch's child processes.

    Each zip it grades is logged to tmp_path/calls.log (read with `tests.helpers.calls`).
    """
    import os

    from tests import fake_grade

    root = str(Path(__file__).resolve().parent.parent)  # children import tests.fake_grade from here
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("FAKE_GRADER_LOG", str(tmp_path / "calls.log"))
    return fake_grade


# ---------------------------------------------------------------------- sandbox (tests of the worker's sandbox)


@pytest.fixture
def watch_namespaces(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The PID namespaces of every sandbox killed during the test, noted just before the kill."""
    from grader.sandbox import Worker
    from tests.helpers import sandbox_namespaces

    seen: set[str] = set()
    kill = Worker.kill

    def noting_kill(self: Worker) -> None:
        seen.update(sandbox_namespaces(self))
        kill(self)

    monkeypatch.setattr(Worker, "kill", noting_kill)
    return seen
