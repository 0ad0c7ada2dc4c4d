"""Batch grading: many submissions, child processes, the cache, resuming, overrides, the outputs for Moodle.

Most tests use a fake grader (tests/fake_grade.py, the `fake` fixture) that writes a plausible result
in milliseconds: in this process as a callable, or in real child processes as
``tests.fake_grade:grade_child``. One slow test grades real submissions end to end.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from grader import batch
from grader.batch import Progress, run_batch
from grader.config import DEFAULT
from grader.example import build_submission, build_zip
from grader.errors import SandboxError, WorksheetError
from grader.moodle import InputError, read_worksheet
from grader.overrides import OverridesError
from tests.helpers import (FAKE_CHILD, FAKE_REFERENCE, PAYLOAD, T0, TERM, WORKSHEETS, calls, grades, make_download,
                           moodle_import_target, results, settings, zip_folder)


# --------------------------------------------------------------------------- a whole term


def test_a_term_from_a_moodle_download_zip(tmp_path, fake):
    download = zip_folder(make_download(tmp_path / "download"), tmp_path / "download.zip")
    out = tmp_path / "reports"
    seen: list[Progress] = []
    summary = run_batch(download, settings(out), workers=2, grade=fake.grade_inproc,
                        worksheet=WORKSHEETS["en"], scale=False, progress=seen.append)
    assert len(summary.entries) == len(TERM) >= 10
    assert seen[0].done == 0 and seen[-1].done == seen[-1].total == len(TERM)
    rows = grades(out)
    assert set(rows) == {"Mustermann-123456", "Musterfrau-234567", "Müller-Lüdenscheidt-345678", "O'Neil-456789",
                         "Chen-567890", "nordmann_final", "Park 678901", "smith_draft", "Smith-789012",
                         "Mallory-890123", "Żak-901234", "Li-112233"}
    assert {k: v["participant_id"] for k, v in rows.items()}["Mallory-890123"] == "1009"
    ref = rows["Mustermann-123456"]
    assert (ref["surname"], ref["matriculation"], ref["participant_id"], ref["counts"]) == ("Mustermann", "123456",
                                                                                        "1001", "yes")
    assert float(ref["total"]) == sum(c["max_score"] for c in results(out)["Mustermann-123456"]["tests"])
    assert float(rows["Musterfrau-234567"]["total"]) == float(ref["total"]) - 2
    assert "import-error" in rows["Müller-Lüdenscheidt-345678"]["flags"]
    # Hostile code crashed (in-process fake: an exception) - a verdict, and the others are untouched.
    assert "grader-error" in rows["O'Neil-456789"]["flags"] and rows["O'Neil-456789"]["status"] == "crashed"
    assert rows["O'Neil-456789"]["matriculation"] == "456789"
    assert "grader-error" in rows["Chen-567890"]["flags"]
    assert "naming" in rows["nordmann_final"]["flags"] and "naming" in rows["Park 678901"]["flags"]
    # Several zips from one participant: the latest counts, the other is superseded.
    assert (rows["smith_draft"]["counts"], rows["Smith-789012"]["counts"]) == ("no", "yes")
    assert "superseded" in rows["smith_draft"]["flags"] and "duplicates" in rows["Smith-789012"]["flags"]
    assert float(rows["Smith-789012"]["total"]) == float(ref["total"])
    assert "moodle-mismatch" in rows["Mallory-890123"]["flags"]
    assert "moodle-mismatch" not in rows["Müller-Lüdenscheidt-345678"]["flags"]
    assert "moodle-mismatch" not in rows["Żak-901234"]["flags"]
    report = (out / "Mallory-890123" / "report.html").read_text()
    assert "Eve Evans" in report and "moodle-mismatch" in report
    assert "Superseded by Smith-789012.zip" in (out / "smith_draft" / "report.html").read_text()

    # index.html and the question pages escape what students wrote.
    index = (out / "index.html").read_text()
    for folder in rows:
        assert 'href="' + quote(folder, safe="") + '/report.html"' in index
    assert "<svg" in index and "Which checks do most students fail?" in index
    page = (out / "questions" / "1b.html").read_text()
    assert PAYLOAD not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "The kernel picks patches" in page
    assert "<script" not in page
    assert index.count("<script") == 1  # only the sorting script

    # The worksheet: rows of participants 1001, 1002, 1003 filled; 1004's grading crashed, so left alone.
    sheet = read_worksheet(out / "moodle" / WORKSHEETS["en"].name)
    got = sheet.participants()
    assert got["1001"]["grade"] == ref["total"]
    assert got["1002"]["grade"] == rows["Musterfrau-234567"]["total"]
    assert got["1003"]["grade"] == "0"
    assert got["1004"]["grade"] == "" and got["1004"]["feedback"] == ""
    assert got["1001"]["feedback"].startswith(f"Exercise 4: {ref['total']} of ")
    assert any("1008" in w for w in summary.warnings)  # not in the worksheet
    # The feedback zip: one report per counting Moodle submission, in Moodle's layout.
    with zipfile.ZipFile(out / "moodle" / "feedback-files.zip") as zf:
        targets = {moodle_import_target(n) for n in zf.namelist()}
        # Crashed gradings (1004, 1005) send no report; a TA looks at them first.
        assert targets == {(pid, "report.html") for pid in {t[1] for t in TERM} - {"1004", "1005"}}
        assert "Sam Smith_1008_assignsubmission_file_/report.html" in zf.namelist()
        smith = zf.read("Sam Smith_1008_assignsubmission_file_/report.html").decode()
        assert "<title>Exercise 4 report – Smith-789012</title>" in smith


def test_unpacked_download_and_the_same_zip_name_twice(tmp_path, fake):
    term = [("Max Mustermann", "1001", "exercise4.zip", FAKE_REFERENCE, T0),
            ("Erika Musterfrau", "1002", "exercise4.zip", FAKE_REFERENCE, T0),
            ("Kim Park", "1007", "Park-678901.zip", FAKE_REFERENCE, T0)]
    out = tmp_path / "reports"
    summary = run_batch(make_download(tmp_path / "download", term), settings(out), grade=fake.grade_inproc)
    assert sorted(e.item.slot for e in summary.entries) == ["Park-678901", "exercise4_1001", "exercise4_1002"]
    assert {e.item.found.participant_id for e in summary.entries} == {"1001", "1002", "1007"}
    assert json.loads((out / "batch.json").read_text())["submissions"][0]["participant_id"] == "1001"


def test_folder_of_zips_duplicates_by_matriculation(tmp_path, fake):
    folder = tmp_path / "zips"
    build_zip(folder / "Mustermann-123456.zip", {"exercise4.py": FAKE_REFERENCE})
    build_zip(folder / "late" / "Mustermann-123456.zip", {"exercise4.py": FAKE_REFERENCE + "# v2\n"})
    build_zip(folder / "Musterfrau-234567.zip", {"exercise4.py": FAKE_REFERENCE})
    os.utime(folder / "Mustermann-123456.zip", (T0, T0))
    os.utime(folder / "late" / "Mustermann-123456.zip", (T0 + 60, T0 + 60))
    summary = run_batch(folder, settings(tmp_path / "out"), grade=fake.grade_inproc)
    by_source = {e.item.found.source: e for e in summary.entries}
    assert not by_source["Mustermann-123456.zip"].item.counts
    assert by_source["late/Mustermann-123456.zip"].item.counts
    assert "superseded" in by_source["Mustermann-123456.zip"].result.flags
    assert {e.item.slot for e in summary.entries} == {"Mustermann-123456_1", "Mustermann-123456_2",
                                                      "Musterfrau-234567"}
    assert not (tmp_path / "out" / "moodle").exists()  # no participant ids, no Moodle files


# --------------------------------------------------------------------------- child processes


def test_children_contain_crashes_and_hangs(tmp_path, fake):
    term = [t for t in TERM if t[1] in ("1001", "1002", "1004", "1005", "1006")]
    out = tmp_path / "reports"
    # The limit must leave a loaded machine time to start a child; only the endless loop reaches it.
    summary = run_batch(make_download(tmp_path / "download", term), settings(out), workers=2, timeout_s=10,
                        grade=FAKE_CHILD)
    status = {e.item.slot: e.status for e in summary.entries}
    assert status == {"Mustermann-123456": "graded", "Musterfrau-234567": "graded", "O'Neil-456789": "crashed",
                      "Chen-567890": "timeout", "nordmann_final": "graded"}
    rows = grades(out)
    assert "timeout" in rows["Chen-567890"]["flags"] and "grader-error" in rows["Chen-567890"]["flags"]
    assert "longer than the limit of 10 s" in (out / "Chen-567890" / "report.html").read_text()
    assert "exited with code 3" in (out / ".logs" / "O'Neil-456789.log").read_text()
    assert float(rows["Mustermann-123456"]["total"]) > 0
    # A rerun grades nothing: crashes and timeouts are results too.
    again = run_batch(tmp_path / "download", settings(out), workers=2, timeout_s=10, grade=FAKE_CHILD)
    assert again.graded_now == 0 and again.cached == 5


def test_a_broken_sandbox_stops_the_batch_without_crash_verdicts(tmp_path, fake, monkeypatch):
    term = [t for t in TERM if t[1] in ("1001", "1002")] + [("Ali Broken", "1099", "Broken-999999.zip",
                                                             "# SANDBOX-BROKEN\n" + FAKE_REFERENCE, T0)]
    download = make_download(tmp_path / "download", term)
    out = tmp_path / "reports"
    monkeypatch.setenv("FAKE_SANDBOX_BROKEN", "1")
    with pytest.raises(SandboxError, match="Broken-999999.zip failed: The sandbox could not start.*bwrap: no permission"):
        run_batch(download, settings(out), workers=1, grade=FAKE_CHILD)
    assert not (out / "Broken-999999").exists() and not (out / "grades.csv").exists()
    monkeypatch.delenv("FAKE_SANDBOX_BROKEN")  # the TA fixes the machine and runs the batch again
    summary = run_batch(download, settings(out), workers=1, grade=FAKE_CHILD)
    status = {e.item.slot: (e.status, e.cached) for e in summary.entries}
    assert status["Broken-999999"] == ("graded", False), "no crash verdict was cached for it"
    assert {s for s, _ in status.values()} == {"graded"} and summary.graded_now + summary.cached == 3


def test_a_child_ending_with_a_set_up_code_but_no_report_is_a_crash(tmp_path, fake):
    term = [TERM[0], ("Ali Silent", "1098", "Silent-999998.zip", "# EXIT-8-SILENTLY\n" + FAKE_REFERENCE, T0)]
    out = tmp_path / "reports"
    summary = run_batch(make_download(tmp_path / "download", term), settings(out), workers=1, grade=FAKE_CHILD)
    status = {e.item.slot: e.status for e in summary.entries}
    assert status == {"Mustermann-123456": "graded", "Silent-999998": "crashed"}
    assert "exited with code 8" in (out / ".logs" / "Silent-999998.log").read_text()


def test_interrupted_run_resumes_with_the_same_results(tmp_path, fake):
    # Without the endless loop: a time limit reached in one run and not in the other would differ.
    term = [t for t in TERM if "while True" not in t[3]]
    download = make_download(tmp_path / "download", term)
    interrupted, whole = tmp_path / "interrupted", tmp_path / "whole"
    kwargs: dict[str, Any] = dict(workers=2, timeout_s=300, grade=FAKE_CHILD,
                                  worksheet=WORKSHEETS["de"], scale=False)

    def stop_after(k: int):
        def progress(p: Progress) -> None:
            if p.done >= k:
                raise KeyboardInterrupt
        return progress

    with pytest.raises(KeyboardInterrupt):
        run_batch(download, settings(interrupted, seed=11), progress=stop_after(4), **kwargs)
    cached = list((interrupted / ".cache").glob("*.json"))
    finished = len(cached) - 1  # batch.json
    assert 4 <= finished < len(term)
    assert not (interrupted / "grades.csv").exists()
    before = len(calls(tmp_path))
    resumed = run_batch(download, settings(interrupted, seed=11), **kwargs)
    assert resumed.cached == finished
    assert resumed.graded_now == len(term) - finished
    assert len(calls(tmp_path)) - before == len(term) - finished  # only the missing ones were graded

    run_batch(download, settings(whole, seed=11), **kwargs)
    assert results(interrupted) == results(whole)
    assert (interrupted / "grades.csv").read_text() == (whole / "grades.csv").read_text()
    assert (interrupted / "moodle" / "worksheet_de.csv").read_bytes() == (whole / "moodle" / "worksheet_de.csv").read_bytes()


def test_in_process_interrupt_keeps_finished_results(tmp_path, fake):
    download = make_download(tmp_path / "download", TERM[:4])
    out = tmp_path / "reports"
    real = fake.grade_inproc
    count = {"n": 0}

    def flaky(zip_path, s):
        count["n"] += 1
        if count["n"] == 3:
            raise KeyboardInterrupt
        return real(zip_path, s)

    with pytest.raises(KeyboardInterrupt):
        run_batch(download, settings(out, seed=3), workers=1, grade=flaky)
    summary = run_batch(download, settings(out, seed=3), workers=1, grade=flaky)
    # The interrupted one is graded again; those finished before it (and any the worker thread
    # finished while the batch was stopping) come from the cache.
    assert summary.cached >= 2 and summary.graded_now >= 1 and summary.cached + summary.graded_now == 4
    assert count["n"] == 4 + summary.graded_now


# --------------------------------------------------------------------------- cache and seeds


def test_cache_force_and_settings_changes(tmp_path, fake):
    download = make_download(tmp_path / "download", TERM[:3])
    out = tmp_path / "reports"
    first = run_batch(download, settings(out), grade=fake.grade_inproc)
    assert (first.graded_now, first.cached) == (3, 0)
    seeds = {e.item.slot: e.result.seed for e in first.entries}
    assert len(set(seeds.values())) == 3  # derived per zip
    assert grades(out)["Mustermann-123456"]["seed"] == str(seeds["Mustermann-123456"])
    again = run_batch(download, settings(out), grade=fake.grade_inproc)
    assert (again.graded_now, again.cached) == (0, 3)
    assert {e.item.slot: e.result.seed for e in again.entries} == seeds
    forced = run_batch(download, settings(out), grade=fake.grade_inproc, force=True)
    assert (forced.graded_now, forced.cached) == (3, 0)
    fixed = run_batch(download, settings(out, seed=5), grade=fake.grade_inproc)
    assert fixed.graded_now == 3 and {e.result.seed for e in fixed.entries} == {5}
    # A changed zip is regraded, the others come from the cache.
    build_zip(next((download).glob("Max*/*.zip")), {"exercise4.py": FAKE_REFERENCE + "# changed\n"})
    changed = run_batch(download, settings(out, seed=5), grade=fake.grade_inproc)
    assert (changed.graded_now, changed.cached) == (1, 2)


def test_a_torn_cache_entry_is_regraded(tmp_path, fake):
    download = make_download(tmp_path / "download", TERM[:2])
    out = tmp_path / "reports"
    first = run_batch(download, settings(out), grade=fake.grade_inproc)
    key = first.entries[0].item.key
    (out / ".cache" / key / "Mustermann-123456" / "results.json").write_text("{")
    again = run_batch(download, settings(out), grade=fake.grade_inproc)
    assert (again.graded_now, again.cached) == (1, 1)


def test_settings_survive_the_trip_to_the_child():
    s = replace(DEFAULT, out_dir=Path("/tmp/x"), data_dir=Path("/data"), seed=4, device="cpu",
                matriculation_digits=(7,), limits=replace(DEFAULT.limits, call_timeout_s=5.0))
    assert batch.settings_from_json(json.loads(json.dumps(batch.settings_to_json(s)))) == s


# --------------------------------------------------------------------------- overrides


def test_overrides_are_merged_everywhere_and_survive_regrading(tmp_path, fake):
    download = make_download(tmp_path / "download")
    out = tmp_path / "reports"
    first = run_batch(download, settings(out), grade=fake.grade_inproc, worksheet=WORKSHEETS["en"], scale=False)
    assert (out / "overrides.csv").exists()  # created for the TA, header only
    base = float(grades(out)["Żak-901234"]["total"])
    (out / "overrides.csv").write_text(
        "# manual points\nstudent,question,points,comment\n"
        f"Żak-901234,1b,1,\"Good, {PAYLOAD}\"\n"
        "901234,2c,0.5,Half right.\n"
        "1001,1b,0,No answer.\n", encoding="utf-8")
    for force in (False, True):
        summary = run_batch(download, settings(out), grade=fake.grade_inproc, worksheet=WORKSHEETS["en"], scale=False,
                            force=force)
        assert summary.graded_now == (len(TERM) if force else 0)
        rows = grades(out)
        assert float(rows["Żak-901234"]["total"]) == base + 1.5
        assert rows["Żak-901234"]["written_pending"] == str(len(first.entries[0].result.manual) - 2)
        data = json.loads((out / "Żak-901234" / "results.json").read_text())
        manual = {m["id"]: m for m in data["extra_data"]["manual"]}
        assert (manual["1b"]["points"], manual["2c"]["points"], manual["2c"]["comment"]) == (1.0, 0.5, "Half right.")
        report = (out / "Żak-901234" / "report.html").read_text()
        assert "Half right." in report and PAYLOAD not in report
        page = (out / "questions" / "2c.html").read_text()
        assert "Half right." in page
        sheet = read_worksheet(out / "moodle" / "worksheet_en.csv").participants()
        assert sheet["1001"]["grade"] == rows["Mustermann-123456"]["total"]
        assert "1b: No answer." in sheet["1001"]["feedback"]
        # The cached raw result itself never holds the overrides.
        key = next(e.item.key for e in summary.entries if e.item.slot == "Żak-901234")
        raw = json.loads((out / ".cache" / key / "Żak-901234" / "results.json").read_text())
        assert all(m["points"] is None for m in raw["extra_data"]["manual"])


@pytest.mark.parametrize("row, message", [
    ("Żak-901234,9z,1,", "no written question '9z'"),
    ("Żak-901234,1b,5,", "worth 0 to 1"),
    ("Żak-901234,1b,lots,", "not a number"),
    (",1b,1,", "student is missing"),
])
def test_bad_overrides_stop_the_batch_before_grading(tmp_path, fake, row, message):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "overrides.csv").write_text(f"student,question,points,comment\n{row}\n", encoding="utf-8")
    with pytest.raises(OverridesError, match=message):
        run_batch(make_download(tmp_path / "download", TERM[:1]), settings(out), grade=fake.grade_inproc)
    assert calls(tmp_path) == []


def test_unknown_override_student_is_a_warning(tmp_path, fake):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "overrides.csv").write_text("student;question;points;comment\nNobody-000000;1b;1,0;\n", encoding="utf-8")
    summary = run_batch(make_download(tmp_path / "download", TERM[:1]), settings(out), grade=fake.grade_inproc)
    assert any("Nobody-000000" in w for w in summary.warnings)


# --------------------------------------------------------------------------- errors and the CLI


def test_empty_input_is_an_error(tmp_path, fake):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="No submission zips"):
        run_batch(tmp_path / "empty", settings(tmp_path / "out"), grade=fake.grade_inproc)


def test_cli_batch(tmp_path, fake, monkeypatch):
    from grader.cli import main

    monkeypatch.setattr(batch, "run_batch", functools.partial(run_batch, grade=fake.grade_inproc))
    download = make_download(tmp_path / "download", TERM[:3])
    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["batch", str(download), "--out", str(out), "--workers", "2",
                                       "--worksheet", str(WORKSHEETS["de"]), "--no-scale"])
    assert result.exit_code == 0, result.output
    assert "3 submissions (3 counting): 3 graded now" in result.output
    assert (out / "moodle" / "worksheet_de.csv").exists() and (out / "index.html").exists()
    bad = CliRunner().invoke(main, ["batch", str(download), "--out", str(out), "--worksheet",
                                    str(Path(__file__))])
    assert bad.exit_code == 6 and "no 'Identifier'" in bad.output


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_real_grading_end_to_end(tmp_path):
    from grader.selftest import build_reference_zip

    download = tmp_path / "download"
    ref = build_reference_zip(download / "Max Mustermann_1001_assignsubmission_file_")
    build_submission(download / "Erika Musterfrau_1002_assignsubmission_file_" / "Musterfrau-234567.zip",
                     "def broken(:\n    pass\n")
    build_submission(download / "Kim Park_1007_assignsubmission_file_" / "park final.zip", "X = 1\n")
    assert ref.name == "Mustermann-123456.zip"
    out = tmp_path / "reports"
    summary = run_batch(zip_folder(download, tmp_path / "download.zip"), settings(out, seed=7), workers=2,
                        worksheet=WORKSHEETS["en"], scale=False, timeout_s=900)
    status = {e.item.slot: (e.status, e.result.graded) for e in summary.entries}
    assert status == {"Mustermann-123456": ("graded", True), "Musterfrau-234567": ("graded", True),
                      "park final": ("graded", False)}
    rows = grades(out)
    ref_result = results(out)["Mustermann-123456"]
    assert all(t["status"] == "passed" for t in ref_result["tests"]), [t["name"] for t in ref_result["tests"]
                                                                        if t["status"] != "passed"]
    assert "import-error" in rows["Musterfrau-234567"]["flags"] and float(rows["Musterfrau-234567"]["total"]) == 0
    assert "naming" in rows["park final"]["flags"]
    sheet = read_worksheet(out / "moodle" / "worksheet_en.csv").participants()
    assert sheet["1001"]["grade"] == rows["Mustermann-123456"]["total"]
    with zipfile.ZipFile(out / "moodle" / "feedback-files.zip") as zf:
        assert len(zf.namelist()) == 3
    again = run_batch(tmp_path / "download.zip", settings(out, seed=7), workers=2)
    assert again.graded_now == 0


def test_help_does_not_import_torch():
    code = "import sys, grader.cli, grader.batch, grader.moodle, grader.batch.pages; print('torch' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"



# --------------------------------------------------------------------------- the worksheet as Moodle reads it (#11)


def test_a_worksheet_unlike_the_rubric_stops_the_batch_before_grading(tmp_path, fake):
    download = make_download(tmp_path / "download", TERM[:2])
    with pytest.raises(WorksheetError, match="--scale"):
        run_batch(download, settings(tmp_path / "out"), grade=fake.grade_inproc, worksheet=WORKSHEETS["en"])
    assert not (tmp_path / "out" / ".cache").exists() or not any((tmp_path / "out" / ".cache").iterdir())


def test_scaled_grades_go_in_on_the_worksheets_scale_and_grades_csv_says_so(tmp_path, fake):
    download = make_download(tmp_path / "download", TERM[:2])
    out = tmp_path / "out"
    summary = run_batch(download, settings(out), grade=fake.grade_inproc, worksheet=WORKSHEETS["de"], scale=True)
    rows = grades(out)
    sheet = read_worksheet(out / "moodle" / "worksheet_de.csv").participants()
    for row in rows.values():
        if row["participant_id"] in sheet:
            expected = round(float(row["total"]) * 40 / float(row["max"]), 2)
            assert float(sheet[row["participant_id"]]["grade"].replace(",", ".")) == expected
            assert float(row["moodle_grade"]) == expected and "scaled (--scale)" in row["moodle_scale"]
    text = "\n".join(summary.lines())
    assert "encoding WINDOWS-1252, separator semicolon, with Moodle's language set to Deutsch" in text
    assert "Grades: scaled (--scale)" in text


def test_the_summary_points_the_ta_to_grader_review_for_open_answers(tmp_path, fake):
    download = make_download(tmp_path / "download", TERM[:2])
    out = tmp_path / "out dir"
    summary = run_batch(download, settings(out), grade=fake.grade_inproc)
    line = next(line for line in summary.lines() if "await a TA" in line)
    assert f"grader review '{out}'" in line


def test_review_items_in_the_rubric_do_not_regrade_but_its_points_do(tmp_path):
    """Default items for `grader review` (rubric.toml's `items = [...]`) are in no result, so adding them keeps the
    cache key; a question's points are in every result, so changing them changes it."""
    import re

    from grader.batch.cache import grader_files_hash
    from grader.config import RUBRIC_PATH

    text = RUBRIC_PATH.read_text(encoding="utf-8")
    assert '[questions."1b"]\n' in text
    copy, with_items, repointed = (tmp_path / name / "rubric.toml" for name in ("copy", "items", "points"))
    for path in (copy, with_items, repointed):
        path.parent.mkdir()
    copy.write_text(text, encoding="utf-8")
    with_items.write_text(text.replace('[questions."1b"]\n', '[questions."1b"]\nitems = [{id = "a", points = 1, '
                                       'text = "Right."}]\n', 1), encoding="utf-8")
    repointed.write_text(re.sub(r'(\[questions\."1b"\]\n(?:.*\n)*?points = )[0-9.]+', r"\g<1>7", text, count=1),
                         encoding="utf-8")
    assert repointed.read_text(encoding="utf-8") != text
    base = grader_files_hash(replace(DEFAULT, rubric_path=copy))
    assert grader_files_hash(replace(DEFAULT, rubric_path=with_items)) == base
    assert grader_files_hash(replace(DEFAULT, rubric_path=repointed)) != base
