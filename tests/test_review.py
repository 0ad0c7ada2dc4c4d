"""grader review without a browser: the extended overrides format, its locked writer, the app's JSON API, groups.

The browser test (keyboard, two pages, the batch afterwards) is tests/test_review_browser.py.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
from pathlib import Path

import pytest

from grader import overrides as ov
from grader.config import load_rubric
from grader.errors import OverridesError
from grader.review.app import create_app
from grader.review.groups import EMPTY_GROUP, group_answers, is_empty

from tests.helpers import review_batch, review_folder

TOKEN = "t0ken"
ITEMS = {"questions": {"1b": [{"id": "a", "points": 1, "text": "Right: the kernel picks matching patches."},
                              {"id": "b", "points": -0.5, "text": "The ReLU's part is missing."}]}}


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the overrides format


def test_an_old_four_column_file_keeps_loading(tmp_path, rubric):
    path = write(tmp_path / "overrides.csv", "student;question;points;comment\nMustermann-123456;1b;0,5;Half.\n"
                                             "123456;2c;;Only a comment\n")
    rows = ov.load_overrides(path, rubric)
    assert [(r.student, r.question, r.points, r.comment, r.items, r.feedback) for r in rows] == [
        ("Mustermann-123456", "1b", 0.5, "Half.", (), "Half."), ("123456", "2c", None, "Only a comment", (),
                                                                  "Only a comment")]


def test_item_rows_are_scored_from_the_items_file_and_their_sentences_are_the_feedback(tmp_path, rubric):
    write(tmp_path / ov.ITEMS_NAME, json.dumps(ITEMS))
    path = write(tmp_path / "overrides.csv",
                 "student,question,points,comment,items,adjust,grader,time,flag\n"
                 "A-111111,1b,1,,a,,anna,2026-12-02T07:00:00Z,\n"
                 "B-222222,1b,0.5,See the ReLU.,a;b,,anna,2026-12-02T07:00:01Z,1\n"
                 "C-333333,1b,,,b,,anna,2026-12-02T07:00:02Z,\n"     # -0.5 clamps to 0
                 "D-444444,1b,,,a,0.75,anna,2026-12-02T07:00:03Z,\n"  # 1.75 clamps to the question's 1
                 "E-555555,1b,,,,-0.25,ben,2026-12-02T07:00:04Z,\n")
    rows = {r.student: r for r in ov.load_overrides(path, rubric)}
    assert {k: r.points for k, r in rows.items()} == {"A-111111": 1.0, "B-222222": 0.5, "C-333333": 0.0,
                                                      "D-444444": 1.0, "E-555555": 0.0}
    assert rows["B-222222"].feedback == ("Right: the kernel picks matching patches. The ReLU's part is missing. "
                                         "See the ReLU.")
    assert rows["B-222222"].flag and not rows["A-111111"].flag
    assert (rows["E-555555"].grader, rows["E-555555"].time) == ("ben", "2026-12-02T07:00:04Z")
    # An item's points change: every row carrying it changes, whatever its points cell says.
    changed = json.loads(json.dumps(ITEMS))
    changed["questions"]["1b"][0]["points"] = 0.75
    write(tmp_path / ov.ITEMS_NAME, json.dumps(changed))
    rows = {r.student: r for r in ov.load_overrides(path, rubric)}
    assert (rows["A-111111"].points, rows["B-222222"].points, rows["E-555555"].points) == (0.75, 0.25, 0.0)


def test_rubric_defaults_are_the_items_until_the_app_writes_its_own(tmp_path):
    source = (Path(__file__).parent.parent / "grader" / "rubric.toml").read_text(encoding="utf-8")
    custom = write(tmp_path / "rubric.toml", source.replace(
        '[questions."1b"]\n', '[questions."1b"]\nitems = [{id = "ok", points = 1, text = "Correct."}]\n', 1))
    rubric = load_rubric(custom)
    assert ov.load_items(tmp_path / "none.json", rubric)["1b"] == {"ok": ov.RubricItem("ok", 1.0, "Correct.")}
    write(tmp_path / ov.ITEMS_NAME, json.dumps(ITEMS))
    assert list(ov.load_items(tmp_path / ov.ITEMS_NAME, rubric)["1b"]) == ["a", "b"]


@pytest.mark.parametrize("row, message", [
    ("A-1,1b,,,z,,,,", "has no rubric item z"),
    ("A-1,1b,,,a,lots,,,", "adjust 'lots' is not a number"),
    ("A-1,1b,2,,,,,,", "worth 0 to 1"),
])
def test_bad_item_rows_are_refused_with_a_sentence(tmp_path, rubric, row, message):
    write(tmp_path / ov.ITEMS_NAME, json.dumps(ITEMS))
    path = write(tmp_path / "overrides.csv", "student,question,points,comment,items,adjust,grader,time,flag\n" + row)
    with pytest.raises(OverridesError, match=message):
        ov.load_overrides(path, rubric)


def test_record_upgrades_an_old_file_and_keeps_its_rows(tmp_path, rubric):
    path = write(tmp_path / "overrides.csv", "# a TA's note\nstudent;question;points;comment\nX-123456;2c;1;gut\n")
    write(tmp_path / ov.ITEMS_NAME, json.dumps(ITEMS))
    ov.record(path, [{"student": "Y-234567", "question": "1b", "points": "1", "items": "a", "grader": "anna",
                      "time": "2026-12-02T07:00:00Z", "comment": "semi;colon \"quoted\""}])
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# a TA's note\nstudent;question;points;comment;items;adjust;grader;time;flag\nX-123456;2c;1;gut\n")
    rows = ov.load_overrides(path, rubric)
    assert [(r.student, r.points, r.comment) for r in rows] == [("X-123456", 1.0, "gut"),
                                                              ("Y-234567", 1.0, 'semi;colon "quoted"')]
    assert not list(tmp_path.glob(".overrides.csv.*.tmp"))


def _writer(path: str, who: str, n: int) -> None:
    for i in range(n):
        ov.record(Path(path), [{"student": f"{who}-{i}", "question": "1b", "points": "1"}])


def test_two_processes_writing_at_once_lose_no_decision(tmp_path, rubric):
    path = tmp_path / "overrides.csv"
    ov.ensure_file(path)
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_writer, args=(str(path), who, 40)) for who in ("anna", "ben")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    students = [r.student for r in ov.load_overrides(path, rubric)]
    assert sorted(students) == sorted(f"{w}-{i}" for w in ("anna", "ben") for i in range(40))


# --------------------------------------------------------------------------- the app's API


ANSWERS = [
    {"1b": "The kernel is a template; ReLU keeps the patches that match it.", "2c": "Deeper nets see more."},
    {"1b": "Der Kernel ist eine Schablone; ReLU behält nur passende Patches.", "2c": ""},
    {"1b": "<script>alert('x')</script>  kept   spaces", "2c": "weiß nicht"},
    {"1b": "-", "2c": "Each layer adds kernel size minus one."},
]


@pytest.fixture
def batch(tmp_path):
    return review_batch(tmp_path, ANSWERS, worksheet=True)


@pytest.fixture
def client(batch):
    return create_app(batch, "anna", TOKEN).test_client()


def api(client, path, body=None):
    url = f"{path}{'&' if '?' in path else '?'}token={TOKEN}"
    response = client.post(url, json=body) if body is not None else client.get(url)
    return response.status_code, response.get_json()


@pytest.mark.parametrize("path", ["/", "/q/1b", "/overview", "/review.js", "/api/q/1b"])
def test_every_request_without_the_token_is_refused(client, path):
    assert client.get(path).status_code == 403
    assert client.get(path + "?token=wrong").status_code == 403
    assert client.get(path, headers={"X-Review-Token": TOKEN, "Host": "evil.example:80"}).status_code == 403
    assert client.get(path, headers={"X-Review-Token": TOKEN}).status_code in (200, 302)


def test_the_page_escapes_student_text(client):
    html = client.get(f"/q/1b?token={TOKEN}").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "\\u003cscript\\u003ealert(\\u0027x\\u0027)\\u003c/script\\u003e  kept   spaces" in html  # as JSON


def test_decisions_go_to_the_overrides_file_and_item_points_rescore_them(client, batch):
    status, state = api(client, "/api/q/1b/items", {"points": 1, "text": "Right."})
    assert status == 200 and state["items"] == [{"id": "a", "points": 1.0, "text": "Right."}]
    status, state = api(client, "/api/q/1b/decide", {"decisions": [
        {"key": review_folder(0), "items": ["a"]}, {"key": review_folder(1), "items": ["a"], "comment": "Gut.",
                                                    "flag": True}]})
    points = {a["key"]: a["points"] for a in state["answers"]}
    assert (points[review_folder(0)], points[review_folder(1)], points[review_folder(2)]) == (1.0, 1.0, None)
    with open(batch / "overrides.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(line for line in handle if not line.startswith("#"))]
    assert [(r["student"], r["items"], r["grader"], r["flag"]) for r in rows] == [
        (review_folder(0), "a", "anna", ""), (review_folder(1), "a", "anna", "1")]
    assert all(r["time"].endswith("Z") for r in rows)
    status, state = api(client, "/api/q/1b/items", {"id": "a", "points": 0.5})
    assert {a["key"]: a["points"] for a in state["answers"] if a["graded"]} == {review_folder(0): 0.5,
                                                                                review_folder(1): 0.5}
    overview = client.get(f"/overview?token={TOKEN}").get_data(as_text=True)
    assert "2 / 4" in overview and f"/q/1b?token={TOKEN}#{review_folder(1)}" in overview  # flagged: look again


def test_polling_tells_a_page_of_another_apps_decision(batch):
    one, two = (create_app(batch, name, TOKEN).test_client() for name in ("anna", "ben"))
    _, first = api(two, "/api/q/2c")
    _, same = api(two, f"/api/q/2c?since={first['version']}")
    assert same == {"version": first["version"], "changed": False}
    api(one, "/api/q/2c/decide", {"decisions": [{"key": review_folder(3), "items": [], "adjust": 1}]})
    _, news = api(two, f"/api/q/2c?since={first['version']}")
    assert news["changed"] and {a["key"]: (a["points"], a["grader"]) for a in news["answers"]}[review_folder(3)] == (
        1.0, "anna")


def test_an_item_removed_by_another_app_in_the_meantime_is_not_written(batch, rubric):
    one, two = (create_app(batch, name, TOKEN) for name in ("anna", "ben"))
    api(one.test_client(), "/api/q/1b/items", {"points": 1, "text": "Right."})
    review = two.config["review"]
    review.refresh()  # ben's app knows item a ...
    api(one.test_client(), "/api/q/1b/items", {"id": "a", "delete": True})  # ... anna removes it ...
    review.refresh = lambda: None  # ... and ben saves before his app has looked again
    with pytest.raises(ValueError, match="was just removed"):
        review.decide("1b", [{"key": review_folder(0), "items": ["a"]}])
    assert ov.load_overrides(batch / "overrides.csv", rubric) == []  # the file still loads


def test_bad_requests_get_a_sentence(client):
    assert api(client, "/api/q/1b/decide", {"decisions": [{"key": "nobody", "items": []}]})[0] == 400
    status, body = api(client, "/api/q/1b/decide", {"decisions": [{"key": review_folder(0), "items": ["zz"]}]})
    assert status == 400 and "no item zz" in body["error"]
    api(client, "/api/q/1b/items", {"points": 1, "text": "Right."})
    api(client, "/api/q/1b/decide", {"decisions": [{"key": review_folder(0), "items": ["a"]}]})
    status, body = api(client, "/api/q/1b/items", {"id": "a", "delete": True})
    assert status == 400 and "is on answers" in body["error"]
    assert client.get(f"/q/9z?token={TOKEN}").status_code == 404


def test_the_batch_merges_the_apps_points_and_sentences(client, batch, tmp_path, fake):
    from grader.batch import run_batch

    from tests.helpers import settings

    api(client, "/api/q/1b/items", {"points": 1, "text": "Right: the kernel picks matching patches."})
    api(client, "/api/q/1b/decide", {"decisions": [{"key": review_folder(0), "items": ["a"], "comment": "Well put."}]})
    run_batch(tmp_path / "download", settings(batch), grade=fake.grade_inproc, worksheet=tmp_path / "worksheet.csv",
              scale=True)
    manual = json.loads((batch / review_folder(0) / "results.json").read_text())["extra_data"]["manual"]
    mine = next(m for m in manual if m["id"] == "1b")
    assert (mine["points"], mine["comment"]) == (1.0, "Right: the kernel picks matching patches. Well put.")
    with open(batch / "grades.csv", newline="", encoding="utf-8") as handle:
        grades = {r["folder"]: r for r in csv.DictReader(handle)}
    assert float(grades[review_folder(0)]["total"]) == float(grades[review_folder(1)]["total"]) + 1
    sheet = (batch / "moodle" / "worksheet.csv").read_text(encoding="utf-8-sig")
    assert "Right: the kernel picks matching patches. Well put." in sheet
    assert "Right: the kernel" in (batch / review_folder(0) / "report.html").read_text()
    import zipfile

    with zipfile.ZipFile(batch / "moodle" / "feedback-files.zip") as feedback:
        reports = [feedback.read(n).decode("utf-8") for n in feedback.namelist() if n.endswith(".html")]
    assert sum("Right: the kernel picks matching patches. Well put." in r for r in reports) == 1, len(reports)


def test_an_overrides_file_broken_by_hand_is_a_sentence_not_a_crash(client, batch):
    with open(batch / "overrides.csv", "a", encoding="utf-8") as handle:
        handle.write(f"{review_folder(0)},1b,7,too many\n")
    status, body = api(client, "/api/q/1b")
    assert status == 409 and "7 points for question 1b, which is worth 0 to 1" in body["error"]
    page = client.get(f"/q/1b?token={TOKEN}")
    assert page.status_code == 409 and "line 4" in page.get_data(as_text=True)


def test_a_folder_without_a_batch_is_a_sentence(tmp_path):
    from grader.errors import GraderError

    with pytest.raises(GraderError, match="run `grader batch` first"):
        create_app(tmp_path, "anna", TOKEN)


# --------------------------------------------------------------------------- groups


@pytest.mark.parametrize("text", ["", "  ", "-", "?", "todo", "I don't know", "I don’t know.", "weiß nicht",
                                  "Keine Ahnung", "n/a"])
def test_near_empty_answers_are_empty(text):
    assert is_empty(text)


def test_empty_answers_form_their_own_group_and_copies_group_together():
    answers = {"e1": "", "e2": "weiß nicht", "e3": "-",
               "c1": "Stride 2 halves the output size; max pooling does the same.",
               "c2": "Stride 2 halves the output size; max pooling does the same!",
               "c3": "stride 2 halves the output size, max pooling does the same",
               "o1": "Der Rezeptive Bereich wächst mit der Tiefe linear."}
    groups = group_answers(answers)
    assert groups[0].id == EMPTY_GROUP and set(groups[0].members) == {"e1", "e2", "e3"}
    by_member = {m: g.id for g in groups for m in g.members}
    assert by_member["c1"] == by_member["c2"] == by_member["c3"] != by_member["o1"]
    copied = next(g for g in groups if "c1" in g.members)
    assert copied.typical in {"c1", "c2", "c3"}


# --------------------------------------------------------------------------- the command


def test_the_server_listens_on_localhost_only_with_a_token_in_its_url(batch):
    from grader.review import make_server

    server, served = make_server(batch, "anna")
    try:
        host, port = server.server_address  # type: ignore[attr-defined]
        assert host == "127.0.0.1" and served.port == port
        assert served.url.startswith(f"http://127.0.0.1:{port}/?token=") and len(served.url.split("=", 1)[1]) >= 24
        again, other = make_server(batch, "anna")
        again.server_close()  # type: ignore[attr-defined]
        assert other.url.split("=", 1)[1] != served.url.split("=", 1)[1]  # a fresh token each start
    finally:
        server.server_close()  # type: ignore[attr-defined]


def test_a_port_in_use_is_a_sentence(batch):
    from grader.errors import GraderError
    from grader.review import make_server

    server, served = make_server(batch, "anna")
    try:
        with pytest.raises(GraderError, match=f"Cannot listen on 127.0.0.1 port {served.port}"):
            make_server(batch, "anna", port=served.port)
    finally:
        server.server_close()  # type: ignore[attr-defined]


def test_the_command_on_a_folder_without_a_batch_says_so(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    result = CliRunner().invoke(main, ["review", str(tmp_path), "--no-browser"])
    assert result.exit_code != 0 and "run `grader batch` first" in result.output


def test_the_command_serves_the_folder_at_the_url_it_prints(batch):
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", "from grader.cli import main; main()", "review", str(batch),
                             "--no-browser", "--grader-name", "cli-ta"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        url = line.split(": ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url.replace("/?", "/q/2c?"), timeout=10) as page:
            assert "Question 2c" in page.read().decode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("?")[0] + "q/2c", timeout=10)
        assert refused.value.code == 403
        refused.value.close()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]
