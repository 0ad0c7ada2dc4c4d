"""A code text's fingerprints: copydetect's tokens (names, strings and comments abstracted) winnowed with a stable hash.

copydetect 0.5.0 hashes k-grams with Python's ``hash()``, which is salted per process
(``PYTHONHASHSEED``): fingerprints cached by one run would not match the next. The k-grams are
hashed here with a polynomial over the tokens' code points in numpy's wrapping uint64 arithmetic,
the same in every process; tokenizing, winnowing and the copied slices are copydetect's.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

K = 25
"""Tokens of a k-gram (copydetect's noise threshold): shared runs shorter than this are noise."""
WINDOW = 6
"""Winnowing window: every shared run of K + WINDOW - 1 = 30 tokens is found (copydetect's guarantee)."""
VERSION = "4"
"""Changes whenever fingerprints of the same text would change (cached fingerprints are keyed by it)."""

_BASE = np.uint64(1_000_003)


@dataclass(frozen=True)
class Fingerprint:
    """The winnowed fingerprints of one code text and what is needed to map them back onto it."""

    length: int
    """Tokens of the filtered text (one character each in copydetect's filtered code)."""
    hashes: np.ndarray
    """Selected k-gram hashes (int64), in text order; a hash may repeat."""
    positions: np.ndarray
    """Where each selected k-gram starts in the filtered text."""
    offsets: np.ndarray
    """copydetect's (filtered index, characters removed so far) pairs, to map filtered slices onto the text."""


def without_hints(code: str) -> str:
    """The code with type annotations blanked out (same length, same positions); as it is when it does not parse.

    The template's helpers carry type hints and docstrings that students who paste them into a notebook often
    drop: with and without them they are the same handed-out code. Docstrings are blanked too.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code
    # Lines as the parser counts them (str.splitlines also splits at form feeds and U+2028).
    parts = re.split(r"(\r\n|\r|\n)", code)
    lines = [parts[i] + (parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    chars = list(code)

    def offset(line: int, col: int) -> int:
        # ast's columns count UTF-8 bytes.
        return starts[line - 1] + len(lines[line - 1].encode("utf-8")[:col].decode("utf-8", "replace"))

    def blank(node: ast.expr, marker: str) -> None:
        a, b = offset(node.lineno, node.col_offset), offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
        before = code.rfind(marker, 0, a) if marker else a
        if before < 0 or code[before + len(marker):a].strip():
            return
        for i in range(before, b):
            if chars[i] not in "\n\r":
                chars[i] = " "

    try:
        _blank_hints(tree, blank)
    except (IndexError, ValueError, RecursionError):
        return code
    return "".join(chars)


def _blank_hints(tree: ast.Module, blank: Callable[[ast.expr, str], None]) -> None:
    """Blank every annotation (with its ':' or '->') and every docstring of the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            blank(node.annotation, ":")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            blank(node.returns, "->")
        elif isinstance(node, ast.AnnAssign) and node.simple and node.value is not None:
            blank(node.annotation, ":")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                blank(first.value, "")


def tokens(code: str) -> tuple[str, np.ndarray]:
    """copydetect's filtered code (names as V/F/O, strings as S, comments and whitespace dropped) and its offsets."""
    from copydetect.utils import filter_code

    filtered, offsets = filter_code(without_hints(code), "code.py", language="python")
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    return str(filtered), offsets


def kgram_hashes(filtered: str, k: int = K) -> np.ndarray:
    """The hash of every k-gram of the filtered text: the same in every process (int64)."""
    if len(filtered) < k:
        return np.zeros(0, dtype=np.int64)
    points = np.frombuffer(filtered.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(points) - k + 1
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _BASE + points[j:j + n] + np.uint64(1)
    return h.view(np.int64)


def winnow(hashes: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Indices of the hashes robust winnowing selects (copydetect's C or Python implementation)."""
    from copydetect.utils import winnow as cd_winnow

    if len(hashes) == 0:
        return np.zeros(0, dtype=np.int64)
    # copydetect's Python fallback compares in float64; rank the hashes first so no two distinct ones tie there.
    ranks = np.unique(hashes, return_inverse=True)[1].astype(np.int64)
    _, idx = cd_winnow(ranks, window, remove_duplicates=False)
    return np.asarray(idx, dtype=np.int64)


def fingerprint(code: str) -> Fingerprint:
    """Tokenize, hash and winnow a code text."""
    filtered, offsets = tokens(code)
    hashes = kgram_hashes(filtered)
    idx = winnow(hashes)
    return Fingerprint(len(filtered), hashes[idx], idx, offsets)


def all_kgrams(code: str) -> np.ndarray:
    """Every k-gram hash of a text (not winnowed): what boilerplate is matched against."""
    return np.unique(kgram_hashes(tokens(code)[0]))


def copied_slices(positions: np.ndarray, k: int = K) -> np.ndarray:
    """(starts, ends) in the filtered text covered by the k-grams starting at `positions` (copydetect's merge)."""
    from copydetect.utils import get_copied_slices

    if len(positions) == 0:
        return np.zeros((2, 0), dtype=np.int64)
    return np.asarray(get_copied_slices(np.asarray(positions, dtype=np.int64), k), dtype=np.int64)


def raw_slices(slices: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Filtered-text slices as slices of the original text (copydetect's own translation)."""
    slices = slices.copy()
    if len(offsets) > 0 and slices.shape[1] > 0:
        slices += offsets[:, 1][np.clip(np.searchsorted(offsets[:, 0], slices), 0, offsets.shape[0] - 1)]
    return slices
