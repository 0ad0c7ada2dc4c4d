"""The student's world in the worker (grader/worker/environment.py), in this process on our own code."""

from __future__ import annotations

import sys
import types

import pytest

from grader.worker import environment


@pytest.fixture
def finder(tmp_path):
    student = str(tmp_path / "exercise4.py")
    found = environment.MissingModules(student)
    sys.meta_path.append(found)
    yield found
    sys.meta_path.remove(found)
    for name in [m for m in sys.modules if m.startswith(("ex4_not_installed", "google_colab_like"))]:
        del sys.modules[name]


def run_as(filename: str, code: str) -> dict:
    namespace: dict = {"__name__": "exercise4"}
    exec(compile(code, filename, "exec"), namespace)  # noqa: S102 - our own test code
    return namespace


def test_a_missing_import_in_the_students_file_gets_a_stand_in(finder):
    ns = run_as(finder.student_file, "import ex4_not_installed as sns\nfrom google_colab_like.colab import drive\n"
                                     "drive.mount('/content/drive')\nsns.set_theme()\n")
    assert finder.missing == ["ex4_not_installed", "google_colab_like.colab"]
    finder.importing = False
    with pytest.raises(ModuleNotFoundError, match="ex4_not_installed is not installed on the grader"):
        ns["sns"].set_theme()


def test_a_librarys_own_optional_import_still_fails(finder, tmp_path):
    with pytest.raises(ImportError):
        run_as(str(tmp_path / "site-packages" / "lib.py"), "import ex4_not_installed_either\n")
    assert finder.missing == []


def test_installed_modules_are_never_replaced(finder):
    ns = run_as(finder.student_file, "import json\n")
    assert ns["json"] is sys.modules["json"] and finder.missing == []


def test_given_names_leave_out_what_the_student_writes():
    lent = environment.given_names("import math\nCLASSES = ('a',)\ndef helper():\n    return 1\n"
                                   "def conv_relu():\n    raise NotImplementedError\n", ["conv_relu"])
    assert set(lent) == {"math", "CLASSES", "helper"}
    module = types.ModuleType("exercise4")
    module.__dict__.update(lent)
    module.helper = lambda: 2  # the student's own definition wins
    assert environment.lent_names(module, lent) == ["CLASSES"]


def test_jupyter_builtins():
    environment.install_notebook_builtins()
    assert display(object()) is None  # type: ignore[name-defined]  # noqa: F821
    assert get_ipython().run_line_magic("matplotlib", "inline") is not None  # type: ignore[name-defined]  # noqa: F821


def test_the_report_names_each_stand_in_and_whether_a_check_needed_it():
    from grader.grading import environment_notes
    from grader.scoring import CheckResult

    needed = CheckResult("test_plot_accuracy", "3.3", "plot_accuracy: a Figure", 0.0, 1.0, "failed",
                         "plot_accuracy(runs) should run without error, but raised ModuleNotFoundError: seaborn "
                         "is not installed on the grader, and your code called seaborn.lineplot()")
    notes = environment_notes({"missing_modules": ["seaborn", "google.colab"], "lent": ["to_image", "CLASSES"]},
                              [needed])
    assert notes[0] == "`import seaborn`: seaborn is not available on the grader; it was needed by: plot_accuracy: a Figure."
    assert notes[1] == "`import google.colab`: google.colab is not available on the grader; your graded functions did not need it."
    assert notes[2].startswith("Your code does not define to_image, CLASSES: the template gives these")
    assert environment_notes({"missing_modules": ["x" * 10_000] * 100}, []) == environment_notes(
        {"missing_modules": ["x" * 100] * 20}, [])
