"""Generate the student template from the reference solution, and tell when it is out of sync.

Marker syntax in `solutions/exercise4.py` (nbgrader's solution markers, plus one line
that says what the student has to do)::

    def conv_relu(x, w, b, stride=1, padding=0):
        \"\"\"Return ReLU(x ⋆ w + b) ...\"\"\"
        ### STUB: Task 1(a): conv_relu(): compute ReLU(x ⋆ w + b) with F.conv2d
        ### BEGIN SOLUTION
        ...reference code...
        ### END SOLUTION

- Every `### BEGIN SOLUTION` line must come directly after a `### STUB: <text>` line;
  the three marker lines and everything between them are replaced in the template.
- Inside a function (the markers are indented) the block becomes
  `# YOUR CODE HERE` and `raise NotImplementedError("<text>")` at the markers'
  indentation, so the stub fails with the task's own words.
- At module level (no indentation) the block may hold only assignments of dict
  literals, such as `ANSWERS = {...}`. The template keeps each name and key and
  replaces every value with a placeholder that imports fine: `""` where the
  solution's value is a string, `None` otherwise; `# TODO <text>` goes above it.

The template folder holds `exercise4.py` (stubbed as above), `exercise4.ipynb` (the
solution notebook with outputs cleared) and a verbatim copy of every file in
`solutions/public/`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader.errors import ConfigError

MODULE = "exercise4.py"
NOTEBOOK = "exercise4.ipynb"
PUBLIC_DIR = "public"
STUB = "### STUB:"
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
# The students' make_submission.py reads a notebook with the grader's own filter and imports the code in
# the grader's student world: byte copies of those two grader modules (name in the student folder: source).
SHARED_COPIES = {
    "notebook_filter.py": Path(__file__).parent / "intake" / "notebook.py",
    "student_world.py": Path(__file__).parent / "worker" / "environment.py",
}
# Left behind by running the tests or Jupyter in the template: never ours to compare.
IGNORED = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def stub_source(source: str, origin: str = MODULE) -> str:
    """Return source with every marked solution block replaced by its stub."""
    out: list[str] = []
    lines = source.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(STUB):
            if i + 1 >= len(lines) or lines[i + 1].strip() != BEGIN:
                raise ConfigError(f"{origin}:{i + 1}: '{STUB}' must be followed by '{BEGIN}'.")
            text = stripped[len(STUB):].strip()
            if not text:
                raise ConfigError(f"{origin}:{i + 1}: '{STUB}' needs the task's text after it.")
            indent = lines[i + 1][: len(lines[i + 1]) - len(lines[i + 1].lstrip())]
            end = _find_end(lines, i + 2, origin)
            block = "".join(lines[i + 2 : end])
            out.extend(_replacement(text, indent, block, origin, i + 1))
            i = end + 1
            continue
        if stripped in (BEGIN, END):
            raise ConfigError(f"{origin}:{i + 1}: '{stripped}' without a '{STUB}' line before it.")
        out.append(line)
        i += 1
    return "".join(out)


def stub_names(source: str) -> list[str]:
    """The top-level names whose definition holds a solution block: what a student writes (the rest is given)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    names: list[str] = []
    for node in tree.body:
        span = lines[node.lineno - 1:(node.end_lineno or node.lineno)]
        # A module-level block's STUB line stands just above its assignments.
        above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
        if not any(line.strip().startswith(STUB) for line in span) and not above == BEGIN:
            continue
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names.extend(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def given_helpers(reference_path: Path) -> tuple[str, list[str]]:
    """The template's source (what students are handed) and the names in it that students write themselves.

    A submission need not carry what it was given: the worker runs this source in a module of its
    own and lends the submission every given name (helpers, constants, imports) it does not define.
    """
    source = Path(reference_path).read_text(encoding="utf-8")
    return stub_source(source, str(reference_path)), stub_names(source)


def _find_end(lines: list[str], start: int, origin: str) -> int:
    """Return the index of the END line that closes a block starting at start."""
    for j in range(start, len(lines)):
        stripped = lines[j].strip()
        if stripped == END:
            return j
        if stripped in (BEGIN,) or stripped.startswith(STUB):
            break
    raise ConfigError(f"{origin}:{start}: '{BEGIN}' is not closed by '{END}'.")


def _replacement(text: str, indent: str, block: str, origin: str, lineno: int) -> list[str]:
    """Return the stub lines that stand in for one solution block."""
    if indent:
        return [f"{indent}# YOUR CODE HERE\n", f"{indent}raise NotImplementedError({_quote(text)})\n"]
    try:
        tree = ast.parse(block)
    except SyntaxError as exc:
        raise ConfigError(f"{origin}:{lineno}: the solution block does not parse: {exc}") from exc
    out = [f"# TODO {text}\n"]
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Dict)
        ):
            raise ConfigError(
                f"{origin}:{lineno}: a module-level solution block may only assign dict literals."
            )
        out.append(f"{node.targets[0].id} = {{\n")
        for key, value in zip(node.value.keys, node.value.values):
            if key is None:
                raise ConfigError(f"{origin}:{lineno}: '**' is not allowed in a solution dict.")
            placeholder = '""' if isinstance(value, ast.Constant) and isinstance(value.value, str) else "None"
            name = _quote(key.value) if isinstance(key, ast.Constant) and isinstance(key.value, str) else ast.unparse(key)
            out.append(f"    {name}: {placeholder},\n")
        out.append("}\n")
    return out


def _quote(text: str) -> str:
    """Return text as a Python string literal, in double quotes like the rest of the code."""
    if '"' in text or "\\" in text or not text.isprintable():
        return repr(text)
    return f'"{text}"'


def cleared_notebook(text: str) -> str:
    """Return a notebook's JSON with every output and execution count removed."""
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        # Execution timestamps change on every run and would make the template drift.
        cell.metadata.pop("execution", None)
    result = nbformat.writes(nb, version=4)
    return result if result.endswith("\n") else result + "\n"


def render_template(solutions_dir: Path) -> dict[str, bytes]:
    """Return the template's files (name to content) generated from solutions_dir."""
    solutions_dir = Path(solutions_dir)
    files: dict[str, bytes] = {}
    module = solutions_dir / MODULE
    files[MODULE] = stub_source(module.read_text(encoding="utf-8"), str(module)).encode("utf-8")
    notebook = solutions_dir / NOTEBOOK
    files[NOTEBOOK] = cleared_notebook(notebook.read_text(encoding="utf-8")).encode("utf-8")
    public = solutions_dir / PUBLIC_DIR
    for path in sorted(public.iterdir()):
        if path.is_file() and path.name not in IGNORED:
            files[path.name] = path.read_bytes()
    return files


def _existing(dest: Path) -> dict[str, Path]:
    """Return the files that are in dest now, by name, leaving out test and Jupyter leftovers."""
    if not dest.is_dir():
        return {}
    return {
        path.name: path
        for path in dest.iterdir()
        if path.name not in IGNORED and not path.name.endswith(".pyc")
    }


def build_template(solutions_dir: Path, dest: Path) -> None:
    """Write the student template generated from solutions_dir into dest, replacing what was there."""
    dest = Path(dest)
    for name, source in SHARED_COPIES.items():
        (Path(solutions_dir) / PUBLIC_DIR / name).write_bytes(source.read_bytes())
    files = render_template(solutions_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for name, path in _existing(dest).items():
        # A file dropped from solutions/public must not linger in the template.
        if name not in files and path.is_file():
            path.unlink()
    for name, content in files.items():
        (dest / name).write_bytes(content)


def template_diff(solutions_dir: Path, dest: Path) -> list[str]:
    """Return the names of files in dest that differ from what build_template would write (empty when in sync)."""
    expected = render_template(solutions_dir)
    existing = _existing(Path(dest))
    differ = {name for name in expected if name not in existing}
    differ |= {name for name in existing if name not in expected}
    differ |= {
        name
        for name, content in expected.items()
        if name in existing and (not existing[name].is_file() or existing[name].read_bytes() != content)
    }
    for name, source in SHARED_COPIES.items():
        copy = Path(solutions_dir) / PUBLIC_DIR / name
        if not copy.is_file() or copy.read_bytes() != source.read_bytes():
            differ.add(f"{PUBLIC_DIR}/{name} (a copy of the grader's {source.name})")
    return sorted(differ)
