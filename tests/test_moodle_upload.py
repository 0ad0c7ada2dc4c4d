"""The filled-in worksheet as Moodle's "Upload grading worksheet" reads it: PHP's own fgetcsv and strtotime decide.

`tests/data/moodle/moodle_reader.php` reads a worksheet the way Moodle 4.5 does
(lib/csvlib.class.php csv_import_reader::load_csv_content; mod/assign/feedback/offline/
importgradeslib.php init and next); each test below names the Moodle function whose rule it holds.
php-cli comes from Debian (`make setup` installs it with bubblewrap).
"""

from __future__ import annotations

import codecs
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.errors import WorksheetError
from grader.moodle import feedback_comment, read_worksheet
from grader.moodle.upload import (LANGUAGES, Row, check_importable, fill, resolve_scale, strtotime_reads)

DATA = Path(__file__).parent / "data" / "moodle"
READER = DATA / "moodle_reader.php"
SHEETS = {"en": DATA / "worksheet_en.csv", "de": DATA / "worksheet_de.csv"}
UPLOAD_FORM = {"en": ("UTF-8", "comma", "English"), "de": ("WINDOWS-1252", "semicolon", "Deutsch")}
HARD_FEEDBACK = ['Task 3: 9/9; say "hi"', 'C:\\Users\\anna\\"x" \\', "Umlaute: äöü ß; <b>not bold</b> & more",
                 "a line\nwith a newline", "semi;colons, commas"]


def php() -> str:
    found = shutil.which("php")
    assert found, "php-cli is needed for Moodle's reader (Debian: apt-get install php-cli; `make setup` does)"
    return found


def moodle_reads(path: Path, lang: str) -> dict:
    encoding, separator, language = UPLOAD_FORM[lang]
    names = LANGUAGES[language]
    done = subprocess.run([php(), str(READER), str(path), encoding, separator, names["id"], names["grade"],
                           names["modified_grade"], names["feedback"]], capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)


def php_strtotime(text: str) -> bool:
    done = subprocess.run([php(), "-r", "echo json_encode(strtotime($argv[1]) !== false);", text],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("text", [
    "Tuesday, 4 June 2024, 8:00 AM", "4 June 2024, 8:00 PM", "Monday, 3 June 2024, 11:40 PM", "2024-06-04 08:00",
    "Dienstag, 4. Juni 2024, 08:00", "Montag, 3. Juni 2024, 23:40", "4. Juni 2024, 08:00", "Mittwoch, 1. Mai 2024, 10:00",
])
def test_strtotime_is_read_as_php_reads_it(text):
    """locallib.php process_import_grades: `$modified = strtotime(...)`; false makes every graded row stale."""
    assert strtotime_reads(text) == php_strtotime(text)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_feedback_and_grades_come_back_byte_for_byte(tmp_path, lang):
    """csvlib.class.php load_csv_content reads with fgetcsv (escape `\\`): what we write is what Moodle imports."""
    sheet = read_worksheet(SHEETS[lang])
    language = check_importable(sheet)
    assert language == UPLOAD_FORM[lang][2]
    comment = feedback_comment(HARD_FEEDBACK)
    rows = [Row("1001", "Max", 27.5, comment), Row("1002", "Erika", 40.0, feedback_comment(["short"]))]
    plan = fill(sheet, rows, resolve_scale(sheet, 40.0, None), language)
    dest = sheet.write(tmp_path / f"sheet_{lang}.csv")
    got = {r["id"][-4:]: r for r in moodle_reads(dest, lang)["rows"]}
    assert got["1001"]["feedback"] == comment and got["1002"]["feedback"] == "<p>short</p>"[3:-4]
    assert got["1001"]["grade"] == ("27.5" if lang == "en" else "27,5")
    assert got["1003"]["feedback"] in ("<p>Old comment</p>", "<p>Alter Kommentar</p>")  # untouched rows stay
    assert f"encoding {UPLOAD_FORM[lang][0]}, separator {UPLOAD_FORM[lang][1]}" in plan.lines()[0]


def test_the_unescaped_backslash_is_what_php_would_corrupt(tmp_path):
    """The reason for `&#92;`: a raw `\\"` in a quoted cell does not come back as written."""
    sheet = read_worksheet(SHEETS["en"])
    raw = 'C:\\"x" end'
    sheet.set("1001", 1.0, raw)
    got = moodle_reads(sheet.write(tmp_path / "raw.csv"), "en")
    assert "rows" not in got or {r["id"][-4:]: r for r in got["rows"]}["1001"]["feedback"] != raw


def test_german_dates_of_graded_rows_are_stale_and_said_english_ones_not():
    """locallib.php: `$usergrade->timemodified > ($modified + 60)` with strtotime false: skipped unless ticked."""
    for lang, expected in (("de", 1), ("en", 0)):
        sheet = read_worksheet(SHEETS[lang])
        language = check_importable(sheet)
        rows = [Row(pid, pid, 30.0, "ok") for pid in ("1001", "1002", "1003", "1004")]
        plan = fill(sheet, rows, resolve_scale(sheet, 40.0, None), language)
        assert len(plan.stale) == expected, plan.stale
        first = plan.lines()[0]
        assert ("tick \"Allow updating records" in first) == bool(expected)
        if expected:
            assert "1003" in plan.stale[0] and "Dienstag" in plan.stale[0]


def test_existing_grades_and_comments_that_are_replaced_are_listed_and_no_others():
    sheet = read_worksheet(SHEETS["en"])
    plan = fill(sheet, [Row("1001", "Max", 30.0, "new"), Row("1003", "Jürgen", 30.0, "new")],
                resolve_scale(sheet, 40.0, None), "English")
    assert len(plan.replaced) == 2 and all("1003" in r for r in plan.replaced)
    assert any("12.50 becomes 30" in r for r in plan.replaced)


def test_a_maximum_unlike_the_rubric_stops_unless_scale_is_chosen():
    """locallib.php: a grade above the assignment's maximum is skipped; the batch must not find out at upload."""
    sheet = read_worksheet(SHEETS["en"])
    with pytest.raises(WorksheetError, match="--scale"):
        resolve_scale(sheet, 49.0, None)
    scaled = resolve_scale(sheet, 49.0, True)
    assert scaled.grade(49.0) == 40.0 and scaled.grade(24.5) == 20.0 and scaled.grade(0) == 0
    plan = fill(sheet, [Row("1001", "Max", 49.0, "x")], scaled, "English")
    assert plan.written == {"1001": 40.0} and plan.skipped == []
    assert "scaled (--scale)" in plan.lines()[1]
    unscaled = resolve_scale(read_worksheet(SHEETS["en"]), 49.0, False)
    plan = fill(read_worksheet(SHEETS["en"]), [Row("1001", "Max", 45.0, "x"), Row("1002", "Erika", 39.0, "x")],
                unscaled, "English")
    assert len(plan.skipped) == 1 and "1001" in plan.skipped[0] and "above the maximum 40" in plan.skipped[0]
    assert plan.warnings()[0].startswith("Moodle will skip: Max (participant 1001)")
    # The same maximum needs no choice and says so.
    assert "as they are" in resolve_scale(read_worksheet(SHEETS["en"]), 40.0, None).text()


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = codecs.decode(SHEETS["en"].read_bytes(), "utf-8-sig")
    assert old in text
    path = tmp_path / "variant.csv"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, says", [
    ("Grade,", "grade,", "exactly 'Grade'"),
    ('"Last modified (grade)"', '"Last changed"', "no column 'Last modified (grade)'"),
    ('"Participant 1004","Ana O\'Neil"', '"Participant 1004","Ana","O\'Neil"', "record 5 has 12 fields"),
])
def test_sheets_moodle_would_reject_are_refused_before_writing(tmp_path, old, new, says):
    """importgradeslib.php init (exact headers) and csvlib.class.php load_csv_content (csvweirdcolumns)."""
    path = _variant(tmp_path, old, new)
    moodle = moodle_reads(path, "en")
    assert "error" in moodle  # Moodle's reader refuses it too
    with pytest.raises(WorksheetError, match=says.replace("(", r"\(").replace(")", r"\)")):
        check_importable(read_worksheet(path))
