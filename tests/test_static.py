"""The grader type-checks: mypy (pinned in the dev extras `make setup` installs) finds no error.

Catches what a test run may never reach: a name used but never defined in a rarely taken branch
(a worker timing out as a non-root user, say), a wrong argument type.
"""

from __future__ import annotations

import subprocess
import sys

from grader.config import PROJECT_DIR


def test_mypy_finds_no_error():
    done = subprocess.run([sys.executable, "-m", "mypy", "grader"], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
