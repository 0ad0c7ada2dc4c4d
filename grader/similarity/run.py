"""A batch's similarity report: each submission's material read (or taken from the cache), compared, written to OUT/similarity/.

Each run records its inputs and pairs in the cache; a rerun reuses them for what did not change (see
:func:`similarity_report` and :func:`grader.similarity.compare.compare`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import grader
from grader.config import DEFAULT, Settings
from grader.intake.unzip import sha256_of
from grader.outfiles import write_atomic
from grader.similarity import fingerprint as fpm
from grader.similarity import pages
from grader.similarity.compare import EARLIER, TERM, Compared, Doc, Pair, Previous, common_limit, compare
from grader.similarity.sources import SourceText, boilerplate_texts, read_zip, source_of, template_answers

FOLDER = "similarity"
"""The report's folder in OUT (a reserved name: no student's folder can have it)."""
CACHE_DIR = "similarity"
"""Under OUT/.cache: one file per zip content and fingerprint version."""
PARALLEL_FROM = 24
"""Fingerprint in worker processes when at least this many submissions are not cached."""
STATE = "compared.json"
"""Under OUT/.cache/similarity/: the previous run's inputs and pairs, for a rerun to reuse."""
STATE_FORMAT = 1
"""The state file's format: a file of another format is not read (everything is compared again)."""
_CODE = ("compare.py", "fingerprint.py", "sources.py", "pages.py", "run.py")
_TEMPLATES = ("similarity_index.html.j2", "similarity_pair.html.j2")


@dataclass(frozen=True)
class Subject:
    """One submission to compare: its name in the report, its zip, and its group (this term or earlier)."""

    name: str
    path: Path
    sha256: str
    group: str = TERM


@dataclass(frozen=True)
class SimilarityResult:
    """What a similarity run wrote and found."""

    index: Path
    csv: Path
    pairs: int
    fingerprinted: int
    """Submissions read and fingerprinted in this run (the others came from the cache)."""
    closest: dict[str, dict[str, Any]]
    """Per this term's submission with a similar one: the other's name, the score and the pair page's path in OUT."""
    unreadable: tuple[str, ...] = ()
    compared_pairs: int = 0
    """Candidate pairs compared in full in this run."""
    reused_pairs: int = 0
    """Reported pairs taken from the previous run without comparing them."""
    pages_written: int = 0
    """Pair pages written in this run (the others were already there as they would be written)."""


def _cache_path(cache: Path, sha256: str) -> Path:
    return cache / CACHE_DIR / f"{sha256}-v{fpm.VERSION}.json"


def _to_json(source: SourceText, fp: fpm.Fingerprint) -> dict[str, Any]:
    return {"code": source.code, "code_name": source.code_name, "answers": source.answers, "problem": source.problem,
            "length": fp.length, "hashes": _pack(fp.hashes), "positions": _pack(fp.positions),
            "offsets": _pack(fp.offsets.reshape(-1))}


def _pack(array: np.ndarray) -> str:
    """An int64 array as base64 of its little-endian bytes (JSON numbers are ten times slower to read back)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<i8").tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<i8").astype(np.int64)


def _from_json(data: dict[str, Any]) -> tuple[SourceText, fpm.Fingerprint]:
    source = SourceText(str(data["code"]), str(data["code_name"]),
                        {str(k): str(v) for k, v in dict(data["answers"]).items()}, str(data["problem"]))
    fp = fpm.Fingerprint(int(data["length"]), _unpack(data["hashes"]), _unpack(data["positions"]),
                         _unpack(data["offsets"]).reshape(-1, 2))
    return source, fp


def _read_one(path: str, settings: Settings) -> dict[str, Any]:
    """A zip's (or a code file's) material and fingerprints as JSON-able data (run in a worker process)."""
    p = Path(path)
    try:
        if p.suffix.lower() in (".py", ".ipynb"):
            source = source_of(p.read_bytes(), p.suffix.lower()[1:], p.name)
        else:
            source = read_zip(p, settings)
        return _to_json(source, fpm.fingerprint(source.code))
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - one submission's file, never the report
        # A hostile file (a notebook nested 100,000 deep, say) costs only its own comparison.
        source = SourceText("", p.name, problem=f"Its code could not be read for comparison ({type(exc).__name__}).")
        return _to_json(source, fpm.fingerprint(""))


def load_docs(subjects: list[Subject], cache: Path, settings: Settings = DEFAULT,
              workers: int | None = None) -> tuple[list[Doc], int, list[str]]:
    """Every subject's Doc, fingerprinting only what the cache lacks; how many were fingerprinted; unreadable ones."""
    found: dict[str, dict[str, Any]] = {}
    missing: list[Subject] = []
    for s in subjects:
        if s.sha256 in found:
            continue
        try:
            found[s.sha256] = json.loads(_cache_path(cache, s.sha256).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            missing.append(s)
    todo = list({s.sha256: s for s in missing}.values())
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    results: list[dict[str, Any]] | None = None
    if len(todo) >= PARALLEL_FROM and workers > 1:
        import multiprocessing
        from concurrent.futures.process import BrokenProcessPool

        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                results = list(pool.map(_read_one, [str(s.path) for s in todo], [settings] * len(todo), chunksize=8))
        except (BrokenProcessPool, RuntimeError, OSError):
            results = None  # e.g. a script without a __main__ guard cannot spawn: read them here instead
    if results is None:
        results = [_read_one(str(s.path), settings) for s in todo]
    (cache / CACHE_DIR).mkdir(parents=True, exist_ok=True)
    for s, data in zip(todo, results):
        found[s.sha256] = data
        write_atomic(_cache_path(cache, s.sha256), json.dumps(data, allow_nan=False).encode("utf-8"))
    docs, unreadable = [], []
    for s in subjects:
        source, fp = _from_json(found[s.sha256])
        if source.problem:
            unreadable.append(f"{s.name}: {source.problem}")
        docs.append(Doc(s.name, s.group, source, fp))
    return docs, len(todo), unreadable


def earlier_subjects(folders: list[Path]) -> list[Subject]:
    """Earlier terms' zips and public solutions (.py, .ipynb) under each --compare-with folder."""
    out = []
    for folder in folders:
        folder = Path(folder)
        files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
        for p in files:
            if p.suffix.lower() in (".zip", ".py", ".ipynb"):
                rel = p.name if folder.is_file() else p.relative_to(folder).as_posix()
                out.append(Subject(f"{folder.name}/{rel}", p, sha256_of(p), EARLIER))
    return out


@dataclass(frozen=True)
class _State:
    """A run's record in OUT/.cache/similarity/compared.json."""

    key: str
    """The digest of the code and the boilerplate it compared with (:func:`run_key`)."""
    inputs: list[tuple[str, str, str]]
    """Per document, in order: name, group, SHA-256."""
    limit: int
    pairs: tuple[Pair, ...]


def run_key(boilerplate: list[str], answers: dict[str, str]) -> str:
    """A digest of what decides a pair's result besides the documents: this code, its pages' templates, the
    boilerplate texts and the template's answers. Another key means everything is compared again."""
    digest = hashlib.sha256(f"{STATE_FORMAT}\0{fpm.VERSION}\0{grader.__version__}".encode("utf-8"))
    templates = Path(grader.__file__).parent / "templates"
    for path in [Path(__file__).with_name(n) for n in _CODE] + [templates / n for n in _TEMPLATES]:
        digest.update(path.read_bytes())
    digest.update(json.dumps([boilerplate, answers], sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


def _pair_row(p: Pair) -> list[Any]:
    return [p.a, p.b, p.b_group, p.code_tokens, p.tokens_a, p.tokens_b, p.own_a, p.own_b, p.answer_words,
            list(p.answers), p.score]


def _pair_of(row: list[Any]) -> Pair:
    a, b, group, code, ta, tb, oa, ob, words, answers, score = row
    return Pair(str(a), str(b), str(group), int(code), int(ta), int(tb), int(oa), int(ob), int(words),
                tuple(str(q) for q in answers), int(score))


def read_state(cache: Path, key: str) -> _State | None:
    """The previous run's record; None when there is none, it is damaged, of another format or another key."""
    try:
        data = json.loads((cache / CACHE_DIR / STATE).read_text(encoding="utf-8"))
        if data["format"] != STATE_FORMAT or data["key"] != key:
            return None
        inputs = [(str(name), str(group), str(sha)) for name, group, sha in data["inputs"]]
        return _State(key, inputs, int(data["limit"]), tuple(_pair_of(row) for row in data["pairs"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_state(cache: Path, state: _State) -> None:
    """Record this run for the next (atomically: a rerun reads a whole record or none)."""
    (cache / CACHE_DIR).mkdir(parents=True, exist_ok=True)
    data = {"format": STATE_FORMAT, "key": state.key, "inputs": state.inputs, "limit": state.limit,
            "pairs": [_pair_row(p) for p in state.pairs]}
    write_atomic(cache / CACHE_DIR / STATE, json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8"))


def previous_run(state: _State | None, subjects: list[Subject], cache: Path) -> Previous | None:
    """What the previous run leaves to reuse; None when nothing can be (no record, or a previous version of a
    changed document is no longer in the cache)."""
    if state is None:
        return None
    now = {s.name: (s.name, s.group, s.sha256) for s in subjects}
    was = set(state.inputs)
    changed = frozenset(name for name, entry in now.items() if entry not in was)
    before = []
    for name, group, sha in state.inputs:
        if now.get(name) != (name, group, sha):
            try:
                source, fp = _from_json(json.loads(_cache_path(cache, sha).read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                return None
            before.append(Doc(name, group, source, fp))
    return Previous({(p.a, p.b): p for p in state.pairs}, {entry[0]: i for i, entry in enumerate(state.inputs)},
                    state.limit, changed, tuple(before))


def write_report(out: Path, compared: Compared, compared_with: list[str],
                 before: tuple[Pair, ...] = ()) -> tuple[Path, Path, dict[str, dict[str, Any]], int]:
    """OUT/similarity/: index.html, pairs.csv, the pages of the listed pairs; the closest match of each student;
    how many pages were written. A page is kept as it is when its pair was reused from the previous run (`before`,
    its pairs) at the same rank: its documents, and so its content, are as they were."""
    folder = out / FOLDER
    (folder / pages.PAIR_DIR).mkdir(parents=True, exist_ok=True)
    listed = pages.listed(compared)
    rank = {(p.a, p.b): i for i, p in enumerate(compared.pairs, 1)}
    files = {(p.a, p.b): pages.pair_file(p) for p in listed}
    listed_files = set(files.values())
    for page in (folder / pages.PAIR_DIR).iterdir():  # pages of pairs no longer listed go
        if page.is_file() and f"{pages.PAIR_DIR}/{page.name}" not in listed_files:
            page.unlink()
    earlier_rank = {(p.a, p.b): i for i, p in enumerate(before, 1)}
    was_listed = {(p.a, p.b) for p in pages.listed(Compared(before, {}))}
    todo = [p for p in listed if not ((p.a, p.b) in compared.reused and (p.a, p.b) in was_listed
                                      and earlier_rank.get((p.a, p.b)) == rank[(p.a, p.b)]
                                      and (folder / files[(p.a, p.b)]).is_file())]

    def write_page(p: Pair) -> None:
        write_atomic(folder / files[(p.a, p.b)], pages.render_pair(compared, p, rank[(p.a, p.b)]).encode("utf-8"))

    # Each atomic write waits for the disk (fsync): several at once.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write_page, todo))
    write_atomic(folder / "index.html", pages.render_index(compared, listed, compared_with).encode("utf-8"))
    write_atomic(folder / "pairs.csv", pages.pairs_csv(compared, files).encode("utf-8"))
    closest: dict[str, dict[str, Any]] = {}
    for name, p in pages.closest(compared).items():
        other = p.b if p.a == name else p.a
        closest[name] = {"other": other, "score": p.score, "earlier": p.b_group == EARLIER,
                         "page": f"{FOLDER}/{files[(p.a, p.b)]}"}
    write_atomic(folder / "closest.json", json.dumps(closest, indent=2, ensure_ascii=False).encode("utf-8"))
    return folder / "index.html", folder / "pairs.csv", closest, len(todo)


def similarity_report(out: Path, term: list[Subject], compare_with: list[Path] | None = None,
                      settings: Settings = DEFAULT, cache: Path | None = None,
                      workers: int | None = None) -> SimilarityResult:
    """Compare `term` (and the --compare-with folders against it) and write OUT/similarity/.

    The previous run's inputs and pairs are recorded in the cache: when no document, boilerplate or code changed,
    its pairs are reused as they are and no page is written again; otherwise :func:`compare` compares again only
    the pairs whose result may differ. Either way the result is what comparing everything would give.
    """
    out = Path(out)
    cache = cache if cache is not None else out / ".cache"
    subjects = term + earlier_subjects(list(compare_with or []))
    texts, given = boilerplate_texts(), template_answers()
    key = run_key(texts, given)
    state = read_state(cache, key)
    docs, fingerprinted, unreadable = load_docs(subjects, cache, settings, workers)
    inputs = [(s.name, s.group, s.sha256) for s in subjects]
    folder = out / FOLDER
    if state is not None and state.inputs == inputs and all(
            (folder / pages.pair_file(p)).is_file() for p in pages.listed(Compared(state.pairs, {}))):
        compared = Compared(state.pairs, {d.name: d for d in docs}, {}, 0, frozenset((p.a, p.b) for p in state.pairs))
    else:
        boilerplate = np.unique(np.concatenate([fpm.all_kgrams(t) for t in texts]))
        compared = compare(docs, boilerplate, given, previous_run(state, subjects, cache))
    before = state.pairs if state is not None else ()
    # A run that stops while writing leaves no record: pages it rewrote are not taken for the recorded run's.
    (cache / CACHE_DIR / STATE).unlink(missing_ok=True)
    index, csv_path, closest, written = write_report(out, compared, [Path(c).name for c in compare_with or []],
                                                     before)
    write_state(cache, _State(key, inputs, common_limit(sum(1 for s in subjects if s.group == TERM)),
                              compared.pairs))
    return SimilarityResult(index, csv_path, len(compared.pairs), fingerprinted, closest, tuple(unreadable),
                            compared.compared_pairs, len(compared.reused), written)


__all__ = ["FOLDER", "Pair", "SimilarityResult", "Subject", "sha256_of", "similarity_report"]
