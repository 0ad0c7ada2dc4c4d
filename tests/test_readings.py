"""Every accepted reading of a task passes on every seed, not most: the checks run over 20 seeds per reading.

One worker per reading answers all seeds (the checks are called directly with a fresh context per
seed), so this costs seconds per seed instead of a whole grading run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.checks import test_task3_net as test_task3, test_task4
from grader.checks.context import CheckContext, FigureRecorder
from grader.config import DEFAULT, load_rubric
from grader.data import data_root, load_split, sample
from grader.reference import load_reference
from grader.sandbox import Worker, WorkerSpec
from grader.student import CheckFailed, Student
from grader.template import given_helpers
from tests.conftest import REFERENCE, load_cases

pytestmark = pytest.mark.slow
SEEDS = range(20)
ALTERNATIVES = load_cases("alternatives.toml")
SALIENCY = (test_task4.test_saliency_shape_and_scaling, test_task4.test_saliency_matches_reference,
            test_task4.test_saliency_keeps_weights)
NET = (test_task3.test_net_architecture, test_task3.test_net_forward_plain, test_task3.test_net_forward_batchnorm)
# reading: (code appended to the reference, the checks that must pass on every seed, the reading they must name)
READINGS = {
    "saliency divided by its maximum (the reference)": ("", SALIENCY, "divided by its maximum"),
    "saliency min-max scaled per image": (ALTERNATIVES["saliency_min_max_per_image"]["append"], SALIENCY, "min-max scaled"),
    "the template's Net (nn.Identity without normalization)": ("", NET, "nn.Identity()"),
    "the sheet's Net as handed out": (ALTERNATIVES["sheet_net_as_handed_out"]["append"], NET, "the sheet's Net"),
    "Net as nn.Sequential with F.max_pool2d": (ALTERNATIVES["net_sequential_functional_pooling"]["append"], NET,
                                               "F.max_pool2d"),
}


@pytest.fixture(scope="module")
def data():
    root = data_root(None)
    return load_split(root, True), load_split(root, False)


@pytest.mark.parametrize("reading", sorted(READINGS))
def test_each_reading_passes_on_every_seed(reading, tmp_path, data):
    append, checks, named = READINGS[reading]
    module_dir = tmp_path / "submission"
    module_dir.mkdir()
    (module_dir / "exercise4.py").write_text(REFERENCE.read_text(encoding="utf-8") + "\n" + append, encoding="utf-8")
    source, own = given_helpers(DEFAULT.reference_path)
    worker = Worker(WorkerSpec(module_dir, tmp_path / "sandbox", DEFAULT.limits, 2, "cpu",
                               given_source=source, own_names=tuple(own)))
    reference = load_reference(DEFAULT.reference_path)
    rubric = load_rubric(DEFAULT.rubric_path)
    failures: dict[int, str] = {}
    readings: set[str] = set()
    try:
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            train, test = sample(data[0], 5000, rng), sample(data[1], 1017, rng)
            ctx = CheckContext(Student(worker, 120), reference, seed, train, test, "cpu",
                               FigureRecorder(tmp_path / f"figures{seed}"), rubric)
            try:
                for check in checks:
                    ctx.current = check.__name__
                    check(ctx, reference)
                readings.update(ctx.readings.values())
            except CheckFailed as exc:
                failures[seed] = f"{ctx.current}: {exc.message}"
            finally:
                ctx.pool.shutdown(wait=True)
    finally:
        worker.kill()
    assert failures == {}, reading
    assert any(named in text for text in readings), readings
