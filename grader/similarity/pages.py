"""The similarity report's pages: the ranked index, one side-by-side page per pair, and pairs.csv.

Everything from a submission reaches HTML through jinja2's autoescape; the pages load nothing from elsewhere.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import grader
from grader.report import environment
from grader.similarity.compare import EARLIER, Compared, Pair, highlight

PAIR_DIR = "pairs"
INDEX_PAIRS = 200
"""Pairs listed on index.html (and given a page); every student's closest pair is listed too."""

WORDING = "similar; look at both"


def pair_file(pair: Pair) -> str:
    """The pair's page, relative to OUT/similarity/: the same name on every run."""
    digest = hashlib.sha256(f"{pair.a}\0{pair.b}".encode("utf-8")).hexdigest()[:16]
    return f"{PAIR_DIR}/pair-{digest}.html"


def segments(text: str, ranges: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """The text cut into pieces, each shared (inside a range) or not."""
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        a, b = max(0, a), min(len(text), b)
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, last = [], 0
    for a, b in merged:
        if a > last:
            out.append({"text": text[last:a], "shared": False})
        out.append({"text": text[a:b], "shared": True})
        last = b
    if last < len(text):
        out.append({"text": text[last:], "shared": False})
    return out


def listed(compared: Compared, limit: int = INDEX_PAIRS) -> list[Pair]:
    """The pairs the index shows: the top `limit` and each student's closest match."""
    keep = list(compared.pairs[:limit])
    seen = {(p.a, p.b) for p in keep}
    for p in closest(compared).values():
        if (p.a, p.b) not in seen:
            keep.append(p)
            seen.add((p.a, p.b))
    return sorted(keep, key=lambda p: (-p.score, p.a, p.b))


def closest(compared: Compared) -> dict[str, Pair]:
    """Per this term's submission, its highest-ranked pair (with a term mate or an earlier one)."""
    best: dict[str, Pair] = {}
    for p in compared.pairs:  # ranked: the first seen is the closest
        for name in (p.a, p.b) if p.b_group != EARLIER else (p.a,):
            best.setdefault(name, p)
    return best


def render_index(compared: Compared, pairs: list[Pair], compared_with: list[str]) -> str:
    """OUT/similarity/index.html."""
    term = sum(1 for d in compared.docs.values() if d.group != EARLIER)
    rank = {(p.a, p.b): i for i, p in enumerate(compared.pairs, 1)}
    rows = [{"rank": rank[(p.a, p.b)], "p": p, "file": pair_file(p)} for p in pairs]
    return environment().get_template("similarity_index.html.j2").render(
        rows=rows, total=len(compared.pairs), term=term, earlier=len(compared.docs) - term,
        compared_with=compared_with, wording=WORDING, version=grader.__version__)


def render_pair(compared: Compared, pair: Pair, rank: int) -> str:
    """The side-by-side page of one pair: both code texts with the shared fragments marked, and the answers."""
    x, y = compared.docs[pair.a], compared.docs[pair.b]
    ha, hb = highlight(x, compared.kept[pair.a], y, compared.kept[pair.b])
    answers = [{"q": q, "a": x.source.answers.get(q, ""), "b": y.source.answers.get(q, "")} for q in pair.answers]
    return environment().get_template("similarity_pair.html.j2").render(
        p=pair, rank=rank, a_code=segments(x.source.code, ha), b_code=segments(y.source.code, hb),
        a_name=x.source.code_name, b_name=y.source.code_name, answers=answers, wording=WORDING,
        version=grader.__version__)


_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A text cell that a spreadsheet will not run as a formula (as grades.csv writes them)."""
    return "'" + text if text.startswith(_CSV_FORMULA) else text


def pairs_csv(compared: Compared, pages: dict[tuple[str, str], str]) -> str:
    """pairs.csv: every pair found, ranked."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "a", "b", "b_is", "score", "shared_code_tokens", "share_of_a", "share_of_b",
                     "shared_answer_words", "answers", "page"])
    for rank, p in enumerate(compared.pairs, 1):
        writer.writerow([rank, _cell(p.a), _cell(p.b), "earlier" if p.b_group == EARLIER else "this term", p.score,
                         p.code_tokens, f"{p.share_a:.2f}", f"{p.share_b:.2f}", p.answer_words,
                         " ".join(p.answers), pages.get((p.a, p.b), "")])
    return buffer.getvalue()
