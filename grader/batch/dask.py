"""Grading a batch on a Dask distributed cluster: each submission one task, every result written here.

What crosses the network, and why it is safe:

* To a worker: a plain dict with the zip's name and bytes, the settings as JSON, the grading
  function's name and the time limit. A worker needs the installed grader (the same version,
  rubric, reference and hidden checks: checked before each task) and, with ``--data``, the data
  set at the same path; nothing else of the coordinating machine.
* On the worker the zip is written to a temporary folder and graded by the same child process as
  on one machine (``python -m grader.batch job``, killed past the time limit), so a hostile
  submission cannot take the Dask worker down with it.
* Back: a plain dict with the outcome, the failure message and the bytes of the files the
  grading wrote (results.json, report.html, the figures' PNGs, the logs). Nothing a student
  produced is unpickled: the files are written as bytes, results.json is read as JSON.
* This process writes each result into ``OUT/.cache/<key>/`` and its marker last, exactly as
  the local pool does (:func:`grader.batch.cache.record_result`), so the cache, resumption and every
  output are the same. A result is written once per cache key, however often Dask ran its task.

A worker lost mid-task (killed, its node gone): the scheduler runs the task again elsewhere
(Dask's ``distributed.scheduler.allowed-failures``, 3 by default). A submission whose tasks kill
more workers than that gets a ``grader-error`` result like a crashed child (``--force`` retries).
With ``device="cuda"``, or ``"auto"`` on a cluster whose workers offer ``GPU``, each task asks for the worker resource ``GPU: 1``: start GPU workers with
``--resources GPU=1`` (one task per GPU at a time); without such a worker the batch stops.

A worker killed with SIGKILL cannot stop the grading child it started; that child ends at its
own limits (the sandbox's time limits), its result is discarded.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
from collections import deque
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Generator

import grader
from grader.batch.cache import (JobFailed, fresh_work, grader_files_hash, record_result, settings_from_json,
                                settings_to_json, write_json)
from grader.batch.child import Children, GradeFn, run_child
from grader.batch.local import default_workers
from grader.batch.plan import Item
from grader.config import REFERENCE_PATH, RUBRIC_PATH, Device, Settings
from grader.errors import ConfigError, DataError
from grader.outfiles import write_atomic
from grader.batch.status import RunStatus

DEFAULT_WINDOW = 256
"""Tasks sent to the cluster at once: each holds its zip's bytes in the scheduler until it is graded."""
CONNECT_TIMEOUT = "30s"
"""How long to keep trying to reach a scheduler before the batch stops."""
GPU = "GPU"
SKIPPED = frozenset({"settings.json"})
"""Files of the worker's folder not sent back (settings.json names the worker's temporary paths)."""


class DaskExecutor:
    """Grades a batch's jobs as tasks on a Dask cluster: a scheduler's address, a given client, or a LocalCluster."""

    def __init__(self, address: str | None = None, *, n_workers: int | None = None, client: Any = None,
                 window: int = DEFAULT_WINDOW, resources: dict[str, float] | None = None) -> None:
        self.address = address
        self.n_workers = n_workers
        """Workers of the LocalCluster started when neither `address` nor `client` is given."""
        self.client = client
        self.window = max(1, window)
        self.resources = resources
        """Worker resources each task asks for; None: ``{"GPU": 1}`` when the device is cuda, else none."""

    def grade(self, jobs: list[Item], settings: Settings, cache: Path, grade: GradeFn | str,
              timeout_s: float) -> Generator[tuple[Item, str], None, None]:
        """Grade each job on the cluster, write its result into `cache`, and yield it with its outcome."""
        if not isinstance(grade, str):
            raise ConfigError("The Dask executor runs the grading function by its name (module:function), "
                              "not a Python callable.")
        if not jobs:
            return
        distributed = _import_distributed()
        resources = self.resources if self.resources is not None else (
            {GPU: 1.0} if settings.device == Device.CUDA else None)
        client, close = self._connect(distributed, settings, resources)
        futures: dict[Any, Item] = {}
        try:
            resources = task_resources(self.resources, settings.device, client)
            _check_resources(client, resources)
            files_hash = grader_files_hash(settings)
            pending = deque(jobs)
            finished = distributed.as_completed()
            written: set[str] = set()

            def submit_next() -> None:
                job = pending.popleft()
                future = client.submit(grade_remote, task_payload(job, settings, grade, timeout_s, files_hash),
                                       key=f"grade-{job.key[:16]}-{uuid.uuid4().hex[:8]}", pure=False,
                                       resources=resources)
                futures[future] = job
                finished.add(future)

            for _ in range(min(self.window, len(pending))):
                submit_next()
            for future in finished:
                job = futures.pop(future)
                try:
                    reply = future.result()
                except distributed.KilledWorker as exc:
                    reply = _killed_reply(exc)
                future.release()
                if pending:
                    submit_next()
                if job.key in written:
                    continue
                written.add(job.key)
                yield job, record_reply(job, settings, cache, reply, timeout_s)
        except BaseException:
            # Ctrl-C or a failure of the batch: nothing more is started; a task already running on
            # a worker finishes there (its child keeps its time limit) and its result is dropped.
            client.cancel(list(futures))
            raise
        finally:
            close()

    def _connect(self, distributed: Any, settings: Settings,
                 resources: dict[str, float] | None) -> tuple[Any, Callable[[], None]]:
        """A client of the cluster and how to let go of it (a LocalCluster started here is shut down)."""
        if self.client is not None:
            return self.client, lambda: None
        if self.address:
            try:
                client = distributed.Client(self.address, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"Could not reach the Dask scheduler at {self.address}: {exc}") from exc
            return client, client.close
        cluster = distributed.LocalCluster(
            n_workers=self.n_workers or default_workers(settings.threads), threads_per_worker=1,
            processes=True, dashboard_address=None, resources=resources)
        client = distributed.Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError("Grading on Dask needs dask.distributed: pip install 'ex4-grader[dask]'.") from exc
    return distributed


def task_resources(explicit: dict[str, float] | None, device: str, client: Any) -> dict[str, float] | None:
    """The worker resources each task asks for: the given ones, else a GPU for cuda, and for `auto` on a GPU cluster.

    `auto` is resolved where the grading runs: on a cluster whose workers offer GPUs each task asks for
    one (and its worker resolves `auto` to cuda), whatever the machine that submits has.
    """
    if explicit is not None:
        return explicit
    if device == Device.CUDA:
        return {GPU: 1.0}
    workers = client.scheduler_info().get("workers", {})
    if device == Device.AUTO and any(w.get("resources", {}).get(GPU, 0) >= 1 for w in workers.values()):
        return {GPU: 1.0}
    return None


def _check_resources(client: Any, resources: dict[str, float] | None) -> None:
    """Stop before submitting when no connected worker could ever run the tasks (they would wait forever)."""
    if not resources:
        return
    workers = client.scheduler_info().get("workers", {})
    if workers and not any(all(w.get("resources", {}).get(name, 0) >= amount for name, amount in resources.items())
                           for w in workers.values()):
        wanted = " ".join(f"{name}={amount:g}" for name, amount in resources.items())
        raise ConfigError(f"No worker of the Dask cluster offers the resources {wanted}; start GPU workers with "
                          f"`dask worker SCHEDULER --resources {wanted}` or grade with --device cpu.")


def _killed_reply(exc: BaseException) -> dict[str, Any]:
    """The reply of a task whose workers kept dying: a crash of this submission, cached like one."""
    return {"status": RunStatus.CRASHED.value, "seconds": 0.0, "files": {}, "worker": "",
            "failure": f"The Dask workers grading this submission died each time it was tried ({exc})."}


# --------------------------------------------------------------------------- the coordinator's side


def task_payload(job: Item, settings: Settings, grade: str, timeout_s: float, files_hash: str) -> dict[str, Any]:
    """What one task needs, as plain data: the zip's name and bytes, the settings, the grading function's name."""
    assert job.found.zip_path is not None
    data = settings_to_json(replace(settings, seed=job.seed))
    # A worker uses its own installed rubric and reference unless the batch names other files.
    for name, default in (("rubric_path", RUBRIC_PATH), ("reference_path", REFERENCE_PATH)):
        if Path(data[name]) == default:
            del data[name]
    if settings.data_dir is not None:
        data["data_dir"] = os.path.abspath(settings.data_dir)
    return {"zip_name": job.found.zip_path.name, "zip_bytes": job.found.zip_path.read_bytes(), "settings": data,
            "target": grade, "timeout_s": timeout_s, "grader_version": grader.__version__,
            "files_hash": files_hash}


def record_reply(job: Item, settings: Settings, cache: Path, reply: dict[str, Any], timeout_s: float) -> str:
    """Write a task's files into OUT/.cache/<key>/ and mark it done as the local pool would; returns its status."""
    work, job_settings = fresh_work(cache, job, settings)
    write_json(work / "settings.json", settings_to_json(job_settings))
    for name, data in reply["files"].items():
        path = _inside(work, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, bytes(data))
    failure = JobFailed(reply["failure"]) if reply["failure"] is not None else None
    started = time.perf_counter() - float(reply["seconds"])
    return record_result(job, job_settings, cache, str(reply["status"]), failure, timeout_s, started)


def _inside(folder: Path, name: str) -> Path:
    """`folder / name` for a relative path without `..`; anything else is the batch's error, not a file."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise ConfigError(f"A Dask worker sent back a file with a path outside its folder: {name!r}.")
    return folder.joinpath(*parts)


# --------------------------------------------------------------------------- the worker's side


def grade_remote(payload: dict[str, Any]) -> dict[str, Any]:
    """Task body on a Dask worker: grade one zip in a child process in a temporary folder; plain data back."""
    settings = settings_from_json(payload["settings"])
    host = socket.gethostname()
    if payload["grader_version"] != grader.__version__ or payload["files_hash"] != grader_files_hash(settings):
        raise ConfigError(f"The Dask worker on {host} has another grader installed (version {grader.__version__}, "
                          f"or other rubric, reference or hidden checks) than the batch ({payload['grader_version']}).")
    if settings.data_dir is not None and not Path(settings.data_dir).is_dir():
        raise DataError(f"The data folder {settings.data_dir} does not exist on the Dask worker on {host}; "
                        "give --data a path that every worker has.")
    name = str(payload["zip_name"])
    if Path(name).name != name or name in ("", ".", ".."):
        raise ConfigError(f"Not a file name: {name!r}.")
    with tempfile.TemporaryDirectory(prefix="grader-dask-") as tmp:
        zip_path = Path(tmp) / "in" / name
        zip_path.parent.mkdir()
        zip_path.write_bytes(payload["zip_bytes"])
        work = Path(tmp) / "work"
        work.mkdir()
        started = time.perf_counter()
        status, failure = run_child(zip_path, replace(settings, out_dir=work), payload["target"],
                                    float(payload["timeout_s"]), work, Children())
        seconds = time.perf_counter() - started
        files = {path.relative_to(work).as_posix(): path.read_bytes() for path in sorted(work.rglob("*"))
                 if path.is_file() and not path.is_symlink() and path.relative_to(work).as_posix() not in SKIPPED}
    return {"status": status, "failure": None if failure is None else str(failure), "seconds": seconds,
            "files": files, "worker": host}
