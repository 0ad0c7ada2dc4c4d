"""Reading a Jupyter notebook as the grader does: its importable module, and a note per thing left out.

One file, two callers: the grader's intake (``grader.intake``) and the students' ``make_submission.py``,
which gets a byte-for-byte copy of this file as ``notebook_filter.py`` (``grader template`` writes it; a
test fails when the copy differs). So the file uses only Python's standard library (nbformat, when
installed, converts old notebook versions) and imports nothing of the grader's.
"""

from __future__ import annotations

import ast
import json
import re


class NotebookError(Exception):
    """A notebook that cannot be read; `reason` is a sentence for the student, `flag` the grader's word for it."""

    def __init__(self, reason: str, flag: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.flag = flag


# Calls allowed in a kept top-level assignment: constructors of constants and cheap objects.
SAFE_CALLS = frozenset({
    "dict", "list", "tuple", "set", "frozenset", "float", "int", "str", "bool", "range", "len", "abs",
    "min", "max", "sum", "round", "sorted", "zip", "enumerate", "reversed", "slice",
    "torch.tensor", "torch.Tensor", "torch.as_tensor", "torch.zeros", "torch.ones", "torch.full",
    "torch.eye", "torch.arange", "torch.linspace", "torch.stack", "torch.cat", "torch.device",
    "torch.cuda.is_available", "torch.FloatTensor", "torch.LongTensor",
    "np.array", "np.asarray", "np.zeros", "np.ones", "np.eye", "np.arange", "np.float32",
    "numpy.array", "numpy.asarray", "numpy.zeros", "numpy.ones",
    "os.path.join", "os.path.exists", "os.path.isdir", "os.path.isfile", "os.getcwd", "os.environ.get", "os.getenv",
    "Path",
})
# Any call below these prefixes builds a cheap object (a transform, a layer, a loss).
SAFE_CALL_PREFIXES = ("transforms.", "torchvision.transforms.", "T.", "nn.", "torch.nn.")
# Methods that only reshape or convert a value already built from safe calls.
SAFE_METHODS = frozenset({
    "float", "double", "long", "int", "bool", "view", "reshape", "unsqueeze", "squeeze", "flatten",
    "clone", "detach", "t", "tolist", "numpy", "copy", "keys", "values", "items", "strip", "lower",
    "upper", "format", "join", "split", "replace", "astype", "to", "exists", "is_dir", "is_file", "mkdir",
})
# Bare top-level calls that are kept: set-up the definitions rely on (the sheet's preamble makes its
# results/ folder with one), never training or plotting.
SETUP_CALLS = frozenset({
    "os.makedirs", "os.mkdir", "torch.manual_seed", "np.random.seed", "numpy.random.seed", "random.seed",
    "warnings.filterwarnings", "plt.rcParams.update", "matplotlib.rcParams.update", "torch.set_printoptions",
    "np.set_printoptions", "torch.set_default_dtype",
})
SETUP_METHODS = frozenset({"mkdir"})
CELL_MAGICS_WITH_PYTHON = frozenset({"time", "timeit", "capture", "prun"})
_MAGIC_LINE = re.compile(r"\s*([%!]|\w+\s*=\s*[%!]|\S.*\?\s*$)")


def notebook_to_module(nb_bytes: bytes, computed: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """The importable module in a notebook, and a note per statement or cell left out.

    Rule: lines starting with ``%`` or ``!`` (also ``x = !cmd`` and ``obj?`` help lines) are
    blanked; ``%%time``/``%%capture`` cells are read without their first line, other cell
    magics are skipped; a cell that still does not parse is skipped. Of each cell's top-level
    statements, kept are imports, ``def``, ``class``, assignments to the names in ``computed`` (the
    exercise's constants, such as ``HAND_COMPUTED``, which a student may compute with their own
    functions), and other assignments whose value calls
    nothing or only cheap constructors (:data:`SAFE_CALLS`, ``nn.*``, ``transforms.*`` and
    reshaping methods on them), so ``X = torch.tensor(...)`` and ``ANSWERS = {...}`` stay
    while ``acc = train(...)`` or ``data = CIFAR10(..., download=True)`` do not run. ``if``
    and ``try`` are kept with their bodies filtered by the same rule when their test is safe;
    ``if __name__ == "__main__":``, bare expressions and calls (``train(...)``,
    ``plt.show()``), loops, ``with``, ``del`` and the rest are left out.
    """
    try:
        text = nb_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError("The notebook is not UTF-8 text, so it cannot be read.", flag="bad-encoding") from exc
    try:
        cells = _cells(text)
        if not all(isinstance(c, dict) for c in cells):
            raise ValueError("a cell is not an object")
    except Exception as exc:  # noqa: BLE001 - nbformat raises JSON, format and version errors
        raise NotebookError(f"The notebook could not be read as a Jupyter notebook ({type(exc).__name__}).",
                            flag="bad-notebook") from exc
    pieces = ["# Extracted by the grader from a notebook: imports, definitions and constant assignments only;",
              "# top-level calls, loops, magics and shell commands were left out.", ""]
    notes: list[str] = []
    code_cells = [c for c in cells if c.get("cell_type") == "code"]
    if not code_cells:
        raise NotebookError("The notebook has no code cells.", flag="bad-notebook")
    futures: list[str] = []
    scope = _Scope(computed)
    for number, cell in enumerate(code_cells, start=1):
        source = cell.get("source", "")
        if isinstance(source, list):  # tolerated: some writers keep the line list
            source = "".join(source)
        kept = _filter_cell(str(source), number, notes, scope)
        # Jupyter compiles each cell on its own, so `from __future__ import …` may stand in any cell;
        # in one module it must come first.
        futures += [k for k in kept if k.startswith("from __future__ import") and k not in futures]
        kept = [k for k in kept if not k.startswith("from __future__ import")]
        if kept:
            pieces.append(f"# --- code cell {number}")
            pieces.append("\n\n".join(kept))
            pieces.append("")
    return "\n".join([*futures, *pieces]), notes


def script_to_module(source: str, computed: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """A Python script's imports, definitions and constants by the same rule (a notebook exported as a script)."""
    notes: list[str] = []
    kept = _filter_cell(source, 1, notes, _Scope(computed))
    futures = [k for k in kept if k.startswith("from __future__ import")]
    body = [k for k in kept if not k.startswith("from __future__ import")]
    return "\n\n".join([*futures, *body]) + "\n", [n.replace("code cell 1, ", "", 1) for n in notes]


def _cells(text: str) -> list:
    """The notebook's cells, in nbformat 4's shape (older versions converted where nbformat is installed)."""
    try:
        import nbformat
    except ImportError:
        raw = json.loads(text)
        if not isinstance(raw, dict) or int(raw.get("nbformat", 0)) < 4:
            raise ValueError("not a version 4 notebook")
        return list(raw.get("cells", []))
    # nbformat.reads would log schema errors; a missing cell id or output list is no reason
    # to refuse a notebook, so only unreadable ones are rejected.
    return list(nbformat.convert(nbformat.reader.reads(text), 4).get("cells", []))


def notebook_code_text(nb_bytes: bytes) -> str:
    """All code cells of a notebook as one text (what its PDF should show); '' if unreadable."""
    try:
        raw = json.loads(nb_bytes.decode("utf-8-sig"))
        cells = raw.get("cells", []) if isinstance(raw, dict) else []
        out = []
        for cell in cells:
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                src = cell.get("source", "")
                out.append("".join(src) if isinstance(src, list) else str(src))
        return "\n\n".join(out)
    except (UnicodeDecodeError, ValueError, TypeError):
        return ""


def _filter_cell(source: str, number: int, notes: list[str], scope: _Scope) -> list[str]:
    """The kept statements of one cell, as source text; notes what was left out."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        words = lines[0].lstrip()[2:].split(None, 1)
        magic = words[0] if words else ""
        if magic not in CELL_MAGICS_WITH_PYTHON:
            notes.append(f"code cell {number}: cell magic `%%{magic}` not executed")
            return []
        lines = [""] + lines[1:]
    code = "\n".join(lines)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # Only a cell that is not Python as it stands is searched for IPython syntax, so that
        # a string line starting with "!" or ending in "?" is never touched.
        cleaned = []
        for i, line in enumerate(lines, start=1):
            if _MAGIC_LINE.match(line):
                indent = line[: len(line) - len(line.lstrip())]
                cleaned.append(indent + "pass")  # keeps blocks non-empty and line numbers right
                notes.append(f"code cell {number}, line {i}: IPython line `{short_text(line.strip())}` not executed")
            else:
                cleaned.append(line)
        code = "\n".join(cleaned)
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            where = f", line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
            notes.append(f"code cell {number}{where}: does not parse as Python; the whole cell was left out")
            return []
    kept: list[str] = []
    source_lines = _Lines(code)
    for node in tree.body:
        if isinstance(node, ast.Pass):
            continue  # left by a blanked magic line
        result = _keep(node, number, notes, scope)
        if result is node:
            kept.append(source_lines.segment(node))
        elif result is not None:
            kept.append(ast.unparse(result))
    return kept


def _keep(node: ast.stmt, cell: int, notes: list[str], scope: _Scope) -> ast.stmt | None:
    """The node itself, a filtered copy (if/try), or None when it must not run."""
    where = f"code cell {cell}, line {node.lineno}"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        scope.bind_import(node)
        return node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        # Decorators, defaults and base classes run when the definition does.
        missing = scope.undefined([*node.decorator_list, *_defaults_and_bases(node)])
        if missing:
            notes.append(f"{where}: `{node.name}` uses {missing} at definition time, which comes from a "
                         "statement left out; not executed")
            return None
        scope.names.add(node.name)
        return node
    if isinstance(node, (ast.Pass, ast.Global, ast.Nonlocal)):
        return node
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        value = node.value
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        # The exercise's own constants may be computed with the notebook's functions
        # (HAND_COMPUTED = {"w1_s1": conv_relu(X, W1, B1).tolist(), ...}): they run, nothing else that calls code does.
        computed = all(isinstance(t, ast.Name) and t.id in scope.computed for t in targets)
        if value is not None and not computed and not _safe_expr(value):
            notes.append(f"{where}: assignment `{short_text(ast.unparse(node))}` calls code that may train or plot; "
                         "not executed")
            return None
        # `act = activations["maxpool"]` after the cell that computed `activations` was left out.
        reads = [value] if value is not None else []
        reads += [t for t in targets if not isinstance(t, (ast.Name, ast.Tuple, ast.List, ast.Starred))]
        if isinstance(node, ast.AugAssign):
            reads.append(node.target)
        missing = scope.undefined(reads)
        if missing:
            notes.append(f"{where}: assignment `{short_text(ast.unparse(node))}` uses {missing}, which comes from a "
                         "statement left out; not executed")
            return None
        for target in targets:
            scope.bind_target(target)
        return node
    if isinstance(node, ast.Expr):
        if isinstance(node.value, ast.Constant):
            return node  # a docstring or stray string is harmless
        if isinstance(node.value, ast.Call) and _setup_call(node.value) and not scope.undefined([node.value]):
            return node  # os.makedirs(RESULTS_DIR), torch.manual_seed(0): set-up the rest relies on
        what = "call" if isinstance(node.value, (ast.Call, ast.Await)) else "expression"
        notes.append(f"{where}: top-level {what} `{short_text(ast.unparse(node))}` not executed")
        return None
    if isinstance(node, ast.If):
        if _is_main_guard(node.test):
            notes.append(f'{where}: `if __name__ == "__main__":` block not executed')
            return None
        if not _safe_expr(node.test) or scope.undefined([node.test]):
            notes.append(f"{where}: `if {short_text(ast.unparse(node.test))}:` block not executed")
            return None
        body = _keep_block(node.body, cell, notes, scope)
        orelse = _keep_block(node.orelse, cell, notes, scope) if node.orelse else []
        if _only_pass(body) and _only_pass(orelse):
            return None
        return ast.If(test=node.test, body=body, orelse=orelse)
    if isinstance(node, ast.Try):
        body = _keep_block(node.body, cell, notes, scope)
        handlers = [ast.ExceptHandler(type=h.type, name=h.name, body=_keep_block(h.body, cell, notes, scope))
                    for h in node.handlers]
        if _only_pass(body):
            return None
        orelse = _keep_block(node.orelse, cell, notes, scope) if node.orelse else []
        final = _keep_block(node.finalbody, cell, notes, scope) if node.finalbody else []
        if not handlers and _only_pass(final):
            final = [ast.Pass()]
        return ast.Try(body=body, handlers=handlers, orelse=orelse, finalbody=final)
    kind = type(node).__name__.lower()
    notes.append(f"{where}: top-level `{kind}` statement `{short_text(ast.unparse(node))}` not executed")
    return None


class _Scope:
    """The names the kept statements define so far: a kept statement may only read these (or builtins)."""

    def __init__(self, computed: tuple[str, ...] = ()) -> None:
        import builtins

        self.computed = frozenset(computed)
        # Jupyter's own names, which a notebook reads without defining them.
        self.names = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "display", "get_ipython", "In", "Out"}
        self.star = False  # after `from x import *` any name may exist

    def bind_import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star = True
            else:
                self.names.add(alias.asname or alias.name.split(".")[0])

    def bind_target(self, target: ast.expr) -> None:
        for n in ast.walk(target):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                self.names.add(n.id)

    def undefined(self, exprs: list) -> str:
        """The first name the expressions read that nothing kept defines, as `name`, or ''."""
        if self.star:
            return ""
        for expr in exprs:
            for name in _read_names(expr):
                if name not in self.names:
                    return f"`{name}`"
        return ""


def _read_names(expr: ast.AST) -> list[str]:
    """Names an expression reads when it runs (lambda bodies and comprehension variables aside)."""
    bound = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    out: list[str] = []
    stack: list[ast.AST] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            out.append(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _defaults_and_bases(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[ast.expr]:
    if isinstance(node, ast.ClassDef):
        return [*node.bases, *(k.value for k in node.keywords)]
    return [d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]


def _setup_call(call: ast.Call) -> bool:
    """A bare top-level call that only sets things up (folders, seeds, options) and whose arguments are cheap."""
    name = _dotted(call.func)
    setup = name in SETUP_CALLS or (isinstance(call.func, ast.Attribute) and call.func.attr in SETUP_METHODS)
    return setup and all(_safe_expr(a) for a in [*call.args, *(k.value for k in call.keywords)])


def _keep_block(body: list[ast.stmt], cell: int, notes: list[str], scope: _Scope) -> list[ast.stmt]:
    """A block filtered by `_keep`, never empty."""
    out = [kept for node in body if (kept := _keep(node, cell, notes, scope)) is not None]
    return out or [ast.Pass()]


def _only_pass(body: list[ast.stmt]) -> bool:
    """True for an empty block or one of `pass` only."""
    return all(isinstance(n, ast.Pass) for n in body)


def _is_main_guard(test: ast.expr) -> bool:
    """True for `__name__ == "__main__"` either way round."""
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)


def _safe_expr(expr: ast.expr) -> bool:
    """True when evaluating expr calls nothing but cheap constructors (lambda bodies do not run)."""
    stack: list[ast.AST] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        if isinstance(node, ast.Call) and not _safe_call(node):
            return False
        stack.extend(ast.iter_child_nodes(node))
    return True


def _safe_call(call: ast.Call) -> bool:
    """True for a call to an allow-listed constructor or a reshaping method."""
    name = _dotted(call.func)
    if name is not None and (name in SAFE_CALLS or name.startswith(SAFE_CALL_PREFIXES)):
        return True
    # `torch.tensor(...).float()`, `w.view(2, 2)`, `"…".join(...)`: the receiver is checked too.
    return isinstance(call.func, ast.Attribute) and call.func.attr in SAFE_METHODS


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of names and attributes, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class _Lines:
    """A cell's code split into lines once, so that taking each statement's source costs its own length only.

    (``ast.get_source_segment`` splits the whole code again for every statement: a 5 MB line of
    ``a=1;a=1;…`` took hours.) The cell's code has ``\n`` line breaks only (see `_filter_cell`).
    """

    def __init__(self, code: str) -> None:
        self.lines = code.split("\n")
        self.encoded: dict[int, bytes] = {}

    def _bytes(self, index: int) -> bytes:
        # Column offsets count UTF-8 bytes.
        if index not in self.encoded:
            self.encoded[index] = self.lines[index].encode("utf-8")
        return self.encoded[index]

    def segment(self, node: ast.stmt) -> str:
        """The exact source of a top-level statement, decorators included."""
        assert node.end_lineno is not None and node.end_col_offset is not None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # A compound statement owns its whole lines; its decorators start above it.
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return "\n".join(self.lines[first - 1:node.end_lineno])
        first, last = node.lineno - 1, node.end_lineno - 1
        if first == last:
            return self._bytes(first)[node.col_offset:node.end_col_offset].decode("utf-8")
        return "\n".join([self._bytes(first)[node.col_offset:].decode("utf-8"), *self.lines[first + 1:last],
                          self._bytes(last)[:node.end_col_offset].decode("utf-8")])


def short_text(text: str, limit: int = 60) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
