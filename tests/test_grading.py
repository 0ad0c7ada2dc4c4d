"""Grading whole submissions: the reference, the template, each typical mistake, valid alternatives."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from grader.config import DEFAULT, Limits, load_rubric
from grader.grading import grade_submission
from tests.conftest import TEMPLATE, load_cases, mutate

MISTAKES = load_cases("mistakes.toml")
ALTERNATIVES = load_cases("alternatives.toml")
pytestmark = pytest.mark.slow


def settings(tmp_path: Path, only: tuple[str, ...] = ()):
    return replace(DEFAULT, out_dir=tmp_path / "reports", seed=7, only=only,
                   limits=Limits(call_timeout_s=120, total_timeout_s=400))


def statuses(result) -> dict[str, str]:
    return {c.id: c.status for c in result.checks}


def test_reference_gets_every_automatic_point(tmp_path, make_submission, reference_source):
    result = grade_submission(make_submission(reference_source), settings(tmp_path))
    failing = {c.id: c.message for c in result.checks if c.status != "passed"}
    assert failing == {}
    rubric = load_rubric()
    assert len(result.checks) == len(rubric.checks)
    assert sum(c.points for c in result.checks) == sum(c.points for c in rubric.checks.values())
    assert {m.id for m in result.manual} == set(rubric.questions)
    assert all(m.answer for m in result.manual), "the reference answers every written question"
    folder = tmp_path / "reports" / "Mustermann-123456"
    data = json.loads((folder / "results.json").read_text())
    assert data["score"] == sum(c.points for c in result.checks)
    assert {t["number"] for t in data["tests"]} >= {"1.a", "2.b", "3.3", "4.5"}
    html = (folder / "report.html").read_text()
    for figure in ("accuracy.png", "augmentations.png", "activations.png", "saliency.png"):
        assert (folder / figure).read_bytes().startswith(b"\x89PNG"), figure
    assert html.count("data:image/png;base64,") >= 4
    assert "def test_" not in html and "assert " not in html, "the report never shows hidden test source"


def test_template_gets_no_point_and_a_verdict(tmp_path, make_submission):
    result = grade_submission(make_submission(TEMPLATE.read_text(encoding="utf-8")), settings(tmp_path))
    assert result.graded
    assert [c.id for c in result.checks if c.points > 0] == []
    assert all("not implemented" in c.message.lower() or "NotImplementedError" in c.message for c in result.checks
               if c.id not in ("test_hand_computed_stride1", "test_hand_computed_stride2", "test_rf_answer_a",
                               "test_rf_answer_b")), [c.message for c in result.checks][:3]


@pytest.mark.parametrize("case", sorted(MISTAKES), ids=sorted(MISTAKES))
def test_mistake_is_caught(case, tmp_path, make_submission, reference_source):
    spec = MISTAKES[case]
    code = mutate(reference_source, spec["replace"])
    checks = tuple(spec["fails"]) + tuple(spec.get("passes", ()))
    result = grade_submission(make_submission(code), settings(tmp_path, checks))
    got = statuses(result)
    assert {c: got[c] for c in spec["fails"]} == {c: "failed" for c in spec["fails"]}, spec["about"]
    assert {c: got[c] for c in spec.get("passes", ())} == {c: "passed" for c in spec.get("passes", ())}, \
        [c.message for c in result.checks if c.status != "passed"]
    for check in result.checks:
        if check.status == "failed":
            assert "expected" in check.message or "should" in check.message, check.message


@pytest.mark.parametrize("case", sorted(ALTERNATIVES), ids=sorted(ALTERNATIVES))
def test_valid_alternative_keeps_full_marks(case, tmp_path, make_submission, reference_source):
    spec = ALTERNATIVES[case]
    result = grade_submission(make_submission(reference_source + "\n" + spec["append"]),
                              settings(tmp_path, tuple(spec["checks"])))
    assert {c.id: (c.status, c.message) for c in result.checks if c.status != "passed"} == {}, spec["about"]


def test_notebook_submission_is_graded_without_running_its_training(tmp_path, make_submission, reference_source):
    cells = [nbformat.v4.new_markdown_cell("# Exercise 4"),
             nbformat.v4.new_code_cell("%matplotlib inline\n!pip install nothing"),
             nbformat.v4.new_code_cell(reference_source),
             nbformat.v4.new_code_cell("open('/tmp/training-ran', 'w')\nwhile True:\n    pass"),
             nbformat.v4.new_code_cell("plot_accuracy({'a': ([0.1], [0.2])})\nimport matplotlib.pyplot as plt\nplt.show()")]
    nb = nbformat.v4.new_notebook(cells=cells)
    zip_path = make_submission(nbformat.writes(nb), code_name="exercise4.ipynb")
    only = ("test_conv_relu_stride1", "test_net_architecture", "test_saliency_matches_reference")
    result = grade_submission(zip_path, settings(tmp_path, only))
    assert [c.status for c in result.checks] == ["passed"] * 3, [c.message for c in result.checks]
    assert result.code_file == "exercise4.ipynb"
    assert "notebook-filtered" in result.flags


def test_import_error_fails_every_check_with_the_reason(tmp_path, make_submission):
    result = grade_submission(make_submission("import torch\nraise ValueError('boom at import')\n"),
                              settings(tmp_path, ("test_conv_relu_stride1", "test_net_architecture")))
    assert result.graded and "import-error" in result.flags
    assert all(c.points == 0 and "boom at import" in c.message for c in result.checks)


def test_syntax_error_gets_a_verdict(tmp_path, make_submission):
    result = grade_submission(make_submission("def conv_relu(:\n"), settings(tmp_path, ("test_conv_relu_stride1",)))
    assert result.checks[0].points == 0
    assert "SyntaxError" in result.checks[0].message


def test_bad_name_is_not_graded(tmp_path, make_submission, reference_source):
    result = grade_submission(make_submission(reference_source, name="mustermann_123456.zip"), settings(tmp_path))
    assert not result.graded and result.score == 0 and "naming" in result.flags
    assert "Mustermann-123456.zip" in result.verdict
    assert (tmp_path / "reports" / "mustermann_123456" / "report.html").exists()


def test_missing_pdf_is_flagged_but_graded(tmp_path, make_submission, reference_source):
    result = grade_submission(make_submission(reference_source, pdf=False), settings(tmp_path, ("test_rf_answer_a",)))
    assert result.graded and "pdf-missing" in result.flags and result.checks[0].status == "passed"


def test_same_seed_same_score(tmp_path, make_submission, reference_source):
    code = mutate(reference_source, MISTAKES["accuracy_per_batch"]["replace"])
    only = ("test_train_counts_images", "test_net_learns", "test_conv_relu_stride_padding")
    first = grade_submission(make_submission(code), settings(tmp_path / "a", only))
    second = grade_submission(make_submission(code), settings(tmp_path / "b", only))
    assert [(c.id, c.points, c.message) for c in first.checks] == [(c.id, c.points, c.message) for c in second.checks]


def test_constant_stubs_get_no_point(tmp_path, make_submission):
    """Every name defined, each returning a constant of the right type: no check may pass."""
    stubs = (Path(__file__).parent / "data" / "stubs" / "exercise4.py").read_text(encoding="utf-8")
    result = grade_submission(make_submission(stubs), settings(tmp_path))
    assert result.graded and "import-error" not in result.flags
    assert {c.id for c in result.checks if c.status == "passed"} == set()
    assert sum(c.points for c in result.checks) == 0


def test_hidden_checks_that_do_not_run_stop_grading_instead_of_scoring_zero(tmp_path, make_submission,
                                                                          reference_source, monkeypatch):
    """A broken check file would give every submission the same wrong zero: the grader stops instead."""
    import grader.session
    from grader.config import CHECKS_DIR
    from grader.errors import ConfigError

    broken = tmp_path / "checks"
    broken.mkdir()
    (broken / "pytest.ini").write_text((CHECKS_DIR / "pytest.ini").read_text())
    (broken / "test_task1.py").write_text("def test_conv_relu_stride1(ctx):\n    return (\n")  # does not parse
    monkeypatch.setattr(grader.session, "CHECKS_DIR", broken)
    with pytest.raises(ConfigError, match="The hidden checks did not run"):
        grade_submission(make_submission(reference_source), settings(tmp_path, ("test_conv_relu_stride1",)))


def test_a_module_whose_top_level_fails_is_graded_on_its_definitions(tmp_path, make_submission, reference_source):
    code = reference_source + "\nhistory = open('../data/only-on-the-students-laptop.bin').read()\n"
    result = grade_submission(make_submission(code), settings(tmp_path, ("test_conv_relu_stride1",)))
    assert statuses(result) == {"test_conv_relu_stride1": "passed"}
    assert "top-level-skipped" in result.flags and "import-error" not in result.flags
    assert any("Running your module's top level failed on the grader (FileNotFoundError" in n for n in result.notes)


@pytest.mark.parametrize("seed", [204774788, 1070284544, 44])
def test_the_reference_keeps_its_training_points_under_seeds_that_once_cost_one(tmp_path, make_submission,
                                                                                  reference_source, seed):
    """Adam amplifies float roundings between the student's process and the replay (training.FOLLOW_TOLERANCE):
    under the first two seeds the exact comparison took a point from the reference (test_net_learns,
    test_train_zeroes_gradients); the third moved it furthest from the replay (3.9 %)."""
    checks = ("test_net_learns", "test_train_zeroes_gradients", "test_train_returns_lists")
    result = grade_submission(make_submission(reference_source), replace(settings(tmp_path, checks), seed=seed))
    assert [(c.id, c.message) for c in result.checks if c.points < c.max_points] == []
