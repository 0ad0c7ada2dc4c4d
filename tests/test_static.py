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


def test_the_repository_tracks_no_symlink():
    """A committed link (a worktree's `data/cache -> /work/main/data/cache`, say) works only on the machine that made
    it: on a fresh clone anywhere else it dangles, and `make setup` failed on it in CI."""
    done = subprocess.run(["git", "ls-files", "-s"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        import pytest
        pytest.skip("not a git checkout")
    links = [line.split("\t", 1)[1] for line in done.stdout.splitlines() if line.startswith("120000 ")]
    assert links == [], f"tracked symlinks: {links}"
