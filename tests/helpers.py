"""Plain helpers and constants shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

# ---------------------------------------------------------------------- sandbox (tests of the worker's sandbox)

import os
import sys
from pathlib import Path
from typing import Any

import pytest

MARKER = b"ex4-hostile-marker"
"""In the command line of every process the hostile corpus starts, so that one left behind is found."""

TASK12 = ("test_conv_relu_stride1", "test_hand_computed_stride1", "test_conv_relu_stride_padding",
          "test_hand_computed_stride2", "test_conv_output_size", "test_receptive_field_stride1", "test_rf_answer_a",
          "test_receptive_field_strided_dilated", "test_rf_answer_b")
"""The checks of Task 1 and 2, all that the corpus runs."""


def require_bubblewrap() -> None:
    """On Linux the set-up installs bubblewrap: if it cannot run, the tests that prove it fail."""
    from grader.sandbox import bubblewrap

    if sys.platform.startswith("linux"):
        assert bubblewrap() is not None, "bubblewrap cannot run here (install it: `make setup` does)"
    else:
        pytest.skip("the sandbox is Linux's")


def leftovers(namespaces: set[str]) -> list[str]:
    """Live host processes in one of the given PID namespaces, or with the corpus's marker in their command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            ns = os.readlink(f"/proc/{entry}/ns/pid")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state in "ZX":
            continue  # dead, waiting for its parent to read its exit status
        if ns in namespaces or MARKER in cmdline:
            shown = cmdline.replace(b"\0", b" ")[:120]
            found.append(f"{entry} ({ns}): {shown!r}")
    return found


def sandbox_namespaces(worker: Any) -> set[str]:
    """The PID namespaces of a running worker's sandbox (its bwrap's children)."""
    from grader import sandbox

    return sandbox.sandbox_namespaces(worker.proc.pid) if worker.proc is not None else set()


def core() -> str:
    """The reference's Task 1 and 2."""
    from tests.conftest import REFERENCE

    source = REFERENCE.read_text(encoding="utf-8")
    source = source[: source.index("# Task 3:")]
    # Task 1 and 2 need torch only; leaving out the heavy imports saves seconds on every worker start.
    for heavy in ("import torchvision\n", "from matplotlib.figure import Figure\n", "from torchvision import transforms\n"):
        source = source.replace(heavy, "")
    return source
