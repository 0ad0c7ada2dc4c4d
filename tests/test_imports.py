"""What the worker imports: the standard library, the student's world (numpy, torch, torchvision, matplotlib,
PIL) and itself, never the grading side (hidden checks, scores, expected values) nor its libraries.

The worker package is what runs inside the sandbox next to the student's code: anything it imported
from the rest of `grader` would be readable, and changeable, by that code. In the spirit of click's
tests/test_imports.py, a fresh interpreter imports the worker and lists what got loaded; a second
test reads every import statement, including those inside functions that the first never runs.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from grader.config import PACKAGE_DIR, PROJECT_DIR

ALLOWED = {"numpy", "torch", "torchvision", "matplotlib", "PIL"}
"""Third-party packages the worker may use: the ones the exercise sheet's code itself imports."""

WORKER = PACKAGE_DIR / "worker"

LIST_IMPORTS = """
import json, sys
before = set(sys.modules)
import grader.worker.main, grader.worker.probes, grader.worker.protocol, grader.worker.environment
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top == "grader":
        return module == "grader" or module.startswith("grader.worker")
    return top in sys.stdlib_module_names or top in ALLOWED or top.startswith("_")


def test_importing_the_worker_loads_nothing_of_the_grading_side():
    done = subprocess.run([sys.executable, "-c", LIST_IMPORTS], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=300, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "grader.worker.main" in loaded  # the list is real
    # Libraries import their own dependencies (torch loads sympy, jinja2 ...): what matters is what
    # the worker's own code names, so only grader's modules and those the worker reaches are judged here.
    grader_side = [m for m in loaded if m.startswith("grader") and not _allowed(m)]
    assert grader_side == [], f"the worker loads grading-side modules: {grader_side}"
    for forbidden in ("grader.checks", "grader.scoring", "grader.grading", "grader.report", "pytest", "click"):
        assert forbidden not in loaded


def test_every_import_statement_of_the_worker_is_on_the_allow_list():
    found: dict[str, list[str]] = {}
    files = sorted(WORKER.glob("*.py"))
    assert len(files) >= 4
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"grader.worker.{node.module or ''}".rstrip(".") if node.level else node.module or ""]
            else:
                continue
            for name in names:
                if name != "__future__" and not _allowed(name):
                    found.setdefault(path.name, []).append(name)
    assert found == {}, f"imports outside the allow-list: {found}"


def test_the_allow_list_test_catches_a_grading_side_import(tmp_path):
    tree = ast.parse("def f():\n    from grader.checks.support import nested\n    import jinja2\n")
    names = [n.module if isinstance(n, ast.ImportFrom) else n.names[0].name
             for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [n for n in names if not _allowed(n or "")] == ["grader.checks.support", "jinja2"]
