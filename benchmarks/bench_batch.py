"""Benchmark: batch throughput (submissions per minute) of the local pool and of a Dask LocalCluster.

Grades N copies of the bundled reference submission (each under its own name, so each is a
submission of its own) with the same seed, once per configuration, each into a fresh folder:

  - the local pool with 1, 2 and 4 workers (``grader batch --workers K``);
  - a ``distributed.LocalCluster`` of K worker processes, one thread each (``--executor dask``).

Only the checks named by --only run (default: four fast Task 1 checks), so a run finishes in a
few minutes on two cores; the figures then measure the batch machinery (a child process, the
sandboxed worker with torch, the reports) more than the checks. Pass ``--only all`` for the
whole rubric. Never fails on a slow machine: it measures and prints.

    python benchmarks/bench_batch.py [-n 8] [--workers 1 2 4] [--cluster-workers 2] [--only all]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from grader.batch import run_batch
from grader.config import DEFAULT, load_rubric
from grader.selftest import build_reference_zip

FAST_CHECKS = ("test_conv_relu_stride1", "test_hand_computed_stride1", "test_conv_output_size",
               "test_receptive_field_stride1")


def make_batch(folder: Path, n: int) -> Path:
    """N copies of the reference zip, each named for another student."""
    ref = build_reference_zip(folder / "ref")
    batch = folder / "batch"
    batch.mkdir()
    for i in range(n):
        surname = "Bench" + "".join(chr(ord("a") + int(d)) for d in f"{i:03d}")
        shutil.copyfile(ref, batch / f"{surname}-{300000 + i}.zip")
    return batch


def measure(batch: Path, out: Path, only: tuple[str, ...], workers: int, dask: bool) -> tuple[float, int, int]:
    """Seconds for the whole batch, submissions graded, and how many of them got every point."""
    executor = None
    if dask:
        from grader.batch.dask import DaskExecutor

        executor = DaskExecutor(n_workers=workers)
    settings = replace(DEFAULT, out_dir=out, seed=1, only=only)
    started = time.perf_counter()
    summary = run_batch(batch, settings, workers=workers, executor=executor)
    seconds = time.perf_counter() - started
    full = sum(1 for e in summary.entries if e.result.graded and e.result.score == e.result.max_score)
    return seconds, summary.graded_now, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=8, help="submissions in the batch (default 8)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="local pool sizes (default 1 2 4)")
    parser.add_argument("--cluster-workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    parser.add_argument("--only", nargs="+", default=list(FAST_CHECKS),
                        help="checks to run (default: four fast Task 1 checks); 'all' runs the whole rubric")
    args = parser.parse_args()
    only = () if args.only == ["all"] else tuple(args.only)
    load_rubric(DEFAULT.rubric_path).only(only)  # an unknown check name fails now, not per submission

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{DEFAULT.threads} torch threads per grading")
    print(f"batch: {args.n} copies of the reference submission; checks run: "
          + (", ".join(only) + " (Settings.only; the figures measure the batch machinery more than the checks)"
             if only else "all of the rubric"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        batch = make_batch(Path(tmp), args.n)
        configs = [(f"local pool, {k} worker{'s' if k > 1 else ''}", k, False) for k in args.workers]
        configs.append((f"Dask LocalCluster, {args.cluster_workers} workers x 1 thread", args.cluster_workers, True))
        for i, (label, k, dask) in enumerate(configs):
            seconds, graded, full = measure(batch, Path(tmp) / f"out{i}", only, k, dask)
            rows.append((label, graded, seconds, 60 * graded / seconds, full))
            print(f"  done: {label} ({seconds:.1f} s)", flush=True)
    print()
    print(f"{'configuration':<42} {'graded':>6} {'seconds':>8} {'subm/min':>9} {'full marks':>10}")
    for label, graded, seconds, rate, full in rows:
        print(f"{label:<42} {graded:>6} {seconds:>8.1f} {rate:>9.1f} {full:>10}")


if __name__ == "__main__":
    main()
