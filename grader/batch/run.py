"""A batch run: plan the term, grade what the cache lacks on an Executor, publish each result, write the outputs."""

from __future__ import annotations

import contextlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generator, Protocol

from grader.batch.cache import CACHE, cached_result
from grader.batch.child import DEFAULT_GRADE, DEFAULT_TIMEOUT_S, GradeFn
from grader.batch.local import LocalExecutor
from grader.batch.outputs import Entry, MoodleUpload, no_zip_result, publish, write_term_outputs
from grader.batch.plan import Item, identity_notices, override_label, plan, shared_matriculations, stored_batch_seed
from grader.batch.status import RunStatus
from grader.config import Settings, load_rubric
from grader.moodle import InputError, find_submissions
from grader.moodle.upload import check_importable, resolve_scale
from grader.scoring import GradingResult

STAGING = ".inputs"
"""Where a Moodle download zip is unpacked in OUT."""


@dataclass(frozen=True)
class Progress:
    """Where the batch stands, reported after each submission graded (and once at the start)."""

    done: int
    total: int
    """Submissions to grade in this run (cached ones are not counted)."""
    cached: int
    label: str = ""
    outcome: str = ""
    """`graded`, `crashed` or `timeout` for the submission just finished."""


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did and wrote."""

    out_dir: Path
    entries: tuple[Entry, ...]
    graded_now: int
    cached: int
    outputs: dict[str, Path] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    moodle: tuple[str, ...] = ()
    """How to upload the worksheet and feedback zip, and every row Moodle will not take as it is."""

    def lines(self) -> list[str]:
        """A few plain-text lines for the terminal."""
        counting = [e for e in self.entries if e.item.counts]
        graded = [e for e in counting if e.result.graded]
        crashed = [e for e in self.entries if RunStatus(e.status).failed]
        lines = [f"{len(self.entries)} submissions ({len(counting)} counting): {self.graded_now} graded now, "
                 f"{self.cached} from the cache, {len(graded)} counting ones graded, "
                 f"{len(counting) - len(graded)} not graded"]
        if crashed:
            lines.append(f"  the grader failed on {len(crashed)}: " + ", ".join(e.item.slot for e in crashed)
                         + " (rerun with --force to retry)")
        pending = sum(1 for e in counting for m in e.result.manual if m.points is None)
        if pending:
            lines.append(f"  {pending} written answers await a TA: grade them with `grader review {shlex.quote(str(self.out_dir))}` "
                         "(or by hand in overrides.csv)")
        for label, path in self.outputs.items():
            lines.append(f"  {label}: {path}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        lines.extend(f"  Moodle: {m}" for m in self.moodle)
        from grader.outfiles import log_text

        # Warnings quote file names from the input: shown on a terminal, their control characters are escaped.
        return [log_text(line) for line in lines]


class Executor(Protocol):
    """Where a batch's jobs are graded: this machine's pool (:class:`LocalExecutor`) or a Dask cluster."""

    def grade(self, jobs: list[Item], settings: Settings, cache: Path, grade: GradeFn | str,
              timeout_s: float) -> Generator[tuple[Item, str], None, None]:
        """Grade each job into ``cache`` (its marker written by :func:`grader.batch.cache.record_result`), yielding
        it and its outcome.

        Closing the iterator early (Ctrl-C, a failing progress callback) stops the work.
        """
        ...


def run_batch(source: Path, settings: Settings, *, workers: int | None = None,
              timeout_s: float = DEFAULT_TIMEOUT_S, force: bool = False, worksheet: Path | None = None,
              overrides: Path | None = None, grade: GradeFn | str = DEFAULT_GRADE,
              progress: Callable[[Progress], None] | None = None,
              executor: Executor | None = None, scale: bool | None = None,
              max_zip_mb: float | None = None, similarity: bool = True,
              compare_with: tuple[Path, ...] = ()) -> BatchSummary:
    """Grade every submission in `source` into `settings.out_dir` and write the batch's outputs.

    `grade` is the grading function: a ``"module:function"`` name runs in a child process per
    submission (with `timeout_s`); a callable runs in this process's worker threads (tests).
    `executor` grades elsewhere (e.g. :class:`grader.batch.dask.DaskExecutor`); `workers` is then unused.
    `scale` says how points go into a worksheet whose maximum grade differs from the rubric's total
    (True: mapped onto it; False: as they are; None: such a worksheet stops the batch before grading).
    `similarity` compares the counting submissions (and `compare_with`'s earlier ones) into OUT/similarity/.
    """
    from grader import moodle, overrides as ov

    out = Path(settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rubric = load_rubric(settings.rubric_path).only(settings.only)
    overrides_path = overrides if overrides is not None else out / "overrides.csv"
    manual = ov.load_overrides(overrides_path, rubric)  # fail before hours of grading, not after
    upload = None
    if worksheet is not None:  # checked as Moodle's importer reads it, before hours of grading
        sheet = moodle.read_worksheet(worksheet)
        language = check_importable(sheet)
        total = sum(load_rubric(settings.rubric_path).task_max().values())
        upload = MoodleUpload(sheet, language, resolve_scale(sheet, total, scale))
    max_zip_bytes = int((max_zip_mb if max_zip_mb is not None else moodle.DEFAULT_MAX_ZIP_MB) * 1024 * 1024)
    found = find_submissions(Path(source), out / STAGING, settings.zip_limits, exclude=out)
    if not found:
        raise InputError(f"No submission zips found in {source}.")
    cache = out / CACHE
    items = plan(found, settings, stored_batch_seed(cache / "batch.json"))
    shared = shared_matriculations(items, settings.matriculation_digits)
    ov.refuse_shared(manual, {m: [override_label(i) for i in group] for m, group in shared.items()}, overrides_path)
    notices = identity_notices(items, shared)
    todo = [i for i in items if i.key and (force or cached_result(cache, i.key) is None)]
    by_key = {i.key: i for i in todo}  # identical zips under one name are graded once
    jobs = list(by_key.values())
    results: dict[str, tuple[GradingResult, str, bool]] = {}

    if progress:
        progress(Progress(0, len(jobs), len(items) - len(todo)))
    grading = executor if executor is not None else LocalExecutor(workers)
    with contextlib.closing(grading.grade(jobs, settings, cache, grade, timeout_s)) as finished:
        for done, (job, outcome) in enumerate(finished, 1):
            for item in items:
                if item.key == job.key:
                    results[item.slot] = (*publish(item, cache, out, manual, rubric), False)
            if progress:
                progress(Progress(done, len(jobs), len(items) - len(todo), job.slot, outcome))

    for item in items:
        if item.slot in results:
            continue
        if not item.key:
            results[item.slot] = (no_zip_result(item, rubric, out), RunStatus.NO_ZIP, False)
        else:
            results[item.slot] = (*publish(item, cache, out, manual, rubric), True)
    entries = tuple(Entry(i, *results[i.slot]) for i in items)
    closest, sim_outputs, sim_failed = None, {}, []
    if similarity:
        from grader.similarity.run import Subject, similarity_report

        try:
            sim = similarity_report(out, [Subject(e.item.slot, e.item.found.zip_path, e.item.zip_sha256)
                                          for e in entries if e.item.counts and e.item.found.zip_path is not None],
                                    list(compare_with), settings, cache)
            closest, sim_outputs = sim.closest, {"similar submissions": sim.index}
        except Exception as exc:  # noqa: BLE001 - the grades must still be written; grader similarity OUT retries
            sim_failed = [f"the similarity report failed ({type(exc).__name__}: {exc}); the grades are written "
                          "without it; grader similarity OUT tries again"]
    outputs, warnings, moodle_lines = write_term_outputs(entries, out, upload, manual, overrides_path, rubric, notices,
                                                         max_zip_bytes, closest)
    outputs.update(sim_outputs)
    warnings.extend(sim_failed)
    return BatchSummary(out, entries, sum(1 for e in entries if e.item.key and not e.cached),
                        sum(1 for e in entries if e.cached), outputs, tuple(warnings), tuple(moodle_lines))


def similarity_of_batch(out: Path, settings: Settings, compare_with: tuple[Path, ...] = ()) -> SimilaritySummary:
    """Compare the counting submissions of a finished batch in `out` (again) and add the column to its index.html."""
    from grader.batch.outputs import rewrite_index
    from grader.errors import GraderError
    from grader.similarity.run import Subject, similarity_report

    out = Path(out)
    try:
        data = json.loads((out / "batch.json").read_text(encoding="utf-8"))
        listed = [s for s in data["submissions"] if s["counts"] and s.get("zip_sha256")]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{out} holds no finished batch (its batch.json cannot be read); run grader batch first.") from exc
    subjects, missing = [], []
    for s in listed:
        path = Path(str(s.get("zip_path") or ""))
        if not s.get("zip_path") or not path.is_file():
            missing.append(str(s["folder"]))
        subjects.append(Subject(str(s["folder"]), path, str(s["zip_sha256"])))
    try:
        sim = similarity_report(out, subjects, list(compare_with), settings, out / CACHE)
    except (OSError, KeyError) as exc:
        raise GraderError(f"The zips of {', '.join(missing[:5])} are no longer where the batch found them, and the "
                          f"cache does not hold them; rerun grader batch ({exc}).") from exc
    index = rewrite_index(out, load_rubric(settings.rubric_path).only(settings.only), sim.closest)
    return SimilaritySummary(sim.index, sim.csv, index, sim.pairs, sim.fingerprinted, len(subjects),
                             sim.unreadable, sim.compared_pairs, sim.reused_pairs)


@dataclass(frozen=True)
class SimilaritySummary:
    """What `grader similarity OUT` did."""

    report: Path
    csv: Path
    index: Path
    pairs: int
    fingerprinted: int
    compared: int
    unreadable: tuple[str, ...] = ()
    compared_pairs: int = 0
    reused_pairs: int = 0
    """Pairs compared in this run, and pairs kept from the previous run (a change could not touch them)."""

    def lines(self) -> list[str]:
        """A few plain-text lines for the terminal."""
        from grader.outfiles import log_text

        lines = [f"{self.compared} submissions compared ({self.fingerprinted} read now, the others from the cache): "
                 f"{self.pairs} pairs share code or written answers beyond the template "
                 f"({self.compared_pairs} pairs compared now, {self.reused_pairs} kept from the last run)",
                 f"  similar submissions: {self.report}", f"  pairs: {self.csv}", f"  index: {self.index}"]
        lines.extend(f"  not compared: {u}" for u in self.unreadable)
        return [log_text(line) for line in lines]
