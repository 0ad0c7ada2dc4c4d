"""Moodle's formats: the download layout, the grading worksheet round trip, the feedback-files zip."""

from __future__ import annotations

import codecs
import csv
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from grader.config import ZipLimits
from grader.moodle import (
    InputError, WorksheetError, feedback_comment, feedback_folder, find_submissions, parse_moodle_name,
    read_worksheet, tokenize, write_feedback_zip, write_feedback_zips,
)
from tests.helpers import WORKSHEETS, moodle_import_target, zip_folder


@pytest.mark.parametrize("part, expected", [
    ("Max Mustermann_1001_assignsubmission_file_", ("Max Mustermann", "1001", "assignsubmission_file", "")),
    ("Max Mustermann_1001_assignsubmission_file", ("Max Mustermann", "1001", "assignsubmission_file", "")),
    ("Max Mustermann_1001_assignsubmission_file_Mustermann-123456.zip",
     ("Max Mustermann", "1001", "assignsubmission_file", "Mustermann-123456.zip")),
    ("Jürgen Müller-Lüdenscheidt_77_assignsubmission_onlinetext_", ("Jürgen Müller-Lüdenscheidt", "77",
                                                                    "assignsubmission_onlinetext", "")),
    ("Mustermann-123456.zip", None),
    ("Max_Mustermann-123456.zip", None),
    ("Max Mustermann_abc_assignsubmission_file_", None),
    ("Max Mustermann_1001_other_file_", None),
])
def test_download_folder_names(part, expected):
    got = parse_moodle_name(part)
    assert (None if got is None else (got.full_name, got.participant_id, got.plugin, got.rest)) == expected


def test_feedback_folder_is_what_moodle_imports():
    assert feedback_folder("Max Mustermann", "1001") == "Max Mustermann_1001_assignsubmission_file_"
    # Moodle's download turns underscores in names into blanks; its importer splits on them.
    folder = feedback_folder("Max_Power/../x", "1002")
    assert moodle_import_target(f"{folder}/report.html") == ("1002", "report.html")


@pytest.mark.parametrize("lang", sorted(WORKSHEETS))
def test_tokenizer_round_trips_and_agrees_with_csv(lang):
    sheet = read_worksheet(WORKSHEETS[lang])
    data = WORKSHEETS[lang].read_bytes()
    assert sheet.text().encode(sheet.encoding) == data
    text = data.decode(sheet.encoding)
    parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=sheet.delimiter))
    from grader.moodle import unquote

    assert [[unquote(f) for f in fields] for fields, _ in tokenize(text, sheet.delimiter)] == parsed


@pytest.mark.parametrize("lang, encoding, delimiter, decimal, ids", [
    ("en", "utf-8-sig", ",", ".", ["1001", "1002", "1003", "1004", "1005"]),
    ("de", "cp1252", ";", ",", ["1001", "1002", "1003", "1004"]),
])
def test_worksheet_is_read(lang, encoding, delimiter, decimal, ids):
    sheet = read_worksheet(WORKSHEETS[lang])
    assert (sheet.encoding, sheet.delimiter, sheet.decimal) == (encoding, delimiter, decimal)
    assert list(sheet.participants()) == ids
    assert {"id", "full_name", "grade", "max_grade", "feedback", "modified_grade"} <= set(sheet.columns)
    assert sheet.participants()["1003"]["full_name"] == "Jürgen Müller-Lüdenscheidt"
    assert sheet.max_grade("1001") == 40.0


@pytest.mark.parametrize("lang", sorted(WORKSHEETS))
def test_worksheet_written_back_with_only_grade_and_feedback_changed(tmp_path, lang):
    original = WORKSHEETS[lang].read_bytes()
    sheet = read_worksheet(WORKSHEETS[lang])
    payload = 'Task 1: 6/7; <script>alert(1)</script> "quoted", ; and ü€'
    assert sheet.set("1001", 27.5, feedback_comment(["Exercise 4: 27.5 of 40 points.", payload]))
    assert sheet.set("1003", 31.0, feedback_comment(["New"]))
    assert not sheet.set("9999", 1.0, "nobody")
    dest = sheet.write(tmp_path / "out.csv")
    written = dest.read_bytes()
    bom = original.startswith(codecs.BOM_UTF8)
    assert written.startswith(codecs.BOM_UTF8) == bom
    before = tokenize(original.decode(sheet.encoding), sheet.delimiter)
    after = tokenize(written.decode(sheet.encoding), sheet.delimiter)
    assert len(before) == len(after)
    grade, feedback = sheet.columns["grade"], sheet.columns["feedback"]
    changed = {1: "1001", 3: "1003"}
    for row, ((old, old_end), (new, new_end)) in enumerate(zip(before, after)):
        assert old_end == new_end
        assert len(old) == len(new)
        for col, (a, b) in enumerate(zip(old, new)):
            if row in changed and col in (grade, feedback):
                continue
            assert a == b, f"row {row}, column {col} changed"
    values = list(csv.reader(io.StringIO(written.decode(sheet.encoding), newline=""), delimiter=sheet.delimiter))
    assert values[1][grade] == ("27.5" if lang == "en" else "27,5")
    assert values[3][grade] == "31"
    assert "&lt;script&gt;" in values[1][feedback] and "<script>" not in values[1][feedback]
    assert values[1][feedback].startswith("Exercise 4: 27.5 of 40 points.<br>")
    assert values[3][feedback] == "New"
    if lang == "de":  # cp1252 has €; characters it lacks would become HTML references
        assert "ü€" in values[1][feedback]


def test_worksheet_characters_outside_the_encoding_become_html_references(tmp_path):
    sheet = read_worksheet(WORKSHEETS["de"])
    sheet.set("1001", 1, "Ω ok")
    text = sheet.write(tmp_path / "out.csv").read_bytes().decode("cp1252")
    assert "&#937; ok" in text


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"Name,Points\nMax,3\n", "no 'Identifier' and no 'Grade' column"),
    (b"Identifier,Full name\nParticipant 1,Max\n", "no 'Grade' column"),
])
def test_worksheet_errors(tmp_path, content, message):
    path = tmp_path / "sheet.csv"
    path.write_bytes(content)
    with pytest.raises(WorksheetError, match=message):
        read_worksheet(path)
    with pytest.raises(WorksheetError, match="Cannot read"):
        read_worksheet(tmp_path / "missing.csv")


def test_feedback_zip_layout(tmp_path):
    report = tmp_path / "report.html"
    report.write_text("<html>ok</html>")
    dest = write_feedback_zip(tmp_path / "moodle" / "feedback.zip",
                              [("Max Mustermann", "1001", report), ("Jürgen Müller_Lüdenscheidt", "1003", report)])
    with zipfile.ZipFile(dest) as zf:
        names = sorted(zf.namelist())
        assert names == ["Jürgen Müller Lüdenscheidt_1003_assignsubmission_file_/report.html",
                         "Max Mustermann_1001_assignsubmission_file_/report.html"]
        assert [moodle_import_target(n) for n in names] == [("1003", "report.html"), ("1001", "report.html")]
        assert zf.read(names[0]) == b"<html>ok</html>"
    assert not [p for p in dest.parent.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- discovery


def build_download(root: Path, entries: list[tuple[str, str, str, bytes]], flat: bool = False) -> Path:
    """A Moodle "Download all submissions" folder: (full name, participant id, file name, bytes) each."""
    for full_name, pid, name, data in entries:
        if flat:
            path = root / f"{full_name}_{pid}_assignsubmission_file_{name}"
        else:
            path = root / f"{full_name}_{pid}_assignsubmission_file_" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def small_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("exercise4.py", "X = 1\n")
    return buffer.getvalue()


ENTRIES = [
    ("Max Mustermann", "1001", "Mustermann-123456.zip", small_zip()),
    ("Erika Musterfrau", "1002", "Musterfrau-234567.zip", small_zip()),
    ("Lee Chen", "1005", "exercise4.pdf", b"%PDF-1.4 not a zip"),
]


@pytest.mark.parametrize("layout", ["folder", "zip", "flat"])
def test_download_layouts_keep_participant_ids(tmp_path, layout):
    folder = build_download(tmp_path / "download", ENTRIES, flat=layout == "flat")
    source = zip_folder(folder, tmp_path / "download.zip") if layout == "zip" else folder
    found = find_submissions(source, tmp_path / "out" / ".inputs", ZipLimits(), exclude=tmp_path / "out")
    got = [(f.participant_id, f.moodle_name, f.name, f.zip_path is not None) for f in found]
    assert got == [("1001", "Max Mustermann", "Mustermann-123456.zip", True),
                   ("1002", "Erika Musterfrau", "Musterfrau-234567.zip", True),
                   ("1005", "Lee Chen", "", False)]
    assert found[2].other_files == ("exercise4.pdf",) if layout != "flat" else True
    for f in found[:2]:
        assert f.zip_path is not None and f.zip_path.name == f.name and zipfile.is_zipfile(f.zip_path)


def test_plain_folder_of_zips_and_output_inside_it_is_skipped(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "Mustermann-123456.zip").write_bytes(small_zip())
    (tmp_path / "in" / "sub" / "Musterfrau-234567.zip").write_bytes(small_zip())
    (tmp_path / "in" / "__MACOSX").mkdir()
    (tmp_path / "in" / "__MACOSX" / "._Mustermann-123456.zip").write_bytes(b"junk")
    out = tmp_path / "in" / "reports"
    (out / ".inputs").mkdir(parents=True)
    (out / ".inputs" / "Old-111111.zip").write_bytes(small_zip())
    found = find_submissions(tmp_path / "in", out / ".inputs", ZipLimits(), exclude=out)
    assert [(f.name, f.participant_id, f.source) for f in found] == [
        ("Mustermann-123456.zip", None, "Mustermann-123456.zip"),
        ("Musterfrau-234567.zip", None, "sub/Musterfrau-234567.zip")]
    assert found[0].zip_path == tmp_path / "in" / "Mustermann-123456.zip"  # graded in place


def test_hostile_member_names_stay_inside_staging(tmp_path):
    dest = tmp_path / "download.zip"
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("../../evil.zip", small_zip())
        zf.writestr("Eve_1009_assignsubmission_file_/../../escape.zip", small_zip())
        zf.writestr("Eve_1009_assignsubmission_file_/sub\\..\\x.zip", small_zip())
        zf.writestr("Max Mustermann_1001_assignsubmission_file_/Mustermann-123456.zip", small_zip())
    staging = tmp_path / "out" / ".inputs"
    found = find_submissions(dest, staging, ZipLimits())
    for f in found:
        assert f.zip_path is None or staging in f.zip_path.resolve().parents
    assert not (tmp_path / "evil.zip").exists() and not (tmp_path / "escape.zip").exists()
    assert "Mustermann-123456.zip" in [f.name for f in found]


def test_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        find_submissions(tmp_path / "nope", tmp_path / "s", ZipLimits())
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match="neither a folder nor a zip"):
        find_submissions(tmp_path / "notes.txt", tmp_path / "s", ZipLimits())
    single = tmp_path / "Mustermann-123456.zip"
    single.write_bytes(small_zip())
    with pytest.raises(InputError, match="grader run"):
        find_submissions(single, tmp_path / "s", ZipLimits())


def test_download_zip_keeps_submission_times(tmp_path):
    folder = build_download(tmp_path / "download", ENTRIES[:1])
    path = next(folder.rglob("*.zip"))
    os.utime(path, (1_600_000_000, 1_600_000_000))
    found = find_submissions(zip_folder(folder, tmp_path / "d.zip"), tmp_path / "s", ZipLimits())
    assert abs(found[0].mtime - 1_600_000_000) < 3  # zip times have 2 s resolution
    shutil.rmtree(tmp_path / "s")


def test_the_feedback_zip_is_split_into_parts_that_each_import_on_their_own(tmp_path):
    """`--max-zip-mb`: no part over the limit, every report in exactly one part, each entry one Moodle accepts."""
    reports = []
    for i in range(5):
        report = tmp_path / f"r{i}" / "report.html"
        report.parent.mkdir()
        report.write_bytes(os.urandom(300_000))  # incompressible: 300 kB zipped each
        reports.append((f"Student Nummer{i}", str(1000 + i), report))
    dest = tmp_path / "moodle" / "feedback-files.zip"
    done = write_feedback_zips(dest, reports, max_bytes=700_000)
    assert [p.name for p in done.paths] == [f"feedback-files-{i}-of-3.zip" for i in (1, 2, 3)] and not dest.exists()
    seen = []
    for part in done.paths:
        assert part.stat().st_size <= 700_000
        with zipfile.ZipFile(part) as zf:
            for name in zf.namelist():
                seen.append(moodle_import_target(name))
    assert sorted(seen) == [(str(1000 + i), "report.html") for i in range(5)]
    assert done.warnings == []
    # Under the limit again, one zip as before, and the old parts are gone.
    again = write_feedback_zips(dest, reports[:2], max_bytes=700_000)
    assert again.paths == [dest] and sorted(p.name for p in dest.parent.iterdir()) == ["feedback-files.zip"]
    # A report larger than the limit on its own is said, not dropped.
    big = write_feedback_zips(dest, reports, max_bytes=200_000)
    assert len(big.paths) == 5 and len(big.warnings) == 5 and "over --max-zip-mb" in big.warnings[0]
