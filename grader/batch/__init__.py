"""Grading a term's submissions in one go: parallel, cached, resumable, with outputs for Moodle.

Rules the TA can rely on:

* Isolation: each submission is graded in a child process of its own (``python -m grader.batch
  job …``, in its own session), which in turn runs the student's code in the sandboxed worker.
  A child that crashes, hangs past ``timeout_s`` or is killed gets a ``grader-error`` result
  (flag ``timeout`` too when it ran out of time); it never touches another submission.
* Set-up failures stop the batch: a child that ends with a ConfigError, DataError or SandboxError
  (the sandbox cannot start, the data is missing) would end alike for every submission, so the
  batch stops with that error instead of recording crash verdicts; what finished stays cached
  and a rerun after the fix goes on from there.
* Cache: a submission's key is the SHA-256 of its zip's bytes and file name, the grader version
  and a hash of what changes results: the seed, data folder, device, threads, limits, accepted
  matriculation lengths, checks run, and the bytes of the rubric, the reference and the hidden
  checks. Its raw result lives in ``OUT/.cache/<key>/`` and counts as done once
  ``OUT/.cache/<key>.json`` exists (written atomically right after the child finished). A rerun
  grades only the keys without one; ``force`` regrades all. A crash or timeout is cached too
  (``force`` retries it).
* Seeds: without a fixed ``settings.seed`` each submission's seed is derived from the batch seed
  (drawn once, kept in ``OUT/.cache/batch.json``) and the zip's hash, so a rerun reproduces it;
  the seed is recorded in every result and in ``grades.csv``.
* Several zips of one student (the same Moodle participant, or without Moodle the same
  matriculation number and surname in the file name): every one is graded; the latest by file
  time (then by name) counts, the others are flagged ``superseded`` and left out of the worksheet
  and the feedback zip. Different students on one matriculation number (two participants, or two
  surnames without Moodle) are flagged ``matriculation-shared``, supersede nothing, and an
  overrides row keyed by that number is refused; the summary and the index say so.
* The Moodle participant of a zip is the outermost participant folder of its path (see
  :func:`grader.moodle._owner`); a deeper folder named like someone else is flagged ``moodle-mismatch``.
* A zip whose name names someone else than the Moodle folder it came in (its surname is not
  one of the folder's name words) is graded and flagged ``moodle-mismatch``; the grade goes to
  the Moodle participant it was handed in by.
* A Moodle participant who handed in files but no zip gets a ``no-zip`` result with no points.
* Overrides (see :mod:`grader.overrides`, default ``OUT/overrides.csv``) are merged into the
  cached results every run, before any output is written.

Outputs in OUT: ``<folder>/results.json`` and ``report.html`` per submission (the folder is the
zip's name without ``.zip`` as :func:`grader.outfiles.folder_name` makes it: no dots, so never one of
the files below; ``_<participant id>`` or ``_<n>`` added when two zips share a name),
``grades.csv``, ``index.html``, ``questions/<id>.html``, ``batch.json``, and with a Moodle download
``moodle/feedback-files.zip`` and, given the worksheet, ``moodle/<its name>`` filled in.

The package, by concern: :mod:`~grader.batch.plan` (items, seeds, folders, identity rules),
:mod:`~grader.batch.cache` (keys, settings JSON, cached results), :mod:`~grader.batch.child` (the
child process), :mod:`~grader.batch.local` and :mod:`~grader.batch.dask` (the two executors),
:mod:`~grader.batch.outputs` (OUT's files), :mod:`~grader.batch.pages` (index and question pages),
and :mod:`~grader.batch.run` (:func:`run_batch`, which ties them together).
"""

from grader.batch.cache import settings_from_json, settings_to_json
from grader.batch.child import DEFAULT_GRADE, DEFAULT_TIMEOUT_S, GradeFn, child_time_limit
from grader.batch.dask import DaskExecutor
from grader.batch.local import LocalExecutor, default_workers
from grader.batch.outputs import Entry, grades_csv
from grader.batch.plan import RESERVED, Item, plan
from grader.batch.run import BatchSummary, Executor, Progress, run_batch

__all__ = [
    "BatchSummary", "DEFAULT_GRADE", "DEFAULT_TIMEOUT_S", "DaskExecutor", "Entry", "Executor", "GradeFn", "Item",
    "LocalExecutor", "Progress", "RESERVED", "child_time_limit", "default_workers", "grades_csv",
    "plan", "run_batch", "settings_from_json", "settings_to_json",
]
