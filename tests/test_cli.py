"""The command line: thin commands tested with click's CliRunner; --help stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from grader.cli import main


def test_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "selftest", "template", "example", "data"):
        assert command in result.output


def test_help_does_not_import_torch():
    code = "import sys; from click.testing import CliRunner; from grader.cli import main; " \
           "r = CliRunner().invoke(main, ['run', '--help']); assert r.exit_code == 0, r.output; " \
           "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_run_needs_an_existing_zip(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "missing.zip")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_unknown_check_is_a_clear_error(tmp_path):
    zip_path = tmp_path / "Mustermann-123456.zip"
    zip_path.write_bytes(b"PK")
    result = CliRunner().invoke(main, ["run", str(zip_path), "--only", "test_nope", "--out", str(tmp_path)])
    assert result.exit_code == 3 and "No check is called test_nope" in result.output


def test_template_check_says_in_sync():
    result = CliRunner().invoke(main, ["template", "--check"])
    assert result.exit_code == 0, result.output
    assert "in sync" in result.output


def test_run_writes_a_verdict_for_a_bad_name_and_exits_zero(tmp_path):
    zip_path = tmp_path / "not a good name.zip"
    zip_path.write_bytes(b"not a zip")
    result = CliRunner().invoke(main, ["run", str(zip_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Not graded" in result.output
    assert (tmp_path / "out" / "not a good name" / "results.json").exists()


@pytest.mark.slow
def test_run_grades_a_submission(tmp_path, make_submission, reference_source):
    zip_path = make_submission(reference_source)
    result = CliRunner().invoke(main, ["run", str(zip_path), "--out", str(tmp_path / "out"), "--seed", "3",
                                       "--only", "test_conv_relu_stride1"])
    assert result.exit_code == 0, result.output
    assert "Mustermann-123456" in result.output and "report.html" in result.output


def test_a_grader_bug_on_one_zip_leaves_a_verdict_for_each(tmp_path, make_submission, reference_source, monkeypatch):
    import grader.grading

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a hidden check")

    monkeypatch.setattr(grader.grading, "run_checks", broken)
    first = make_submission(reference_source, name="Erste-123456.zip")
    second = make_submission(reference_source, name="Zweite-654321.zip")
    result = CliRunner().invoke(main, ["run", str(first), str(second), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    for stem, number in (("Erste-123456", "123456"), ("Zweite-654321", "654321")):
        data = json.loads((tmp_path / "out" / stem / "results.json").read_text())
        assert "grader-error" in data["extra_data"]["flags"] and data["score"] == 0
        assert data["extra_data"]["student"]["matriculation"] == number
        assert "a TA will look at it" in data["output"]
        assert "a bug in a hidden check" in (tmp_path / "out" / ".logs" / f"{stem}.log").read_text()
