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
zip's name without ``.zip`` as :func:`grader.grading.output_name` makes it: no dots, so never one of
the files below; ``_<participant id>`` or ``_<n>`` added when two zips share a name),
``grades.csv``, ``index.html``, ``questions/<id>.html``, ``batch.json``, and with a Moodle download
``moodle/feedback-files.zip`` and, given the worksheet, ``moodle/<its name>`` filled in.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import hashlib
import importlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable, Generator, Protocol

import grader
from grader.config import CHECKS_DIR, Settings, load_rubric
from grader.outfiles import write_atomic
from grader.errors import ConfigError, DataError, GraderError, SandboxError, SubmissionRejected, interrupt_on_sigterm
from grader.moodle import Found, InputError, find_submissions
from grader.scoring import GradingResult

GradeFn = Callable[[Path, Settings], GradingResult]
DEFAULT_GRADE = "grader.grading:grade_submission"
DEFAULT_TIMEOUT_S = 900.0
CACHE = ".cache"
STAGING = ".inputs"
RESERVED = frozenset({"questions", "moodle"})
LOG_TAIL = 4000


def default_workers(threads: int = 2) -> int:
    """Parallel gradings the machine holds: its cores divided by the torch threads each one uses."""
    return max(1, (os.cpu_count() or 1) // max(1, threads))


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Item:
    """One submission of the batch and what the batch knows about it besides its grading."""

    slot: str
    """Its folder in the output (and the name in grades.csv)."""
    found: Found
    key: str
    """Cache key; empty for a participant without a zip."""
    zip_sha256: str
    seed: int
    counts: bool = True
    """False when superseded by a later zip of the same student."""
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


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
class Entry:
    """One submission in the finished batch."""

    item: Item
    result: GradingResult
    """With overrides and the batch's flags merged in."""
    status: str
    """How its grading ended: `graded`, `crashed`, `timeout`, or `no-zip` (nothing to grade)."""
    cached: bool = False
    """Taken from the cache rather than graded in this run."""


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did and wrote."""

    out_dir: Path
    entries: tuple[Entry, ...]
    graded_now: int
    cached: int
    outputs: dict[str, Path] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """A few plain-text lines for the terminal."""
        counting = [e for e in self.entries if e.item.counts]
        graded = [e for e in counting if e.result.graded]
        crashed = [e for e in self.entries if e.status in ("crashed", "timeout")]
        lines = [f"{len(self.entries)} submissions ({len(counting)} counting): {self.graded_now} graded now, "
                 f"{self.cached} from the cache, {len(graded)} counting ones graded, "
                 f"{len(counting) - len(graded)} not graded"]
        if crashed:
            lines.append(f"  the grader failed on {len(crashed)}: " + ", ".join(e.item.slot for e in crashed)
                         + " (rerun with --force to retry)")
        pending = sum(1 for e in counting for m in e.result.manual if m.points is None)
        if pending:
            lines.append(f"  {pending} written answers await a TA: see questions/ and overrides.csv")
        for label, path in self.outputs.items():
            lines.append(f"  {label}: {path}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        from grader.outfiles import log_text

        # Warnings quote file names from the input: shown on a terminal, their control characters are escaped.
        return [log_text(line) for line in lines]


class _Stop(Exception):
    """The batch is stopping; do not start another child."""


class Executor(Protocol):
    """Somewhere else to grade a batch's jobs (the default, None, is this machine's pool of child processes)."""

    def grade(self, jobs: list[Item], settings: Settings, cache: Path, grade: GradeFn | str,
              timeout_s: float) -> Generator[tuple[Item, str], None, None]:
        """Grade each job into ``cache`` (its marker written by :func:`record_result`), yielding it and its outcome.

        Closing the iterator early (Ctrl-C, a failing progress callback) stops the work.
        """
        ...


# --------------------------------------------------------------------------- settings


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """Settings as plain JSON (paths as strings), for the child process."""
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(settings)


def settings_from_json(data: dict[str, Any]) -> Settings:
    """The Settings `settings_to_json` made; unknown keys are ignored, missing ones keep their defaults."""
    base = Settings()
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name not in data:
            continue
        value, default = data[f.name], getattr(base, f.name)
        if value is None:
            changes[f.name] = None
        elif "Path" in str(f.type):
            changes[f.name] = Path(value)
        elif is_dataclass(default) and not isinstance(default, type):
            known = {g.name for g in fields(default)}
            changes[f.name] = replace(default, **{k: v for k, v in value.items() if k in known})
        elif isinstance(default, tuple):
            changes[f.name] = tuple(value)
        else:
            changes[f.name] = value
    return replace(base, **changes)


def _file_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def settings_hash(settings: Settings) -> str:
    """A hash of every setting that changes a result (out_dir and seed excluded: the key adds the seed)."""
    data = settings_to_json(settings)
    data.pop("out_dir", None)
    data.pop("seed", None)
    data["data_dir"] = str(Path(settings.data_dir).resolve()) if settings.data_dir else None
    data["files"] = _file_hash([settings.rubric_path, settings.reference_path, *CHECKS_DIR.glob("*.py"),
                                *CHECKS_DIR.glob("*.ini")])
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def cache_key(zip_sha256: str, zip_name: str, seed: int, settings_digest: str) -> str:
    """The cache key of one submission's grading."""
    text = json.dumps([zip_sha256, zip_name, seed, grader.__version__, settings_digest])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def derive_seed(batch_seed: int, zip_sha256: str) -> int:
    """A submission's seed: reproducible from the batch seed and its zip's content."""
    return int(hashlib.sha256(f"{batch_seed}:{zip_sha256}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the run


def run_batch(source: Path, settings: Settings, *, workers: int | None = None,
              timeout_s: float = DEFAULT_TIMEOUT_S, force: bool = False, worksheet: Path | None = None,
              overrides: Path | None = None, grade: GradeFn | str = DEFAULT_GRADE,
              progress: Callable[[Progress], None] | None = None,
              executor: Executor | None = None) -> BatchSummary:
    """Grade every submission in `source` into `settings.out_dir` and write the batch's outputs.

    `grade` is the grading function: a ``"module:function"`` name runs in a child process per
    submission (with `timeout_s`); a callable runs in this process's worker threads (tests).
    `executor` grades elsewhere (e.g. :class:`grader.dask_executor.DaskExecutor`); `workers` is then unused.
    """
    from grader import moodle, overrides as ov

    out = Path(settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rubric = load_rubric(settings.rubric_path).only(settings.only)
    overrides_path = overrides if overrides is not None else out / "overrides.csv"
    manual = ov.load_overrides(overrides_path, rubric)  # fail before hours of grading, not after
    sheet = moodle.read_worksheet(worksheet) if worksheet is not None else None
    found = find_submissions(Path(source), out / STAGING, settings.zip_limits, exclude=out)
    if not found:
        raise InputError(f"No submission zips found in {source}.")
    batch_seed = _batch_seed(out / CACHE / "batch.json")
    items = plan(found, settings, batch_seed)
    shared = shared_matriculations(items, settings.matriculation_digits)
    ov.refuse_shared(manual, {m: [_override_keys(i) for i in group] for m, group in shared.items()}, overrides_path)
    notices = identity_notices(items, shared)
    cache = out / CACHE
    todo = [i for i in items if i.key and (force or _cached(cache, i.key) is None)]
    by_key = {i.key: i for i in todo}  # identical zips under one name are graded once
    jobs = list(by_key.values())
    results: dict[str, tuple[GradingResult, str, bool]] = {}

    def publish(item: Item, cached: bool) -> None:
        result, status = _publish(item, cache, out, manual, rubric)
        results[item.slot] = (result, status, cached)

    if progress:
        progress(Progress(0, len(jobs), len(items) - len(todo)))
    if executor is not None:
        with contextlib.closing(executor.grade(jobs, settings, cache, grade, timeout_s)) as finished:
            for done, (job, outcome) in enumerate(finished, 1):
                for item in items:
                    if item.key == job.key:
                        publish(item, False)
                if progress:
                    progress(Progress(done, len(jobs), len(items) - len(todo), job.slot, outcome))
    else:
        _local_pool(jobs, items, todo, settings, cache, grade, timeout_s, workers, publish, progress)

    for item in items:
        if item.slot in results:
            continue
        if not item.key:
            results[item.slot] = (_no_zip_result(item, rubric, out), "no-zip", False)
        else:
            publish(item, True)
    entries = tuple(Entry(i, *results[i.slot]) for i in items)
    outputs, warnings = _write_outputs(entries, out, sheet, manual, overrides_path, rubric, notices)
    return BatchSummary(out, entries, sum(1 for e in entries if e.item.key and not e.cached),
                        sum(1 for e in entries if e.cached), outputs, tuple(warnings))


def _local_pool(jobs: list[Item], items: list[Item], todo: list[Item], settings: Settings, cache: Path,
                grade: GradeFn | str, timeout_s: float, workers: int | None, publish: Callable[[Item, bool], None],
                progress: Callable[[Progress], None] | None) -> None:
    """Grade the jobs on this machine, each in a child process of its own, publishing each as it finishes."""
    children = _Children()
    workers = max(1, workers or default_workers(settings.threads))
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")
    try:
        futures = {executor.submit(_grade_one, job, settings, cache, grade, timeout_s, children): job for job in jobs}
        done = 0
        for future in concurrent.futures.as_completed(futures):
            job = futures[future]
            outcome = future.result()
            done += 1
            for item in items:
                if item.key == job.key:
                    publish(item, False)
            if progress:
                progress(Progress(done, len(jobs), len(items) - len(todo), job.slot, outcome))
    except BaseException:
        # Ctrl-C, or a failure of the batch itself: stop every child; what finished is cached.
        children.stop()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


def _batch_seed(path: Path) -> int:
    """The batch seed kept in OUT/.cache/batch.json (drawn on the first run)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return int(json.loads(path.read_text())["batch_seed"])
    seed = secrets.randbits(31)
    _write_json(path, {"batch_seed": seed})
    return seed


def plan(found: list[Found], settings: Settings, batch_seed: int) -> list[Item]:
    """The batch's items: cache keys, seeds, output folders, and the duplicate and mismatch rules applied."""
    from grader.grading import output_name
    from grader.intake import parse_name

    digest = settings_hash(settings)
    items: list[Item] = []
    for f in found:
        if f.zip_path is None:
            base = output_name(f.moodle_name or "submission")
            items.append(Item(base, f, "", "", 0))
            continue
        sha = _sha256(f.zip_path)
        seed = settings.seed if settings.seed is not None else derive_seed(batch_seed, sha)
        base = output_name(f.name[:-4] if f.name.lower().endswith(".zip") else f.name)
        items.append(Item(base, f, cache_key(sha, f.name, seed, digest), sha, seed))
    items = _assign_slots(items)

    def student(item: Item) -> tuple[str, str] | None:
        with contextlib.suppress(SubmissionRejected):
            s = parse_name(item.found.name, settings.matriculation_digits)
            return s.surname, s.matriculation
        return None

    groups: dict[tuple[str, ...], list[int]] = {}
    identities: dict[str, dict[tuple[str, ...], Item]] = {}
    for index, item in enumerate(items):
        named = student(item) if item.key else None
        if item.found.participant_id:
            identity: tuple[str, ...] = ("participant", item.found.participant_id)
        elif named:
            # Without Moodle the file name is all there is: two surnames on one number are two students.
            identity = ("matriculation", named[1], unicodedata.normalize("NFC", named[0]).casefold())
        else:
            identity = ("slot", item.slot)
        groups.setdefault(identity, []).append(index)
        if named:
            identities.setdefault(named[1], {}).setdefault(identity, item)
        if named and item.found.moodle_name and not _same_person(named[0], item.found.moodle_name):
            items[index] = replace(item, flags=(*item.flags, "moodle-mismatch"), notes=(
                *item.notes, f"The file name names {named[0]} ({named[1]}), but the zip was handed in by the Moodle "
                f"participant {item.found.moodle_name} ({item.found.participant_id}); it is graded for that "
                "participant."))
        if item.found.claimed:
            item = items[index]
            items[index] = replace(item, flags=tuple(dict.fromkeys((*item.flags, "moodle-mismatch"))), notes=(
                *item.notes, f"This zip was found at {item.found.source}, inside the submission of the Moodle "
                f"participant {item.found.moodle_name} ({item.found.participant_id}), in a folder named like another "
                f"participant ({', '.join(item.found.claimed)}); what a submission holds never decides whose it is, "
                "so it is graded for the participant who handed it in."))
    for members in groups.values():
        if len(members) < 2:
            continue
        latest = max(members, key=lambda i: (items[i].found.mtime, items[i].found.name, items[i].found.source))
        for i in members:
            others = ", ".join(items[j].found.name or items[j].slot for j in members if j != i)
            if i == latest:
                note = f"{len(members)} zips were handed in; this one, the latest, counts (the others: {others})."
                items[i] = replace(items[i], flags=(*items[i].flags, "duplicates"), notes=(*items[i].notes, note))
            else:
                note = (f"Superseded by {items[latest].found.name}, handed in later by the same student; only that "
                        "one counts.")
                items[i] = replace(items[i], counts=False, flags=(*items[i].flags, "superseded"),
                                   notes=(*items[i].notes, note))
    for index, item in enumerate(items):
        named = student(item) if item.key else None
        holders = identities.get(named[1], {}) if named else {}
        if named and len(holders) > 1:
            who = ", ".join(_who(other) for other in holders.values())
            items[index] = replace(item, flags=(*item.flags, "matriculation-shared"), notes=(
                *item.notes, f"The matriculation number {named[1]} is on the zips of {len(holders)} different "
                f"students ({who}): each is graded as a student of their own, none supersedes another, and an "
                "override must name the participant id or the folder, not this number."))
    return items


def _who(item: Item) -> str:
    """A submission as a TA finds it: its zip's name and, with Moodle, the participant."""
    if item.found.participant_id:
        return f"{item.found.name} of participant {item.found.participant_id} ({item.found.moodle_name})"
    return item.found.name


def shared_matriculations(items: list[Item], digits: tuple[int, ...]) -> dict[str, list[Item]]:
    """Matriculation numbers that several students' zips carry (flagged by `plan`), with those zips."""
    from grader.intake import parse_name

    shared: dict[str, list[Item]] = {}
    for item in items:
        if "matriculation-shared" in item.flags:
            with contextlib.suppress(SubmissionRejected):
                shared.setdefault(parse_name(item.found.name, digits).matriculation, []).append(item)
    return shared


def _override_keys(item: Item) -> str:
    """How an overrides row can name this submission alone."""
    pid = item.found.participant_id
    return f"{item.slot} (participant id {pid}, {item.found.moodle_name})" if pid else item.slot


def identity_notices(items: list[Item], shared: dict[str, list[Item]]) -> list[str]:
    """Sentences for the TA (batch summary, index) on who handed in what where the zips alone would mislead."""
    notices = [f"the matriculation number {m} is on the zips of several students: "
               + "; ".join(_override_keys(i) for i in group)
               + ". Each is graded as a student of their own; overrides must name the folder or participant id."
               for m, group in sorted(shared.items())]
    notices.extend(f"{i.slot}: found at {i.found.source}, inside the submission of participant "
                   f"{i.found.participant_id} ({i.found.moodle_name}), in a folder named like another participant; "
                   f"it is graded for {i.found.participant_id} only." for i in items if i.found.claimed)
    return notices


def _assign_slots(items: list[Item]) -> list[Item]:
    """Unique output folder names: the zip's name; `_<participant id>` or `_<n>` added where two collide."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.slot.casefold()] = counts.get(item.slot.casefold(), 0) + 1
    taken: set[str] = set()
    out = []
    for item in items:
        slot = item.slot
        if counts[slot.casefold()] > 1 or slot.casefold() in RESERVED:
            slot = f"{slot}_{item.found.participant_id}" if item.found.participant_id else f"{slot}_1"
        n = 1
        while slot.casefold() in taken:
            n += 1
            slot = f"{item.slot}_{n}"
        taken.add(slot.casefold())
        out.append(replace(item, slot=slot))
    return out


UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _words(text: str) -> set[str]:
    """Name words, case- and accent-insensitive, with German umlauts also as ae/oe/ue/ss."""
    text = unicodedata.normalize("NFC", text).casefold()
    variants = {text, text.translate(UMLAUTS)}
    words: set[str] = set()
    for variant in variants:
        plain = "".join(c for c in unicodedata.normalize("NFKD", variant) if not unicodedata.combining(c))
        for v in (variant, plain):
            words.update(w for w in v.replace("-", " ").replace("'", " ").replace("\u2019", " ").split() if w)
    return words


def _same_person(surname: str, full_name: str) -> bool:
    """Whether any part of the file name's surname is a word of the Moodle full name."""
    return bool(_words(surname) & _words(full_name))


# --------------------------------------------------------------------------- grading one


class _Children:
    """The running child processes, so that an interrupt can stop them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen[bytes]] = set()
        self.stopping = False

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            if self.stopping:
                _kill_group(proc)
                proc.wait()  # reaped here: an unwaited Popen warns when collected
                raise _Stop()
            self.procs.add(proc)

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.procs.discard(proc)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child and everything it started in its session."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _grade_one(item: Item, settings: Settings, cache: Path, grade: GradeFn | str, timeout_s: float,
               children: _Children) -> str:
    """Grade one submission into OUT/.cache/<key>/ and mark it done; returns graded, crashed or timeout."""
    if children.stopping:
        raise _Stop()
    work = cache / item.key
    shutil.rmtree(work, ignore_errors=True)  # a run killed part way leaves half a folder
    work.mkdir(parents=True)
    job_settings = replace(settings, out_dir=work, seed=item.seed)
    assert item.found.zip_path is not None
    started = time.perf_counter()
    failure: BaseException | None = None
    status = "graded"
    if isinstance(grade, str):
        status, failure = _run_child(item.found.zip_path, job_settings, grade, timeout_s, work, children)
    else:
        try:
            grade(item.found.zip_path, job_settings)
        except tuple(SETUP_ERRORS.values()):
            raise  # the set-up's fault: the batch stops, as with a child (see _run_child)
        except Exception as exc:  # noqa: BLE001 - a grader failure on one submission is that submission's result
            status, failure = "crashed", exc
    return record_result(item, job_settings, cache, status, failure, timeout_s, started)


def record_result(item: Item, job_settings: Settings, cache: Path, status: str, failure: BaseException | None,
                  timeout_s: float, started: float) -> str:
    """Mark what a grading left in OUT/.cache/<key>/ done (a crash verdict when it left no result); returns its status.

    `started` is the ``time.perf_counter()`` at which its grading began.
    """
    from grader.outfiles import write_outputs

    stem = _result_stem(cache / item.key)
    if failure is None and stem is None:
        status, failure = "crashed", _JobFailed("The grading finished without writing results.json.")
    if failure is not None:
        result = _failure_result(item, job_settings, failure, status == "timeout", timeout_s)
        shutil.rmtree(cache / item.key / result.stem, ignore_errors=True)
        write_outputs(result, cache / item.key)
        stem = result.stem
    _write_json(cache / f"{item.key}.json", {
        "key": item.key, "stem": stem, "status": status, "zip_name": item.found.name, "zip_sha256": item.zip_sha256,
        "seed": item.seed, "grader_version": grader.__version__, "seconds": round(time.perf_counter() - started, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return status


SETUP_FAILURE = "ex4-grader set-up failure: "
"""How a child marks, on stderr, the GraderError that ended it."""
SETUP_ERRORS: dict[int, type[GraderError]] = {e.exit_code: e for e in (ConfigError, DataError, SandboxError)}
"""Child exit codes that mean the set-up is broken for every submission, and the error they raise here."""


class _JobFailed(Exception):
    """The child grading one submission died, hung or wrote nothing."""


def child_time_limit(timeout_s: float) -> float:
    """The `grader run` time limit a child gets under the batch's hard `timeout_s`: room left to end, report and exit."""
    return max(timeout_s / 2, timeout_s - max(60.0, 0.15 * timeout_s))


def _run_child(zip_path: Path, settings: Settings, target: str, timeout_s: float, work: Path,
               children: _Children) -> tuple[str, BaseException | None]:
    """Run `python -m grader.batch job` for one zip with a hard time limit.

    The child's temporary files (the student's extracted files, the worker's folder) go to a folder
    this process makes beside `work` and removes when the child has ended, however it ended; the
    sandbox slots it held are swept too (see `sweep_free_slots`): a SIGKILLed child cleans up nothing.
    """
    # The child's own overall limit ends it in a verdict with the checks done so far, before the kill.
    settings = replace(settings, time_limit_s=min(settings.time_limit_s, child_time_limit(timeout_s)))
    settings_file = work / "settings.json"
    _write_json(settings_file, settings_to_json(settings))
    log_path = work / "job.log"
    cmd = [sys.executable, "-m", "grader.batch", "job", target, str(zip_path), str(settings_file)]
    temp = work.parent / f"{work.name}.tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(mode=0o700)
    with open(log_path, "ab") as log, _removed_after(temp):
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "TMPDIR": str(temp)})
        try:
            children.add(proc)
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait()
                return "timeout", _JobFailed(f"Grading took longer than {timeout_s:g} s and was stopped.")
        finally:
            _kill_group(proc)  # leftovers of a finished child (its worker) go too
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            children.discard(proc)
    if children.stopping:
        raise _Stop()
    if code != 0:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        setup = SETUP_ERRORS.get(code)
        if setup is not None and SETUP_FAILURE in text:
            # Every submission would fail alike (a broken sandbox, missing data): stop the batch
            # rather than record hundreds of crash verdicts; nothing is cached for this one.
            message = text.rsplit(SETUP_FAILURE, 1)[1].strip()
            raise setup(f"Grading {zip_path.name} failed: {message}")
        return "crashed", _JobFailed(f"The grading process exited with code {code}.\n{text[-LOG_TAIL:]}")
    return "graded", None


@contextlib.contextmanager
def _removed_after(temp: Path) -> Generator[None, None, None]:
    """Remove a child's temporary folder, and what its sandboxes left on free slots, once the child has ended."""
    from grader.sandbox import sweep_free_slots

    try:
        yield
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        sweep_free_slots()


def _failure_result(item: Item, settings: Settings, exc: BaseException, timed_out: bool,
                    timeout_s: float) -> GradingResult:
    """The crash verdict of a submission whose grading failed, with the student named when the file name allows."""
    from grader.grading import crash_result
    from grader.intake import parse_name

    assert item.found.zip_path is not None
    result = crash_result(item.found.zip_path, settings, exc)
    with contextlib.suppress(SubmissionRejected):
        result = replace(result, student=parse_name(item.found.name, settings.matriculation_digits))
    if timed_out:
        result = replace(result, flags=(*result.flags, "timeout"), notes=(
            *result.notes, f"Grading this submission took longer than the limit of {timeout_s:g} s and was stopped."))
    return replace(result, seed=item.seed)


def _result_stem(work: Path) -> str | None:
    """The folder a grading run wrote its results.json into."""
    found = sorted(p.parent.name for p in work.glob("*/results.json") if not p.parent.name.startswith("."))
    return found[0] if len(found) == 1 else None


def _cached(cache: Path, key: str) -> tuple[GradingResult, str, Path] | None:
    """A finished, readable cached result, its status and folder; None when it must be graded."""
    from grader.report import result_from_json

    try:
        meta = json.loads((cache / f"{key}.json").read_text(encoding="utf-8"))
        folder = cache / key / str(meta["stem"])
        result = result_from_json(json.loads((folder / "results.json").read_text(encoding="utf-8")))
        return result, str(meta["status"]), folder
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _publish(item: Item, cache: Path, out: Path, manual: list[Any], rubric: Any) -> tuple[GradingResult, str]:
    """Copy a cached result into OUT/<slot>/ with the overrides and the batch's flags merged in."""
    from grader.overrides import apply_overrides, matching
    from grader.outfiles import write_outputs

    cached = _cached(cache, item.key)
    if cached is None:
        raise GraderError(f"The cached result of {item.found.source} is missing from {cache}; rerun the batch.")
    raw, status, source = cached
    stem = source.name
    result = apply_overrides(raw, matching(manual, _names(item, raw)))
    result = replace(result, stem=item.slot, flags=tuple(dict.fromkeys((*result.flags, *item.flags))),
                     notes=(*result.notes, *item.notes))
    dest = out / item.slot
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.png"):
        old.unlink()
    for fig in result.figures:
        if fig.name and Path(fig.name).name == fig.name and (source / fig.name).is_file():
            shutil.copyfile(source / fig.name, dest / fig.name)
    write_outputs(result, out)
    log = cache / item.key / ".logs" / f"{stem}.log"
    if log.is_file():
        from grader.outfiles import save_log

        save_log(out, item.slot, log.read_text(encoding="utf-8", errors="replace"))  # control characters escaped
    return result, status


def _names(item: Item, result: GradingResult) -> set[str]:
    """What an overrides row may call this submission: folder, matriculation number, participant id."""
    names = {item.slot}
    # A number several students' zips carry says nothing about whose answer a row means (#15).
    if result.student is not None and "matriculation-shared" not in item.flags:
        names.add(result.student.matriculation)
    if item.found.participant_id:
        names.add(item.found.participant_id)
    return names


def _no_zip_result(item: Item, rubric: Any, out: Path) -> GradingResult:
    """The verdict of a participant who handed in files but no zip."""
    from grader.grading import rejected
    from grader.outfiles import write_outputs

    files = ", ".join(item.found.other_files) or "nothing"
    result = rejected(item.slot, f"no .zip file was handed in (found: {files}). Submissions are one zip named like "
                      "Mustermann-123456.zip.", "no-zip", rubric, flags=item.flags, notes=item.notes)
    write_outputs(result, out)
    return result


def _write_json(path: Path, data: Any) -> None:
    """Strict JSON (no NaN or Infinity, which other readers reject), written atomically."""
    write_atomic(path, (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------- outputs


def _write_outputs(entries: tuple[Entry, ...], out: Path, sheet: Any, manual: list[Any], overrides_path: Path,
                   rubric: Any, notices: list[str] | None = None) -> tuple[dict[str, Path], list[str]]:
    """grades.csv, batch.json, index.html, the question pages, and the Moodle files."""
    from grader import batch_report, moodle, overrides as ov

    outputs: dict[str, Path] = {}
    warnings: list[str] = list(notices or ())
    write_atomic(out / "grades.csv", grades_csv(entries).encode("utf-8"))
    outputs["grades"] = out / "grades.csv"
    _write_json(out / "batch.json", {"grader_version": grader.__version__, "submissions": [{
        "folder": e.item.slot, "zip": e.item.found.name, "source": e.item.found.source,
        "participant_id": e.item.found.participant_id, "moodle_name": e.item.found.moodle_name,
        "counts": e.item.counts, "status": e.status, "key": e.item.key, "seed": e.item.seed,
        "zip_sha256": e.item.zip_sha256, "flags": list(e.result.flags)} for e in entries]})
    rows = [batch_report.IndexRow(e.item.slot, e.result, e.item.found.participant_id, e.item.found.moodle_name,
                                  e.item.counts, e.status) for e in entries]
    for question in rubric.questions.values():
        write_atomic(out / batch_report.question_file(question.id),
                           batch_report.render_question(question, rows).encode("utf-8"))
    write_atomic(out / "index.html", batch_report.render_index(rows, rubric, notices or []).encode("utf-8"))
    outputs["index"] = out / "index.html"
    created = ov.ensure_file(overrides_path)
    outputs["overrides (new, header only)" if created else "overrides"] = overrides_path
    known = set().union(*(_names(e.item, e.result) for e in entries))
    for o in manual:
        if o.student not in known:
            warnings.append(f"{overrides_path}, line {o.line}: no submission is called {o.student!r}")

    # A report that only says "the grader failed" is not sent to the student.
    moodle_entries = [e for e in entries if e.item.counts and e.item.found.participant_id
                      and not {"grader-error", "timeout"} & set(e.result.flags)]
    if moodle_entries:
        names = sheet.participants() if sheet is not None else {}
        zip_entries = [(str(names.get(e.item.found.participant_id, {}).get("full_name") or e.item.found.moodle_name or ""),
                        str(e.item.found.participant_id), out / e.item.slot / "report.html") for e in moodle_entries]
        outputs["feedback zip"] = moodle.write_feedback_zip(out / "moodle" / "feedback-files.zip", zip_entries)
    if sheet is not None:
        missing = []
        for e in entries:
            pid = e.item.found.participant_id
            if not e.item.counts:
                continue
            if not pid:
                warnings.append(f"{e.item.slot}: no Moodle participant id, so it is not in the worksheet")
                continue
            failed = {"grader-error", "timeout"} & set(e.result.flags)
            grade = None if failed else e.result.score
            if not sheet.set(pid, grade, None if failed else moodle.feedback_comment(feedback_lines(e.result))):
                missing.append(pid)
                continue
            top = sheet.max_grade(pid)
            if grade is not None and top is not None and grade > top + 1e-9:
                warnings.append(f"{e.item.slot}: {grade:g} points exceed the worksheet's maximum grade {top:g}; "
                                "Moodle will skip this grade")
            if failed:
                warnings.append(f"{e.item.slot}: the grader failed, its worksheet row was left as it was")
        if missing:
            warnings.append("participants not in the worksheet: " + ", ".join(sorted(missing)))
        if "feedback" not in sheet.columns:
            warnings.append("the worksheet has no Feedback comments column; only grades were filled in")
        outputs["worksheet"] = sheet.write(out / "moodle" / sheet.path.name)
    return outputs, warnings


def feedback_lines(result: GradingResult) -> list[str]:
    """The feedback comment for Moodle, as plain lines: total, tasks, verdict, TA comments, the report."""
    from grader.report import format_points

    lines = [f"Exercise 4: {format_points(result.score)} of {format_points(result.max_score)} points."]
    if result.graded:
        totals = result.task_totals()
        lines.append("; ".join(f"Task {n}: {format_points(totals.get(n, 0.0))}/{format_points(m)}"
                               for n, m in result.task_max.items()))
    lines.append(result.verdict)
    lines.extend(f"{m.id}: {m.comment}" for m in result.manual if m.comment)
    lines.append("Details: the attached report.html.")
    return lines


_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A text cell that a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(_CSV_FORMULA) else text


def grades_csv(entries: tuple[Entry, ...]) -> str:
    """grades.csv: one row per submission, superseded ones included (column `counts`)."""
    from grader.report import format_points

    tasks: list[str] = []
    for e in entries:
        tasks.extend(t for t in e.result.task_max if t not in tasks)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["folder", "surname", "matriculation", "participant_id", "moodle_name", "zip", "counts",
                     *[f"task{t}" for t in tasks], "total", "max", "written_pending", "verdict", "flags", "seed",
                     "status", "report"])
    for e in entries:
        r = e.result
        totals = r.task_totals()
        writer.writerow([
            _cell(e.item.slot), _cell(r.student.surname if r.student else ""),
            r.student.matriculation if r.student else "", e.item.found.participant_id or "",
            _cell(e.item.found.moodle_name or ""), _cell(e.item.found.name), "yes" if e.item.counts else "no",
            *[format_points(totals.get(t, 0.0)) for t in tasks], format_points(r.score), format_points(r.max_score),
            sum(1 for m in r.manual if m.points is None), _cell(r.verdict), " ".join(r.flags), r.seed, e.status,
            _cell(f"{e.item.slot}/report.html")])
    return buffer.getvalue()


# --------------------------------------------------------------------------- the child


def _job(argv: list[str]) -> None:
    """Child process entry: ``job TARGET ZIP SETTINGS_JSON`` grades one zip with TARGET (module:function)."""
    _, target, zip_path, settings_file = argv
    module, _, name = target.partition(":")
    grade = getattr(importlib.import_module(module), name)
    settings = settings_from_json(json.loads(Path(settings_file).read_text(encoding="utf-8")))
    interrupt_on_sigterm()  # a SIGTERMed child still removes its sandbox and temporary files
    try:
        grade(Path(zip_path), settings)
    except KeyboardInterrupt:
        print("Grading was stopped by a signal before it finished.", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except GraderError as exc:
        # The set-up's fault, not this submission's: the parent stops the batch on these codes.
        print(f"{SETUP_FAILURE}{exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    _job(sys.argv[1:])
