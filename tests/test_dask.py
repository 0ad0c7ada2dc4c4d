"""Batch grading on a Dask cluster: the same results as the local pool, a lost worker, resumption.

The clusters are `distributed.LocalCluster`s of real worker processes, reached by their address
as a cluster started outside the project would be; the grading is the fake grader
tests/fake_grade.py (``tests.fake_grade:grade_child``) in real child processes on the workers.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader import batch
from grader.batch import Progress, run_batch
from grader.batch import dask as batch_dask
from grader.batch.cache import cached_result, grader_files_hash
from grader.batch.dask import DaskExecutor
from grader.errors import ConfigError, DataError
from tests.helpers import FAKE_CHILD, TERM, WORKSHEETS, make_download, results, settings

distributed = pytest.importorskip("distributed")

# The fake grader's term without the endless loop (a time limit reached in one run and not in
# another would differ): a reference, a mistake, a syntax error, a crashing child, a bad name,
# and two zips of one student.
BATCH = [t for t in TERM if t[1] in ("1001", "1002", "1003", "1004", "1006", "1008")]


@pytest.fixture
def cluster(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two worker processes of one thread each; they inherit the fake grader's PYTHONPATH."""
    (tmp_path / "workertmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "workertmp"))  # the workers' temporary folders
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


def local_and_dask(tmp_path: Path, address: str, target: str = FAKE_CHILD,
                   progress: Any = None) -> tuple[Path, Path, batch.BatchSummary]:
    """The batch graded by the local pool and on the cluster, into two folders."""
    download = make_download(tmp_path / "download", BATCH)
    local, remote = tmp_path / "local", tmp_path / "dask"
    run_batch(download, settings(local, seed=11), workers=2, timeout_s=60, grade=FAKE_CHILD,
              worksheet=WORKSHEETS["en"], scale=False)
    summary = run_batch(download, settings(remote, seed=11), timeout_s=60, grade=target, worksheet=WORKSHEETS["en"], scale=False,
                        executor=DaskExecutor(address), progress=progress)
    return local, remote, summary


def assert_same_outputs(local: Path, remote: Path) -> None:
    assert results(remote) == results(local)
    assert (remote / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert (remote / "moodle" / "worksheet_en.csv").read_bytes() == (local / "moodle" / "worksheet_en.csv").read_bytes()
    for name in ("feedback-files.zip",):
        assert (remote / "moodle" / name).exists()


# --------------------------------------------------------------------------- on a cluster


@pytest.mark.slow
def test_a_cluster_grades_like_the_local_pool(tmp_path, cluster):
    local, remote, summary = local_and_dask(tmp_path, cluster.scheduler_address)
    assert summary.graded_now == len(BATCH) and summary.cached == 0
    assert {e.item.slot: e.status for e in summary.entries}["O'Neil-456789"] == "crashed"
    assert_same_outputs(local, remote)
    assert "exited with code 3" in (remote / ".logs" / "O'Neil-456789.log").read_text()
    # The same cache keys: the local pool's cache is complete for the cluster, and the other way round.
    again = run_batch(tmp_path / "download", settings(local, seed=11), grade=FAKE_CHILD,
                      executor=DaskExecutor(cluster.scheduler_address))
    assert (again.graded_now, again.cached) == (0, len(BATCH))
    assert sorted(p.name for p in (remote / ".cache").glob("*.json")) == \
        sorted(p.name for p in (local / ".cache").glob("*.json"))


def executing(dask_worker: Any) -> int:
    """Tasks a worker is running now (run on the worker by `Client.run`)."""
    return len(dask_worker.state.executing)


@pytest.mark.slow
def test_a_worker_killed_mid_batch(tmp_path, cluster):
    killed: list[str] = []

    def kill_a_busy_worker(p: Progress) -> None:
        if p.done != 1:
            return
        time.sleep(0.3)  # well into a task: its child is grading
        with distributed.Client(cluster.scheduler_address) as client:
            busy = [addr for addr, n in client.run(executing).items() if n]
            assert busy, "no worker was grading when the first result came in"
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(busy[0])

    local, remote, summary = local_and_dask(tmp_path, cluster.scheduler_address, "tests.fake_grade:grade_child_slowly",
                                            kill_a_busy_worker)
    assert killed
    # The killed worker's task never cleaned up its temporary folder: it was lost mid-grading.
    assert list((tmp_path / "workertmp").glob("grader-dask-*"))
    assert summary.graded_now == len(BATCH)
    assert_same_outputs(local, remote)
    markers = [p for p in (remote / ".cache").glob("*.json") if p.name != "batch.json"]
    assert len(markers) == len(BATCH)  # each written once


@pytest.mark.slow
def test_an_interrupted_cluster_batch_resumes(tmp_path, cluster):
    download = make_download(tmp_path / "download", BATCH)
    out = tmp_path / "reports"

    def stop_after_two(p: Progress) -> None:
        if p.done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(download, settings(out, seed=5), grade=FAKE_CHILD, progress=stop_after_two,
                  executor=DaskExecutor(cluster.scheduler_address))
    finished = len(list((out / ".cache").glob("*.json"))) - 1  # batch.json
    assert 2 <= finished < len(BATCH)
    resumed = run_batch(download, settings(out, seed=5), grade=FAKE_CHILD,
                        executor=DaskExecutor(cluster.scheduler_address))
    assert (resumed.graded_now, resumed.cached) == (len(BATCH) - finished, finished)
    again = run_batch(download, settings(out, seed=5), grade=FAKE_CHILD,
                      executor=DaskExecutor(cluster.scheduler_address))
    assert (again.graded_now, again.cached) == (0, len(BATCH))


@pytest.mark.slow
def test_cli_executor_dask_starts_a_local_cluster(tmp_path, fake, monkeypatch):
    from grader.cli import main

    seen: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["executor"])
        return run_batch(*args, **{**kwargs, "grade": FAKE_CHILD})

    monkeypatch.setattr(batch, "run_batch", spy)
    download = make_download(tmp_path / "download", BATCH[:3])
    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["batch", str(download), "--out", str(out), "--executor", "dask",
                                       "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "3 submissions (3 counting): 3 graded now" in result.output
    assert isinstance(seen[0], DaskExecutor) and seen[0].address is None and seen[0].n_workers == 2


# --------------------------------------------------------------------------- without a cluster


def test_the_task_runs_on_plain_data(tmp_path, fake):
    """grade_remote and record_reply by hand: bytes in, bytes and JSON-able values out, the local pool's cache."""
    download = make_download(tmp_path / "download", BATCH[:1])
    zip_path = next(download.rglob("*.zip"))
    local = run_batch(download, settings(tmp_path / "local", seed=3), grade=FAKE_CHILD)
    job = local.entries[0].item
    s = settings(tmp_path / "remote", seed=3)
    payload = batch_dask.task_payload(job, s, FAKE_CHILD, 60, grader_files_hash(s))
    assert payload["zip_bytes"] == zip_path.read_bytes() and "rubric_path" not in payload["settings"]
    reply = batch_dask.grade_remote(payload)
    assert reply["status"] == "graded" and reply["failure"] is None
    assert set(reply["files"]) == {"Mustermann-123456/results.json", "Mustermann-123456/report.html", "job.log"}
    assert all(isinstance(v, bytes) for v in reply["files"].values())
    cache = tmp_path / "remote" / ".cache"
    assert batch_dask.record_reply(job, s, cache, reply, 60) == "graded"
    assert cached_result(cache, job.key) is not None


def test_a_worker_with_another_grader_refuses(tmp_path, fake):
    download = make_download(tmp_path / "download", BATCH[:1])
    summary = run_batch(download, settings(tmp_path / "out", seed=3), grade=FAKE_CHILD)
    s = settings(tmp_path / "remote", seed=3)
    payload = batch_dask.task_payload(summary.entries[0].item, s, FAKE_CHILD, 60, "0" * 64)
    with pytest.raises(ConfigError, match="another grader installed"):
        batch_dask.grade_remote(payload)
    payload = batch_dask.task_payload(summary.entries[0].item, settings(tmp_path / "r", data_dir=tmp_path / "none"),
                                         FAKE_CHILD, 60, grader_files_hash(s))
    with pytest.raises(DataError, match="does not exist on the Dask worker"):
        batch_dask.grade_remote(payload)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", ""])
def test_files_sent_back_stay_in_their_folder(tmp_path, name):
    with pytest.raises(ConfigError, match="outside its folder"):
        batch_dask._inside(tmp_path, name)


def test_gpu_tasks_need_a_gpu_worker():
    class Client:
        def scheduler_info(self) -> dict[str, Any]:
            return {"workers": {"tcp://a:1": {"resources": {}}, "tcp://b:1": {"resources": {"GPU": 0}}}}

    with pytest.raises(ConfigError, match="--resources GPU=1"):
        batch_dask._check_resources(Client(), {"GPU": 1})
    batch_dask._check_resources(Client(), None)


def test_a_callable_grader_cannot_travel(tmp_path, fake):
    download = make_download(tmp_path / "download", BATCH[:1])
    with pytest.raises(ConfigError, match="module:function"):
        run_batch(download, settings(tmp_path / "out"), grade=fake.grade_inproc, executor=DaskExecutor("tcp://x:1"))


@pytest.mark.parametrize("args, message", [
    (["--executor", "local", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --executor dask"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], "--workers"),
])
def test_cli_rejects_contradicting_options(tmp_path, args, message):
    from grader.cli import main

    download = make_download(tmp_path / "download", BATCH[:1])
    result = CliRunner().invoke(main, ["batch", str(download), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output


def test_cli_unreachable_scheduler(tmp_path, monkeypatch):
    from grader.cli import main

    monkeypatch.setattr(batch, "run_batch", functools.partial(run_batch, grade=FAKE_CHILD))
    monkeypatch.setattr(batch_dask, "CONNECT_TIMEOUT", "1s")
    download = make_download(tmp_path / "download", BATCH[:1])
    result = CliRunner().invoke(main, ["batch", str(download), "--out", str(tmp_path / "out"),
                                       "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == ConfigError.exit_code and "Could not reach the Dask scheduler" in result.output


def test_auto_asks_for_a_gpu_on_a_cluster_that_offers_one_and_only_there():
    """`--device auto` is resolved against the cluster's workers, not the submitting machine (#12)."""
    from grader.batch.dask import task_resources

    class Cluster:
        def __init__(self, *resources):
            self.workers = {f"w{i}": {"resources": r} for i, r in enumerate(resources)}

        def scheduler_info(self):
            return {"workers": self.workers}

    gpu, cpu = Cluster({"GPU": 1.0}, {}), Cluster({}, {})
    assert task_resources(None, "auto", gpu) == {"GPU": 1.0}
    assert task_resources(None, "auto", cpu) is None
    assert task_resources(None, "cuda", cpu) == {"GPU": 1.0}  # and _check_resources then says no worker offers it
    assert task_resources(None, "cpu", gpu) is None
    assert task_resources({"MEM": 2.0}, "auto", gpu) == {"MEM": 2.0}
