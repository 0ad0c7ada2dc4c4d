"""Benchmark: the exercise's own training loop against the grader's training check, and a whole grading run.

Prints, side by side in one run on the same data (the shipped CIFAR-10 subset or --data):
  - images/s of the exercise's setup (torchvision dataset with ToTensor, DataLoader batch 16,
    2 workers, the reference Net and train(), Adam) on the real images, the same loop on synthetic
    images (torchvision's FakeData: the setup issue 6 measured its 600 images/s on), and the
    grader's two training checks (preloaded tensors, batches by indexing);
  - seconds to grade the bundled reference submission end to end, split into intake, set-up,
    worker start, each task's checks and the report;
  - peak memory of the grading process and of the student's worker.
Never fails on a slow machine: it measures and prints. `python benchmarks/bench.py [--device cuda]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from grader import training as t3
from grader.config import DEFAULT, resolve_device
from grader.data import data_root
from grader.reference import load_reference
from grader.worker import probes
from grader.worker.models import build_model


def exercise_loop(ref, root: Path, epochs: int, device: str) -> float:
    """Training images/s of the exercise's own setup: its make_loaders (torchvision dataset, ToTensor,
    DataLoader batch 16, 2 workers) and its train() with the per-epoch test pass, as students run it."""
    train_loader, test_loader = ref.make_loaders(root, batch_size=16, num_workers=2)
    torch.manual_seed(0)
    net = ref.Net()
    started = time.perf_counter()
    ref.train(net, torch.nn.CrossEntropyLoss(), torch.optim.Adam(net.parameters(), lr=1e-3), train_loader,
              test_loader, num_epochs=epochs, use_gpu=device == "cuda")
    return epochs * len(train_loader.dataset) / (time.perf_counter() - started)


def synthetic_loop(ref, images: int, device: str) -> float:
    """Training images/s of the same loop on torchvision's FakeData (random PIL images, ToTensor),
    the synthetic CIFAR-shaped setup the speed issue quoted; its per-image PIL work costs more."""
    import torchvision
    from torchvision import transforms

    fake = torchvision.datasets.FakeData(images, (3, 32, 32), 10, transform=transforms.ToTensor(), random_offset=0)
    loader = torch.utils.data.DataLoader(fake, batch_size=16, shuffle=True, num_workers=2)
    torch.manual_seed(0)
    net = ref.Net().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        criterion(net(x.to(device)), y.to(device)).backward()
        optimizer.step()
    return images / (time.perf_counter() - started)


LOOP_EPOCHS = 4
"""Epochs of the grader's own loop on the student's Net in the speed figure (test_net_learns runs 8 steps of it)."""


def grader_checks(ref, root: Path, device: str) -> tuple[float, float]:
    """images/s of the grader's loop on the student's Net and of train() on the grader's batches (the checks' probes)."""
    from grader.data import load_split

    split = load_split(root, True)
    train = t3.part(split, 0, t3.TRAIN_IMAGES)
    x, y = t3.images(train), torch.from_numpy(train.labels)
    order = np.random.default_rng(0).permutation(len(y))
    batches = [order[i:i + t3.BATCH] for i in range(0, len(y), t3.BATCH)] * LOOP_EPOCHS
    torch.manual_seed(0)
    layers = t3.reference_layers(build_model(t3.ARCH))
    started = time.perf_counter()
    probes.net_steps(ref, layers, x, y, batches, t3.LR, device)
    loop = LOOP_EPOCHS * len(y) / (time.perf_counter() - started)
    state = t3.seeded_state(t3.ARCH, 0)
    started = time.perf_counter()
    probes.student_train(ref, t3.ARCH, state, x, y, x[:1000], y[:1000], t3.EPOCHS, t3.BATCH, t3.LR, 0,
                         device == "cuda", order)
    return loop, t3.EPOCHS * len(y) / (time.perf_counter() - started)


def whole_submission(device: str, data: Path | None) -> tuple[dict[str, float], float, int]:
    """Grade the bundled reference submission; its timings, automatic points and the worker's peak memory."""
    from grader.grading import grade_submission
    from grader.selftest import build_reference_zip

    with tempfile.TemporaryDirectory() as tmp:
        zip_path = build_reference_zip(Path(tmp))
        settings = replace(DEFAULT, out_dir=Path(tmp) / "reports", device=device, data_dir=data, seed=1)
        result = grade_submission(zip_path, settings)
    # The worker is a child of this process and has been reaped: its peak RSS is here.
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return result.timings, sum(c.points for c in result.checks), worker_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the exercise loop's measurement")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(DEFAULT.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))
    ref = load_reference(DEFAULT.reference_path)
    root = data_root(args.data)

    timings, points, worker_peak = whole_submission(device, args.data)
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("\nwhole reference submission (grader run, all checks):")
    for key in ("intake", "setup", "worker_start", "checks", "task1", "task2", "task3", "task4", "report", "total"):
        if key in timings:
            print(f"  {key:<13} {timings[key]:6.1f} s")
    print(f"  automatic points: {points:g}")

    exercise = exercise_loop(ref, root, args.epochs, device)
    synthetic = synthetic_loop(ref, 5000, device)
    loop, student_train = grader_checks(ref, root, device)
    print("\ntraining throughput (images/s; ratios against the real-data loop, then the synthetic one):")
    print(f"  exercise's own loop on the real images (make_loaders, train(), batch 16, 2 workers): {exercise:7.0f}")
    print(f"  the same loop on synthetic images (FakeData + ToTensor, batch 16, 2 workers):      {synthetic:7.0f}")
    print(f"  grader's loop on the student's Net (batch {t3.BATCH}, preloaded tensors):              {loop:7.0f}"
          f"  ({loop / exercise:.1f}x / {loop / synthetic:.1f}x)")
    print(f"  student's train() on grader batches (batch {t3.BATCH}, preloaded tensors):            {student_train:7.0f}"
          f"  ({student_train / exercise:.1f}x / {student_train / synthetic:.1f}x)")

    print("\npeak memory (RSS) while grading the reference submission:")
    print(f"  grading process: {own_peak / 2**30:.2f} GiB")
    print(f"  student's worker: {worker_peak / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
