"""Reading what a student wrote (the PDF's text, the notebook, the script's definitions) in a separate, limited process.

pypdf and the notebook filter parse files a student crafted: a 32 KB PDF of repeated form XObject
calls keeps pypdf busy for many minutes, a notebook can take gigabytes. So the grading process
never parses them itself: a child (`python -I`, RLIMIT_AS, RLIMIT_CPU and a wall-clock timeout)
reads one request (a JSON line, then the file's bytes) on stdin and answers one JSON object on
stdout, never pickle. `parse` raises ParseFailed, with a sentence, when the child ran out of time
or memory or did not answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from grader.config import PROJECT_DIR

_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from grader.intake.parsing import main; main()"


class ParseFailed(Exception):
    """The child could not read the file within its limits; `reason` completes "… could not be read: "."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse(op: str, data: bytes, timeout_s: float, memory_bytes: int, **options: Any) -> dict[str, Any]:
    """Run one parse (`pdf`, `notebook` or `script`) of `data` in a limited child; its JSON answer."""
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        cpu = int(timeout_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

    request = json.dumps({"op": op, **options}).encode() + b"\n" + data
    try:
        done = subprocess.run([sys.executable, "-I", "-c", _BOOT, str(PROJECT_DIR)], input=request,
                              capture_output=True, timeout=timeout_s, preexec_fn=limit, check=False)
    except subprocess.TimeoutExpired:
        raise ParseFailed(f"reading it took longer than the limit of {timeout_s:g} s") from None
    if done.returncode != 0:
        memory = b"MemoryError" in done.stderr or done.returncode in (-9, -24)
        raise ParseFailed(f"reading it needed more than {memory_bytes >> 20} MiB of memory or "
                          f"{timeout_s:g} s of CPU time" if memory else
                          f"the reader ended with exit status {done.returncode}")
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        raise ParseFailed("the reader's answer could not be read") from None
    if not isinstance(reply, dict):
        raise ParseFailed("the reader's answer could not be read")
    return reply


# --------------------------------------------------------------------------- the child's side

def main() -> None:
    """The child: answer the one request on stdin (the grading process's own code, the student's bytes)."""
    header = sys.stdin.buffer.readline()
    data = sys.stdin.buffer.read()
    request = json.loads(header)
    reply = _answer(request, data)
    sys.stdout.write(json.dumps(reply))
    sys.stdout.flush()


def _answer(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    op = request["op"]
    computed = tuple(request.get("computed") or ())
    if op == "pdf":
        from grader.intake.pdf import PdfEncrypted, pdf_text

        try:
            return {"ok": True, "text": pdf_text(data)}
        except PdfEncrypted:
            return {"ok": False, "encrypted": True}
        except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on broken files
            return {"ok": False, "error": type(exc).__name__}
    from grader.intake.notebook import NotebookError, notebook_code_text, notebook_to_module, script_to_module

    if op == "notebook":
        try:
            module, dropped = notebook_to_module(data, computed)
        except NotebookError as exc:
            return {"ok": False, "reason": exc.reason, "flag": exc.flag}
        return {"ok": True, "module": module, "dropped": dropped, "code_text": notebook_code_text(data)}
    if op == "script":
        return {"ok": True, "module": script_to_module(data.decode("utf-8-sig"), computed)[0]}
    raise ValueError(f"unknown parse {op!r}")


if __name__ == "__main__":
    main()

