"""One settings object for the whole grader; the CLI's defaults read from it."""

from __future__ import annotations

import enum

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
RUBRIC_PATH = PACKAGE_DIR / "rubric.toml"
CHECKS_DIR = PACKAGE_DIR / "checks"
REFERENCE_PATH = PROJECT_DIR / "solutions" / "exercise4.py"
SHIPPED_DATA = PROJECT_DIR / "data" / "cifar10-subset.tar.xz"
DATA_CACHE = PROJECT_DIR / "data" / "cache"

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Resource limits of the student's worker process."""

    call_timeout_s: float = 90.0
    """Wall-clock seconds one call into student code may take."""
    total_timeout_s: float = 600.0
    """Wall-clock seconds all calls of one submission may take together."""
    import_timeout_s: float = 60.0
    """Wall-clock seconds importing the student's module (and torch) may take."""
    memory_bytes: int = 6 * GiB
    """Address-space limit of the worker (RLIMIT_AS) on the CPU."""
    file_bytes: int = 64 * MiB
    """Largest file the worker may write (RLIMIT_FSIZE)."""
    max_processes: int = 64
    """Processes and threads the worker's user may hold (RLIMIT_NPROC)."""
    max_message_bytes: int = 256 * MiB
    """Largest reply the grading process reads from the worker (its JSON part is bounded further: `protocol.REPLY_BOUNDS`)."""
    log_bytes: int = 1 * MiB
    """How much of the worker's stdout and stderr is kept for the report."""


@dataclass(frozen=True)
class ZipLimits:
    """What a submission zip may hold (checked before anything is extracted), and what reading its files may cost."""

    max_entries: int = 2000
    max_member_bytes: int = 100 * MiB
    max_total_bytes: int = 300 * MiB
    max_compression_ratio: float = 200.0
    parse_timeout_s: float = 60.0
    """Wall-clock (and CPU) seconds reading one PDF's text or the notebook may take, in its own process."""
    parse_memory_bytes: int = 2 * GiB
    """Address-space limit of that process (RLIMIT_AS)."""


class Device(enum.StrEnum):
    """Where training and the Task 4 checks run: `--device`, resolved once (`resolve_device`) to CPU or CUDA."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


@dataclass(frozen=True)
class Settings:
    """Everything a grading run can be told; defaults are the course's."""

    out_dir: Path = Path("reports")
    """Where each submission's `results.json` and `report.html` go."""
    data_dir: Path | None = None
    """A CIFAR-10 folder (holding `cifar-10-batches-py`); None uses the shipped subset."""
    device: str = Device.AUTO
    """`auto`, `cpu` or `cuda`: where the training and Task 4 checks run."""
    seed: int | None = None
    """Seed of the randomized inputs; None draws one and records it."""
    threads: int = 2
    """Torch threads in each process."""
    matriculation_digits: tuple[int, ...] = (6, 7, 8)
    """Allowed lengths of the matriculation number."""
    limits: Limits = field(default_factory=Limits)
    zip_limits: ZipLimits = field(default_factory=ZipLimits)
    rubric_path: Path = RUBRIC_PATH
    reference_path: Path = REFERENCE_PATH
    only: tuple[str, ...] = ()
    """Run only these checks (by id); empty runs all. The result is then flagged `partial`."""
    time_limit_s: float = 900.0
    """Wall-clock seconds one `grader run` of a submission may take (the reference needs about 15 s);
    checks not started by then are not run, and the result says so (flag `time-limit`)."""

    def with_(self, **changes: Any) -> Settings:
        """A copy with the given fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


DEFAULT = Settings()


def resolve_device(device: str) -> Device:
    """`cpu` or `cuda` for a requested device; `auto` picks cuda when torch sees one."""
    try:
        requested = Device(device)
    except ValueError:
        raise ConfigError(f"--device must be auto, cpu or cuda, not {device!r}.") from None
    if requested is Device.CPU:
        return Device.CPU
    # Without NVIDIA's device nodes there is no CUDA: answer without importing torch (seconds).
    if requested is Device.AUTO and not Path("/dev/nvidiactl").exists():
        return Device.CPU
    import torch

    available = torch.cuda.is_available()
    if requested is Device.CUDA and not available:
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device here.")
    return Device.CUDA if available else Device.CPU


@dataclass(frozen=True)
class RubricCheck:
    """Points of one automatic check, keyed by the check's test function name."""

    id: str
    task: str
    points: float
    title: str


@dataclass(frozen=True)
class RubricQuestion:
    """A written question graded by hand."""

    id: str
    task: str
    points: float
    question: str
    items: tuple[tuple[str, float, str], ...] = ()
    """Default rubric items (id, points, feedback sentence) that `grader review` starts from."""


@dataclass(frozen=True)
class Rubric:
    """The points of the exercise: one file, read once."""

    tasks: dict[str, str]
    """Task number ("1" … "4") to its title."""
    checks: dict[str, RubricCheck]
    questions: dict[str, RubricQuestion]

    def only(self, ids: tuple[str, ...]) -> Rubric:
        """The rubric cut down to the given checks (and no written questions); all of it when ids is empty."""
        if not ids:
            return self
        unknown = sorted(set(ids) - set(self.checks))
        if unknown:
            raise ConfigError(f"No check is called {', '.join(unknown)}; the rubric lists {', '.join(self.checks)}.")
        return Rubric(self.tasks, {k: v for k, v in self.checks.items() if k in ids}, {})

    def task_max(self) -> dict[str, float]:
        """Maximum automatic plus manual points per top-level task."""
        totals = {t: 0.0 for t in self.tasks}
        items: list[RubricCheck | RubricQuestion] = [*self.checks.values(), *self.questions.values()]
        for item in items:
            totals[top_task(item.task)] += item.points
        return totals


def top_task(number: str) -> str:
    """The top-level task of a task number: "3.2" -> "3"."""
    return number.split(".", 1)[0]


def load_rubric(path: Path = RUBRIC_PATH) -> Rubric:
    """Read and validate the rubric file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the rubric {path}: {exc}") from exc
    tasks = {str(k): str(v) for k, v in raw.get("tasks", {}).items()}
    checks: dict[str, RubricCheck] = {}
    for cid, item in raw.get("checks", {}).items():
        checks[cid] = RubricCheck(cid, str(item["task"]), float(item["points"]), str(item["title"]))
    questions: dict[str, RubricQuestion] = {}
    for qid, item in raw.get("questions", {}).items():
        try:
            defaults = tuple((str(i["id"]), float(i["points"]), str(i.get("text", ""))) for i in item.get("items", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"Question {qid!r}: each of its items needs an id, points and text ({exc}).") from exc
        questions[qid] = RubricQuestion(qid, str(item["task"]), float(item["points"]), str(item["question"]), defaults)
    items: list[RubricCheck | RubricQuestion] = [*checks.values(), *questions.values()]
    for item in items:
        if top_task(item.task) not in tasks:
            raise ConfigError(f"Rubric item {item.id!r} names task {item.task}, which the rubric does not list.")
        if item.points < 0:
            raise ConfigError(f"Rubric item {item.id!r} has negative points.")
    return Rubric(tasks, checks, questions)
