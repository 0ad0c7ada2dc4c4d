"""The grader's named vocabularies: flags (one table the README and reports render), exit codes, failure kinds."""

from __future__ import annotations

import ast
import re

import pytest

from grader import errors, flags
from grader.config import PACKAGE_DIR, PROJECT_DIR
from grader.errors import ExitCode, WorkerError, WorkerFailure, exit_code
from grader.flags import Flag
from grader.overrides import Override, apply_overrides
from grader.scoring import CheckResult, GradingResult, ManualItem


def test_the_readme_shows_the_flags_table_as_the_code_has_it():
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    assert flags.markdown_table() in readme, "README.md's flags table differs from grader.flags.markdown_table()"


def test_every_flag_has_a_meaning_and_unknown_words_are_said_to_be_unknown():
    assert set(flags.MEANINGS) == set(Flag)
    assert all(m.endswith(".") for m in flags.MEANINGS.values())
    assert "does not know" in flags.meaning("an-old-flag") and not flags.severe("an-old-flag")
    assert Flag.GRADER_ERROR.severe and not Flag.PDF_MISSING.severe


def _flag_words_outside_the_table() -> dict[str, list[str]]:
    """String literals of grader/ equal to a flag word, outside an enum's own definition."""
    words = {f.value for f in Flag}
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        enum_values = {id(node.value) for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
                       for node in cls.body if isinstance(node, ast.Assign)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in words and id(node) not in enum_values:
                found.setdefault(str(path.relative_to(PACKAGE_DIR)), []).append(node.value)
    return found


STANDALONE = "intake/notebook.py"
"""Given to students as a byte copy (notebook_filter.py) that imports only the standard library: it names its
two flags as words, which must still be the table's."""


def test_flags_are_written_only_through_the_enum():
    found = _flag_words_outside_the_table()
    standalone = found.pop(STANDALONE, [])
    assert found == {}
    assert set(standalone) == {Flag.BAD_NOTEBOOK, Flag.BAD_ENCODING}  # the scan sees its words


def test_exit_codes_come_from_one_mapping():
    assert exit_code(errors.ConfigError("x")) == ExitCode.CONFIG == 3
    assert exit_code(errors.InputError("x")) == 5 and exit_code(errors.WorksheetError("x")) == 6
    assert exit_code(errors.OverridesError("x")) == 7 and exit_code(errors.SandboxError("x")) == 8
    assert exit_code(KeyboardInterrupt()) == 130 and exit_code(RuntimeError("bug")) == ExitCode.GRADER
    # Every GraderError subclass has its own code: two classes never share one.
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.GraderError)]
    assert len({c.exit_code for c in classes}) == len(classes)
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    for code in (3, 4, 5, 6, 7, 8):
        assert re.search(rf"\b{code}\b", readme)


def test_worker_failure_kinds_are_named():
    assert WorkerError("x").kind is WorkerFailure.CRASH
    assert WorkerError("x", "timeout").kind is WorkerFailure.TIMEOUT
    with pytest.raises(ValueError):
        WorkerError("x", "tired")


def test_overrides_keep_the_time_limit_and_import_sentences_of_a_verdict():
    from grader.report import verdict_text as verdict

    check = CheckResult("test_a", "3.1", "A", 0.0, 1.0, "failed", "not run")
    manual = (ManualItem("q1", "1", "Why?", 2.0, "because"),)
    result = GradingResult(stem="S-123456", student=None, graded=True, checks=(check,), manual=manual,
                           verdict=verdict([check], manual, True, 900.0), flags=(Flag.IMPORT_ERROR, Flag.TIME_LIMIT),
                           time_limit_s=900.0, task_max={"1": 2.0, "3": 1.0})
    assert "time limit of 900 s" in result.verdict and "await a TA" in result.verdict
    changed = apply_overrides(result, [Override("S-123456", "q1", 1.5, "ok", 2)])
    assert "await a TA" not in changed.verdict
    assert "time limit of 900 s" in changed.verdict and "could not be imported" in changed.verdict
