"""Task 3: A CNN on CIFAR-10.

The task and what is free, check by check (the Net's is written beside its checks):
- make_transform: ToTensor; with augment a horizontal flip, RandomCrop(32, padding=4) and a
  ColorJitter that changes colours (any non-neutral settings) before it; with normalize
  Normalize(0.5, 0.5) after it. Other steps, their order among the augmentations and the jitter's
  values are free.
- make_loaders: the right split for each loader, the batch size, shuffling only the training
  loader, augmenting only the training data. Dataset class (load_cifar10 or torchvision's CIFAR10)
  and num_workers are free.
- train(): one optimizer step per batch with zeroed gradients, per-epoch accuracies as fractions
  of images, the test pass in eval mode. The loop's shape (tqdm, prints, checkpoints written to the
  working folder, helpers, devices), lists or tensors returned, no_grad or inference_mode are free.
- plot_accuracy / show_augmentations: what the figure shows, not how it is drawn (Figure or
  pyplot, one imshow per image or a make_grid).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from grader.checks.support import fmt, nested_kind
from grader.data import Split
from grader.errors import WorkerError
from grader.student import CheckFailed, outcome
from grader.worker import values
from grader.worker.values import Tensor
from grader.training import (ARCH, ARCH_BN, BATCH, EPOCHS, LR, TEST_IMAGES, THRESHOLD, TRAIN_IMAGES, accuracy,
                             images, part, replay, seeded_state, state_dict, weights_apart)
from grader.worker.models import build_model
from grader.worker.probes import IMAGE_BUDGET


# ---------------------------------------------------------------- train() (3.3)


def run_train(ctx, arch: list, state: dict[str, torch.Tensor], train: Split, test: Split, epochs: int,
              batch: int, lr: float, seed: int, what: str, timeout: float = 120, gpu: bool = False,
              relabel: bool = False) -> dict[str, Any]:
    """The student's train() on the grader's network, data and batch order (chosen here, never reported back).

    With `relabel` the ten classes are renamed by a permutation drawn from the run's seed (the same for
    training and test data): a network trained on the given data learns the new names as well as the
    old, weights trained anywhere else know only the old ones.
    """
    ctx.student.require("train")
    order = ctx.rng(f"order{seed}").permutation(len(train.labels))
    if relabel:
        names = ctx.rng("relabel").permutation(10)
        train, test = Split(train.images, names[train.labels]), Split(test.images, names[test.labels])
    result = ctx.student.probe("student_train", what, timeout=timeout, spec=arch, state=state,
                               train_x=images(train), train_y=train.labels, test_x=images(test), test_y=test.labels,
                               epochs=epochs, batch_size=batch, lr=lr, seed=seed,
                               use_gpu=gpu and ctx.device == "cuda", order=order)
    value = outcome(result, what)
    pair = returned_lists(value, epochs, what)
    return {"train": pair[0], "test": pair[1], "state": result["state"], "order": order, "train_split": train,
            "test_split": test, "images_per_s": epochs * len(train.labels) / max(ctx.student.last_seconds, 1e-3)}


def trained_weights(arch: list, got: dict[str, Any], what: str) -> torch.nn.Module:
    """The network train() left behind, in the grader's own copy of the architecture."""
    model = build_model(arch)
    try:
        model.load_state_dict(state_dict(got["state"]))
    except (RuntimeError, KeyError, TypeError, ValueError):
        raise CheckFailed(f"{what}: the grader could not read the weights of the network after training.") from None
    return model


def returned_lists(encoded: Any, epochs: int, what: str) -> tuple[list[float], list[float]]:
    """train()'s return value as two lists of floats, or CheckFailed saying what it was."""
    value = values.decode(encoded)
    if nested_kind(value) != "list" or len(value) != 2:
        raise CheckFailed(f"{what} should return (train_accuracies, test_accuracies), got {nested_kind(value)} "
                          f"{value.description if isinstance(value, values.Other) else ''}.")
    out = []
    for name, part_ in zip(("training", "test"), value):
        items = list(part_) if nested_kind(part_) == "list" else None
        if isinstance(part_, Tensor):
            items = [float(v) for v in np.ravel(part_.array)]
        if items is None or len(items) != epochs or any(nested_kind(i) not in ("number", "tensor") for i in items):
            raise CheckFailed(f"{what}: the {name} accuracies should be a list of {epochs} numbers (one per epoch), "
                              f"got {fmt(part_)}.")
        numbers = [(float(np.ravel(i.array)[0]) if i.array.size else math.nan) if isinstance(i, Tensor) else float(i)
                   for i in items]
        if any(not 0.0 <= v <= 1.0 for v in numbers):
            raise CheckFailed(f"{what}: accuracies should be fractions in [0, 1], got {numbers} "
                              "(per cent, or divided by the number of batches?).")
        out.append(numbers)
    return out[0], out[1]


def test_train_returns_lists(ctx):
    train, test = part(ctx.train, 0, 64), part(ctx.test, 0, 32)
    state = seeded_state(ARCH, ctx.seed)
    what = "train(model, criterion, optimizer, train_loader, test_loader, num_epochs=3)"
    got = run_train(ctx, ARCH, state, train, test, 3, 16, LR, ctx.seed, what)
    # Lists of the right length in [0, 1] are not yet accuracies: the point needs a train() that trained
    # (its weights are those of 3 epochs of Adam steps on the given batches, replayed here; gradients
    # zeroed or not, which is another check's point) and reports the accuracy the trained weights have
    # (32 test images, 2 full batches: every way of counting agrees here, and this network has no batch
    # norm, so the mode does not matter).
    model = trained_weights(ARCH, got, what)
    if all(torch.equal(model.state_dict()[k].float(), v.float()) for k, v in state.items()):
        raise CheckFailed(f"{what} should train the model, but its weights did not change.")
    if not any(same_weights(model, replay(state, train, got["order"], 16, zero=zero, epochs=3), state)
               for zero in (True, False)):
        raise CheckFailed(f"{what}: the weights after train() should be those of 3 epochs of optimizer steps on the "
                          "training loader's batches; they are not, so the accuracies it returned describe another "
                          "network.")
    acc = accuracy(model, test)
    # One image of slack: batching the same forward pass differently may flip a near-tie.
    if abs(got["test"][-1] - acc) > 1 / len(test.labels) + 1e-9:
        raise CheckFailed(f"{what}: the last epoch's test accuracy should be that of the trained network on the test "
                          f"loader's 32 images, {acc:.4f}; it returned {got['test'][-1]:.4f}.")


def same_weights(a: torch.nn.Module, b: torch.nn.Module, start: dict[str, torch.Tensor]) -> bool:
    """`a`'s weights are `b`'s, the replay from `start`, up to what floats and Adam allow (training.weights_apart)."""
    return not weights_apart(a.state_dict(), b.state_dict(), start)


def batch_accuracies(model: torch.nn.Module, x: torch.Tensor, y: np.ndarray, order: np.ndarray, batch: int,
                     train_mode: bool) -> tuple[float, float]:
    """Accuracy over images and mean of per-batch accuracies, in the given mode."""
    model.train(train_mode)
    hits, per_batch = 0, []
    with torch.no_grad():
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            correct = (model(x[idx]).argmax(1).numpy() == y[idx])
            hits += int(correct.sum())
            per_batch.append(float(correct.mean()))
    return hits / len(order), float(np.mean(per_batch))


def frozen_run(ctx) -> dict[str, Any]:
    """train() on a network that does not learn (lr 0) whose batch norms make eval and train mode disagree.

    Every way of counting the test accuracy then gives a different number, and the grader
    knows each: over images or batches, in eval or training mode.
    """
    return ctx.once("frozen", lambda: compute_frozen_run(ctx))


def compute_frozen_run(ctx) -> dict[str, Any]:
    # 500 test images in batches of 16: the last batch holds 4, so per-batch means differ from per-image counts.
    train, test = part(ctx.train, 0, 200), part(ctx.test, 0, 500)
    x_test = images(test)
    for attempt in range(20):
        rng = ctx.rng(f"frozen{attempt}")
        torch.manual_seed(int(rng.integers(1 << 31)))
        model = build_model(ARCH_BN)
        for bn in (model[1], model[5]):
            bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5, bn.num_features)).float())
            bn.running_var.copy_(torch.from_numpy(rng.uniform(0.2, 3, bn.num_features)).float())
        order = np.arange(len(test.labels))
        variants = {
            "eval-images": batch_accuracies(model, x_test, test.labels, order, 16, False)[0],
            "eval-batches": batch_accuracies(model, x_test, test.labels, order, 16, False)[1],
            "train-images": batch_accuracies(model, x_test, test.labels, order, 16, True)[0],
            "train-batches": batch_accuracies(model, x_test, test.labels, order, 16, True)[1],
        }
        spread = sorted(variants.values())
        if min(b - a for a, b in zip(spread, spread[1:])) > 1e-4:
            break
    what = "train() with the test loader's accuracy measured on a fixed network"
    got = run_train(ctx, ARCH_BN, model.state_dict(), train, test, 1, 16, 0.0, ctx.seed, what)
    return {"variants": variants, "got": got["test"][0]}


def images_run(ctx) -> dict[str, Any]:
    """train() with lr 0 on 200 training images in batches of 16: the last batch holds 8."""
    return ctx.once("images", lambda: compute_images_run(ctx))


def compute_images_run(ctx) -> dict[str, Any]:
    train, test = part(ctx.train, 0, 200), part(ctx.test, 0, 40)
    state = seeded_state(ARCH, ctx.seed + 1)
    what = "train() with the training accuracy measured on a fixed network"
    got = run_train(ctx, ARCH, state, train, test, 1, 16, 0.0, ctx.seed + 1, what)
    model = build_model(ARCH)
    model.load_state_dict(state)
    order = got["order"]
    over_images, over_batches = batch_accuracies(model, images(train), train.labels, order, 16, False)
    return {"got": got["train"][0], "images": over_images, "batches": over_batches}


def test_train_counts_images(ctx):
    run = images_run(ctx)
    if abs(run["got"] - run["images"]) > 1e-6:
        hint = " That is the mean of the per-batch accuracies; divide the correct predictions by the number of images." \
            if abs(run["got"] - run["batches"]) < 1e-6 else ""
        raise CheckFailed(f"train()'s training accuracy for 200 images in batches of 16 (the last batch holds 8): "
                          f"expected {run['images']:.6f} (correct images / images), got {run['got']:.6f}.{hint}")
    frozen = frozen_run(ctx)
    v, got = frozen["variants"], frozen["got"]
    if abs(got - v["eval-batches"]) < 1e-6 or abs(got - v["train-batches"]) < 1e-6:
        raise CheckFailed(f"train()'s test accuracy on 500 test images in batches of 16: expected "
                          f"correct images / images ({v['eval-images']:.6f}), got the mean of per-batch accuracies ({got:.6f}).")


def test_train_tests_in_eval_mode(ctx):
    frozen = frozen_run(ctx)
    v, got = frozen["variants"], frozen["got"]
    if abs(got - v["eval-images"]) < 1e-6 or abs(got - v["eval-batches"]) < 1e-6:
        return
    if abs(got - v["train-images"]) < 1e-6 or abs(got - v["train-batches"]) < 1e-6:
        raise CheckFailed(f"train() should measure test accuracy in eval mode (model.eval()): expected "
                          f"{v['eval-images']:.6f}, got {got:.6f}, which is what training mode gives with batch norm.")
    raise CheckFailed(f"train()'s test accuracy of a network that does not change (lr 0) should be "
                      f"{v['eval-images']:.6f} (eval mode, over the test loader's images), got {got:.6f}.")


def test_train_zeroes_gradients(ctx):
    train, test = part(ctx.train, 0, 96), part(ctx.test, 0, 16)
    state = seeded_state(ARCH, ctx.seed + 2)
    what = "train() for one epoch of 6 batches"
    got = run_train(ctx, ARCH, state, train, test, 1, 16, LR, ctx.seed + 2, what)
    model = trained_weights(ARCH, got, what)
    if same_weights(model, replay(state, train, got["order"], 16, zero=True), state):
        return
    if same_weights(model, replay(state, train, got["order"], 16, zero=False), state):
        raise CheckFailed(f"{what}: gradients should be zeroed before each backward pass (optimizer.zero_grad()), "
                          "but the weights after training show them accumulating across batches.")
    raise CheckFailed(f"{what}: expected the weights of one Adam step per batch (zero_grad, forward, "
                      "cross-entropy loss, backward, step); the weights after training differ.")


def accuracy_what(ctx) -> str:
    return (f"train() on the reference network ({EPOCHS} epochs over {len(part(ctx.train, 0, TRAIN_IMAGES).labels)} "
            f"CIFAR-10 images, Adam lr {LR}, batch {BATCH})")


def accuracy_run(ctx) -> tuple[dict[str, Any], float]:
    """The grader's short training run of the student's train() and the trained network's test accuracy.

    Shared by the accuracy check and the accuracy plot, computed once (a failure too: the run is long).
    """
    def run() -> tuple[dict[str, Any], float]:
        train, test = part(ctx.train, 0, TRAIN_IMAGES), part(ctx.test, 0, TEST_IMAGES)
        got = run_train(ctx, ARCH, seeded_state(ARCH, ctx.seed + 3), train, test, EPOCHS, BATCH, LR, ctx.seed + 3,
                        accuracy_what(ctx), timeout=240, gpu=True, relabel=True)
        acc = accuracy(trained_weights(ARCH, got, accuracy_what(ctx)), got["test_split"])
        ctx.record_timing("student_train", got["images_per_s"])
        return got, acc
    return ctx.once("accuracy_run", run, keep_failure=True)


def test_train_reaches_accuracy(ctx):
    what = accuracy_what(ctx)
    got, acc = accuracy_run(ctx)
    if acc < THRESHOLD:
        raise CheckFailed(f"{what}: expected the trained network to reach at least {THRESHOLD:.2f} test accuracy "
                          f"(the reference's loop reaches about 0.40), got {acc:.3f}. (The grader renames the ten "
                          "classes for this run, the same way in the training and test data; only weights trained on "
                          "the given data know the new names.)")
    if abs(got["test"][-1] - acc) > 0.02:
        raise CheckFailed(f"{what}: the reported test accuracy of the last epoch should be the trained network's, "
                          f"{acc:.3f} on the same test images; it reported {got['test'][-1]:.3f}.")


# ---------------------------------------------------------------- plots (3.3, 3.4)


MAX_AXES, MAX_LINES = 64, 50
"""What of a figure the checks look at: a figure's reply may hold more, its count is never the loop's bound."""


def test_plot_accuracy(ctx):
    ctx.student.require("plot_accuracy")
    rng = ctx.rng("plot")
    runs = {name: ([float(v) for v in np.round(rng.uniform(0.1, 0.9, 5), 3)],
                   [float(v) for v in np.round(rng.uniform(0.1, 0.9, 5), 3)]) for name in ("plain", "augmented")}
    what = "plot_accuracy(runs)"
    fig = outcome(ctx.student.probe("accuracy_figure", what, runs=runs), what)
    if not fig["is_figure"]:
        raise CheckFailed(f"{what} should return a matplotlib Figure, returned {fig['type']}.")
    try:
        trained: tuple[dict[str, Any], float] | None = accuracy_run(ctx)
    except (CheckFailed, WorkerError):
        trained = None  # the training check says why; the report shows the plot of the grader's curves
    if trained is not None:
        real = ctx.student.probe("accuracy_figure", what, runs={"your train()": (trained[0]["train"], trained[0]["test"])})
        if real.get("ok") and real["value"].get("is_figure"):
            ctx.figures.save("accuracy.png", real["value"]["png"], "plot_accuracy() on the accuracies your train() "
                             "returned in the grader's short training run", "3.3")
    else:
        ctx.figures.save("accuracy.png", fig["png"], "plot_accuracy() on the grader's test data", "3.3")
    problems = []
    if fig["show_called"]:
        problems.append("it calls plt.show(); return the figure instead")
    if not any(a["xlabel"].strip() and a["ylabel"].strip() for a in fig["axes"][:MAX_AXES]):
        problems.append("its axes need labels (epoch, accuracy)")
    legends = [t for a in fig["axes"][:MAX_AXES] for t in (a["legend"] or [])[:MAX_LINES]] + \
        [t for lg in fig["figure_legends"][:10] for t in lg[:MAX_LINES]]
    if len(legends) < 4:
        problems.append(f"its legend should name the 4 curves (train and test of 2 runs), it has {legends}")
    curves = [np.asarray(line["y"]) for a in fig["axes"][:MAX_AXES] for line in a["lines"][:MAX_LINES]]
    for name, (tr, te) in runs.items():
        for label, values in (("train", tr), ("test", te)):
            if not any(c.shape == (5,) and np.allclose(c, values, atol=1e-6) for c in curves):
                problems.append(f"no curve shows the {label} accuracies of run {name!r} ({values})")
    if problems:
        raise CheckFailed(f"{what} should return a Figure with labelled axes, a legend and exactly the given curves: "
                          + "; ".join(problems) + ".")


def as_rgb01(array: Any) -> np.ndarray:
    """An image as imshow got it, as (H, W, 3) in [0, 1]: uint8 or [0, 1] values, channels first or last."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] in (3, 4) and a.shape[-1] not in (3, 4):
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[-1] == 4:
        a = a[..., :3]
    return a / 255 if a.size and a.max() > 1.5 else a


def shows(picture: np.ndarray, original: np.ndarray, atol: float = 2e-2) -> bool:
    """Whether an (H, W, 3) picture is the original image or holds it as a tile (a make_grid)."""
    h, w = original.shape[:2]
    if picture.shape == original.shape:
        return bool(np.allclose(picture, original, atol=atol))
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.shape[0] < h or picture.shape[1] < w:
        return False
    corner = np.abs(picture[: picture.shape[0] - h + 1, : picture.shape[1] - w + 1] - original[0, 0]).max(axis=-1)
    for y, x in np.argwhere(corner < atol)[:500]:  # bounded: each candidate costs a comparison of the whole image
        if np.allclose(picture[y:y + h, x:x + w], original, atol=atol):
            return True
    return False


def test_show_augmentations(ctx):
    ctx.student.require("show_augmentations", "make_transform")
    train, test = part(ctx.train, 0, 10), part(ctx.test, 0, 10)
    what = "show_augmentations(dataset, augmented, n=5)"
    fig = outcome(ctx.student.probe("augmentation_figure", what, train_images=train.images, train_labels=train.labels,
                                    test_images=test.images, test_labels=test.labels, n=5), what)
    if not fig["is_figure"]:
        raise CheckFailed(f"{what} should return a matplotlib Figure, returned {fig['type']}.")
    ctx.figures.save("augmentations.png", fig["png"], "show_augmentations(): originals above their augmented versions", "3.4")
    # At most MAX_AXES pictures are searched (ten images need ten axes, or one grid): a reply's count is not the bound.
    pictures = [as_rgb01(a["image"]) for a in fig["axes"][:MAX_AXES] if a.get("image") is not None]
    budget = np.cumsum([p.size for p in pictures])
    pictures = [p for p, used in zip(pictures, budget) if used <= IMAGE_BUDGET]
    # Ten images, or grids of them (torchvision.utils.make_grid): counted by area, not by imshow calls.
    shown = sum(p.shape[0] * p.shape[1] for p in pictures if p.ndim >= 2) / (32 * 32)
    if shown < 10:
        raise CheckFailed(f"{what} should show 5 originals above their 5 augmented versions (10 images of 32 x 32, "
                          f"or grids of them), shows {sum(a['images'] for a in fig['axes'])} image(s) holding "
                          f"{shown:.1f} images' worth of pixels.")
    originals = train.images.astype(np.float64) / 255
    found = sum(any(shows(p, o) for p in pictures) for o in originals)
    if found < 5:
        raise CheckFailed(f"{what} should show 5 images of the data set as they are (above their augmented versions); "
                          f"{found} of the images it shows are images of the data set it was given.")
