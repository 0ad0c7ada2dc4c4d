"""The rubric and the hidden checks agree: every check has points, every rubric entry a check."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from grader.config import CHECKS_DIR, Rubric, RubricCheck, load_rubric, top_task
from grader.errors import ConfigError
from grader.scoring import checks_from_report


def check_functions() -> dict[str, str]:
    found = {}
    for path in sorted(CHECKS_DIR.glob("test_task*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found[node.name] = path.name
    return found


def test_every_check_has_rubric_points_and_vice_versa():
    rubric = load_rubric()
    functions = check_functions()
    assert set(functions) == set(rubric.checks)
    for cid, item in rubric.checks.items():
        # A task's checks live in its file, or in its files when it is large (Task 3: _data, _net, _train).
        assert re.fullmatch(rf"test_task{top_task(item.task)}(_[a-z]+)?\.py", functions[cid]), "a check lives in its task's file"
        assert item.points > 0 and item.title


def test_written_questions_match_the_template_answers():
    from grader.config import PROJECT_DIR

    tree = ast.parse((PROJECT_DIR / "student_template" / "exercise4.py").read_text())
    answers = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ANSWERS")
    keys = {k.value for k in answers.value.keys}  # type: ignore[union-attr]
    assert keys == set(load_rubric().questions)


def test_task_maxima():
    rubric = load_rubric()
    totals = rubric.task_max()
    assert set(totals) == {"1", "2", "3", "4"} and all(v > 0 for v in totals.values())


def test_bad_rubric_is_a_config_error(tmp_path: Path):
    bad = tmp_path / "r.toml"
    bad.write_text('[tasks]\n"1" = "x"\n[checks.test_a]\ntask = "9.1"\npoints = 1\ntitle = "t"\n')
    with pytest.raises(ConfigError, match="task 9.1"):
        load_rubric(bad)
    bad.write_text("not toml [")
    with pytest.raises(ConfigError):
        load_rubric(bad)


def test_only_selects_checks():
    rubric = load_rubric()
    sub = rubric.only(("test_rf_answer_a",))
    assert list(sub.checks) == ["test_rf_answer_a"] and sub.questions == {}
    with pytest.raises(ConfigError, match="No check"):
        rubric.only(("test_nothing",))


RUBRIC = Rubric({"1": "T"}, {"test_a": RubricCheck("test_a", "1.a", 2, "A"), "test_b": RubricCheck("test_b", "1.b", 1, "B"),
                              "test_c": RubricCheck("test_c", "1.c", 1, "C"), "test_d": RubricCheck("test_d", "1.d", 1, "D")}, {})


def test_report_translation_keeps_feedback_and_hides_tracebacks():
    report = {"tests": [
        {"nodeid": "test_task1.py::test_a", "outcome": "passed", "call": {"duration": 0.5}},
        {"nodeid": "test_task1.py::test_b", "outcome": "failed", "metadata": {"feedback": "expected 1, got 2", "kind": "check"},
         "call": {"longrepr": "def test_b(): assert secret == 1"}},
        {"nodeid": "test_task1.py::test_c", "outcome": "failed", "call": {"longrepr": "KeyError in hidden check source"}},
    ]}
    a, b, c, d = checks_from_report(report, RUBRIC)
    assert (a.status, a.points, a.duration_s) == ("passed", 2, 0.5)
    assert (b.status, b.points, b.message) == ("failed", 0, "expected 1, got 2")
    assert c.status == "error" and "hidden" not in c.message and "KeyError" not in c.message
    assert d.status == "error" and "did not run" in d.message
