"""The similarity tests' corpus: the independent submissions, and planted copies of them made the ways students copy.

Shared by tests/test_similarity.py and the benchmarks (which mutate the corpus into many submissions).
"""

from __future__ import annotations

import ast
import io
import random
import re
import tokenize
from pathlib import Path

CORPUS = Path(__file__).parent / "data" / "independent"
SAME_AUTHOR = frozenset({"Demir-410078", "Lehmann-410091", "Nowak-410063"})
"""One helper's base solution with a different mistake each: not independent of each other (they share most code)."""

CONTRACT = frozenset({
    "X", "W1", "W2", "W3", "B1", "B2", "B3", "conv_relu", "HAND_COMPUTED", "conv_output_size", "receptive_field",
    "RF_ANSWERS", "make_transform", "make_loaders", "Net", "train", "plot_accuracy", "show_augmentations",
    "resnet_layers", "get_activations", "saliency_maps", "ANSWERS", "forward", "self", "__init__",
})


def corpus() -> dict[str, tuple[str, bytes]]:
    """Every independent submission by folder name: (file name, bytes of its code file)."""
    out = {}
    for kind in ("valid", "mistakes"):
        for folder in sorted(p for p in (CORPUS / kind).iterdir() if p.is_dir()):
            code = next(p for p in (folder / "exercise4.py", folder / "exercise4.ipynb") if p.is_file())
            out[folder.name] = (code.name, code.read_bytes())
    return out


def defined_names(code: str) -> set[str]:
    """Names the code itself binds (variables, parameters, its own helpers), minus the exercise's contract."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names - CONTRACT


def rename_identifiers(code: str, seed: int = 0) -> str:
    """Every name the code binds renamed (not attributes, not the contract's names)."""
    rng = random.Random(seed)
    names = sorted(defined_names(code))
    new = {n: f"{rng.choice(['tmp', 'val', 'q', 'z', 'thing'])}_{i}" for i, n in enumerate(names)}
    toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    out = []
    prev = None
    for tok in toks:
        if tok.type == tokenize.NAME and tok.string in new and not (prev and prev.string == "."):
            tok = tok._replace(string=new[tok.string])
        out.append(tok)
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok
    return tokenize.untokenize(out)


def reorder_functions(code: str) -> str:
    """The top-level functions and classes in reverse order (each keeps its text)."""
    lines = code.splitlines(keepends=True)
    tree = ast.parse(code)
    spans = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            spans.append((start, node.end_lineno or node.lineno))
    blocks = ["".join(lines[a:b]) for a, b in spans]
    out, last = [], 0
    for (a, b), block in zip(spans, reversed(blocks)):
        out.append("".join(lines[last:a]))
        out.append(block if block.endswith("\n") else block + "\n")
        last = b
    out.append("".join(lines[last:]))
    return "".join(out)


def rewrite_comments(code: str) -> str:
    """Every comment replaced by another sentence, and every docstring too."""
    out = []
    for n, tok in enumerate(tokenize.generate_tokens(io.StringIO(code).readline)):
        if tok.type == tokenize.COMMENT:
            tok = tok._replace(string=f"# my own note number {n}, in other words")
        out.append(tok)
    text = tokenize.untokenize(out)
    return re.sub(r'"""(.*?)"""', lambda m: '"""Rewritten explanation of this part."""', text, flags=re.DOTALL)


def as_notebook(code: str) -> bytes:
    """The code as a notebook Jupyter would save: a cell per top-level block, a magic, a shell line, outputs."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    chunks = re.split(r"\n(?=(?:def |class |@|[A-Z_]+ = ))", code)
    cells = [new_markdown_cell("# Exercise 4"), new_code_cell("%matplotlib inline\n!pip install tqdm")]
    for i, chunk in enumerate(chunks):
        cell = new_code_cell(chunk.strip("\n"), execution_count=i + 1)
        if i % 3 == 0:
            cell.outputs = [new_output("stream", name="stdout", text=f"output {i}\n")]
        cells.append(cell)
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    return nbformat.writes(nb).encode("utf-8")


def with_answer(code: str, question: str, text: str) -> str:
    """The code with ANSWERS[question] replaced by `text`."""
    tree = ast.parse(code)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ANSWERS" for t in node.targets):
            assert isinstance(node.value, ast.Dict)
            for key, value in zip(node.value.keys, node.value.values):
                if isinstance(key, ast.Constant) and key.value == question:
                    lines = code.splitlines(keepends=True)
                    starts = [0]
                    for line in lines:
                        starts.append(starts[-1] + len(line))
                    a = starts[value.lineno - 1] + len(lines[value.lineno - 1][:value.col_offset].encode()) * 0 + value.col_offset
                    b = starts[(value.end_lineno or value.lineno) - 1] + (value.end_col_offset or 0)
                    return code[:a] + repr(text) + code[b:]
    raise ValueError(f"no ANSWERS[{question!r}]")


def mutate(code: str, rng: random.Random) -> str:
    """A random small change of a code text (for the benchmark): a line dropped, duplicated or a name changed."""
    lines = code.splitlines(keepends=True)
    for _ in range(rng.randint(3, 12)):
        i = rng.randrange(len(lines))
        what = rng.random()
        if what < 0.4:
            lines[i] = lines[i].replace("x", "xx")
        elif what < 0.7:
            lines.insert(i, f"# changed {rng.random()}\n")
        else:
            lines[i] = re.sub(r"\d", lambda m: str(rng.randint(0, 9)), lines[i])
    return "".join(lines)


ANSWER_FROM, ANSWER_TO, ANSWER_KEY = "Hoffmann-440013", "Demir-430068", "1b"
"""The planted written answer: Demir-430068 hands in Hoffmann-440013's answer to 1b (120 words), its own code
unchanged."""
ANSWER_COPIES = ((ANSWER_FROM, ANSWER_TO, ANSWER_KEY), ("Hoffmann-430023", "Aydin-450086", "4.5"))
"""Written answers copied, each into an otherwise independent submission: the second is of the corpus's median
length (50 words)."""


def planted_files() -> tuple[dict[str, tuple[str, bytes]], dict[str, str], set[frozenset[str]]]:
    """The corpus with planted copies: files by submission name, each one's origin, and the planted pairs."""
    from grader.similarity.sources import read_answers

    files = corpus()

    def text(name: str) -> str:
        return files[name][1].decode("utf-8")

    copies = {
        "Verbatim-900001": ("Aksoy-460032", files["Aksoy-460032"]),
        "Renamed-900002": ("Kowalczyk-420034", ("exercise4.py", rename_identifiers(text("Kowalczyk-420034")).encode())),
        "Reordered-900003": ("Schulze-450058", ("exercise4.py", reorder_functions(text("Schulze-450058")).encode())),
        "Recommented-900004": ("Yildiz-440068", ("exercise4.py", rewrite_comments(text("Yildiz-440068")).encode())),
        "Notebook-900005": ("Brandt-410052", ("exercise4.ipynb", as_notebook(text("Brandt-410052")))),
        "Disguised-900007": ("Markovic-440074", ("exercise4.py", rewrite_comments(
            reorder_functions(rename_identifiers(text("Markovic-440074")))).encode())),
    }
    out = dict(files)
    pairs = set()
    for source, target, key in ANSWER_COPIES:
        answer = read_answers(text(source))[key]
        out[target] = ("exercise4.py", with_answer(text(target), key, answer).encode("utf-8"))
        pairs.add(frozenset((source, target)))
    origin = {name: name for name in files}
    for name, (source, file) in copies.items():
        out[name] = file
        origin[name] = source
        pairs.add(frozenset((name, source)))
    return out, origin, pairs


def independent(a: str, b: str, origin: dict[str, str], planted: set[frozenset[str]]) -> bool:
    """Whether a pair was written independently (not planted, not one origin, not the one author's trio)."""
    oa, ob = origin[a], origin[b]
    return frozenset((a, b)) not in planted and oa != ob and not (oa in SAME_AUTHOR and ob in SAME_AUTHOR)


def write_zips(files: dict[str, tuple[str, bytes]], dest: Path) -> dict[str, Path]:
    """Each submission zipped as Name.zip (its code file alone) into dest."""
    from grader.example import build_zip

    return {name: build_zip(dest / f"{name}.zip", {fname: data}) for name, (fname, data) in files.items()}
