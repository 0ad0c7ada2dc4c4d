"""Tests of results.json, the HTML report and the terminal summary."""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import pytest

import grader
from grader import outfiles, report
from grader.outfiles import write_outputs
from grader.report import render_report, result_from_json, result_to_json, summary_lines
from grader.scoring import CheckResult, Figure, GradingResult, ManualItem, Student

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"{SCRIPT} and {BREAKOUT}"

TITLES = {"1": "Convolutions revisited", "2": "Receptive field", "3": "A CNN on CIFAR-10",
          "4": "Activation and saliency maps"}
TASK_MAX = {"1": 6.0, "2": 4.0, "3": 14.0, "4": 8.0}

MakeResult = Callable[..., GradingResult]


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid grey PNG, built by hand so the tests need no imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (report.PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.fixture
def make_result() -> MakeResult:
    """Factory of grading results: a graded submission by default, `rejected=True` for a bad name."""
    def make(*, rejected: bool = False, **changes: Any) -> GradingResult:
        if rejected:
            fields: dict[str, Any] = dict(
                stem="mustermann_final", student=None, graded=False,
                verdict="Not graded: the file name must look like Surname-MatriculationNumber.zip, "
                        "e.g. Mustermann-123456.zip.",
                flags=("naming",), task_titles=dict(TITLES), task_max=dict(TASK_MAX), seed=7,
            )
        else:
            fields = dict(
                stem="Müller-123456",
                student=Student("Müller", "123456"),
                graded=True,
                verdict="Graded automatically; written answers await a TA.",
                checks=(
                    CheckResult("test_conv_relu_stride1", "1.1", "conv_relu, stride 1", 2.0, 2.0, "passed", "", 0.25),
                    CheckResult("test_output_size_floor", "1.5", "conv_output_size uses the floor", 0.0, 1.0,
                                "failed", "expected conv_output_size(7, 2, 2, 0) = 3\n     got 3.5", 0.01),
                    CheckResult("test_net_architecture", "3.2", "Net has the LeNet layers", 3.0, 3.0, "passed", "",
                                1.5),
                    CheckResult("test_train_accuracy", "3.3", "train() reaches 35 % test accuracy", 0.0, 4.0,
                                "error", "train() did not return within 90 s.", 90.0),
                ),
                manual=(
                    ManualItem("1b", "1.1", "How do patch, kernel and ReLU interact?", 1.0,
                               "The ReLU keeps\n  only positive sums."),
                    ManualItem("2c", "2", "How does depth relate to the receptive field?", 0.5,
                               "It grows linearly.", points=0.5, comment="Right."),
                ),
                flags=("pdf-mismatch",),
                notes=("The PDF does not show the submitted code.",),
                figures=(Figure("accuracy.png", "Train and test accuracy over epochs", "3.3"),
                         Figure("saliency.png", "Saliency maps for labels 243 and 285", "4.5")),
                seed=20240611,
                timings={"total": 123.4, "worker_import": 3.2},
                task_titles=dict(TITLES),
                task_max=dict(TASK_MAX),
                sandbox="bubblewrap",
                code_file="exercise4.py",
            )
        fields.update(changes)
        return GradingResult(**fields)

    return make


class TagCollector(HTMLParser):
    """Every start tag with its attributes, to see what a browser would build."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = TagCollector()
    parser.feed(html)
    parser.close()
    return parser.tags


# --- results.json ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["graded", "rejected", "all-graded", "bare"])
def test_round_trip(make_result: MakeResult, kind: str) -> None:
    if kind == "graded":
        result = make_result()
    elif kind == "rejected":
        result = make_result(rejected=True)
    elif kind == "all-graded":
        result = make_result(manual=(ManualItem("1b", "1.1", "Q?", 1.0, "A.", points=0.0, comment="No."),))
    else:
        # No titles or maxima at all: reading back must not invent any.
        result = GradingResult(stem="X-1234567", student=Student("X", "1234567"), graded=True, verdict="ok",
                               checks=(CheckResult("t", "1.1", "t", 1.0, 1.0, "passed", ""),))
    data = result_to_json(result)
    assert result_from_json(data) == result
    assert result_from_json(json.loads(json.dumps(data))) == result


def test_schema(make_result: MakeResult) -> None:
    result = make_result()
    data = result_to_json(result)
    json.dumps(data, allow_nan=False)

    assert isinstance(data["score"], float) and data["score"] == pytest.approx(5.5)
    assert data["output"] == result.verdict
    assert data["visibility"] == "visible"
    assert isinstance(data["tests"], list) and len(data["tests"]) == len(result.checks)
    for test, check in zip(data["tests"], result.checks):
        assert test["name"] == check.title
        assert isinstance(test["number"], str) and test["number"] == check.task
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert test["status"] in ("passed", "failed")
        assert test["output"] == check.message
        assert test["visibility"] == "visible"
        assert test["extra_data"] == {"id": check.id, "status": check.status, "duration_s": check.duration_s,
                                      "reading": check.reading}

    extra = data["extra_data"]
    assert extra["schema"] == 1
    assert extra["grader_version"] == grader.__version__
    assert extra["graded"] is True
    assert extra["student"] == {"surname": "Müller", "matriculation": "123456"}
    assert extra["stem"] == "Müller-123456"
    assert extra["flags"] == ["pdf-mismatch"] and extra["notes"] == list(result.notes)
    assert extra["seed"] == 20240611 and extra["timings"] == {"total": 123.4, "worker_import": 3.2}
    assert extra["sandbox"] == "bubblewrap" and extra["code_file"] == "exercise4.py"
    assert extra["max_score"] == 32.0
    assert [t["number"] for t in extra["tasks"]] == ["1", "2", "3", "4"]
    assert extra["tasks"][0] == {"number": "1", "title": "Convolutions revisited", "score": 2.0, "max_score": 6.0}
    assert extra["tasks"][1]["score"] == 0.5  # the TA-graded answer counts
    assert extra["figures"][0] == {"name": "accuracy.png", "title": "Train and test accuracy over epochs",
                                   "task": "3.3"}


def test_error_is_failed_for_gradescope(make_result: MakeResult) -> None:
    test = result_to_json(make_result())["tests"][3]
    assert test["status"] == "failed"
    assert test["extra_data"]["status"] == "error"


def test_manual_items_are_not_tests(make_result: MakeResult) -> None:
    data = result_to_json(make_result())
    assert {t["extra_data"]["id"] for t in data["tests"]}.isdisjoint({"1b", "2c"})
    pending, given = data["extra_data"]["manual"]
    assert pending == {"id": "1b", "task": "1.1", "question": "How do patch, kernel and ReLU interact?",
                       "max_points": 1.0, "points": None, "answer": "The ReLU keeps\n  only positive sums.",
                       "comment": ""}
    assert given["points"] == 0.5 and given["comment"] == "Right."


def test_unknown_schema_is_refused(make_result: MakeResult) -> None:
    data = result_to_json(make_result())
    data["extra_data"]["schema"] = 99
    with pytest.raises(ValueError, match="schema"):
        result_from_json(data)


# --- report.html -------------------------------------------------------------------------


def test_report_content(make_result: MakeResult) -> None:
    result = make_result()
    html = render_report(result, {})
    tags_of(html)
    assert "Müller" in html and "123456" in html and "Müller-123456.zip" in html
    assert "Graded automatically; written answers await a TA." in html
    assert "5.5" in html and "32" in html
    for title in TITLES.values():
        assert title in html
    assert "expected conv_output_size(7, 2, 2, 0) = 3\n     got 3.5" in html  # kept verbatim for <pre>
    assert "to be graded by a TA (1 point)" in html
    assert "Right." in html
    assert "pdf-mismatch" in html and "The PDF does not show the submitted code." in html
    assert "20240611" in html and "bubblewrap" in html and f"version {grader.__version__}" in html
    assert not [t for t, _ in tags_of(html) if t in ("script", "link", "iframe")]


@pytest.mark.parametrize("where", ["surname", "answer", "message", "verdict", "comment", "note", "flag",
                                   "check title", "figure title", "stem", "code file", "timing"])
def test_student_text_is_escaped(make_result: MakeResult, where: str, tmp_path: Path) -> None:
    base = make_result()
    changes: dict[str, Any] = {
        "surname": {"student": Student(PAYLOAD, "123456")},
        "answer": {"manual": (ManualItem("1b", "1.1", "Q?", 1.0, PAYLOAD),)},
        "message": {"checks": (CheckResult("t", "1.1", "t", 0.0, 1.0, "failed", PAYLOAD),)},
        "verdict": {"verdict": PAYLOAD},
        "comment": {"manual": (ManualItem("1b", "1.1", "Q?", 1.0, "A", points=1.0, comment=PAYLOAD),)},
        "note": {"notes": (PAYLOAD,)},
        "flag": {"flags": (PAYLOAD,)},
        "check title": {"checks": (CheckResult("t", "1.1", PAYLOAD, 1.0, 1.0, "passed", ""),)},
        "figure title": {"figures": (Figure("a.png", PAYLOAD, "3.3"),)},
        "stem": {"stem": PAYLOAD},
        "code file": {"code_file": PAYLOAD},
        "timing": {"timings": {PAYLOAD: 1.0}},
    }[where]
    result = GradingResult(**{**base.__dict__, **changes})
    html = render_report(result, {"a.png": png()})
    assert SCRIPT not in html
    assert BREAKOUT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tags = tags_of(html)
    assert not [t for t, _ in tags if t == "script"]
    assert not [(t, a) for t, attrs in tags for a in attrs if a.startswith("on")]
    assert all((attrs.get("src") or "").startswith("data:image/png;base64,") for t, attrs in tags if t == "img")
    # The written file is the same document.
    if where != "stem":
        folder = write_outputs(result, tmp_path)
        assert SCRIPT not in (folder / "report.html").read_text(encoding="utf-8")


def test_figures_are_embedded(make_result: MakeResult, tmp_path: Path) -> None:
    result = make_result()
    folder = tmp_path / result.stem
    folder.mkdir()
    picture = png(3, 2)
    (folder / "accuracy.png").write_bytes(picture)
    (folder / "saliency.png").write_bytes(png(4, 4))
    html = (write_outputs(result, tmp_path) / "report.html").read_text(encoding="utf-8")
    sources = [attrs["src"] for tag, attrs in tags_of(html) if tag == "img"]
    assert len(sources) == 2
    assert all(s and s.startswith("data:image/png;base64,") for s in sources)
    assert base64.b64decode(sources[0].split(",", 1)[1]) == picture  # type: ignore[union-attr]
    assert "Train and test accuracy over epochs" in html
    assert "figure not available" not in html
    # Self-contained: nothing is fetched from anywhere else.
    assert "http://" not in html and "https://" not in html


@pytest.mark.parametrize("problem", ["missing", "not a png", "empty", "path outside"])
def test_unusable_figure_is_shown_as_not_available(make_result: MakeResult, tmp_path: Path, problem: str) -> None:
    name = {"missing": "accuracy.png", "not a png": "accuracy.png", "empty": "accuracy.png",
            "path outside": "../accuracy.png"}[problem]
    result = make_result(figures=(Figure(name, "Train and test accuracy over epochs", "3.3"),))
    folder = tmp_path / result.stem
    folder.mkdir()
    if problem == "not a png":
        (folder / name).write_bytes(b"GIF89a not a png at all")
    elif problem == "empty":
        (folder / name).write_bytes(b"")
    elif problem == "path outside":
        (tmp_path / "accuracy.png").write_bytes(png())
    html = (write_outputs(result, tmp_path) / "report.html").read_text(encoding="utf-8")
    assert "figure not available" in html
    assert "Train and test accuracy over epochs" in html
    assert "data:image/png" not in html


def test_render_report_checks_the_bytes_it_is_given(make_result: MakeResult) -> None:
    html = render_report(make_result(), {"accuracy.png": b"<svg onload=alert(1)>", "saliency.png": png()})
    assert html.count("data:image/png;base64,") == 1
    assert "figure not available" in html


# --- writing -----------------------------------------------------------------------------


def test_write_outputs(make_result: MakeResult, tmp_path: Path) -> None:
    result = make_result()
    folder = write_outputs(result, tmp_path / "out")
    assert folder == tmp_path / "out" / "Müller-123456"
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "results.json"]
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert result_from_json(data) == result
    assert (folder / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_rewrite_replaces_and_leaves_no_temp_files(make_result: MakeResult, tmp_path: Path) -> None:
    write_outputs(make_result(verdict="first"), tmp_path)
    folder = write_outputs(make_result(verdict="second"), tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "results.json"]
    assert json.loads((folder / "results.json").read_text(encoding="utf-8"))["output"] == "second"


def test_failed_write_keeps_the_old_file(make_result: MakeResult, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_outputs(make_result(verdict="first"), tmp_path)
    before = (folder / "results.json").read_bytes()

    def broken_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(outfiles.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(make_result(verdict="second"), tmp_path)
    assert (folder / "results.json").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "results.json"]


def test_rejected_submission_gets_both_files(make_result: MakeResult, tmp_path: Path) -> None:
    result = make_result(rejected=True)
    folder = write_outputs(result, tmp_path)
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == 0.0 and data["tests"] == []
    assert data["output"] == result.verdict
    assert data["extra_data"]["graded"] is False and data["extra_data"]["student"] is None
    assert data["extra_data"]["flags"] == ["naming"]
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Mustermann-123456.zip" in html  # the verdict says what the name should look like
    assert "not identified" in html
    assert "Automatic checks" not in html


def test_rejected_without_rubric_totals(make_result: MakeResult, tmp_path: Path) -> None:
    result = make_result(rejected=True, task_titles={}, task_max={})
    folder = write_outputs(result, tmp_path)
    assert json.loads((folder / "results.json").read_text(encoding="utf-8"))["extra_data"]["max_score"] == 0.0
    assert result.verdict in (folder / "report.html").read_text(encoding="utf-8")


# --- terminal ----------------------------------------------------------------------------


def test_summary_lines(make_result: MakeResult) -> None:
    lines = summary_lines(make_result())
    assert all(isinstance(line, str) and "\n" not in line for line in lines)
    assert lines[0] == "Müller-123456: Graded automatically; written answers await a TA."
    text = "\n".join(lines)
    assert "Convolutions revisited" in text and "Total: 5.5 / 32" in text
    # Pending written answers are shown as pending, per task and in the total, never as points lost.
    assert "Total: 5.5 / 32, 1 point of written answers pending" in text
    assert "2 / 3 automatic, 1 point of written answers pending" in text
    assert "flag: pdf-mismatch" in text


def test_summary_lines_rejected(make_result: MakeResult) -> None:
    lines = summary_lines(make_result(rejected=True))
    assert lines[0].startswith("mustermann_final: Not graded")
    assert "Total: 0 / 32" in "\n".join(lines)


@pytest.mark.parametrize("value, text", [(2.0, "2"), (0.5, "0.5"), (1.25, "1.25"), (0.0, "0"), (None, "–"),
                                         (1 / 3, "0.33")])
def test_format_points(value: float | None, text: str) -> None:
    assert report.format_points(value) == text


def test_tasks_in_numeric_order(make_result: MakeResult) -> None:
    result = make_result(task_titles={"10": "Ten", "9": "Nine"}, task_max={"10": 1.0, "9": 1.0},
                         checks=(), manual=(), figures=())
    assert [t["number"] for t in result_to_json(result)["extra_data"]["tasks"]] == ["9", "10"]


def test_report_says_the_verdict_once_and_shows_pending_answers_as_pending(make_result: MakeResult) -> None:
    result = make_result()
    html = render_report(result, {})
    assert html.count(result.verdict) == 1
    assert "automatic, 1 point of written answers pending" in html


def test_timings_read_as_words_and_rates() -> None:
    from grader.report import timing_texts

    assert timing_texts({"intake": 0.71, "task3": 7.3, "images_per_s:student_train": 11094.4, "total": 15.2}) == [
        "reading the zip 0.7 s", "Task 3 7.3 s", "your train() on the grader's data: 11,094 images/s", "in all 15.2 s"]


def test_a_passed_check_shows_the_reading_it_recognised(make_result: MakeResult) -> None:
    base = make_result()
    check = replace(base.checks[0], status="passed", points=base.checks[0].max_points, message="",
                    reading="Recognised: each map min-max scaled.")
    result = replace(base, checks=(check, *base.checks[1:]))
    assert "Recognised: each map min-max scaled." in render_report(result, {})
    assert result_from_json(result_to_json(result)).checks[0].reading == check.reading


def test_the_grader_s_own_figures_are_palette_pngs_a_third_the_size(monkeypatch):
    """Reports embed their figures and Moodle's feedback zip holds one report per student (#11)."""
    import io

    import numpy as np
    from PIL import Image

    from grader import figures

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:56, 0:56] / 56.0
    smooth = np.stack([np.sin(3 * xx + k) * np.cos(2 * yy - k) for k in range(16)])  # maps look like this, not noise
    acts = {name: (smooth + 0.05 * rng.standard_normal(smooth.shape))[None].astype(np.float32)
            for name in ("layer1", "layer2", "layer3")}
    photo = rng.standard_normal((3, 224, 224)).astype(np.float32) * 0.2
    small = figures.activation_grid(acts, photo)
    monkeypatch.setattr(figures, "palette_png", lambda png: png)
    full = figures.activation_grid(acts, photo)
    assert Image.open(io.BytesIO(small)).mode == "P"
    assert Image.open(io.BytesIO(small)).size == Image.open(io.BytesIO(full)).size
    assert len(small) < 0.5 * len(full), (len(small), len(full))
