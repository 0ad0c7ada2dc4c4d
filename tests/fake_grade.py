"""A fake grader for the batch tests: a plausible result from the zip's code in milliseconds.

Run in the test's process (``grade_inproc``) or in the batch's child processes
(``tests.fake_grade:grade_child``, ``tests.fake_grade:grade_child_slowly``). What the zip's
``exercise4.py`` says decides the result: ``MISTAKE <check id>`` fails that check, ``def (`` is an
import error, ``# ANSWER <id>: text`` answers a written question (``# ANSWERJSON <id>: "a JSON string"`` with newlines), ``os._exit`` crashes the child,
``while True`` hangs it, ``EXIT-8-SILENTLY`` ends the child with the sandbox's exit code
but no report, and ``SANDBOX-BROKEN`` (with ``FAKE_SANDBOX_BROKEN`` set) is a set-up failure.
Each zip graded is appended to the file ``FAKE_GRADER_LOG`` names.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from grader.config import Settings
from grader.errors import SandboxError
from grader.outfiles import write_outputs
from grader.scoring import CheckResult, GradingResult, ManualItem

from tests.helpers import stand_in_start


def _grade(zip_path: Path, settings: Settings, child: bool) -> GradingResult:
    if os.environ.get("FAKE_GRADER_LOG"):
        with open(os.environ["FAKE_GRADER_LOG"], "a") as log:
            log.write(zip_path.name + "\n")
    start = stand_in_start(zip_path, settings)
    if isinstance(start, GradingResult):
        return start
    rubric, stem, student, code = start
    if "SANDBOX-BROKEN" in code and os.environ.get("FAKE_SANDBOX_BROKEN"):
        raise SandboxError("The sandbox could not start the student's worker: bwrap: no permission.")
    if "EXIT-8-SILENTLY" in code and child:
        # A set-up failure's exit code, its words on stderr, but no setup_failure.json: a crash, not a stop.
        print("SandboxError: the sandbox could not start", file=sys.stderr, flush=True)
        os._exit(8)
    if "os._exit" in code:
        if child:
            os._exit(3)
        raise RuntimeError("the grading process died")
    if "while True" in code:
        if child:
            time.sleep(3600)
        raise TimeoutError("hung")
    answers = {}
    for line in code.splitlines():
        if line.startswith("# ANSWER "):
            qid, text = line[len("# ANSWER "):].split(":", 1)
            answers[qid] = text.strip()
        elif line.startswith("# ANSWERJSON "):
            qid, text = line[len("# ANSWERJSON "):].split(":", 1)
            answers[qid] = json.loads(text)
    broken = "def (" in code
    checks = []
    for c in rubric.checks.values():
        wrong = broken or f"MISTAKE {c.id}" in code
        status = "error" if broken else ("failed" if wrong else "passed")
        checks.append(CheckResult(c.id, c.task, c.title, 0.0 if wrong else c.points, c.points, status,
                                  "expected something else" if wrong else "", 0.01))
    manual = tuple(ManualItem(q.id, q.task, q.question, q.points, answers.get(q.id, ""))
                   for q in rubric.questions.values())
    result = GradingResult(stem=stem, student=student, graded=True, verdict=f"Graded with seed {settings.seed}.",
                           checks=tuple(checks), manual=manual, flags=("import-error",) if broken else (),
                           seed=settings.seed, task_titles=rubric.tasks, task_max=rubric.task_max())
    write_outputs(result, settings.out_dir)
    return result


def grade_child(zip_path: Path, settings: Settings) -> GradingResult:
    """The fake grading in a child process: crashes and hangs are real."""
    return _grade(zip_path, settings, True)


def grade_inproc(zip_path: Path, settings: Settings) -> GradingResult:
    """The fake grading in the test's process: crashes and hangs are exceptions."""
    return _grade(zip_path, settings, False)


def grade_child_slowly(zip_path: Path, settings: Settings) -> GradingResult:
    """The fake grading in a child, a second slower: time to lose a Dask worker while it grades."""
    time.sleep(1.0)
    return grade_child(zip_path, settings)
