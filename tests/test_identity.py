"""Identity from the platform, reserved output names and inert TA outputs (#15).

Submissions written against the public source: a zip planted in a folder named like another Moodle
participant, two students on one matriculation number, zips named like the batch's own files, names
that are links, formulas or terminal escapes, an over-long member path, a non-finite number. Each
test fails on the grader before #15. Grading is a fast stand-in (`quick_grade`): these are rules of
the batch, not of the checks.
"""

from __future__ import annotations

import csv
import json
import math
import os
import zipfile
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest

from grader.batch import RESERVED, run_batch
from grader.config import DEFAULT, Settings, load_rubric
from grader.errors import SubmissionRejected
from grader.grading import rejected
from grader.intake import MAX_MEMBER_PATH, open_submission
from grader.overrides import OverridesError
from grader.outfiles import save_log, write_outputs
from grader.report import result_from_json
from grader.scoring import CheckResult, GradingResult, ManualItem

from tests.helpers import stand_in_start

T0 = 1_700_000_000.0
GOOD = "PASS\n# ANSWER 1b: The kernel picks patches that look like it.\n"
BAD = "FAIL\n"


def quick_grade(zip_path: Path, settings: Settings) -> GradingResult:
    """A stand-in grader: every check passes when the code says PASS; what it prints goes to the TA's log."""
    start = stand_in_start(zip_path, settings)
    if isinstance(start, GradingResult):
        return start
    rubric, stem, student, code = start
    ok = code.startswith("PASS")
    checks = tuple(CheckResult(c.id, c.task, c.title, c.points if ok else 0.0, c.points,
                               "passed" if ok else "failed", "" if ok else "expected something else", 0.01)
                   for c in rubric.checks.values())
    answers = dict(line[len("# ANSWER "):].split(":", 1) for line in code.splitlines() if line.startswith("# ANSWER "))
    manual = tuple(ManualItem(q.id, q.task, q.question, q.points, answers.get(q.id, "").strip())
                   for q in rubric.questions.values())
    result = GradingResult(stem=stem, student=student, graded=True, verdict="Graded.", checks=checks, manual=manual,
                           seed=settings.seed or 0, task_titles=rubric.tasks, task_max=rubric.task_max())
    write_outputs(result, settings.out_dir)
    save_log(settings.out_dir, stem, "--- worker output ---\n" + code)
    return result


def make_zip(dest: Path, code: str, mtime: float = T0) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("exercise4.py", code)
    os.utime(dest, (mtime, mtime))
    return dest


def zip_folder(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, path.relative_to(folder).as_posix())
                zf.writestr(info, path.read_bytes())
    return dest


def settings(out: Path) -> Settings:
    return replace(DEFAULT, out_dir=out)


def grades(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def by_slot(summary: Any) -> dict[str, Any]:
    return {e.item.slot: e for e in summary.entries}


# --------------------------------------------------------------------------- whose zip it is


ALICE = "Alice Alpha_1001_assignsubmission_file_"
BOB = "Bob Beta_1002_assignsubmission_file_"


@pytest.mark.parametrize("layout", ["folder", "zip"])
def test_a_folder_named_like_another_participant_does_not_make_the_zip_theirs(tmp_path, layout):
    download = tmp_path / "download"
    make_zip(download / ALICE / "Alpha-111111.zip", BAD)
    # Alice's upload holds a folder named like Bob's, with a zip in Bob's name, handed in after Bob's.
    make_zip(download / ALICE / "stuff" / BOB / "Beta-222222.zip", GOOD, T0 + 3600)
    make_zip(download / BOB / "Beta-222222.zip", BAD)
    source = zip_folder(download, tmp_path / "download.zip") if layout == "zip" else download
    out = tmp_path / "out"
    summary = run_batch(source, settings(out), grade=quick_grade)

    owners = {e.item.found.source: e.item.found.participant_id for e in summary.entries}
    assert owners[f"{ALICE}/stuff/{BOB}/Beta-222222.zip"] == "1001"
    bobs = [e for e in summary.entries if e.item.found.participant_id == "1002"]
    assert [e.item.found.source for e in bobs] == [f"{BOB}/Beta-222222.zip"]
    bob = bobs[0]
    assert bob.item.counts and "superseded" not in bob.result.flags and bob.result.score == 0
    planted = next(e for e in summary.entries if "stuff" in e.item.found.source)
    assert "moodle-mismatch" in planted.result.flags
    assert any("in a folder named like another participant" in n for n in planted.result.notes)
    # The TA is told in the summary and on the index page.
    assert any(planted.item.slot in w and "another participant" in w for w in summary.warnings), summary.warnings
    assert "in a folder named like another participant" in (out / "index.html").read_text(encoding="utf-8")
    # Bob's feedback is Bob's own report.
    with zipfile.ZipFile(out / "moodle" / "feedback-files.zip") as zf:
        report = zf.read(f"{BOB}/report.html").decode()
    assert f"Exercise 4 report – {bob.item.slot}<" in report
    row = next(r for r in grades(out) if r["participant_id"] == "1002")
    assert row["folder"] == bob.item.slot and float(row["total"]) == 0


# --------------------------------------------------------------------------- one number, two students


def test_a_shared_matriculation_number_in_moodle_keys_overrides_by_participant(tmp_path):
    download = tmp_path / "download"
    make_zip(download / ALICE / "Alpha-222222.zip", GOOD)
    make_zip(download / BOB / "Beta-222222.zip", GOOD)
    out = tmp_path / "out"
    out.mkdir()
    (out / "overrides.csv").write_text("student,question,points,comment\n222222,1b,1,Well argued.\n", encoding="utf-8")
    with pytest.raises(OverridesError, match=r"line 2: 222222 is the matriculation number on the zips of several "
                                             r"students .*participant id 1001.*participant id 1002"):
        run_batch(download, settings(out), grade=quick_grade)

    (out / "overrides.csv").write_text("student,question,points,comment\n1002,1b,1,Well argued.\n", encoding="utf-8")
    summary = run_batch(download, settings(out), grade=quick_grade)
    entries = {e.item.found.participant_id: e for e in summary.entries}
    assert all(e.item.counts and "matriculation-shared" in e.result.flags for e in entries.values())
    points = {pid: {m.id: m.points for m in e.result.manual}["1b"] for pid, e in entries.items()}
    assert points == {"1001": None, "1002": 1.0}
    assert any("222222" in w and "several students" in w for w in summary.warnings)
    assert "the matriculation number 222222 is on the zips of several students" in \
        (out / "index.html").read_text(encoding="utf-8")


def test_two_surnames_on_one_number_without_moodle_are_two_students(tmp_path):
    folder = tmp_path / "zips"
    make_zip(folder / "Alpha-222222.zip", GOOD, T0)
    make_zip(folder / "Beta-222222.zip", BAD, T0 + 60)  # later: it used to supersede Alpha's
    out = tmp_path / "out"
    summary = run_batch(folder, settings(out), grade=quick_grade)
    entries = by_slot(summary)
    assert set(entries) == {"Alpha-222222", "Beta-222222"}
    for e in entries.values():
        assert e.item.counts and "superseded" not in e.result.flags and "matriculation-shared" in e.result.flags
    assert entries["Alpha-222222"].result.score > 0
    assert any("222222" in w for w in summary.warnings)
    rows = {r["folder"]: r for r in grades(out)}
    assert rows["Alpha-222222"]["counts"] == rows["Beta-222222"]["counts"] == "yes"

    (out / "overrides.csv").write_text("student,question,points,comment\n222222,1b,1,\n", encoding="utf-8")
    with pytest.raises(OverridesError, match="Name the student by the folder"):
        run_batch(folder, settings(out), grade=quick_grade)
    (out / "overrides.csv").write_text("student,question,points,comment\nBeta-222222,1b,1,\n", encoding="utf-8")
    entries = by_slot(run_batch(folder, settings(out), grade=quick_grade))
    assert {s: {m.id: m.points for m in e.result.manual}["1b"] for s, e in entries.items()} == \
        {"Alpha-222222": None, "Beta-222222": 1.0}


# --------------------------------------------------------------------------- reserved names


def test_zips_named_like_the_batch_files_cannot_take_their_place(tmp_path):
    folder = tmp_path / "zips"
    names = ["grades.csv", "index.html", "overrides.csv", "batch.json", "questions", "Moodle", "feedback-files.zip",
             "grades.csv.tmp", "_cache", "Mustermann-123456"]
    for name in names:
        make_zip(folder / f"{name}.zip", GOOD)
    out = tmp_path / "out"
    first = run_batch(folder, settings(out), grade=quick_grade)
    second = run_batch(folder, settings(out), grade=quick_grade)
    assert len(first.entries) == len(second.entries) == len(names)
    assert second.graded_now == 0 and second.cached == len(names)
    for name in ("grades.csv", "index.html", "overrides.csv", "batch.json"):
        assert (out / name).is_file(), name
    assert len(grades(out)) == len(names)
    assert (out / "Mustermann-123456" / "report.html").is_file()  # a valid name keeps its folder
    slots = {e.item.slot for e in second.entries}
    for entry in out.iterdir():
        # What is not a student's folder is the batch's own, and none of those can be a slot.
        if entry.name not in slots:
            assert "." in entry.name or entry.name.casefold() in RESERVED, entry.name
    assert all("." not in s and s.casefold() not in RESERVED for s in slots)


# --------------------------------------------------------------------------- inert TA outputs


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links.extend(v or "" for k, v in attrs if k in ("href", "src"))


def links(path: Path) -> list[str]:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.links


def test_every_link_in_the_batch_pages_is_a_relative_percent_encoded_path(tmp_path):
    folder = tmp_path / "zips"
    for name in ("javascript:alert(document.domain)", "JaVaScRiPt:alert(1)", "data:text,x", "//evil.example",
                 "x\"onmouseover=alert(1)", "a?b#c", "Mustermann-123456"):
        make_zip(folder / f"{name}.zip", GOOD + "# ANSWER 2c: x\n")
    out = tmp_path / "out"
    run_batch(folder, settings(out), grade=quick_grade)
    pages = [out / "index.html", *sorted((out / "questions").glob("*.html"))]
    found = [(page, link) for page in pages for link in links(page)]
    assert sum(1 for page, _ in found if page.name == "index.html") >= 7
    for page, link in found:
        parts = urlsplit(link)
        assert (parts.scheme, parts.netloc, parts.query, parts.fragment) == ("", "", "", ""), link
        assert link == quote(unquote(link), safe="/"), link
        assert (page.parent / unquote(link)).is_file(), link
    assert 'href="javascript:' not in (out / "index.html").read_text(encoding="utf-8").casefold()


def test_spreadsheet_cells_from_students_never_start_a_formula(tmp_path):
    folder = tmp_path / "zips"
    for name in ("=1+1", "+1", "-1", "@SUM(A1)", "=HYPERLINK(x)"):
        make_zip(folder / f"{name}.zip", GOOD)
    out = tmp_path / "out"
    run_batch(folder, settings(out), grade=quick_grade)
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    for row in rows[1:]:
        for column, cell in zip(header, row):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
        assert row[header.index("report")].startswith("'")
        float(row[header.index("total")])  # numbers stay numbers


def test_terminal_escapes_in_the_log_are_shown_not_run(tmp_path):
    folder = tmp_path / "zips"
    make_zip(folder / "Mustermann-123456.zip", GOOD + "print('\x1b]0;owned\x07\x1b[2J\x1b[31mred\x9b1m\r')\n\tok\n")
    out = tmp_path / "out"
    run_batch(folder, settings(out), grade=quick_grade)
    text = (out / ".logs" / "Mustermann-123456.log").read_text(encoding="utf-8")
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\x9b1m\\x0d" in text
    assert "\n\tok\n" in text  # newlines and tabs stay
    assert not any(ch in text for ch in "\x1b\x07\x9b\r")


def test_an_over_long_member_path_is_skipped_with_a_sentence(tmp_path):
    deep = "/".join(["d" * 200] * 25) + "/notes.txt"  # 5 KiB, over Linux's PATH_MAX
    dest = tmp_path / "Mustermann-123456.zip"
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("exercise4.py", "X = 1\n")
        zf.writestr(deep, "hi")
    intake = open_submission(dest, tmp_path / "work")
    assert "unsafe-member" in intake.flags
    assert any(f"longer than the {MAX_MEMBER_PATH}" in n for n in intake.notes)
    assert intake.code_path.read_text() == "X = 1\n"
    # The code itself that deep: a verdict saying there is no code, not a crash.
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr(deep.replace("notes.txt", "exercise4.py"), "X = 1\n")
    with pytest.raises(SubmissionRejected, match="holds no"):
        open_submission(dest, tmp_path / "work")


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_results_json_is_strict_json_whatever_the_timings(tmp_path):
    rubric = load_rubric(DEFAULT.rubric_path)
    result = replace(rejected("Mustermann-123456", "x", "naming", rubric),
                     timings={"images_per_s:student_train": math.inf, "checks": math.nan, "total": 2.5})
    folder = write_outputs(result, tmp_path)
    data = _strict((folder / "results.json").read_text(encoding="utf-8"))
    assert data["extra_data"]["timings"] == {"total": 2.5}
    assert result_from_json(data).timings == {"total": 2.5}


def test_the_batch_summary_shows_control_characters_in_names_escaped(tmp_path):
    download = tmp_path / "download"
    make_zip(download / ALICE / f"{BOB}\x1b[2J" / "Alpha-111111.zip", GOOD)
    summary = run_batch(download, settings(tmp_path / "out"), grade=quick_grade)
    text = "\n".join(summary.lines())
    assert "another participant" in text and "\\x1b[2J" in text and "\x1b" not in text


@pytest.mark.slow
def test_real_grading_escapes_what_the_code_prints_and_grades_past_an_over_long_path(tmp_path):
    from grader.grading import grade_submission
    from tests.conftest import REFERENCE

    printing = "print('\\x1b[2J\\x1b]0;owned\\x07 printed at import', flush=True)\n"
    code = REFERENCE.read_text(encoding="utf-8") + "\n" + printing
    dest = tmp_path / "Mustermann-123456.zip"
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("exercise4.py", code)
        zf.writestr("/".join(["d" * 200] * 25) + "/notes.txt", "hi")
    out = tmp_path / "out"
    result = grade_submission(dest, replace(DEFAULT, out_dir=out, seed=3, device="cpu",
                                            only=("test_conv_relu_stride1",)))
    assert result.graded and result.score == sum(c.max_points for c in result.checks) > 0
    assert "unsafe-member" in result.flags
    log = (out / ".logs" / "Mustermann-123456.log").read_text(encoding="utf-8")
    assert "\\x1b[2J\\x1b]0;owned\\x07 printed at import" in log and "\x1b" not in log
    _strict((out / "Mustermann-123456" / "results.json").read_text(encoding="utf-8"))


def test_in_the_flat_layout_a_file_named_like_another_participant_stays_the_uploaders(tmp_path):
    download = tmp_path / "download"
    make_zip(download / f"{ALICE}{BOB}Beta-222222.zip", GOOD)
    make_zip(download / f"{BOB}Beta-222222.zip", BAD)
    summary = run_batch(download, settings(tmp_path / "out"), grade=quick_grade)
    owners = sorted((e.item.found.participant_id, "moodle-mismatch" in e.result.flags) for e in summary.entries)
    assert owners == [("1001", True), ("1002", False)]


def test_an_over_long_zip_name_in_a_download_is_graded_not_fatal(tmp_path):
    download = tmp_path / "download"
    make_zip(download / BOB / "Beta-222222.zip", GOOD)
    source = zip_folder(download, tmp_path / "download.zip")
    with zipfile.ZipFile(source, "a") as zf:
        zf.writestr(f"{ALICE}/{'x' * 300}.zip", (download / BOB / "Beta-222222.zip").read_bytes())
    out = tmp_path / "out"
    summary = run_batch(source, settings(out), grade=quick_grade)
    slots = {e.item.found.participant_id: e.item.slot for e in summary.entries}
    assert set(slots) == {"1001", "1002"} and len(slots["1001"].encode()) <= 160
    assert "naming" in by_slot(summary)[slots["1001"]].result.flags
    assert (out / slots["1001"] / "report.html").is_file()
