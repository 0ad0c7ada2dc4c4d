"""Every counting submission against every other (and against earlier terms'), ranked by what they share beyond the template.

Fingerprints of the template's and the sheet's code are dropped from every submission, and so are
those that many submissions share (code that many write alike is no evidence of copying). An
inverted index from fingerprint to submissions finds the pairs that share anything at all; only
those are compared in full, so 500 submissions are not 125,000 comparisons. A rerun compares again
only the pairs whose result can differ from the previous run's (:class:`Previous`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from grader.similarity import fingerprint as fpm
from grader.similarity.fingerprint import Fingerprint
from grader.similarity.sources import SourceText

TERM = "term"
EARLIER = "earlier"
"""Groups: this term's counting submissions, and what --compare-with brings (earlier terms, public solutions)."""

ANSWER_SHINGLE = 8
"""Words of a written-answer shingle: eight words in a row in both answers are shared text."""
ANSWER_WEIGHT = 24
"""A shared word of a written answer (beyond a run's first ANSWER_FREE) counts as this many code tokens."""
ANSWER_FREE = 10
"""Words of each shared run of answer text that do not count: students who write alike share phrases of
eight to twelve words ("the receptive field grows linearly with the depth"); a copied answer shares one
run as long as itself."""
MIN_CODE_TOKENS = 2 * fpm.K
"""Shared code below this many tokens is not reported (one k-gram or two is chance)."""
MIN_ANSWER_WORDS = 12
"""Shared answer text below this many words is not reported."""


def common_limit(n: int) -> int:
    """A fingerprint held by more than this many of n submissions is common code, not evidence."""
    return max(10, n // 20)


@dataclass(frozen=True)
class Doc:
    """One submission as compared."""

    name: str
    """Its folder in the batch, or (earlier) the label of the zip it came from."""
    group: str
    source: SourceText
    fp: Fingerprint


@dataclass(frozen=True)
class Pair:
    """Two submissions and what they share beyond the template; a pair with a higher `score` ranks first."""

    a: str
    b: str
    b_group: str
    """`earlier` when b came from --compare-with; a is always this term's."""
    code_tokens: int
    """Tokens of non-template code both share (the smaller of the two sides' counts)."""
    tokens_a: int
    tokens_b: int
    own_a: int
    """Tokens of a's code that are not the template's (what its share is of)."""
    own_b: int
    answer_words: int
    """Words of written answers both share (beyond the template's)."""
    answers: tuple[str, ...] = ()
    """The questions whose answers share text."""
    score: int = 0

    @property
    def share_a(self) -> float:
        """The fraction of a's own code that b shares."""
        return self.tokens_a / self.own_a if self.own_a else 0.0

    @property
    def share_b(self) -> float:
        """The fraction of b's own code that a shares."""
        return self.tokens_b / self.own_b if self.own_b else 0.0


@dataclass(frozen=True)
class Compared:
    """The result of comparing a term: pairs ranked, and what each document kept."""

    pairs: tuple[Pair, ...]
    docs: dict[str, Doc]
    kept: dict[str, np.ndarray] = field(default_factory=dict)
    """Per document: the mask of its fingerprints that count (not template, not common)."""
    compared_pairs: int = 0
    """Candidate pairs compared in full in this run."""
    reused: frozenset[tuple[str, str]] = frozenset()
    """(a, b) of the pairs taken from the previous run without comparing (their documents are as they were)."""


@dataclass(frozen=True)
class Previous:
    """What the previous run on the same batch found, for a rerun to reuse (the rule is :func:`compare`'s)."""

    pairs: dict[tuple[str, str], Pair]
    """Its reported pairs by (a, b)."""
    order: dict[str, int]
    """Each document's position in its list of documents (of two of this term's, a is the earlier)."""
    limit: int
    """Its common_limit."""
    changed: frozenset[str]
    """Names of the documents that are new, or whose content or group differs from the previous run's."""
    before: tuple[Doc, ...]
    """The previous run's versions of the documents that changed or are gone."""


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _shingles(words: list[str]) -> dict[tuple[str, ...], list[int]]:
    out: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(words) - ANSWER_SHINGLE + 1):
        out.setdefault(tuple(words[i:i + ANSWER_SHINGLE]), []).append(i)
    return out


class _Answers:
    """Written answers as word shingles per question, the template's and the common ones removed."""

    def __init__(self, docs: list[Doc], template: dict[str, str], limit: int) -> None:
        self.given = {q: set(_shingles(_words(t))) for q, t in template.items()}
        self.words: dict[tuple[str, str], list[str]] = {}
        self.sh: dict[tuple[str, str], dict[tuple[str, ...], list[int]]] = {}
        self.keys: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
        """Per document: its (question, shingle) keys beyond the template's, common ones included."""
        counts: dict[tuple[str, tuple[str, ...]], int] = {}
        for d in docs:
            self.keys[d.name] = set()
            for q, (w, sh) in self.of(d).items():
                self.words[(d.name, q)], self.sh[(d.name, q)] = w, sh
                self.keys[d.name].update((q, s) for s in sh)
                if d.group == TERM:
                    for s in sh:
                        counts[(q, s)] = counts.get((q, s), 0) + 1
        common = {k for k, c in counts.items() if c > limit}
        self.holders = counts
        self.by_name: dict[str, dict[str, dict[tuple[str, ...], list[int]]]] = {}
        for (name, q), sh in self.sh.items():
            for s in [s for s in sh if (q, s) in common]:
                del sh[s]
            self.by_name.setdefault(name, {})[q] = sh

    def of(self, d: Doc) -> dict[str, tuple[list[str], dict[tuple[str, ...], list[int]]]]:
        """Per question of d: its answer's words and its shingles beyond the template's (with their starts)."""
        out = {}
        for q, text in d.source.answers.items():
            w = _words(text)
            out[q] = (w, {s: p for s, p in _shingles(w).items() if s not in self.given.get(q, ())})
        return out

    def index(self) -> dict[tuple[str, tuple[str, ...]], list[str]]:
        out: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for (name, q), sh in self.sh.items():
            for s in sh:
                out.setdefault((q, s), []).append(name)
        return out

    def shared(self, a: str, b: str) -> tuple[int, tuple[str, ...], float]:
        """Words of a's answers covered by shingles b's answers to the same question share; those questions;
        the evidence they are: each shared run's words beyond ANSWER_FREE, weighted by rarity as code tokens are
        (:func:`_weighted`)."""
        total, questions, rare = 0, [], 0.0
        theirs = self.by_name.get(b, {})
        for q, sh in self.by_name.get(a, {}).items():
            other = theirs.get(q)
            if not other:
                continue
            common = list(sh.keys() & other.keys())
            if not common:
                continue
            starts = np.array([p for c in common for p in sh[c]], dtype=np.int64)
            weights = np.array([1.0 / max(1, self.holders.get((q, c), 2) - 1) for c in common for _ in sh[c]])
            cover = np.zeros(len(self.words[(a, q)]) + ANSWER_SHINGLE)
            np.maximum.at(cover, (starts[:, None] + np.arange(ANSWER_SHINGLE)).ravel(),
                          np.repeat(weights, ANSWER_SHINGLE))
            total += int(np.count_nonzero(cover))
            rare += _run_excess(cover)
            questions.append(q)
        return total, tuple(sorted(questions)), rare


def _run_excess(cover: np.ndarray) -> float:
    """Over each run of shared words: its words beyond the first ANSWER_FREE, weighted by their mean rarity."""
    shared = np.r_[False, cover > 0, False]
    edges = np.flatnonzero(shared[1:] != shared[:-1])
    excess = 0.0
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start > ANSWER_FREE:
            excess += float(cover[start:end].mean()) * (end - start - ANSWER_FREE)
    return excess


def _candidate_pairs(hash_lists: list[np.ndarray], limit: int) -> np.ndarray:
    """(i, j) index pairs of documents that share a fingerprint held by at most `limit` of them."""
    n = len(hash_lists)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    h = np.concatenate([np.unique(x) for x in hash_lists]) if hash_lists else np.zeros(0, dtype=np.int64)
    d = np.concatenate([np.full(len(np.unique(x)), i, dtype=np.int64) for i, x in enumerate(hash_lists)])
    order = np.lexsort((d, h))
    h, d = h[order], d[order]
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    sizes = np.diff(np.r_[starts, len(h)])
    found = []
    for size in np.unique(sizes):
        if size < 2 or size > limit:
            continue
        groups = d[starts[sizes == size][:, None] + np.arange(size)]
        iu, ju = np.triu_indices(size, 1)
        found.append(groups[:, iu].ravel() * n + groups[:, ju].ravel())
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1)


def shared_positions(x: Doc, kx: np.ndarray, y: Doc, ky: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in x and in y of the counting fingerprints both hold."""
    hx, hy = x.fp.hashes[kx], y.fp.hashes[ky]
    both = np.intersect1d(hx, hy)
    return x.fp.positions[kx][np.isin(hx, both)], y.fp.positions[ky][np.isin(hy, both)]


def _covered(positions: np.ndarray) -> int:
    slices = fpm.copied_slices(positions)
    return int(np.sum(slices[1] - slices[0])) if slices.shape[1] else 0


def _weighted(doc: Doc, keep: np.ndarray, both: np.ndarray, holders: tuple[np.ndarray, np.ndarray]) -> float:
    """Tokens of `doc` covered by the shared fingerprints `both`, each token weighted by its rarest k-gram's rarity.

    A fingerprint that only the two hold weighs 1; one that m of the term's submissions hold weighs 1 / (m - 1):
    code that several students write alike is weaker evidence than code only these two share.
    """
    hashes = doc.fp.hashes[keep]
    mask = np.isin(hashes, both)
    if not mask.any():
        return 0.0
    pos = doc.fp.positions[keep][mask]
    keys, held = holders
    shared = hashes[mask]
    m = np.full(len(shared), 2, dtype=np.int64)
    if len(keys):
        at = np.clip(np.searchsorted(keys, shared), 0, len(keys) - 1)
        hit = keys[at] == shared
        m[hit] = held[at[hit]]
    weight = 1.0 / np.maximum(1, m - 1)
    cover = np.zeros(doc.fp.length + fpm.K, dtype=np.float64)
    cells = (pos[:, None] + np.arange(fpm.K)).ravel()
    np.maximum.at(cover, cells, np.repeat(weight, fpm.K))
    return float(cover.sum())


def _counting_hashes(d: Doc, boilerplate: np.ndarray) -> np.ndarray:
    """The distinct fingerprints of d that are not boilerplate (what the term's holder counts count)."""
    return np.unique(d.fp.hashes[~np.isin(d.fp.hashes, boilerplate)])


class _Rerun:
    """Which candidate pairs of a rerun must be compared again (the rule is :func:`compare`'s)."""

    def __init__(self, previous: Previous, docs: list[Doc], boilerplate: np.ndarray, counts: dict[int, int],
                 limit: int, answers: _Answers, kept: dict[str, np.ndarray]) -> None:
        self.previous = previous
        # How each holder count moved: +1 per new version of a document, -1 per previous version.
        moved: dict[int, int] = {}
        moved_answers: dict[tuple[str, tuple[str, ...]], int] = {}
        versions = [(d, 1, answers.keys[d.name]) for d in docs if d.name in previous.changed]
        versions += [(d, -1, {(q, s) for q, (_, sh) in answers.of(d).items() for s in sh}) for d in previous.before]
        for d, sign, keys in versions:
            if d.group != TERM:
                continue
            for h in _counting_hashes(d, boilerplate).tolist():
                moved[h] = moved.get(h, 0) + sign
            for key in keys:
                moved_answers[key] = moved_answers.get(key, 0) + sign
        moved = {h: m for h, m in moved.items() if m}
        moved_answers = {k: m for k, m in moved_answers.items() if m}
        held = answers.holders

        def flips(now: int, move: int) -> bool:
            return (now > limit) != (now - move > limit)

        # A fingerprint or shingle that became common (or stopped being) changes what counts of every holder.
        flipped = np.array(sorted(h for h, m in moved.items() if flips(counts.get(h, 0), m)), dtype=np.int64)
        flipped_answers = {k for k, m in moved_answers.items() if flips(held.get(k, 0), m)}
        changed = np.array(sorted(moved), dtype=np.int64)
        self.stale = set(previous.changed)
        self.hashes: dict[str, set[int]] = {}
        self.shingles: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
        for d in docs:
            if (len(flipped) and np.isin(d.fp.hashes, flipped).any()) \
                    or not answers.keys[d.name].isdisjoint(flipped_answers):
                self.stale.add(d.name)
            counting = d.fp.hashes[kept[d.name]]
            hit = counting[np.isin(counting, changed)]
            if len(hit):
                self.hashes[d.name] = set(hit.tolist())
            shingles = {(q, sh) for q, kept_sh in answers.by_name.get(d.name, {}).items() for sh in kept_sh
                        if (q, sh) in moved_answers}
            if shingles:
                self.shingles[d.name] = shingles

    def again(self, x: Doc, y: Doc) -> bool:
        """Whether the pair (x, y) must be compared: its result may differ from the previous run's."""
        if x.name in self.stale or y.name in self.stale:
            return True
        if y.group == TERM and self.previous.order[x.name] > self.previous.order[y.name]:
            return True  # the previous run had them the other way round (a's answer words are a's)
        return not (self.hashes.get(x.name, set()).isdisjoint(self.hashes.get(y.name, set()))
                    and self.shingles.get(x.name, set()).isdisjoint(self.shingles.get(y.name, set())))


def compare(docs: list[Doc], boilerplate: np.ndarray, template_answers: dict[str, str] | None = None,
            previous: Previous | None = None) -> Compared:
    """Rank the pairs of `docs`: this term's among themselves and each earlier one against this term's only.

    With `previous` (a rerun with the same boilerplate and code), a pair's result is taken from the previous run
    unless it may differ. It is a function of both documents' counting fingerprints and answer shingles (which
    drop the common ones), of the holder counts of those they share (the weights 1/(m-1)) and of which is a. So a
    pair is compared again when either document is new or changed; when either holds a fingerprint or shingle
    that became common or stopped being (what counts of it changed); when the two share a fingerprint or shingle
    whose holder count changed; or when their order in `docs` is swapped. Every other pair is as it was: reused if
    the previous run reported it, still not reported if it did not. When common_limit(n) differs from the previous
    run's, everything is compared.
    """
    term = [d for d in docs if d.group == TERM]
    limit = common_limit(len(term))
    boilerplate = np.unique(boilerplate)
    counts: dict[int, int] = {}
    for d in term:
        for h in _counting_hashes(d, boilerplate).tolist():
            counts[h] = counts.get(h, 0) + 1
    common = np.array(sorted(h for h, c in counts.items() if c > limit), dtype=np.int64)
    rare_keys = np.array(sorted(h for h, c in counts.items() if c <= limit), dtype=np.int64)
    holders = (rare_keys, np.array([counts[h] for h in rare_keys.tolist()], dtype=np.int64))
    drop = np.union1d(boilerplate, common)
    kept = {d.name: ~np.isin(d.fp.hashes, drop) for d in docs}
    own = {d.name: _covered(d.fp.positions[kept[d.name]]) for d in docs}

    answers = _Answers(docs, template_answers or {}, limit)
    index = [d.fp.hashes[kept[d.name]] for d in docs]
    candidates = {(int(i), int(j)) for i, j in _candidate_pairs(index, limit + len(docs) - len(term))}
    position = {d.name: i for i, d in enumerate(docs)}
    for (_, _), names in answers.index().items():
        if 2 <= len(names) <= limit + len(docs) - len(term):
            ids = sorted(position[n] for n in names)
            candidates.update((ids[p], ids[q]) for p in range(len(ids)) for q in range(p + 1, len(ids)))

    rerun = None
    if previous is not None and previous.limit == limit and len(position) == len(docs):
        rerun = _Rerun(previous, docs, boilerplate, counts, limit, answers, kept)
    pairs, reused, compared = [], set(), 0
    for i, j in sorted(candidates):
        x, y = docs[i], docs[j]
        if x.group != TERM and y.group != TERM:
            continue  # earlier terms are not compared among themselves
        if x.group != TERM:
            x, y = y, x
        if rerun is not None and not rerun.again(x, y):
            before = rerun.previous.pairs.get((x.name, y.name))
            if before is not None:
                pairs.append(before)
                reused.add((x.name, y.name))
            continue
        compared += 1
        px, py = shared_positions(x, kept[x.name], y, kept[y.name])
        ta, tb = _covered(px), _covered(py)
        words, questions, rare_words = answers.shared(x.name, y.name)
        code = min(ta, tb)
        if code < MIN_CODE_TOKENS and words < MIN_ANSWER_WORDS:
            continue
        both = np.intersect1d(x.fp.hashes[kept[x.name]], y.fp.hashes[kept[y.name]])
        rare = min(_weighted(x, kept[x.name], both, holders), _weighted(y, kept[y.name], both, holders))
        pairs.append(Pair(x.name, y.name, y.group, code, ta, tb, own[x.name], own[y.name], words, questions,
                          round(rare + ANSWER_WEIGHT * rare_words)))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return Compared(tuple(pairs), {d.name: d for d in docs}, kept, compared, frozenset(reused))


def highlight(x: Doc, kx: np.ndarray, y: Doc, ky: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The shared fragments of x's and y's code texts as (start, end) character ranges."""
    px, py = shared_positions(x, kx, y, ky)
    out = []
    for doc, pos in ((x, px), (y, py)):
        raw = fpm.raw_slices(fpm.copied_slices(pos), doc.fp.offsets)
        out.append([(int(a), int(b)) for a, b in zip(raw[0], raw[1]) if b > a])
    return out[0], out[1]
