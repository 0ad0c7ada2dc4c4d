"""A submission read for grading: its name checked, its zip unpacked, its code file chosen and its PDF checked.

Code file, first match wins: ``exercise4.py`` at the top; ``exercise4.ipynb`` at the top;
``exercise4.py`` / ``exercise4.ipynb`` deeper (shallowest first); otherwise among the other
``.py`` and ``.ipynb`` files (not tests, conftest, setup, sitecustomize, usercustomize,
make_submission, notebook_filter, student_world or ``__init__``) the one that defines any
contract name wins over one that defines none, then ``.py`` over ``.ipynb``, then the most
contract names, then the shallowest and alphabetically first path (flag ``code-renamed``).
Names are compared case-insensitively. The other rules: the file name in
:mod:`grader.intake.naming`, the zip in :mod:`grader.intake.unzip`, what of a notebook runs in
:func:`grader.intake.notebook.notebook_to_module`, the PDF in :func:`grader.intake.pdf.check_pdf`.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.config import DEFAULT, MiB, Settings, ZipLimits
from grader.errors import SubmissionRejected
from grader.flags import Flag
from grader.intake.naming import parse_name
from grader.intake.parsing import ParseFailed, parse
from grader.intake.pdf import PdfCheck, check_pdf
from grader.intake.unzip import unpack
from grader.scoring import Student

DEFINITIONS_NAME = "exercise4.definitions"

CONTRACT_NAMES = (
    "X", "W1", "W2", "W3", "B1", "B2", "B3", "conv_relu", "HAND_COMPUTED", "conv_output_size",
    "receptive_field", "RF_ANSWERS", "make_transform", "make_loaders", "Net", "train",
    "plot_accuracy", "show_augmentations", "resnet_layers", "get_activations", "saliency_maps",
    "ANSWERS",
)

# .py files that are not the submission even when they are the only other .py file.
NOT_CODE = re.compile(r"(test_.*|.*_test|conftest|setup|sitecustomize|usercustomize|make_submission|notebook_filter|student_world|__init__)\.py",
                      re.IGNORECASE)
# Ranking candidate files only needs their definitions, which come early.
CONTRACT_SCAN_BYTES = 2 * MiB
MAX_PDFS = 3


@dataclass(frozen=True)
class Intake:
    """A submission read and unpacked, ready for grading."""

    student: Student
    code_path: Path
    """The submitted code file as extracted under `workdir/files/`."""
    code_kind: str
    """`py` or `ipynb`."""
    code_name: str
    """The code file's path inside the zip, as the student named it."""
    module_dir: Path
    """A folder holding `exercise4.py`, what the worker imports, and for a .py its definitions alone
    (`DEFINITIONS_NAME`), imported instead when running the module's top level fails."""
    pdf: PdfCheck
    flags: tuple[str, ...]
    """Machine-readable remarks, e.g. `code-renamed`, `pdf-missing`."""
    notes: tuple[str, ...]
    """Sentences for the student and TA that go with the flags, then details."""


def graded_constants(settings: Settings) -> tuple[str, ...]:
    """The constants a student writes (HAND_COMPUTED, RF_ANSWERS, ANSWERS): a notebook may compute them."""
    from grader.template import stub_names

    return tuple(n for n in stub_names(settings.reference_path.read_text(encoding="utf-8")) if n.isupper())


def open_submission(zip_path: Path, workdir: Path, settings: Settings = DEFAULT) -> Intake:
    """Check a submission's name, unpack it safely under workdir and pick its code and PDF.

    Raises SubmissionRejected (with its flag) when the submission cannot be graded.
    """
    student = parse_name(zip_path.name, settings.matriculation_digits)
    flags: list[str] = []
    notes: list[str] = []
    files_dir = workdir / "files"
    module_dir = workdir / "module"
    for folder in (files_dir, module_dir):
        if folder.exists():
            shutil.rmtree(folder)  # left over from an earlier run in the same workdir
        folder.mkdir(parents=True)
    extracted, skipped = unpack(zip_path, files_dir, settings)
    for flag, note in skipped:
        _flag(flags, notes, flag, note)
    code_rel, kind, renamed_note = choose_code(extracted, files_dir)
    code_path = files_dir / code_rel
    code_bytes = code_path.read_bytes()
    if renamed_note:
        _flag(flags, notes, Flag.CODE_RENAMED, renamed_note)
    if kind == "py":
        code_text = _script_module(code_bytes, code_rel, module_dir, settings)
    else:
        code_text = _notebook_module(code_bytes, code_rel, module_dir, settings, flags, notes)
    pdf = _pdf_of(extracted, files_dir, code_text, flags, notes, settings.zip_limits)
    return Intake(student=student, code_path=code_path, code_kind=kind, code_name=extracted[code_rel],
                  module_dir=module_dir, pdf=pdf, flags=tuple(flags), notes=tuple(notes))


def _script_module(code_bytes: bytes, code_rel: str, module_dir: Path, settings: Settings) -> str:
    """Write a .py as the module to import, and its definitions alone beside it; its text."""
    limits = settings.zip_limits
    try:
        code_text = code_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionRejected(f"The code file {code_rel} is not UTF-8 text, so Python cannot read it.",
                                 flag=Flag.BAD_ENCODING) from exc
    (module_dir / "exercise4.py").write_bytes(code_bytes)
    # Only used if running the module's top level fails in the sandbox (a notebook exported as a script
    # whose training cells need the student's data): then its definitions alone are graded. Without
    # them (reading went over its limits) such a module simply fails to import.
    try:
        script = parse("script", code_bytes, limits.parse_timeout_s, limits.parse_memory_bytes,
                       computed=graded_constants(settings))
        (module_dir / DEFINITIONS_NAME).write_text(str(script["module"]), encoding="utf-8")
    except (ParseFailed, KeyError):
        pass
    return code_text


def _notebook_module(code_bytes: bytes, code_rel: str, module_dir: Path, settings: Settings, flags: list[str],
                     notes: list[str]) -> str:
    """Write what of a notebook runs as the module to import, noting what was left out; the text of its code cells."""
    limits = settings.zip_limits
    try:
        read = parse("notebook", code_bytes, limits.parse_timeout_s, limits.parse_memory_bytes,
                     computed=graded_constants(settings))
    except ParseFailed as exc:
        raise SubmissionRejected(f"The notebook {code_rel} could not be read within the grader's limits "
                                 f"({limits.parse_timeout_s:g} s, {limits.parse_memory_bytes >> 20} MiB): "
                                 f"{exc.reason}.", flag=Flag.NOTEBOOK_LIMITS) from exc
    if not read.get("ok"):
        raise SubmissionRejected(str(read.get("reason")), flag=str(read.get("flag")))
    module_text, dropped = str(read["module"]), [str(d) for d in read["dropped"]]
    (module_dir / "exercise4.py").write_text(module_text, encoding="utf-8")
    code_text = str(read["code_text"])
    if dropped:
        _flag(flags, notes, Flag.NOTEBOOK_FILTERED,
              f"The notebook was graded as a module of its imports and definitions; {len(dropped)} "
              "statements or cells (calls, loops, magics) were not executed.")
        notes.extend(dropped[:30])
        if len(dropped) > 30:
            notes.append(f"… and {len(dropped) - 30} more left out.")
    return code_text


def _flag(flags: list[str], notes: list[str], flag: str, note: str) -> None:
    """Record a flag once, with its sentence."""
    if flag not in flags:
        flags.append(flag)
    notes.append(note)


def choose_code(extracted: dict[str, str], files_dir: Path) -> tuple[str, str, str]:
    """(relative path, kind, note when it was not exercise4.*) of the code to grade."""
    by_kind: dict[str, list[str]] = {"py": [], "ipynb": []}
    for rel in extracted:
        base = rel.rsplit("/", 1)[-1]
        low = base.lower()
        if low.endswith(".py") and not NOT_CODE.fullmatch(base):
            by_kind["py"].append(rel)
        elif low.endswith(".ipynb"):
            by_kind["ipynb"].append(rel)

    def depth(rel: str) -> tuple[int, str]:
        return rel.count("/"), rel

    for kind in ("py", "ipynb"):
        top = [r for r in by_kind[kind] if r.lower() == f"exercise4.{kind}"]
        if top:
            return top[0], kind, ""
    for kind in ("py", "ipynb"):
        deeper = sorted((r for r in by_kind[kind] if r.lower().rsplit("/", 1)[-1] == f"exercise4.{kind}"), key=depth)
        if deeper:
            return deeper[0], kind, ""
    candidates = [(r, k) for k in ("py", "ipynb") for r in by_kind[k]]
    if not candidates:
        raise SubmissionRejected("The zip holds no code: neither exercise4.py nor a notebook (.ipynb) was found.",
                                 flag=Flag.NO_CODE)
    if len(candidates) == 1:
        rel, kind = candidates[0]
        return rel, kind, f"The code was not named exercise4.{kind}; the only code file, {rel}, was graded."
    scored = []
    for rel, kind in candidates:
        count = _contract_count((files_dir / rel).read_bytes())
        scored.append(((count == 0, kind != "py", -count, *depth(rel)), rel, kind))
    scored.sort()
    _, rel, kind = scored[0]
    names = ", ".join(r for _, r, _ in scored)
    return rel, kind, (f"No file was named exercise4.py or exercise4.ipynb; of the candidates ({names}) {rel} was "
                       "graded, as the file that defines the exercise's names.")


def _contract_count(data: bytes) -> int:
    """How many of the module contract's names a .py or .ipynb file seems to define."""
    text = data[:CONTRACT_SCAN_BYTES].decode("utf-8", "replace")
    found = set()
    for name in CONTRACT_NAMES:
        if re.search(rf"\b(?:def|class)\s+{name}\b|\b{name}\s*(?::[^=\n]*)?=(?!=)", text):
            found.add(name)
    return len(found)


def _pdf_of(extracted: dict[str, str], files_dir: Path, code_text: str, flags: list[str],
            notes: list[str], limits: ZipLimits) -> PdfCheck:
    """Check the zip's PDFs against the code; flag a missing, invalid or mismatching PDF."""
    pdfs = sorted((r for r in extracted if r.lower().endswith(".pdf")), key=lambda r: (r.count("/"), r))
    if not pdfs:
        check = PdfCheck(False, False, None, "The zip holds no PDF of the code.")
        _flag(flags, notes, Flag.PDF_MISSING, "The zip holds no PDF of the code, which the course requires.")
        return check
    # Each PDF costs a reader process (up to its time limit): a zip of many PDFs gets the first few read.
    checks = [(rel, check_pdf((files_dir / rel).read_bytes(), code_text, limits)) for rel in pdfs[:MAX_PDFS]]
    # The best of several PDFs counts: one that shows the code, else one that is readable.
    rel, check = min(checks, key=lambda rc: (rc[1].shows_code is not True, not rc[1].readable))
    if len(pdfs) > 1:
        notes.append(f"The zip holds {len(pdfs)} PDFs; {rel} was checked against the code.")
    if not check.checked:
        _flag(flags, notes, Flag.PDF_UNCHECKED, f"{rel}: {check.message}")
    elif not check.readable:
        _flag(flags, notes, Flag.PDF_INVALID, f"{rel}: {check.message}")
    elif check.shows_code is False:
        _flag(flags, notes, Flag.PDF_MISMATCH, f"{rel}: {check.message}")
    return check
