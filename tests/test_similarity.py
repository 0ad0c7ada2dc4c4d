"""Similar submissions: planted copies of the independent corpus rank above every independent pair; template
code is not evidence; notebooks match their .py; the pages are escaped; the batch shows each closest match."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.config import DEFAULT, PROJECT_DIR
from grader.example import build_zip
from grader.similarity import fingerprint as fpm
from grader.similarity.compare import EARLIER
from grader.similarity.run import Subject, sha256_of, similarity_report
from grader.similarity.sources import python_of_notebook, read_answers, read_zip
from tests.similarity_corpus import as_notebook, independent, planted_files, write_zips

TEMPLATE = PROJECT_DIR / "student_template" / "exercise4.py"


def subjects(zips: dict[str, Path]) -> list[Subject]:
    return [Subject(name, path, sha256_of(path)) for name, path in sorted(zips.items())]


def pairs(out: Path) -> list[dict[str, str]]:
    with open(out / "similarity" / "pairs.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The corpus with planted copies, zipped and compared once: (out, origin, planted pairs, result)."""
    tmp = tmp_path_factory.mktemp("similarity")
    files, origin, planted_pairs = planted_files()
    zips = write_zips(files, tmp / "zips")
    result = similarity_report(tmp / "out", subjects(zips), workers=1)
    return tmp / "out", origin, planted_pairs, result, zips


def test_every_planted_pair_ranks_above_every_independent_pair(planted):
    out, origin, planted_pairs, _, _ = planted
    rows = pairs(out)
    rank = {frozenset((r["a"], r["b"])): int(r["rank"]) for r in rows}
    missing = [sorted(p) for p in planted_pairs if p not in rank]
    assert not missing, missing
    worst_planted = max(rank[p] for p in planted_pairs)
    independent_ranks = sorted(int(r["rank"]) for r in rows if independent(r["a"], r["b"], origin, planted_pairs))
    assert independent_ranks, "the corpus's independent solutions share nothing at all"
    assert worst_planted < independent_ranks[0], (worst_planted, [r for r in rows if int(r["rank"]) <= worst_planted])


def test_the_planted_written_answer_is_found_as_an_answer(planted):
    out = planted[0]
    row = next(r for r in pairs(out) if {r["a"], r["b"]} == {"Demir-430068", "Hoffmann-440013"})
    assert row["answers"] == "1b" and int(row["shared_answer_words"]) >= 30


def test_a_notebook_copy_of_a_py_shares_nearly_all_its_code(planted):
    out = planted[0]
    row = next(r for r in pairs(out) if {r["a"], r["b"]} == {"Notebook-900005", "Brandt-410052"})
    assert float(row["share_of_a"]) > 0.9 and float(row["share_of_b"]) > 0.9


def test_the_index_links_each_pair_to_its_side_by_side_page(planted):
    out = planted[0]
    index = (out / "similarity" / "index.html").read_text(encoding="utf-8")
    assert "similar; look at both" in index and "plagiarism" not in index.lower()
    top = pairs(out)[0]
    page = out / "similarity" / top["page"]
    assert top["page"] in index and page.is_file()
    html = page.read_text(encoding="utf-8")
    assert "<mark>" in html and "plagiarism" not in html.lower()
    assert "http://" not in html and "https://" not in html and "<link" not in html and "<script" not in html


def test_closest_match_of_each_planted_copy_is_its_source(planted):
    result = planted[3]
    assert result.closest["Renamed-900002"]["other"] == "Kowalczyk-420034"
    assert result.closest["Notebook-900005"]["other"] == "Brandt-410052"


def test_a_rerun_fingerprints_only_what_changed(planted, tmp_path):
    out, _, _, _, zips = planted
    again = similarity_report(out, subjects(zips), workers=1)
    assert again.fingerprinted == 0
    changed = dict(zips)
    changed["Extra-900099"] = build_zip(tmp_path / "Extra-900099.zip", {"exercise4.py": "x = 1\n"})
    assert similarity_report(out, subjects(changed), workers=1).fingerprinted == 1


def test_template_only_submissions_are_not_reported_among_each_other(tmp_path):
    template = TEMPLATE.read_bytes()
    zips = {
        "Blank-100001": build_zip(tmp_path / "Blank-100001.zip", {"exercise4.py": template}),
        "Blank-100002": build_zip(tmp_path / "Blank-100002.zip", {"exercise4.py": template}),
        "Blank-100003": build_zip(tmp_path / "Blank-100003.zip", {
            "exercise4.ipynb": (PROJECT_DIR / "student_template" / "exercise4.ipynb").read_bytes()}),
        "Blank-100004": build_zip(tmp_path / "Blank-100004.zip", {"exercise4.ipynb": as_notebook(template.decode())}),
    }
    result = similarity_report(tmp_path / "out", subjects(zips), workers=1)
    assert result.pairs == 0 and pairs(tmp_path / "out") == []


def test_fingerprints_are_the_same_in_every_process():
    """copydetect hashes with the salted hash(); ours must not depend on PYTHONHASHSEED (cached fingerprints)."""
    script = ("import sys; from grader.similarity.fingerprint import fingerprint; "
              "print(fingerprint(open(sys.argv[1], encoding='utf-8').read()).hashes[:50].tolist())")
    seen = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(PROJECT_DIR)}
        run = subprocess.run([sys.executable, "-c", script, str(TEMPLATE)], env=env, capture_output=True, text=True,
                             check=True)
        seen.add(run.stdout)
    assert len(seen) == 1 and seen.pop().count(",") == 49


def test_a_notebook_is_read_as_its_code_cells_without_magics_shell_lines_or_outputs():
    code = "import os\n\ndef f(x):\n    return x + 1\n\nANSWERS = {'1b': 'mine'}\n"
    text = python_of_notebook(as_notebook(code))
    assert "%matplotlib" not in text and "!pip" not in text and "output 0" not in text
    assert "def f(x):" in text and read_answers(text) == {"1b": "mine"}


def test_answers_are_read_as_a_literal_never_run(tmp_path):
    code = "import os\nos._exit(3)\nANSWERS = {'1b': 'kept', '1d': os.getcwd()}\nANSWERS = {'1b': 'last'}\n"
    assert read_answers(code) == {"1b": "last"}
    assert read_answers("ANSWERS = {'1b': f()}\n") == {}
    assert read_answers("def (:\n") == {}
    # A notebook whose other cells are not Python (help syntax, a stray magic) still gives its answers.
    assert read_answers("model?\nANSWERS = {\n    '1b': 'from a cell',\n}\nprint(x\n") == {"1b": "from a cell"}


def test_the_intake_choice_of_code_file_and_its_limits_apply(tmp_path):
    renamed = build_zip(tmp_path / "a.zip", {"folder/solution.py": "def conv_relu(x):\n    return x\n",
                                             "folder/helpers.py": "y = 2\n"})
    assert read_zip(renamed).code_name == "folder/solution.py"
    assert read_zip(build_zip(tmp_path / "b.zip", {"notes.txt": "none"})).problem
    (tmp_path / "c.zip").write_bytes(b"not a zip")
    assert read_zip(tmp_path / "c.zip").problem


def test_code_from_a_submission_is_escaped_on_its_page(tmp_path):
    body = TEMPLATE.read_text(encoding="utf-8") + "\n" + "\n".join(
        f"def helper_{i}(a, b):\n    s = '</pre><script>alert({i})</script>'\n    return [a * k + b for k in range(a)] + [s]\n"
        for i in range(12))
    zips = {n: build_zip(tmp_path / f"{n}.zip", {"exercise4.py": body}) for n in ("Evil-100001", "Evil-100002")}
    similarity_report(tmp_path / "out", subjects(zips), workers=1)
    row = pairs(tmp_path / "out")[0]
    html = (tmp_path / "out" / "similarity" / row["page"]).read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(3)" in html


def test_earlier_terms_are_compared_with_this_term_not_among_themselves(planted, tmp_path):
    _, _, _, _, zips = planted
    earlier = tmp_path / "term2025"
    earlier.mkdir()
    (earlier / "old-Kaya.zip").write_bytes(zips["Kaya-460071"].read_bytes())
    (earlier / "old-copy.zip").write_bytes(zips["Kaya-460071"].read_bytes())
    (earlier / "public_solution.py").write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    term = {n: p for n, p in zips.items() if n in ("Kaya-460071", "Aksoy-460032", "Hoffmann-420017")}
    result = similarity_report(tmp_path / "out", subjects(term), [earlier], workers=1)
    rows = pairs(tmp_path / "out")
    earlier_rows = [r for r in rows if r["b_is"] == "earlier"]
    assert {(r["a"], r["b"]) for r in earlier_rows[:2]} == {("Kaya-460071", "term2025/old-Kaya.zip"),
                                                           ("Kaya-460071", "term2025/old-copy.zip")}
    assert not any(r["a"].startswith("term2025/") for r in rows)  # never an earlier one against an earlier one
    assert result.closest["Kaya-460071"]["earlier"] is True
    index = (tmp_path / "out" / "similarity" / "index.html").read_text(encoding="utf-8")
    assert "earlier / public" in index and "term2025" in index
    assert EARLIER == "earlier"


def test_the_stable_hash_ignores_names_comments_and_whitespace():
    a = "def f(alpha, beta):\n    # add them\n    total = alpha + beta * 2\n    return [total for _ in range(3)]\n" * 3
    b = "def g(x, y):\n\n    t = x + y * 2  # other words\n    return [t for _ in range(3)]\n" * 3
    assert fpm.fingerprint(a).hashes.tolist() == fpm.fingerprint(b).hashes.tolist() != []


# --------------------------------------------------------------------------- through grader batch


def test_a_batch_shows_each_students_closest_match_and_grader_similarity_redoes_it(tmp_path, fake):
    from grader.batch import run_batch
    from grader.cli import main
    from tests.helpers import settings
    from tests.similarity_corpus import corpus, rename_identifiers

    files = corpus()
    chosen = {n: files[n] for n in ("Kowalczyk-420034", "Schulze-450058", "Demir-430068")}
    chosen["Renamed-900002"] = ("exercise4.py", rename_identifiers(files["Kowalczyk-420034"][1].decode()).encode())
    source = tmp_path / "zips"
    write_zips(chosen, source)
    build_zip(source / "similarity.zip", {"exercise4.py": "x = 1\n"})  # a reserved name: its folder is another
    out = tmp_path / "reports"
    summary = run_batch(source, settings(out), workers=1, grade=fake.grade_inproc)
    assert "similar submissions" in summary.outputs
    assert not (out / "similarity" / "results.json").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "Most similar" in index and 'href="similarity/index.html"' in index
    closest = json.loads((out / "similarity" / "closest.json").read_text(encoding="utf-8"))
    assert closest["Renamed-900002"]["other"] == "Kowalczyk-420034"
    assert f'href="{closest["Renamed-900002"]["page"]}"' in index
    assert (out / closest["Renamed-900002"]["page"]).is_file()

    (out / "index.html").write_text("old", encoding="utf-8")
    result = CliRunner().invoke(main, ["similarity", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 read now" in result.output and "0 pairs compared now" in result.output
    assert "Most similar" in (out / "index.html").read_text(encoding="utf-8")

    run_batch(source, settings(out), workers=1, grade=fake.grade_inproc, similarity=False)
    assert "Most similar" not in (out / "index.html").read_text(encoding="utf-8")


def test_grader_similarity_on_a_folder_without_a_batch_says_so(tmp_path):
    from grader.cli import main

    result = CliRunner().invoke(main, ["similarity", str(tmp_path)])
    assert result.exit_code != 0 and "run grader batch first" in result.output


def test_a_failing_similarity_report_does_not_cost_the_grades(tmp_path, fake, monkeypatch):
    from grader.batch import run_batch
    from grader.similarity import run as sim
    from tests.helpers import settings

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(sim, "similarity_report", broken)
    build_zip(tmp_path / "zips" / "Kaya-460071.zip", {"exercise4.py": "x = 1\n"})
    summary = run_batch(tmp_path / "zips", settings(tmp_path / "out"), workers=1, grade=fake.grade_inproc)
    assert (tmp_path / "out" / "grades.csv").is_file()
    assert any("similarity report failed (ValueError: a bug)" in w for w in summary.warnings)


def test_type_hints_and_docstrings_of_the_template_do_not_tell_copies_apart():
    hinted = "s = '\u2028'\f\r\ndef f(a: int, b: 'T' = 2) -> list[int]:\n    \"\"\"Doc.\"\"\"\n    n: int = a\n    return [n, b]\n"
    plain = fpm.without_hints(hinted)
    assert len(plain) == len(hinted) and "int" not in plain and "Doc" not in plain and "def f(a" in plain
    bare = "s = '\u2028'\f\r\ndef f(a, b = 2):\n    n = a\n    return [n, b]\n"
    assert fpm.tokens(hinted)[0] == fpm.tokens(bare)[0]


def test_the_review_corpus_copied_answers_rank_first():
    """A second, independently written check: the 40 students' written answers of tests/data/answers (written by a
    helper for `grader review`, with its own copy cases in key.json), each on the bare template's code, so only the
    answers can tell them apart. Every pair of students who share copied answers (directly, or both from the same
    source) ranks above every pair the key calls independent. The German translation of an English answer is not
    text shared, so it is not expected to be found (a limit the README names)."""
    import re

    import numpy as np

    from grader.similarity.compare import TERM, Doc, compare
    from grader.similarity.sources import boilerplate_texts, source_of, template_answers

    data = PROJECT_DIR / "tests" / "data" / "answers"
    answers = json.loads((data / "answers.json").read_text(encoding="utf-8"))
    key = json.loads((data / "key.json").read_text(encoding="utf-8"))
    template = TEMPLATE.read_text(encoding="utf-8")
    docs = []
    for name, given in answers.items():
        code = re.sub(r"^ANSWERS = \{.*?\n\}", lambda _m, a=given: "ANSWERS = " + json.dumps(a, ensure_ascii=False),
                      template, flags=re.S | re.M)
        assert read_answers(code) == given
        source = source_of(code.encode(), "py", "exercise4.py")
        docs.append(Doc(name, TERM, source, fpm.fingerprint(source.code)))
    source_of_copy: dict[str, str] = {}
    translated: set[frozenset[str]] = set()
    for student, cells in key.items():
        for question, cell in cells.items():
            if cell.get("copied_from"):
                if cell["lang"] != key[cell["copied_from"]][question]["lang"]:
                    translated.add(frozenset((student, cell["copied_from"])))
                else:
                    source_of_copy[student] = cell["copied_from"]
    root = {s: source_of_copy.get(s, s) for s in answers}
    copied = {frozenset((a, b)) for a in answers for b in answers if a < b and root[a] == root[b]}
    assert len(copied) >= 4, copied
    boilerplate = np.unique(np.concatenate([fpm.all_kgrams(t) for t in boilerplate_texts()]))
    ranked = compare(docs, boilerplate, template_answers()).pairs
    scores = {frozenset((p.a, p.b)): p.score for p in ranked}
    lowest_copy = min(scores.get(pair, 0) for pair in copied)
    highest_other = max((s for pair, s in scores.items() if pair not in copied and pair not in translated), default=0)
    assert lowest_copy > highest_other, (lowest_copy, highest_other)


# --------------------------------------------------------------------------- reruns compare only what changed


def fresh_out(planted_out: Path, out: Path) -> Path:
    """An OUT whose cache holds the planted run's fingerprints but no record of a comparison (a cold compare)."""
    import shutil

    shutil.copytree(planted_out / ".cache" / "similarity", out / ".cache" / "similarity",
                    ignore=shutil.ignore_patterns("compared.json"))
    return out


def report_files(out: Path) -> dict[str, bytes]:
    folder = out / "similarity"
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_rerun_with_nothing_changed_compares_nothing_and_writes_no_page(planted, tmp_path):
    out = fresh_out(planted[0], tmp_path / "out")
    first = similarity_report(out, subjects(planted[4]), workers=1)
    assert first.compared_pairs > first.pairs > 0 and first.reused_pairs == 0
    before = report_files(out)
    again = similarity_report(out, subjects(planted[4]), workers=1)
    assert (again.compared_pairs, again.reused_pairs, again.pages_written) == (0, first.pairs, 0)
    assert report_files(out) == before and again.closest == first.closest


def test_a_rerun_with_one_changed_submission_compares_only_what_it_touches(planted, tmp_path):
    """Kowalczyk-420034 keeps only the first half of its code: the pairs of its planted copies among themselves
    share fragments it no longer holds, which now weigh more, so they are compared again too."""
    zips = planted[4]
    out = fresh_out(planted[0], tmp_path / "out")
    similarity_report(out, subjects(zips), workers=1)
    changed = dict(zips)
    lines = read_zip(zips["Kowalczyk-420034"]).code.splitlines(keepends=True)
    text = "".join(lines[:len(lines) // 2])
    changed["Kowalczyk-420034"] = build_zip(tmp_path / "Kowalczyk-420034.zip", {"exercise4.py": text})
    again = similarity_report(out, subjects(changed), workers=1)
    full = similarity_report(fresh_out(planted[0], tmp_path / "full"), subjects(changed), workers=1)
    assert report_files(out) == report_files(tmp_path / "full")  # pairs.csv, index.html and every page
    touching = [r for r in pairs(out) if "Kowalczyk-420034" in (r["a"], r["b"])]
    assert touching and again.compared_pairs >= len(touching)
    assert again.reused_pairs > 0 and again.compared_pairs < full.compared_pairs
    assert 0 < again.pages_written < len(list((out / "similarity" / "pairs").iterdir()))


def block(seed: int) -> str:
    """A function of about 100 tokens that no other seed's block shares a k-gram with (its numbers differ)."""
    n = [seed * 97 + k for k in range(8)]
    return (f"def helper_{seed}(a, b):\n    x = a * {n[0]} + b - {n[1]}\n    y = [x + {n[2]} for _ in range({n[3]})]\n"
            f"    z = {{'k': x * {n[4]}, 'm': y[{n[5]}:]}}\n    return x, y, z, (a - {n[6]}) // {n[7]}\n\n")


def test_a_fragment_that_stops_being_common_is_compared_again_as_a_fresh_run_would(tmp_path):
    """Eleven of twelve submissions hold one fragment: more than common_limit(12) = 10, so it is not evidence.
    When one drops it, ten hold it: it counts for every pair of them and in each one's own code (the share of
    it another shares), none of which changed."""
    template = TEMPLATE.read_text(encoding="utf-8")

    def code(i: int, common: bool = True) -> str:
        return template + (block(1000) if common else block(2000)) + block(i // 2) + block(100 + i)

    names = [f"Common-{100000 + i}" for i in range(11)]
    zips = {n: build_zip(tmp_path / "zips" / f"{n}.zip", {"exercise4.py": code(i)}) for i, n in enumerate(names)}
    # One without the fragment, sharing a block with two that hold it: what counts of theirs changes.
    zips["Other-100011"] = build_zip(tmp_path / "zips" / "other.zip", {"exercise4.py": template + block(4)})
    first = similarity_report(tmp_path / "out", subjects(zips), workers=1)
    assert first.pairs == 7  # the pairs of shared blocks; the common block is not evidence
    changed = dict(zips)
    changed[names[10]] = build_zip(tmp_path / "changed.zip", {"exercise4.py": code(10, common=False)})
    again = similarity_report(tmp_path / "out", subjects(changed), workers=1)
    full = similarity_report(tmp_path / "full", subjects(changed), workers=1)
    assert again.pairs == full.pairs == 47  # every two of the ten that hold it now, and Other with two of them
    assert report_files(tmp_path / "out") == report_files(tmp_path / "full")
    assert again.reused_pairs == 0


@pytest.mark.parametrize("record", ["{not json", '{"format": 0}', "[]", '{"format": 1, "key": 3}'])
def test_a_damaged_or_old_record_means_comparing_everything(planted, tmp_path, record):
    out = fresh_out(planted[0], tmp_path / "out")
    first = similarity_report(out, subjects(planted[4]), workers=1)
    before = report_files(out)
    (out / ".cache" / "similarity" / "compared.json").write_text(record, encoding="utf-8")
    again = similarity_report(out, subjects(planted[4]), workers=1)
    assert (again.compared_pairs, again.reused_pairs) == (first.compared_pairs, 0)
    assert report_files(out) == before


def test_a_rerun_with_the_submissions_in_another_order_is_a_fresh_runs_result(planted, tmp_path):
    out = fresh_out(planted[0], tmp_path / "out")
    similarity_report(out, subjects(planted[4]), workers=1)
    reordered = subjects(planted[4])[::-1]
    similarity_report(out, reordered, workers=1)
    similarity_report(fresh_out(planted[0], tmp_path / "full"), reordered, workers=1)
    assert report_files(out) == report_files(tmp_path / "full")


def test_a_third_copy_of_a_written_answer_makes_the_first_two_compared_again(planted, tmp_path):
    """Schulze-450058 hands in the answer Demir-430068 copied from Hoffmann-440013: that pair's code is unchanged,
    but its shared answer text is now held by three, so it weighs half as much."""
    zips = planted[4]
    out = fresh_out(planted[0], tmp_path / "out")
    similarity_report(out, subjects(zips), workers=1)
    before = next(r for r in pairs(out) if {r["a"], r["b"]} == {"Demir-430068", "Hoffmann-440013"})
    answer = read_zip(zips["Hoffmann-440013"]).answers["1b"]
    changed = dict(zips)
    code = read_zip(zips["Schulze-450058"]).code + f"\nANSWERS = {{'1b': {answer!r}}}\n"
    changed["Schulze-450058"] = build_zip(tmp_path / "Schulze-450058.zip", {"exercise4.py": code})
    similarity_report(out, subjects(changed), workers=1)
    similarity_report(fresh_out(planted[0], tmp_path / "full"), subjects(changed), workers=1)
    assert report_files(out) == report_files(tmp_path / "full")
    after = next(r for r in pairs(out) if {r["a"], r["b"]} == {"Demir-430068", "Hoffmann-440013"})
    assert int(after["score"]) < int(before["score"])


def test_a_hostile_notebook_costs_only_its_own_comparison(tmp_path):
    """A notebook nested 100,000 deep makes json raise RecursionError; the report is still written, with that
    submission named as not compared and the others' copy found."""
    code = (PROJECT_DIR / "solutions" / "exercise4.py").read_bytes()
    zips = {
        "Copy-100001": build_zip(tmp_path / "Copy-100001.zip", {"exercise4.py": code}),
        "Copy-100002": build_zip(tmp_path / "Copy-100002.zip", {"exercise4.py": code}),
        "Deep-100003": build_zip(tmp_path / "Deep-100003.zip", {"exercise4.ipynb": b"[" * 100_000 + b"]" * 100_000}),
    }
    result = similarity_report(tmp_path / "out", subjects(zips), workers=1)
    assert [u.split(":")[0] for u in result.unreadable] == ["Deep-100003"], result.unreadable
    assert "RecursionError" in result.unreadable[0]
    assert [(row["a"], row["b"]) for row in pairs(tmp_path / "out")] == [("Copy-100001", "Copy-100002")]
