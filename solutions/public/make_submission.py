"""Build and check your Exercise 4 submission zip: `Surname-MatriculationNumber.zip`.

    python make_submission.py Mustermann 123456
    python make_submission.py Mustermann 123456 --code exercise4.ipynb --pdf exercise4.pdf --out .
    python make_submission.py --check Mustermann-123456.zip

It puts your code and the PDF of it into the zip and then checks the zip the way the
course's intake does: the file name, a real PDF, code that imports and defines every
name the grader calls. It prints each problem in a sentence and exits with 0 when
the zip is fine, 1 when it is not. Needs only Python's standard library (and pypdf,
if installed, for a closer look at the PDF).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path

# The grader's notebook filter, shipped beside this script (a copy of the grader's grader/intake/notebook.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_filter  # noqa: E402


def _char_class(predicate) -> str:
    """Return a regex character class of the code points (planes 0 to 3 and 14) that satisfy predicate."""
    ranges: list[tuple[int, int]] = []
    for code in (*range(0x40000), *range(0xE0000, 0xE1000)):
        if predicate(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "[" + "".join(f"\\U{a:08x}" + (f"-\\U{b:08x}" if b > a else "") for a, b in ranges) + "]"


# re has no \p{L} or \p{M}: spell out the letters (str.isalpha) and combining marks.
_LETTER = _char_class(str.isalpha)
_MARK = _char_class(lambda ch: unicodedata.category(ch).startswith("M"))
_SURNAME_PART = f"{_LETTER}(?:{_LETTER}|{_MARK})*(?:['\u2019](?:{_LETTER}|{_MARK})+)*"

# The naming convention of the course, applied to the NFC form of the file name:
# surname parts of Unicode letters (a combining mark may follow a letter, an apostrophe
# ' or \u2019 may stand between letters) joined by hyphens, a hyphen, the matriculation
# number (6 to 8 ASCII digits), ".zip" in any case. The grader's intake keeps its own
# copy of this rule (grader/intake/naming.py); keep the two equal.
SUBMISSION_NAME_PATTERN = (
    f"^(?P<surname>{_SURNAME_PART}(?:-{_SURNAME_PART})*)-(?P<matriculation>[0-9]{{6,8}})\\.(?i:zip)$"
)
SUBMISSION_NAME_RE = re.compile(SUBMISSION_NAME_PATTERN)

MODULE_NAME = "exercise4"
# What you write (the template's stubs); the given helpers and values need not be in your code.
CONTRACT_NAMES = (
    "conv_relu", "HAND_COMPUTED", "conv_output_size",
    "receptive_field", "RF_ANSWERS",
    "make_transform", "make_loaders", "Net", "train", "plot_accuracy", "show_augmentations",
    "resnet_layers", "get_activations", "saliency_maps",
    "ANSWERS",
)
# The constants among them, which a notebook may compute with its own functions (the grader runs those).
COMPUTED = tuple(name for name in CONTRACT_NAMES if name.isupper())
IMPORT_TIMEOUT_S = 120.0
# Finder and archive tools add these; they are never a student's code.
JUNK = ("__MACOSX/", ".ipynb_checkpoints/", "__pycache__/")

# Runs in a fresh Python: imports the module from the folder given as argv[1] and
# prints, as JSON, the contract names it lacks (or the error it raised).
_IMPORT_PROBE = r"""
import importlib.util, json, os, sys
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, sys.argv[4])
import student_world  # the grader's own: Jupyter's built-ins, stand-ins for modules not installed
sys.path.insert(0, sys.argv[1])
names = json.loads(sys.argv[2])
student_world.install_notebook_builtins()
path = os.path.join(sys.argv[1], sys.argv[3] + ".py")
finder = student_world.MissingModules(path)
sys.meta_path.append(finder)
try:
    spec = importlib.util.spec_from_file_location(sys.argv[3], path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[sys.argv[3]] = module
    spec.loader.exec_module(module)
except BaseException as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    sys.exit(0)
print(json.dumps({"missing": [n for n in names if not hasattr(module, n)], "stand_ins": finder.missing}))
"""


def name_problems(filename: str) -> list[str]:
    """Return what is wrong with a submission's file name (empty when it follows the convention)."""
    # Some systems store "ü" as "u" plus a combining mark; compare the composed form.
    name = unicodedata.normalize("NFC", Path(filename).name)
    if SUBMISSION_NAME_RE.fullmatch(name):
        return []
    problems = [f"The file name {name!r} does not follow the convention Surname-MatriculationNumber.zip (for example Mustermann-123456.zip)."]
    if not name.lower().endswith(".zip"):
        problems.append("The file name must end in .zip.")
    else:
        stem = name[: -len(".zip")]
        if "-" not in stem:
            problems.append("There is no hyphen between the surname and the matriculation number.")
            return problems
        surname, _, number = stem.rpartition("-")
        if not re.fullmatch(r"[0-9]{6,8}", number):
            problems.append(f"The matriculation number must be 6 to 8 digits after the last hyphen, got {number!r}.")
        if not re.fullmatch(f"{_SURNAME_PART}(?:-{_SURNAME_PART})*", surname):
            problems.append(
                f"The surname must be letters, with apostrophes only between letters and hyphens only "
                f"between parts, got {surname!r}."
                + (f" Write spaces as hyphens: {'-'.join(surname.split())}-{number}.zip." if " " in surname.strip() else "")
            )
    return problems


# "The PDF shows the code", the grader's rule (tests/test_naming_agreement.py checks that both agree):
# the code's lines of at least 12 non-blank characters (at most 400, evenly sampled), compared by
# their first 48 non-blank characters with the PDF's text without whitespace; half must be found.
PDF_LINE_MIN_CHARS = 12
PDF_LINE_KEY_CHARS = 48
PDF_MAX_LINES = 400
PDF_MAX_PAGES = 200
PDF_SHOWS_CODE_FRACTION = 0.5
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2212": "-",
                             "\u2013": "-", "\u00a0": " "})


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY).split())


def code_keys(code_text: str) -> list[str]:
    """The lines of code looked for in the PDF, without blanks and cut to their start."""
    keys = list(dict.fromkeys(squashed[:PDF_LINE_KEY_CHARS] for line in code_text.splitlines()
                              if len(squashed := _squash(line)) >= PDF_LINE_MIN_CHARS))
    if len(keys) > PDF_MAX_LINES:
        step = len(keys) / PDF_MAX_LINES
        keys = [keys[int(i * step)] for i in range(PDF_MAX_LINES)]
    return keys


def pdf_problems(data: bytes, label: str, code_text: str = "") -> list[str]:
    """Return what is wrong with the bytes of a PDF (empty when it is readable and shows code_text)."""
    if b"%PDF-" not in data[:1024]:
        return [f"{label} is not a PDF (it does not start with %PDF-); export or print your code to PDF."]
    try:
        import pypdf
    except ImportError:
        return []
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return [f"{label} is password-protected; the grader cannot read it."]
        texts = []
        for page in reader.pages[:PDF_MAX_PAGES]:
            try:
                texts.append(page.extract_text() or "")
            except Exception:  # one broken page should not hide the others
                continue
    except Exception as exc:  # pypdf raises many kinds; any of them means an unreadable PDF.
        return [f"{label} cannot be read as a PDF ({type(exc).__name__}: {exc})."]
    keys = code_keys(code_text)
    if not keys:
        return []
    hay = _squash("\n".join(texts))
    if not hay:
        return [f"{label} has no text the grader can read (a scan or an image?): print your code to PDF "
                "so that its text can be selected."]
    found = sum(1 for key in keys if key in hay)
    if found / len(keys) < PDF_SHOWS_CODE_FRACTION:
        return [f"{label} does not show your code: only {found} of its {len(keys)} lines were found in the "
                f"PDF's text (at least {PDF_SHOWS_CODE_FRACTION:.0%} needed). Export the PDF again from the "
                "code you hand in."]
    return []


def code_text_of(code_name: str, data: bytes) -> str:
    """The text a PDF of this code file should show: the module, or a notebook's code cells."""
    if code_name.endswith(".ipynb"):
        return notebook_filter.notebook_code_text(data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ""


def import_problems(code_name: str, data: bytes, timeout: float) -> list[str]:
    """Return what goes wrong when the code is imported as exercise4 in a fresh Python ("note: …" items are no problem)."""
    if code_name.endswith(".ipynb"):
        # The grader's own reading: imports, definitions and constants; training runs and plots are skipped.
        try:
            source, _ = notebook_filter.notebook_to_module(data, COMPUTED)
        except notebook_filter.NotebookError as exc:
            return [f"{code_name}: {exc.reason}"]
        return _import_source(code_name, source.encode("utf-8"), timeout)
    problems = _import_source(code_name, data, timeout)
    if problems and " does not import: " in problems[0] and "SyntaxError" not in problems[0]:
        # Like the grader: when running the module's top level fails (training on data it cannot find),
        # its imports, definitions and constants alone are graded.
        definitions, _ = notebook_filter.script_to_module(data.decode("utf-8-sig", "replace"), COMPUTED)
        if not _import_source(code_name, definitions.encode("utf-8"), timeout):
            return [f"note: importing {code_name} runs its top level, which failed here ({problems[0].split(': ', 1)[1]}); "
                    "the grader then grades its definitions alone. Put training under `if __name__ == \"__main__\":`."]
    return problems


def _import_source(code_name: str, data: bytes, timeout: float) -> list[str]:
    """The problems of importing this source as exercise4 in a fresh Python, in the grader's student world."""
    with tempfile.TemporaryDirectory(prefix="ex4-check-") as folder:
        Path(folder, MODULE_NAME + ".py").write_bytes(data)
        command = [sys.executable, "-c", _IMPORT_PROBE, folder, json.dumps(CONTRACT_NAMES), MODULE_NAME,
                   str(Path(__file__).resolve().parent)]
        try:
            done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return [
                f"Importing {code_name} took longer than {timeout:.0f} s; the grader imports your code "
                "the same way, so keep long training runs out of module level."
            ]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"Importing {code_name} crashed Python ({detail})."]
    result = json.loads(lines[-1])
    if "error" in result:
        return [f"{code_name} does not import: {result['error']}"]
    if result["missing"]:
        return [f"{code_name} does not define {', '.join(result['missing'])}; the grader calls these names."]
    return []


def _members(archive: zipfile.ZipFile) -> list[str]:
    """Return the zip's file names, without folders and tool junk."""
    return [
        name for name in archive.namelist()
        if not name.endswith("/") and not any(part in name for part in JUNK) and not Path(name).name.startswith("._")
    ]


def _pick_code(names: list[str]) -> str | None:
    """Return the member the grader would take as the code: exercise4.py, then a notebook, then any .py."""
    for wanted in (lambda n: Path(n).name == MODULE_NAME + ".py",
                   lambda n: Path(n).name == MODULE_NAME + ".ipynb",
                   lambda n: n.endswith(".ipynb"),
                   lambda n: n.endswith(".py")):
        found = sorted(n for n in names if wanted(n))
        if found:
            return found[0]
    return None


def check_zip(path: Path, timeout: float = IMPORT_TIMEOUT_S) -> list[str]:
    """Return every problem of a submission zip, in sentences (empty when it is ready to hand in)."""
    path = Path(path)
    problems = name_problems(path.name)
    if not path.is_file():
        return problems + [f"{path} does not exist."]
    try:
        with zipfile.ZipFile(path) as archive:
            names = _members(archive)
            pdfs = [n for n in names if n.lower().endswith(".pdf")]
            code = _pick_code(names)
            pdf_data = {n: archive.read(n) for n in pdfs}
            code_data = archive.read(code) if code else b""
    except (zipfile.BadZipFile, OSError) as exc:
        return problems + [f"{path.name} is not a readable zip file ({exc})."]
    if not pdfs:
        problems.append("The zip holds no PDF of your code; add one (e.g. print the notebook or module to PDF).")
    code_text = code_text_of(code, code_data) if code else ""
    # Like the grader: with several PDFs, one that shows the code is enough.
    pdf_verdicts = [pdf_problems(data, name, code_text) for name, data in pdf_data.items()]
    if pdf_verdicts and all(pdf_verdicts):
        problems += pdf_verdicts[0] if len(pdf_verdicts) == 1 else [p for v in pdf_verdicts for p in v]
    if code is None:
        problems.append(f"The zip holds no code: add {MODULE_NAME}.py or your notebook ({MODULE_NAME}.ipynb).")
    else:
        problems += import_problems(code, code_data, timeout)
    return problems


def build_zip(surname: str, matriculation: str, code: list[Path], pdf: Path, out: Path) -> tuple[Path | None, list[str]]:
    """Write Surname-Matriculation.zip into out from the code files and the PDF; return it and the problems found before writing."""
    zip_name = unicodedata.normalize("NFC", f"{surname}-{matriculation}.zip")
    problems = name_problems(zip_name)
    for path in code:
        if not path.is_file():
            problems.append(f"The code file {path} does not exist.")
    if not code:
        problems.append(f"No code found: pass --code {MODULE_NAME}.py (or your notebook).")
    if not pdf.is_file():
        problems.append(f"The PDF {pdf} does not exist; export your code to PDF first (or pass --pdf).")
    if problems:
        return None, problems
    out.mkdir(parents=True, exist_ok=True)
    target = out / zip_name
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in [*code, pdf]:
            archive.write(path, arcname=path.name)
    return target, []


def _default_code() -> list[Path]:
    for name in (MODULE_NAME + ".py", MODULE_NAME + ".ipynb"):
        if Path(name).is_file():
            return [Path(name)]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build and check your Exercise 4 submission zip.")
    parser.add_argument("surname", nargs="?", help="your surname as in Moodle, e.g. Mustermann or Meyer-Lüdenscheidt")
    parser.add_argument("matriculation", nargs="?", help="your matriculation number (6 to 8 digits)")
    parser.add_argument("--code", action="append", type=Path, help="your code (exercise4.py or a notebook); repeat to add more files")
    parser.add_argument("--pdf", type=Path, default=Path(MODULE_NAME + ".pdf"), help="the PDF of your code (default exercise4.pdf)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder to write the zip to (default: here)")
    parser.add_argument("--check", type=Path, metavar="ZIP", help="only check an existing zip")
    parser.add_argument("--timeout", type=float, default=IMPORT_TIMEOUT_S, help="seconds the import of your code may take")
    args = parser.parse_args(argv)

    if args.check is not None:
        target = args.check
        problems = check_zip(target, args.timeout)
    else:
        if not args.surname or not args.matriculation:
            parser.error("give your surname and matriculation number, or --check ZIP")
        written, problems = build_zip(args.surname, args.matriculation, args.code or _default_code(), args.pdf, args.out)
        target = written
        if written is not None:
            print(f"Wrote {written}.")
            problems = check_zip(written, args.timeout)
    notes = [p for p in problems if p.startswith("note: ")]
    problems = [p for p in problems if not p.startswith("note: ")]
    for note in notes:
        print(note)
    if problems:
        print("Problems found:")
        for problem in problems:
            print(f"  - {problem}")
        print("Fix them and run this script again; submissions that break the naming convention are not graded.")
        return 1
    print(f"{target} looks good: hand it in on Moodle.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
