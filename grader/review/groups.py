"""Answers to one question grouped by meaning, so a TA can grade a group at once and spot-check it.

Empty and near-empty answers ("", "-", "?", "todo", "I don't know", "weiß nicht") always form a group
of their own. The rest are grouped by cosine distance between TF-IDF vectors of character n-grams
(3 to 5 characters within words, scikit-learn), merged by average linkage up to a distance threshold.
Character n-grams work across English and German without a tokenizer or a model, and catch copied
answers (near-identical strings) as the tightest groups; `benchmarks/compare_grouping.py` measures
them against the alternatives on a labelled corpus (figures in README). Each group shows its most
typical answer: the member closest, on average, to the others.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

EMPTY_GROUP = "empty"
DEFAULT_THRESHOLD = 0.7
"""Largest average cosine distance between two groups that are merged (chosen on the corpus: see README)."""

_NO_ANSWER = {
    "", "-", "--", "?", "??", "...", "todo", "tbd", "n/a", "na", "none", "nothing", "no idea", "no answer",
    "i don't know", "i dont know", "dont know", "don't know", "idk", "keine ahnung", "weiß nicht", "weiss nicht",
    "weiß ich nicht", "weiss ich nicht", "ich weiß es nicht", "ich weiss es nicht", "keine antwort", "k.a.",
    "ka", "x", ".",
}


@dataclass(frozen=True)
class Group:
    """Answers that belong together, and the one that shows why."""

    id: str
    members: tuple[str, ...]
    """Keys of the answers (student folders), most typical first."""
    typical: str
    """Key of the most typical answer."""


def normalized(text: str) -> str:
    """The answer folded for comparison: NFC, lower case, whitespace collapsed, outer punctuation dropped."""
    text = unicodedata.normalize("NFC", text).casefold().replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip(" \t.!,;:")


def is_empty(text: str) -> bool:
    """Whether an answer says nothing: blank, a placeholder, or "I don't know" in English or German."""
    folded = normalized(text)
    return folded in _NO_ANSWER or len(re.sub(r"\W", "", folded)) < 3


def group_answers(answers: dict[str, str], threshold: float = DEFAULT_THRESHOLD) -> list[Group]:
    """The answers (key to text) in groups: the empty group first, then the others, largest first."""
    empty = [k for k, t in answers.items() if is_empty(t)]
    rest = [k for k in answers if k not in set(empty)]
    groups: list[Group] = []
    if empty:
        groups.append(Group(EMPTY_GROUP, tuple(empty), empty[0]))
    if len(rest) == 1:
        groups.append(Group("g1", (rest[0],), rest[0]))
    elif rest:
        import numpy as np
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [normalized(answers[k]) for k in rest]
        vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(texts)
        similarity = (vectors @ vectors.T).toarray()
        distance = np.clip(1.0 - similarity, 0.0, 2.0)
        labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                         distance_threshold=threshold).fit_predict(distance)
        clusters: dict[int, list[int]] = {}
        for index, label in enumerate(labels):
            clusters.setdefault(int(label), []).append(index)
        ordered = sorted(clusters.values(), key=lambda c: (-len(c), c[0]))
        for number, members in enumerate(ordered, 1):
            closeness = similarity[np.ix_(members, members)].mean(axis=1)
            ranked = [members[i] for i in np.argsort(-closeness, kind="stable")]
            groups.append(Group(f"g{number}", tuple(rest[i] for i in ranked), rest[ranked[0]]))
    return groups
