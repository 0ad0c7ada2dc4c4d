"""Submissions written outside the project (tests/data/independent/README.md): valid ones keep every
automatic point, each mistake loses points in its own task only, and make_submission.py agrees."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from grader.config import DEFAULT, PROJECT_DIR, Limits, top_task
from grader.example import build_zip, code_pdf
from grader.grading import grade_submission
from grader.intake import notebook_code_text
from grader.scoring import GradingResult

pytestmark = pytest.mark.slow
CORPUS = Path(__file__).parent / "data" / "independent"
VALID = sorted(p.name for p in (CORPUS / "valid").iterdir() if p.is_dir())
MISTAKES = tomllib.loads((CORPUS / "mistakes.toml").read_text(encoding="utf-8"))
SCRIPT = PROJECT_DIR / "solutions" / "public" / "make_submission.py"


def code_file(folder: Path) -> Path:
    return next(p for p in (folder / "exercise4.py", folder / "exercise4.ipynb") if p.is_file())


def submission_zip(folder: Path, dest: Path) -> Path:
    """The student's code file and a PDF that shows it, zipped under the folder's name."""
    code = code_file(folder)
    data = code.read_bytes()
    text = notebook_code_text(data) if code.suffix == ".ipynb" else data.decode("utf-8")
    return build_zip(dest / f"{folder.name}.zip", {code.name: data, "exercise4.pdf": code_pdf(text, code.name)})


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, tuple[Path, GradingResult]]:
    """Every corpus submission graded once (seed fixed), by name: its zip and its result."""
    tmp = tmp_path_factory.mktemp("independent")
    settings = replace(DEFAULT, out_dir=tmp / "reports", seed=11, limits=Limits(call_timeout_s=150, total_timeout_s=500))
    out = {}
    for kind in ("valid", "mistakes"):
        for folder in sorted(p for p in (CORPUS / kind).iterdir() if p.is_dir()):
            path = submission_zip(folder, tmp / "zips")
            out[folder.name] = (path, grade_submission(path, settings))
    return out


def not_passed(result: GradingResult) -> dict[str, str]:
    return {c.id: c.message for c in result.checks if c.status != "passed"}


def test_every_folder_is_described():
    assert sorted(p.name for p in (CORPUS / "mistakes").iterdir() if p.is_dir()) == sorted(MISTAKES)
    assert len(VALID) >= 12 and len(MISTAKES) >= 12


@pytest.mark.parametrize("name", VALID)
def test_valid_solution_gets_every_automatic_point(name, graded):
    result = graded[name][1]
    assert result.graded and "import-error" not in result.flags, result.verdict
    assert not_passed(result) == {}, (CORPUS / "valid" / name / "ABOUT.md").read_text(encoding="utf-8")
    assert sum(c.points for c in result.checks) == sum(c.max_points for c in result.checks) == 41


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistake_loses_points_in_its_task_only(name, graded):
    spec, result = MISTAKES[name], graded[name][1]
    failed = not_passed(result)
    assert set(spec["fails"]) <= set(failed), (spec["about"], failed)
    assert not set(spec.get("passes", ())) & set(failed), (spec["about"], failed)
    others = {cid: msg for cid, msg in failed.items()
              if top_task(next(c.task for c in result.checks if c.id == cid)) != spec["task"]}
    assert others == {}, spec["about"]
    for cid in spec["fails"]:
        assert "expected" in failed[cid] or "should" in failed[cid], failed[cid]


def make_submission_verdict(path: Path) -> list[str]:
    """The problems make_submission.py --check names for a zip, as a student would run it."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--check", str(path)], capture_output=True, text=True,
                          timeout=300, cwd=path.parent)
    return [line for line in done.stdout.splitlines()
            if ("import" in line or "does not define" in line) and not line.startswith("note: ")]


@pytest.mark.parametrize("name", [*VALID, *sorted(MISTAKES)])
def test_make_submission_agrees_with_the_grader(name, graded):
    path, result = graded[name]
    script_says_gradable = make_submission_verdict(path) == []
    grader_imported = "import-error" not in result.flags and not any(
        "does not define" in c.message for c in result.checks)
    assert script_says_gradable == grader_imported, (make_submission_verdict(path), result.notes)
