"""How well candidate similarity tools rank the planted copies of the independent corpus above its independent pairs.

    python benchmarks/compare_similarity_tools.py

The corpus is tests/data/independent with the planted copies of tests/test_similarity.py (verbatim,
renamed identifiers, reordered functions, comments rewritten, a notebook copy of a .py, renamed +
reordered + recommented, one copied written answer). For each tool: where the worst planted pair
ranks, how many independent pairs rank above it, and the share of (planted, independent) pairs in the
right order. Tools: the grader's (copydetect's tokens and winnowing, template and sheet excluded, rarity
weighted, answers compared); copydetect 0.5.0 as shipped (its CodeFingerprint with the template and the
sheet as boilerplate, ranked by its overlap in tokens and by its similarity percentage); pycode_similar 1.4
(AST diff of functions, ranked by its count of matching nodes); difflib's ratio over the code's lines.
"""

from __future__ import annotations

import difflib
import io
import itertools
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from grader.similarity import fingerprint as fpm  # noqa: E402
from grader.similarity.compare import TERM, Doc, compare  # noqa: E402
from grader.similarity.sources import boilerplate_texts, source_of, template_answers  # noqa: E402
from tests.similarity_corpus import ANSWER_COPIES, SAME_AUTHOR, independent, planted_files  # noqa: E402


def texts() -> tuple[dict[str, str], dict[str, Doc], dict[str, str], set[frozenset[str]]]:
    files, origin, planted = planted_files()
    docs = {}
    for name, (fname, data) in files.items():
        source = source_of(data, fname.rsplit(".", 1)[1], fname)
        docs[name] = Doc(name, TERM, source, fpm.fingerprint(source.code))
    return {n: d.source.code for n, d in docs.items()}, docs, origin, planted


def ours(code: dict[str, str], docs: dict[str, Doc]) -> dict[frozenset[str], float]:
    boilerplate = np.concatenate([fpm.all_kgrams(t) for t in boilerplate_texts()])
    result = compare(list(docs.values()), boilerplate, template_answers())
    return {frozenset((p.a, p.b)): float(p.score) for p in result.pairs}


def copydetect_shipped(code: dict[str, str], docs: dict[str, Doc], by: str) -> dict[frozenset[str], float]:
    from copydetect import CodeFingerprint, compare_files

    boiler = [CodeFingerprint("template.py", 25, 1, fp=io.StringIO(t)).hashes for t in boilerplate_texts()]
    hashes = np.array(sorted(set().union(*boiler)))
    fps = {n: CodeFingerprint("code.py", 25, 6, boilerplate=hashes, fp=io.StringIO(c)) for n, c in code.items()}
    out = {}
    for a, b in itertools.combinations(sorted(code), 2):
        overlap, (sa, sb), _ = compare_files(fps[a], fps[b])
        out[frozenset((a, b))] = float(overlap) if by == "tokens" else float(max(sa, sb))
    return out


def pycode_similar(code: dict[str, str], docs: dict[str, Doc]) -> dict[frozenset[str], float]:
    import pycode_similar as ps

    out = {}
    for a, b in itertools.combinations(sorted(code), 2):
        try:
            diff = ps.detect([code[a], code[b]], diff_method=ps.UnifiedDiff, module_level=True)
            out[frozenset((a, b))] = float(ps.summarize(diff[0][1])[1])
        except (SyntaxError, ps.NoFuncException):
            out[frozenset((a, b))] = 0.0
    return out


def difflib_lines(code: dict[str, str], docs: dict[str, Doc]) -> dict[frozenset[str], float]:
    lines = {n: [ln.split("#")[0].strip() for ln in c.splitlines() if ln.split("#")[0].strip()] for n, c in code.items()}
    return {frozenset((a, b)): difflib.SequenceMatcher(None, lines[a], lines[b]).ratio()
            for a, b in itertools.combinations(sorted(code), 2)}


def judge(scores: dict[frozenset[str], float], names: list[str], origin: dict[str, str],
          planted: set[frozenset[str]]) -> tuple[int, int, int, float, int]:
    """(worst planted rank, independent pairs above it, independent pairs, share of pairs in the right order,
    independent pairs above the worst planted code copy: the copied written answer left out)."""
    every = {frozenset(p): scores.get(frozenset(p), 0.0) for p in itertools.combinations(names, 2)}
    ranked = sorted(every, key=lambda p: -every[p])
    rank = {p: i + 1 for i, p in enumerate(ranked)}
    ind = [p for p in every if independent(*sorted(p), origin, planted)]
    worst = max(rank[p] for p in planted)
    above = sum(1 for p in ind if rank[p] < worst)
    ordered = np.mean([every[p] > every[i] for p in planted for i in ind])
    code_copies = [p for p in planted if p not in {frozenset((a, b)) for a, b, _ in ANSWER_COPIES}]
    above_code = sum(1 for p in ind if rank[p] < max(rank[c] for c in code_copies))
    return worst, above, len(ind), float(ordered), above_code


def main() -> None:
    code, docs, origin, planted = texts()
    names = sorted(code)
    tools: list[tuple[str, Callable[[], dict[frozenset[str], float]]]] = [
        ("grader (copydetect tokens, template out, rarity)", lambda: ours(code, docs)),
        ("copydetect 0.5.0 as shipped, by tokens", lambda: copydetect_shipped(code, docs, "tokens")),
        ("copydetect 0.5.0 as shipped, by percent", lambda: copydetect_shipped(code, docs, "percent")),
        ("pycode_similar 1.4 (AST, UnifiedDiff)", lambda: pycode_similar(code, docs)),
        ("difflib ratio over code lines", lambda: difflib_lines(code, docs)),
    ]
    print(f"{len(names)} submissions, {len(planted)} planted pairs; the one author's trio ({', '.join(sorted(SAME_AUTHOR))}) "
          "is neither planted nor independent")
    print(f"{'tool':52s} {'worst planted rank':>18s} {'indep. above it':>16s} {'right order':>12s} "
          f"{'indep. above worst code copy':>29s} {'seconds':>8s}")
    for label, run in tools:
        t = time.perf_counter()
        scores = run()
        worst, above, n_ind, ordered, above_code = judge(scores, names, origin, planted)
        print(f"{label:52s} {worst:>18d} {f'{above} of {n_ind}':>16s} {ordered:>11.1%} {above_code:>29d} "
              f"{time.perf_counter() - t:>8.1f}")


if __name__ == "__main__":
    main()
