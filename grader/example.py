"""Example submissions built from code: the bundled example, the self-test, and the project's tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def code_pdf(text: str, title: str = "exercise4.py") -> bytes:
    """A real PDF that shows the code as text (what students print their code to)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    lines = text.splitlines() or [""]
    per_page = 80
    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        for start in range(0, len(lines), per_page):
            fig = Figure(figsize=(8.27, 11.69))
            chunk = "\n".join(line.replace("$", r"\$") for line in lines[start:start + per_page])
            fig.text(0.04, 0.98, f"{title} ({start // per_page + 1})", fontsize=7, va="top", family="monospace")
            fig.text(0.04, 0.96, chunk, fontsize=5.5, va="top", family="monospace")
            pdf.savefig(fig)
    return buffer.getvalue()


def build_zip(dest: Path, files: dict[str, bytes | str]) -> Path:
    """A zip at `dest` holding the given files."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content.encode("utf-8") if isinstance(content, str) else content)
    return dest


def build_submission(dest: Path, code: str, code_name: str = "exercise4.py", pdf: bool = True) -> Path:
    """A submission zip with the code and, unless told otherwise, a PDF of it."""
    files: dict[str, bytes | str] = {code_name: code}
    if pdf:
        files["exercise4.pdf"] = code_pdf(code, code_name)
    return build_zip(dest, files)
