"""What of a submission is compared: the code the student wrote (a .py as it is, a notebook's code cells) and ANSWERS.

The zip is read with the intake's own rules (its limits, its safe members, its choice of the code
file); only the code candidates are unpacked, into a temporary folder. Nothing is run: the written
answers are read from the code's syntax tree as a literal dict.
"""

from __future__ import annotations

import ast
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.config import DEFAULT, PROJECT_DIR, Settings
from grader.errors import SubmissionRejected
from grader.intake.notebook import notebook_code_text
from grader.intake.submission import choose_code
from grader.intake.unzip import check_before_extracting, extract, select_members

MAX_CODE_CHARS = 2_000_000
"""Longer code texts are cut: fingerprinting is linear, but a page showing such a text is not useful."""

# A notebook line that is IPython, not Python: magics (%, %%) and shell escapes (!).
_IPYTHON_LINE = re.compile(r"^\s*[%!]")

SHEET_CODE = Path(__file__).with_name("sheet_code.txt")
"""The code blocks of the exercise sheet (exercise4.md) as handed out: boilerplate, like the template."""


@dataclass(frozen=True)
class SourceText:
    """One submission's compared material."""

    code: str
    """The student's code text (a notebook's code cells joined, IPython lines dropped)."""
    code_name: str
    """The code file's path inside the zip."""
    answers: dict[str, str] = field(default_factory=dict)
    """ANSWERS as written (question id: text), when it is a literal dict."""
    problem: str = ""
    """Why nothing could be read (the intake's sentence); then code is empty."""


def python_of_notebook(nb_bytes: bytes) -> str:
    """A notebook's code cells as Python: magics and shell lines dropped, outputs ignored."""
    text = notebook_code_text(nb_bytes)
    return "\n".join(line for line in text.splitlines() if not _IPYTHON_LINE.match(line)) + "\n"


_ANSWERS_LINE = re.compile(r"^ANSWERS\s*(?::[^=]*)?=")
MAX_ANSWERS_LINES = 400


def _answers_alone(code: str) -> ast.Module | None:
    """The ANSWERS assignments of code that does not parse as a whole (a notebook cell of IPython syntax):
    from each line that starts one, the shortest run of lines that parses."""
    lines = code.splitlines()
    body: list[ast.stmt] = []
    for i, line in enumerate(lines):
        if not _ANSWERS_LINE.match(line):
            continue
        for j in range(i + 1, min(len(lines), i + MAX_ANSWERS_LINES) + 1):
            try:
                body.extend(ast.parse("\n".join(lines[i:j])).body)
                break
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
    return ast.Module(body=body, type_ignores=[]) if body else None


def read_answers(code: str) -> dict[str, str]:
    """The last top-level literal `ANSWERS = {...}` of the code (string values only); {} when there is none."""
    try:
        tree: ast.Module | None = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = _answers_alone(code)
    if tree is None:
        return {}
    found: dict[str, str] = {}
    for node in tree.body:
        value = None
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ANSWERS" for t in node.targets):
            value = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "ANSWERS":
            value = node.value
        if value is None:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            continue
        if isinstance(literal, dict):
            found = {str(k): v for k, v in literal.items() if isinstance(v, str)}
    return found


def read_zip(zip_path: Path, settings: Settings = DEFAULT) -> SourceText:
    """The compared material of a submission zip; a SourceText with `problem` set when the zip has none."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            check_before_extracting(infos, settings)
            members, _ = select_members(infos)
            code_members = [m for m in members if m.parts[-1].lower().endswith((".py", ".ipynb"))]
            with tempfile.TemporaryDirectory(prefix="similarity-") as tmp:
                extracted = extract(zf, code_members, Path(tmp), settings)
                rel, kind, _ = choose_code(extracted, Path(tmp))
                data = (Path(tmp) / rel).read_bytes()
    except SubmissionRejected as exc:
        return SourceText("", "", problem=str(exc))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, UnicodeDecodeError, NotImplementedError) as exc:
        return SourceText("", "", problem=f"The zip cannot be read ({type(exc).__name__}).")
    return source_of(data, kind, extracted[rel])


def source_of(data: bytes, kind: str, name: str) -> SourceText:
    """The compared material of one code file's bytes (`kind` is py or ipynb)."""
    if kind == "ipynb":
        code = python_of_notebook(data)
    else:
        try:
            code = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return SourceText("", name, problem="The code file is not UTF-8 text.")
    code = code[:MAX_CODE_CHARS]
    return SourceText(code, name, read_answers(code))


def boilerplate_texts(project: Path = PROJECT_DIR) -> list[str]:
    """The code every student was handed: the template (.py and notebook) and the sheet's code blocks."""
    texts = [SHEET_CODE.read_text(encoding="utf-8")]
    template = project / "student_template"
    if (template / "exercise4.py").is_file():
        texts.append((template / "exercise4.py").read_text(encoding="utf-8"))
    if (template / "exercise4.ipynb").is_file():
        texts.append(python_of_notebook((template / "exercise4.ipynb").read_bytes()))
    return texts


def template_answers(project: Path = PROJECT_DIR) -> dict[str, str]:
    """The template's ANSWERS (what a student who wrote nothing hands in)."""
    path = project / "student_template" / "exercise4.py"
    return read_answers(path.read_text(encoding="utf-8")) if path.is_file() else {}
