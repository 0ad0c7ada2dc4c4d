"""A term in which hostile submissions sit between honest ones: the honest results are those they get alone.

One Moodle download holds two honest students (the reference, and the reference with one mistake)
and, between them, a forger of the worker's replies, a sender of malformed replies, a student whose
folder holds a zip named as if it were the first honest student's, an import-time flood of output
with terminal escapes, and a zip named like a spreadsheet formula. The batch is graded with two
workers; then each honest zip is graded alone with the same seed: checks, points, messages and
flags must be equal, and the outputs must credit nobody with another's work.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from grader.batch import run_batch
from grader.config import DEFAULT
from grader.grading import grade_submission
from tests.conftest import REFERENCE, TEMPLATE, build_submission
from tests.helpers import zip_folder

FORGERY = Path(__file__).parent / "data" / "forgery"

pytestmark = pytest.mark.slow

FLOOD = '''
import sys
for _ in range(2000):
    print("\\x1b[2J\\x1b]0;owned\\x07 flood " + "x" * 200)
'''


def participant(download: Path, name: str, pid: int) -> Path:
    folder = download / f"{name}_{pid}_assignsubmission_file_"
    folder.mkdir(parents=True)
    return folder


def outcome(result) -> list[tuple[str, str, float, str]]:
    return [(c.id, c.status, c.points, c.message) for c in result.checks]


def test_hostile_submissions_do_not_change_the_honest_ones(tmp_path: Path) -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    template = TEMPLATE.read_text(encoding="utf-8")
    mistake = reference.replace("            optimizer.zero_grad()\n", "", 1)
    assert mistake != reference
    download = tmp_path / "download"
    honest = {
        "Alpha-200001": build_submission(participant(download, "Anna Alpha", 2001) / "Alpha-200001.zip", reference),
        "Zulu-200009": build_submission(participant(download, "Zoe Zulu", 2009) / "Zulu-200009.zip", mistake),
    }
    forge = (FORGERY / "forge_probes.py").read_text(encoding="utf-8")
    garbage = (FORGERY / "forge_garbage.py").read_text(encoding="utf-8")
    build_submission(participant(download, "Carl Gamma", 2002) / "Gamma-200002.zip", template + "\n" + forge)
    build_submission(participant(download, "Dora Delta", 2003) / "Delta-200003.zip", template + "\n" + garbage)
    # Eve hands in her own zip and, in a folder named like Anna's participant folder, one named like Anna's.
    eve = participant(download, "Eve Epsilon", 2004)
    build_submission(eve / "Epsilon-200004.zip", reference + FLOOD)
    build_submission(eve / "Anna Alpha_2001_assignsubmission_file_" / "Alpha-200001.zip", template + "\n" + forge)
    build_submission(participant(download, "Fritz Formel", 2005) / "=1+1.zip", template)

    out = tmp_path / "reports"
    settings = replace(DEFAULT, out_dir=out, seed=7)
    summary = run_batch(zip_folder(download, tmp_path / "download.zip"), settings, workers=2, timeout_s=900)
    owner = {(e.item.found.participant_id, e.item.found.name): e for e in summary.entries}

    for stem, path in honest.items():
        pid = "2001" if stem.startswith("Alpha") else "2009"
        entry = owner[(pid, path.name)]
        alone = grade_submission(path, replace(DEFAULT, out_dir=tmp_path / "alone", seed=7))
        assert entry.status == "graded" and entry.item.counts, (stem, entry.status)
        assert outcome(entry.result) == outcome(alone), stem
        # The batch adds its own flags for the TA (Eve's planted zip shares Anna's number); grading adds the same.
        graded_flags = set(entry.result.flags) - set(entry.item.flags)
        assert graded_flags == set(alone.flags), (stem, entry.result.flags, entry.item.flags, alone.flags)
        in_batch = json.loads((out / entry.item.slot / "results.json").read_text(encoding="utf-8"))
        assert in_batch["score"] == sum(c.points for c in alone.checks), stem

    # Anna's grade is her own zip's: Eve's planted copy stays Eve's, flagged, and is never Anna's.
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    anna = [r for r in rows if r["participant_id"] == "2001"]
    assert len(anna) == 1 and float(anna[0]["total"]) == 41, anna
    planted = owner[("2004", "Alpha-200001.zip")]
    assert "moodle-mismatch" in planted.result.flags, planted.result.flags
    # Forgers keep at most the echoed points (tests/test_forgery.py names them); nothing is formula or escape.
    gamma = next(r for r in rows if r["folder"] == "Gamma-200002")
    assert float(gamma["total"]) <= 7
    text = (out / "grades.csv").read_text(encoding="utf-8")
    assert "\n=1+1" not in text and ",=1+1" not in text
    for log in (out / ".logs").glob("*.log"):
        assert "\x1b" not in log.read_text(encoding="utf-8", errors="replace"), log.name
