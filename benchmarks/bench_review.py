"""How fast `grader review` answers with 500 students × 8 written answers.

Builds an output folder as `grader batch` leaves it (results.json per student, batch.json, an
overrides file already holding 2,000 decisions), then times, through the Flask app in-process:
the app's start (reading every answer), the first question page (grouping its 500 answers), a
question page again, a save of one decision, an item's points changed (all answers re-scored),
and the poll a second page makes. With Debian's chromium at /usr/bin/chromium (Playwright) it also
times the page in a browser: loaded and drawn, one item toggled (a redraw), one answer saved and the
next shown. Prints the figures; asserts nothing.

    PYTHONPATH=. python benchmarks/bench_review.py [--students 500]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import overrides as ov  # noqa: E402
from grader.config import load_rubric  # noqa: E402
from grader.review.app import create_app  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "answers" / "answers.json"
TOKEN = "bench"
CHROMIUM = "/usr/bin/chromium"


def build(out: Path, students: int) -> None:
    """An output folder of `students` graded submissions answering from the corpus (reused, a little changed)."""
    rubric = load_rubric()
    corpus = list(json.loads(CORPUS.read_text(encoding="utf-8")).values())
    rng = random.Random(500)
    submissions = []
    for n in range(students):
        folder = f"S{n:04d}-{400000 + n}"
        source = corpus[rng.randrange(len(corpus))]
        manual = [{"id": q.id, "task": q.task, "question": q.question, "max_points": q.points, "points": None,
                   "comment": "", "answer": source.get(q.id, "") + ("" if n < len(corpus) else f" ({n})")}
                  for q in rubric.questions.values()]
        (out / folder).mkdir(parents=True)
        extra = {"stem": folder, "student": {"surname": f"S{n:04d}", "matriculation": str(400000 + n)},
                 "graded": True, "flags": [], "manual": manual}
        (out / folder / "results.json").write_text(json.dumps({"extra_data": extra}), encoding="utf-8")
        submissions.append({"folder": folder, "participant_id": str(9000 + n), "counts": True})
    (out / "batch.json").write_text(json.dumps({"submissions": submissions}), encoding="utf-8")
    ov.save_items(ov.items_path(out / "overrides.csv"), {q: {"a": ov.RubricItem("a", 1.0, "Right.")}
                                                        for q in rubric.questions})
    ov.ensure_file(out / "overrides.csv")
    ov.record(out / "overrides.csv", [{"student": f"S{n:04d}-{400000 + n}", "question": q, "points": "1", "items": "a"}
                                      for n in range(0, students, 2) for q in rubric.questions])


def in_browser(out: Path) -> tuple[float, float, float]:
    """Seconds (median of 5) for the question page to load and draw, a digit's redraw, and Enter's save and next."""
    import threading

    from playwright.sync_api import sync_playwright

    from grader.review import make_server

    server, info = make_server(out, "bench", token=TOKEN)
    threading.Thread(target=server.serve_forever, daemon=True).start()  # type: ignore[attr-defined]
    server_app = server.app  # type: ignore[attr-defined]
    server_app.config["review"].group_all()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            loads, toggles, saves = [], [], []
            for _ in range(5):
                start = time.perf_counter()
                page.goto(f"http://127.0.0.1:{info.port}/q/2c?token={TOKEN}")
                page.wait_for_selector("body[data-ready='1']")
                loads.append(time.perf_counter() - start)
                start = time.perf_counter()
                page.keyboard.press("1")
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(1)))")
                toggles.append(time.perf_counter() - start)
                who = page.text_content("#who")
                start = time.perf_counter()
                page.keyboard.press("Enter")
                page.wait_for_function(f"document.getElementById('who').textContent !== {json.dumps(who)}")
                saves.append(time.perf_counter() - start)
            browser.close()
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]
    return statistics.median(loads), statistics.median(toggles), statistics.median(saves)


def timed(action, repeat: int = 5) -> float:
    """Median seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        build(out, args.students)
        start = time.perf_counter()
        client = create_app(out, "bench", TOKEN).test_client()
        started = time.perf_counter() - start
        start = time.perf_counter()
        first = client.get(f"/q/1b?token={TOKEN}")
        first_page = time.perf_counter() - start
        start = time.perf_counter()
        client.application.config["review"].group_all()
        grouping = time.perf_counter() - start + first_page
        assert first.status_code == 200
        page = timed(lambda: client.get(f"/q/1b?token={TOKEN}"))
        save = timed(lambda: client.post(f"/api/q/1b/decide?token={TOKEN}",
                                         json={"decisions": [{"key": "S0001-400001", "items": ["a"]}]}))
        points = iter([0.5, 1.0] * 10)
        rescore = timed(lambda: client.post(f"/api/q/1b/items?token={TOKEN}", json={"id": "a", "points": next(points)}))
        version = client.get(f"/api/q/1b?token={TOKEN}").get_json()["version"]
        poll = timed(lambda: client.get(f"/api/q/1b?since={version}&token={TOKEN}"))
        size = len(first.data)
        browser = in_browser(out) if Path(CHROMIUM).exists() else None
    print(f"grader review, {args.students} students x 8 answers, {args.students * 4} decisions on file:")
    print(f"  app start (read every results.json)      {started * 1000:8.1f} ms")
    print(f"  first question page (right after start)  {first_page * 1000:8.1f} ms  ({size / 1024:.0f} KiB)")
    print(f"  grouping all 8 questions (in background) {grouping * 1000:8.1f} ms")
    print(f"  question page                            {page * 1000:8.1f} ms")
    print(f"  save one decision (locked atomic append) {save * 1000:8.1f} ms")
    print(f"  change an item's points (re-score all)   {rescore * 1000:8.1f} ms")
    print(f"  poll with nothing new                    {poll * 1000:8.1f} ms")
    if browser is None:
        print(f"  in a browser: not measured ({CHROMIUM} is missing)")
    else:
        print(f"  in chromium: page loaded and drawn       {browser[0] * 1000:8.1f} ms")
        print(f"  in chromium: a digit (item toggled)      {browser[1] * 1000:8.1f} ms")
        print(f"  in chromium: Enter (saved, next shown)   {browser[2] * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
