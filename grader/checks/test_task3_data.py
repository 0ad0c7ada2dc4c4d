"""Task 3.1 and 3.4: make_transform and make_loaders (the task's free choices: test_task3_train.py's docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from grader.checks.rebuild import CannotRebuild, outputs_under_seeds, rebuild
from grader.checks.support import described_step, expect_close, tensor_of
from grader.data import Split
from grader.student import CheckFailed, outcome
from grader.worker.values import Tensor
from grader.training import images, part


# ---------------------------------------------------------------- transforms (3.1, 3.4)


TRANSFORM_SAMPLES = 12


def transform_image(ctx) -> np.ndarray:
    """The training image (uint8 HWC) the transforms probe applies make_transform's pipelines to."""
    return ctx.train.images[int(ctx.rng("transform-image").integers(len(ctx.train.labels)))]


def transform_probe(ctx) -> dict[str, Any]:
    """The transforms probe's reply on `transform_image`, shared by the transform checks."""
    def run() -> dict[str, Any]:
        ctx.student.require("make_transform")
        return ctx.student.probe("transforms", "make_transform()", image=transform_image(ctx), samples=TRANSFORM_SAMPLES)
    return ctx.once("transforms", run)


def pipeline(ctx, augment: bool, normalize: bool) -> dict[str, Any]:
    result = transform_probe(ctx)[f"augment={augment},normalize={normalize}"]
    p = outcome(result, f"make_transform(augment={augment}, normalize={normalize})")
    return {**p, "steps": [described_step(s) for s in p["steps"]]}


def step_names(p: dict[str, Any]) -> list[str]:
    return [s["type"] for s in p["steps"]]


def output(p: dict[str, Any], i: int, what: str) -> np.ndarray:
    return tensor_of(p["outputs"][i], what)


def test_transform_plain(ctx):
    p = pipeline(ctx, False, False)
    what = "make_transform() (no augmentation, no normalization)"
    expected = images(Split(transform_image(ctx)[None], ctx.train.labels[:1]), normalize=False)[0].numpy()
    expect_close(output(p, 0, what), expected, f"{what} applied to a CIFAR-10 image should equal ToTensor()", atol=1e-6)
    random_steps = [s for s in step_names(p) if s.startswith("Random") or s == "ColorJitter"]
    if random_steps:
        raise CheckFailed(f"{what} should not augment, but holds {', '.join(random_steps)}.")


def test_transform_normalize(ctx):
    p = pipeline(ctx, False, True)
    what = "make_transform(normalize=True)"
    names = step_names(p)
    if "Normalize" not in names or "ToTensor" not in names or names.index("Normalize") < names.index("ToTensor"):
        raise CheckFailed(f"{what}: expected ToTensor() followed by Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), got {names}.")
    plain = images(Split(transform_image(ctx)[None], ctx.train.labels[:1]), normalize=True)[0].numpy()
    expect_close(output(p, 0, what), plain, f"{what} should map each channel to (x - 0.5) / 0.5", atol=1e-5)


def jitter_changes_colours(params: dict) -> bool:
    """Whether a ColorJitter's ranges (None, or [low, high] factors; hue as a shift) can change a pixel."""
    neutral = {"brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "hue": 0.0}
    for name, centre in neutral.items():
        value = params.get(name)
        if isinstance(value, list) and any(isinstance(v, (int, float)) and abs(v - centre) > 1e-9 for v in value):
            return True
    return False


def test_transform_augment(ctx):
    p = pipeline(ctx, True, False)
    what = "make_transform(augment=True)"
    names = step_names(p)
    if "ToTensor" not in names:
        raise CheckFailed(f"{what} should end in ToTensor(); its steps are {names}.")
    before = names[: names.index("ToTensor")]
    problems = []
    for needed in ("RandomHorizontalFlip", "RandomCrop", "ColorJitter"):
        if needed not in before:
            problems.append(f"{needed} before ToTensor()")
    jitter = next((s for s in p["steps"] if s["type"] == "ColorJitter"), None)
    if jitter is not None and not jitter_changes_colours(jitter["params"]):
        problems.append("ColorJitter with settings that change colours, e.g. ColorJitter(brightness=0.2, contrast=0.2) "
                        "(ColorJitter() with no arguments leaves every image as it is)")
    crop = next((s for s in p["steps"] if s["type"] == "RandomCrop"), None)
    if crop is not None:
        size, padding = crop["params"].get("size"), crop["params"].get("padding")
        if size not in ([32, 32], 32) or padding not in (4, [4], [4, 4], [4, 4, 4, 4]):
            problems.append(f"RandomCrop(32, padding=4) (got size {size}, padding {padding})")
    if problems:
        raise CheckFailed(f"{what}: expected {', '.join(problems)}; its steps are {names}.")
    outs = [output(p, i, what) for i in range(len(p["outputs"]))]
    if len(outs) != TRANSFORM_SAMPLES or any(o.shape != (3, 32, 32) for o in outs):
        raise CheckFailed(f"{what} should give 3x32x32 tensors, got {[list(o.shape) for o in outs][:3]}.")
    if all(np.array_equal(outs[0], o) for o in outs[1:]):
        raise CheckFailed(f"{what} should be random, but gave the same tensor for 12 different random seeds.")
    # The steps above are what the worker says the pipeline holds; the point needs them shown by numbers:
    # the grader rebuilds the pipeline from torchvision and applies it to the same image under the same seeds.
    try:
        rebuilt = outputs_under_seeds(rebuild(p), transform_image(ctx), TRANSFORM_SAMPLES)
    except CannotRebuild as exc:
        raise CheckFailed(f"{what}: the grader checks an augmenting pipeline by rebuilding it from torchvision's own "
                          f"transforms and comparing outputs, and it cannot rebuild {exc}. Use torchvision's "
                          "transforms for the augmentation.") from None
    if not all(r.shape == o.shape and np.allclose(r, o, atol=1e-5) for r, o in zip(rebuilt, outs)):
        raise CheckFailed(f"{what}: its outputs under 12 random seeds should be those of its steps {names} applied "
                          "to the image; the grader's rebuild of these steps gives other images.")


# ---------------------------------------------------------------- loaders (3.1, 3.4)

LOADER_TRAIN, LOADER_TEST, LOADER_BATCH = 40, 20, 8


def loader_probe(ctx) -> dict[str, Any]:
    """The loaders probe's reply, shared by the loader checks."""
    def run() -> dict[str, Any]:
        ctx.student.require("make_loaders")
        train, test = part(ctx.train, 0, LOADER_TRAIN), part(ctx.test, 0, LOADER_TEST)
        return ctx.student.probe("loaders", "make_loaders()", train_images=train.images, train_labels=train.labels,
                                 test_images=test.images, test_labels=test.labels, batch_size=LOADER_BATCH)
    return ctx.once("loaders", run)


def loaders(ctx, augment: bool) -> dict[str, Any]:
    key = f"augment={augment},normalize={augment}"
    return outcome(loader_probe(ctx)[key], f"make_loaders(root, batch_size={LOADER_BATCH}, augment={augment}, normalize={augment})")


def test_loaders_split_and_batches(ctx):
    got = loaders(ctx, False)
    test = part(ctx.test, 0, LOADER_TEST)
    expected_sizes = [8, 8, 4]
    first = got["test"][0]
    if first["sizes"] != expected_sizes:
        raise CheckFailed(f"The test loader over {LOADER_TEST} test images with batch_size={LOADER_BATCH} should give "
                          f"batches of {expected_sizes}, gave {first['sizes']}.")
    if not np.array_equal(first["labels"], test.labels) or not np.allclose(first["images"], images(test, False).numpy(), atol=1e-6):
        raise CheckFailed("The test loader should yield the test set's images (train=False), in order and unchanged; "
                          "it yields other images. Is it built from the training set?")
    train_first = got["train"][0]
    if sorted(train_first["labels"].tolist()) != sorted(part(ctx.train, 0, LOADER_TRAIN).labels.tolist()) or \
            max(train_first["sizes"], default=0) != LOADER_BATCH:
        raise CheckFailed(f"The training loader should yield all {LOADER_TRAIN} training images in batches of "
                          f"{LOADER_BATCH}; it gave batches of {train_first['sizes']} with other labels.")


def test_loaders_shuffle(ctx):
    got = loaders(ctx, False)
    train_labels = part(ctx.train, 0, LOADER_TRAIN).labels
    passes = [p["labels"] for p in got["train"]]
    tests = [p["labels"] for p in got["test"]]
    # Shuffling is only worth a point in loaders that yield their data (two empty loaders "do not shuffle").
    if any(sorted(p.tolist()) != sorted(train_labels.tolist()) for p in passes) or not all(len(t) for t in tests):
        raise CheckFailed(f"This point is for a training loader that shuffles and a test loader that does not; first "
                          f"each pass of the training loader should yield all {LOADER_TRAIN} training images and the "
                          f"test loader its images, but they yield {[len(p) for p in passes]} and "
                          f"{[len(t) for t in tests]} images.")
    if all(np.array_equal(p, train_labels) for p in passes):
        raise CheckFailed("The training loader should shuffle (shuffle=True): two passes both gave the images in "
                          "the data set's order.")
    # Compared between passes, not with the test set: a test loader built from the wrong split loses
    # the split check's point, not this one too.
    if not all(np.array_equal(t, tests[0]) for t in tests[1:]):
        raise CheckFailed("The test loader should not shuffle (shuffle=False): its order changed between passes.")


def test_loaders_augment_train_only(ctx):
    got = loaders(ctx, True)
    # The test loader's images compared with the split they come from (the split itself is another check's point).
    test = part(ctx.test, 0, LOADER_TEST)
    if not np.array_equal(got["test"][0]["labels"], test.labels) and \
            np.array_equal(got["test"][0]["labels"], part(ctx.train, 0, LOADER_TRAIN).labels):
        test = part(ctx.train, 0, LOADER_TRAIN)
    expected = images(test, True).numpy()
    got_test = got["test"][0]["images"]
    if got_test.shape != expected.shape or not np.allclose(got_test, expected, atol=1e-5):
        raise CheckFailed("With augment=True, normalize=True the test images should be normalized but never augmented; "
                          "the test loader yields images that differ from Normalize(ToTensor(image)).")
    originals = images(part(ctx.train, 0, LOADER_TRAIN), True).numpy()
    train_images = got["train"][0]["images"]
    # Each yielded image is compared with every original: bounded by the loader's true size, not the reply's.
    if len(train_images) != LOADER_TRAIN:
        raise CheckFailed(f"With augment=True the training loader should yield its {LOADER_TRAIN} images once per "
                          f"pass; it yielded {len(train_images)}.")
    unchanged = sum(any(np.allclose(img, o, atol=1e-5) for o in originals) for img in train_images)
    if unchanged > len(train_images) // 2:
        raise CheckFailed(f"With augment=True the training images should be augmented, but {unchanged} of "
                          f"{len(train_images)} came out exactly as the normalized originals.")
