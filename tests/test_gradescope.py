"""`grader gradescope`: the autograder zip, and its run_autograder in a folder laid out like Gradescope's /autograder.

setup.sh is not run here (it installs from the network as root); run_autograder uses this machine's
Python instead (GRADER_PYTHON) with the project on PYTHONPATH, and the folder's root is AUTOGRADER_ROOT.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.config import PROJECT_DIR, SHIPPED_DATA, ZipLimits
from grader.errors import SubmissionRejected
from grader.gradescope import UPLOAD_NAME, collect_upload, gradescope_results, prepare

METADATA = {"id": 42, "created_at": "2026-12-01T10:00:00+01:00", "submission_method": "upload",
            "users": [{"email": "erika@example.com", "id": 7, "name": "Erika Musterfrau", "sid": "123456"}],
            "previous_submissions": []}


def unpack(zip_path: Path, dest: Path) -> None:
    """Unzip as Gradescope does, keeping each member's Unix mode (Python's zipfile drops it)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip `grader gradescope` writes (built once for this module)."""
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    result = CliRunner().invoke(main, ["gradescope", "--out", str(out), "--time-limit", "400"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    return out


@pytest.fixture(scope="module")
def source(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip unpacked as ROOT/source, its data unpacked once (what setup.sh does for the image)."""
    root = tmp_path_factory.mktemp("image")
    unpack(built, root / "source")
    prepare(root)
    return root / "source"


@pytest.fixture
def autograder(source: Path, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Run run_autograder on a fresh /autograder layout holding `files` (name -> bytes) as the upload."""

    def run(files: dict[str, bytes], metadata: dict[str, Any] | None = METADATA, python: str = sys.executable,
            src: Path = source) -> dict[str, Any]:
        root = tmp_path / "autograder"
        (root / "results").mkdir(parents=True)
        (root / "submission").mkdir()
        (root / "source").symlink_to(src)
        for name, data in files.items():
            (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "submission" / name).write_bytes(data)
        if metadata is not None:
            (root / "submission_metadata.json").write_text(json.dumps(metadata))
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": python, "PYTHONPATH": str(PROJECT_DIR)}
        done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
        results["_stdout"] = done.stdout
        return results

    return run


@pytest.fixture
def reference_files(tmp_path: Path) -> dict[str, bytes]:
    """The files of `grader example`'s Mustermann-123456.zip, as a student would upload them loose."""
    result = CliRunner().invoke(main, ["example", "--out", str(tmp_path / "example")])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp_path / "example" / "Mustermann-123456.zip") as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_zip_holds_setup_run_autograder_grader_reference_and_data(built: Path) -> None:
    with zipfile.ZipFile(built) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        for script in ("setup.sh", "run_autograder"):
            assert (infos[script].external_attr >> 16) & 0o111, f"{script} is not executable"
        wheels = [n for n in infos if n.endswith(".whl")]
        assert len(wheels) == 1 and "/" not in wheels[0]
        assert zf.read("solutions/exercise4.py") == (PROJECT_DIR / "solutions" / "exercise4.py").read_bytes()
        assert zf.read("data/cifar10-subset.tar.xz") == SHIPPED_DATA.read_bytes()
        assert json.loads(zf.read("gradescope.json")) == {"time_limit_s": 400.0, "visibility": "visible"}
        with zipfile.ZipFile(zf.open(wheels[0])) as wheel:
            names = set(wheel.namelist())
    # What grading needs from the package, including the files that are not Python.
    for need in ("grader/checks/pytest.ini", "grader/rubric.toml", "grader/templates/report.html.j2",
                 "grader/checks/test_task3_train.py", "grader/worker/main.py", "grader/gradescope.py"):
        assert need in names
    assert not any(n.startswith(("solutions/", "tests/")) or "__pycache__" in n for n in names)


def test_setup_sh_is_bash_and_pins_exactly_the_readme_versions(source: Path) -> None:
    for script in ("setup.sh", "run_autograder"):
        done = subprocess.run(["bash", "-n", str(source / script)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    text = (source / "setup.sh").read_text(encoding="utf-8")
    pins = [p for name in ("TORCH_PINS", "PINS")
            for p in re.search(rf"^{name}=\((.*)\)$", text, re.MULTILINE).group(1).split()]  # type: ignore[union-attr]
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert sorted(pins) == sorted(project["dependencies"])
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    for package, version in re.findall(r"(torch|torchvision) (\d+\.\d+\.\d+)", readme.split("## Layout")[0]):
        assert f"{package}=={version}" in pins
    assert "torch==2.14.1" in pins and "torchvision==0.29.1" in pins
    assert "bubblewrap" in text and "python3.11" in text


def test_empty_submission_gets_a_results_json_saying_nothing_was_uploaded(autograder) -> None:
    results = autograder({})
    assert results["score"] == 0
    assert "Nothing was uploaded" in results["output"]
    assert results["extra_data"]["flags"] == ["no-upload"]


def test_grader_that_cannot_start_still_leaves_a_results_json(autograder, tmp_path: Path) -> None:
    results = autograder({"exercise4.py": b"x = 1\n"}, python=str(tmp_path / "no-python"))
    assert results["score"] == 0
    assert "a TA will look" in results["output"]


def test_grader_failure_leaves_score_zero_and_keeps_the_error_from_the_student(autograder, source: Path,
                                                                               tmp_path: Path) -> None:
    broken = tmp_path / "broken-source"
    shutil.copytree(source, broken, ignore=shutil.ignore_patterns("data"))  # no data set: the grader's fault
    results = autograder({"exercise4.py": b"x = 1\n"}, src=broken)
    assert results["score"] == 0
    assert "a TA will look" in results["output"] and "missing" not in results["output"]
    assert "cifar10-subset.tar.xz is missing" in results["extra_data"]["error"]
    assert "cifar10-subset.tar.xz is missing" in results["_stdout"]


def test_upload_is_packed_without_symlinks(tmp_path: Path) -> None:
    sub = tmp_path / "submission"
    (sub / "work").mkdir(parents=True)
    (sub / "work" / "exercise4.py").write_text("x = 1\n")
    (sub / "secret").symlink_to("/etc/passwd")
    zip_path = collect_upload(sub, tmp_path / UPLOAD_NAME, ZipLimits())
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.namelist() == ["work/exercise4.py"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_an_upload_over_the_zip_limits_is_refused_with_a_sentence(tmp_path: Path) -> None:
    sub = tmp_path / "submission"
    sub.mkdir()
    for i in range(4):
        (sub / f"f{i}.txt").write_text("x")
    with pytest.raises(SubmissionRejected) as caught:
        collect_upload(sub, tmp_path / UPLOAD_NAME, ZipLimits(max_entries=3))
    assert caught.value.flag == "zip-limits" and "more than 3 files" in caught.value.reason


def test_results_take_the_student_from_gradescope_and_hide_stdout() -> None:
    graded = {"score": 3.0, "output": "Graded: 3 of 41.", "tests": [{"name": "a", "visibility": "visible"}],
              "extra_data": {"student": {"surname": "Gradescope", "matriculation": "000000"},
                             "notes": ["The zip holds no PDF of the code, which the course requires."]}}
    out = gradescope_results(graded, {"submission_id": 42, "users": [{"name": "Erika Musterfrau"}]},
                             "after_published", 12.4)
    assert out["extra_data"]["student"] is None
    assert out["extra_data"]["gradescope"]["users"] == [{"name": "Erika Musterfrau"}]
    assert out["output"] == "Graded: 3 of 41.\n\n- The zip holds no PDF of the code, which the course requires."
    assert out["visibility"] == "after_published" and out["tests"][0]["visibility"] == "after_published"
    assert out["stdout_visibility"] == "hidden" and out["execution_time"] == 12


@pytest.mark.slow
def test_reference_uploaded_as_loose_files_gets_every_automatic_point(autograder, reference_files) -> None:
    results = autograder(reference_files)
    assert results["score"] == 41, [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]
    assert all(t["status"] == "passed" for t in results["tests"]) and len(results["tests"]) == 32
    assert results["output"].startswith("Graded: 41 of 41 automatic points")
    extra = results["extra_data"]
    assert "naming" not in extra["flags"] and "pdf-missing" not in extra["flags"]
    assert extra["student"] is None
    assert extra["gradescope"] == {"submission_id": 42, "users": [
        {"name": "Erika Musterfrau", "email": "erika@example.com", "sid": "123456", "id": "7"}]}
    assert results["stdout_visibility"] == "hidden"
    assert "32 passed" in results["_stdout"]  # the TA's log, for instructors only


@pytest.mark.slow
def test_zip_upload_of_any_name_is_graded_without_the_naming_rule(autograder, make_submission,
                                                                  reference_source) -> None:
    zip_path = make_submission(reference_source, name="my upload (final).zip")
    results = autograder({"my upload (final).zip": zip_path.read_bytes()}, metadata=None)
    assert results["score"] == 41, [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]
    assert "naming" not in results["extra_data"]["flags"]
    assert results["extra_data"]["gradescope"] is None


@pytest.mark.slow
def test_broken_submission_gets_score_zero_and_a_readable_output(autograder, reference_source) -> None:
    broken = reference_source.replace("def conv_relu(", "def conv_relu(:", 1)
    results = autograder({"exercise4.py": broken.encode()})
    assert results["score"] == 0
    assert "could not be imported" in results["output"]
    assert "SyntaxError" in results["output"]
