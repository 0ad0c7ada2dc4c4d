"""Fixtures and hooks of the hidden checks: feedback messages, task numbers and points from the rubric."""

from __future__ import annotations

from typing import Any

import pytest

from grader.checks.context import CONTEXT, CheckContext
from grader.errors import WorkerError
from grader.student import CheckFailed



def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each check's task number and points from the rubric on a marker; checks not in it are not run."""
    rubric = config.stash[CONTEXT].rubric
    selected = []
    for item in items:
        name = item.name.split("[", 1)[0]
        entry = rubric.checks.get(name)
        if entry is None:
            continue
        item.add_marker(pytest.mark.check(task=entry.task, points=entry.points))
        selected.append(item)
    items[:] = selected


def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, str]:
    """The student's feedback for a failed check; any other exception is the grader's bug, for the TA's log."""
    if call.excinfo is None:
        reading = item.config.stash[CONTEXT].readings.get(item.name.split("[", 1)[0])
        return {"recognised": reading} if reading and call.when == "call" else {}
    if call.when not in ("setup", "call"):
        return {}
    exc = call.excinfo.value
    if isinstance(exc, CheckFailed):
        return {"feedback": exc.message, "kind": "check"}
    if isinstance(exc, WorkerError):
        return {"feedback": exc.message, "kind": "worker"}
    if isinstance(exc, MALFORMED):
        # The checks read replies of the shape the grader's probes send; these errors mean the reply had
        # another shape (the student's process sent it, and may have forged it). The reference and the
        # corpora pass every check, so a grader bug shows there first; here it costs only this check.
        return {"feedback": "The grader could not read what your code's process sent back for this check "
                            f"({type(exc).__name__}); a submission that leaves the grader's own code alone never "
                            "causes this.", "kind": "malformed"}
    return {}


MALFORMED = (KeyError, TypeError, IndexError, ValueError, AttributeError)
"""Errors a check raises on a reply whose shape is not the one the grader's probes send."""


@pytest.fixture(scope="session")
def ctx(request: pytest.FixtureRequest) -> CheckContext:
    return request.config.stash[CONTEXT]


@pytest.fixture(autouse=True)
def _current_check(request: pytest.FixtureRequest, ctx: CheckContext) -> None:
    ctx.current = request.node.name.split("[", 1)[0]


@pytest.fixture(scope="session")
def student(ctx: CheckContext) -> Any:
    return ctx.student


@pytest.fixture(scope="session")
def ref(ctx: CheckContext) -> Any:
    return ctx.reference
