"""The self-test: the reference must get every automatic point and the template none."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from grader.config import PROJECT_DIR, Settings
from grader.example import build_submission

EXAMPLE_NAME = "Mustermann-123456.zip"


@dataclass(frozen=True)
class SelftestReport:
    ok: bool
    lines: tuple[str, ...]


def build_reference_zip(folder: Path, settings: Settings | None = None) -> Path:
    """The example submission: the reference solution and a PDF of it."""
    path = settings.reference_path if settings else PROJECT_DIR / "solutions" / "exercise4.py"
    return build_submission(folder / EXAMPLE_NAME, path.read_text(encoding="utf-8"))


def run_selftest(settings: Settings) -> SelftestReport:
    """Grade the reference and the template; say whether each scored as it must."""
    from grader.grading import grade_submission

    lines = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="ex4-selftest-") as tmp:
        out = replace(settings, out_dir=Path(tmp) / "reports")
        ref_zip = build_reference_zip(Path(tmp), settings)
        template = (PROJECT_DIR / "student_template" / "exercise4.py").read_text(encoding="utf-8")
        tpl_zip = build_submission(Path(tmp) / "Template-654321.zip", template)
        ref = grade_submission(ref_zip, out)
        tpl = grade_submission(tpl_zip, out)
    ref_auto = sum(c.points for c in ref.checks)
    ref_max = sum(c.max_points for c in ref.checks)
    failing = [f"{c.id}: {c.message}" for c in ref.checks if c.status != "passed"]
    if not ref.graded or failing:
        ok = False
    lines.append(f"reference: {ref_auto:g} of {ref_max:g} automatic points" + ("" if not failing else " — FAILED:"))
    lines.extend(f"  {f}" for f in failing)
    tpl_auto = sum(c.points for c in tpl.checks)
    if not tpl.graded or tpl_auto != 0:
        ok = False
    passing = [c.id for c in tpl.checks if c.status == "passed"]
    lines.append(f"template:  {tpl_auto:g} points" + (f" — passed {passing}" if passing else ""))
    lines.append(f"reference graded in {ref.timings.get('total', 0):.1f} s, template in {tpl.timings.get('total', 0):.1f} s")
    lines.append("self-test passed" if ok else "self-test FAILED")
    return SelftestReport(ok, tuple(lines))
