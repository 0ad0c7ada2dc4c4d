"""Bounded everything (issue #15): output files under their caps, the overall time limit, parsing in a limited child."""

from __future__ import annotations

import json
from pathlib import Path

from grader.grading import LOG_CAP, save_log
from grader.report import REPORT_CAP, RESULTS_CAP, write_outputs
from grader.scoring import CheckResult, GradingResult, ManualItem, Student


def test_outputs_stay_under_their_caps_whatever_the_texts(tmp_path: Path) -> None:
    huge = "<b>x</b>" * 250_000  # 2 MB in every check, note and answer
    checks = tuple(CheckResult(f"test_{i}", "1", f"check {i}", 0.0, 1.0, "failed", huge) for i in range(30))
    result = GradingResult(stem="Mustermann-123456", student=Student("Mustermann", "123456"), graded=True,
                           verdict="Graded: 0 of 30 automatic points.", checks=checks, notes=(huge,) * 500,
                           manual=(ManualItem("q1", "1", "Why?", 3.0, huge),), task_titles={"1": "Conv"},
                           task_max={"1": 33.0})
    folder = write_outputs(result, tmp_path)
    assert (folder / "results.json").stat().st_size <= RESULTS_CAP
    assert (folder / "report.html").stat().st_size <= REPORT_CAP
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert data["output"] == result.verdict and len(data["tests"]) == 30
    assert "characters more)" in data["tests"][0]["output"]
    assert any("were cut to" in n for n in data["extra_data"]["notes"])


def test_the_log_is_capped_with_a_note_where_it_was_cut(tmp_path: Path) -> None:
    save_log(tmp_path, "Mustermann-123456", "head\n" + "é" * 8_000_000 + "\ntail")
    data = (tmp_path / ".logs" / "Mustermann-123456.log").read_bytes()
    assert len(data) <= LOG_CAP
    text = data.decode("utf-8")
    assert text.startswith("head\n") and text.endswith("\ntail") and "bytes of this log left out" in text
