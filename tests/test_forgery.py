"""Forgers who have read the grader: what their forged worker replies and offline weights still earn.

Anything the student's process sends is forgeable (its code runs first and can replace the probes,
or speak the protocol itself). So points must rest on numbers the grading process checks itself.
Two forgers, graded on every check:

- `forge_probes.py`, appended to the bare template: every probe replaced by a reply built to pass
  its check, canned where the check's inputs are not needed, echoing the probe's own arguments where
  they are. It may keep only the points whose expected values are simple functions of inputs the
  worker is given (ECHOED: ToTensor and Normalize of the given image, the given images batched back,
  the given curves and images drawn back): reproducing those is about the work of the task itself.
  Every other check must fail it.
- `offline_train.py`, appended to the reference: train() loads weights trained elsewhere and
  reports their accuracies honestly. Every train() check must fail it; the rest of the reference
  still passes (the forgery costs only what it forged).
"""

from __future__ import annotations

import base64
import json
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import training as t3
from grader.config import DEFAULT, Limits
from grader.data import load_split, shipped_root
from grader.grading import grade_submission
from grader.worker.models import build_model
from tests.conftest import REFERENCE, TEMPLATE, build_submission

FORGERY = Path(__file__).parent / "data" / "forgery"
ECHOED = {"test_transform_plain", "test_transform_normalize", "test_loaders_split_and_batches", "test_loaders_shuffle",
          "test_loaders_augment_train_only", "test_plot_accuracy", "test_show_augmentations"}
TRAIN_CHECKS = {"test_train_returns_lists", "test_train_counts_images", "test_train_tests_in_eval_mode",
                "test_train_zeroes_gradients", "test_train_reaches_accuracy"}

pytestmark = pytest.mark.slow


def settings(tmp_path: Path):
    return replace(DEFAULT, out_dir=tmp_path / "reports", seed=5, device="cpu",
                   limits=Limits(call_timeout_s=150, total_timeout_s=500))


def test_forged_probe_replies_earn_nothing_they_could_not_compute(tmp_path: Path) -> None:
    code = TEMPLATE.read_text(encoding="utf-8") + "\n" + (FORGERY / "forge_probes.py").read_text(encoding="utf-8")
    result = grade_submission(build_submission(tmp_path / "Mustermann-123456.zip", code, "exercise4.py", True),
                              settings(tmp_path))
    assert result.graded, result.verdict
    passed = {c.id for c in result.checks if c.status == "passed"}
    # Every probe was really replaced (a forger whose replacement failed proves nothing): the echoes pass.
    assert ECHOED <= passed, {c.id: c.message[:200] for c in result.checks if c.id in ECHOED - passed}
    assert passed == ECHOED, sorted(passed - ECHOED)
    assert sum(c.points for c in result.checks) == sum(c.points for c in result.checks if c.id in ECHOED) == 7


def offline_weights() -> str:
    """Weights of the exercise's network trained by the reference loop on the true labels, as base64 npz."""
    split = load_split(shipped_root(), True)
    train = t3.part(split, 0, t3.TRAIN_IMAGES)
    torch.manual_seed(0)
    model = build_model(t3.ARCH)
    order = np.random.default_rng(0).permutation(len(train.labels))
    model = t3.replay(model.state_dict(), train, order, t3.BATCH, zero=True, epochs=t3.EPOCHS)
    buffer = io.BytesIO()
    np.savez(buffer, **{k: v.numpy() for k, v in model.state_dict().items()})
    return base64.b64encode(buffer.getvalue()).decode()


def test_train_with_offline_weights_earns_no_training_point(tmp_path: Path) -> None:
    forger = (FORGERY / "offline_train.py").read_text(encoding="utf-8").replace("@OFFLINE@", offline_weights())
    code = REFERENCE.read_text(encoding="utf-8") + "\n" + forger
    result = grade_submission(build_submission(tmp_path / "Mustermann-123456.zip", code, "exercise4.py", True),
                              settings(tmp_path))
    failed = {c.id: c.message for c in result.checks if c.status != "passed"}
    assert set(failed) == TRAIN_CHECKS, {k: v[:200] for k, v in failed.items()}
    # The offline weights are good ones: it is the renamed classes that give them away.
    assert "renames the ten classes" in failed["test_train_reaches_accuracy"]


def test_replies_of_the_wrong_shape_fail_their_checks_and_are_flagged(tmp_path: Path) -> None:
    code = TEMPLATE.read_text(encoding="utf-8") + "\n" + (FORGERY / "forge_garbage.py").read_text(encoding="utf-8")
    s = settings(tmp_path)
    result = grade_submission(build_submission(tmp_path / "Mustermann-123456.zip", code, "exercise4.py", True), s)
    assert result.graded, result.verdict
    assert sum(c.points for c in result.checks) == 0
    assert "malformed-reply" in result.flags, result.flags
    # Each check failed on its own (none is "an internal error of the grader"), and the output is strict JSON.
    assert not [c.id for c in result.checks if "internal error" in c.message], [c.message for c in result.checks]
    text = (s.out_dir / "Mustermann-123456" / "results.json").read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda name: pytest.fail(f"results.json holds {name}"))
