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

from grader.checks.rebuild import CannotRebuild, outputs_under_seeds, rebuild
from grader.checks.support import as_param, described_step, expect_close, fmt, nested_kind, tensor_of
from grader.data import Split
from grader.errors import WorkerError
from grader.student import CheckFailed, outcome
from grader.worker import values
from grader.worker.values import Tensor
from grader.training import (ARCH, ARCH_BN, BATCH, EPOCHS, LR, TEST_IMAGES, THRESHOLD, TRAIN_IMAGES, accuracy, images,
                             part, reference_layers, replay, seeded_state, state_dict, weights_apart)
from grader.worker.models import build_model, layer_states, load_layer_states
from grader.worker.probes import IMAGE_BUDGET

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


# ---------------------------------------------------------------- the network (3.2)


def net_inputs(ctx) -> torch.Tensor:
    """The 8 test images the net_structure probe traces the Net on."""
    pick = ctx.rng("net-trace").permutation(len(ctx.test.labels))[:8]
    return images(Split(ctx.test.images[pick], ctx.test.labels[pick]))


def net_probe(ctx) -> dict[str, Any]:
    """The net_structure probe's reply on `net_inputs`."""
    def run() -> dict[str, Any]:
        ctx.student.require("Net")
        return ctx.student.probe("net_structure", "Net()", inputs=net_inputs(ctx))
    return ctx.once("net", run)


# What is the task here and what is a free choice (the sheet and the template differ, both are right):
# - the task: the layers a forward pass applies, in this order, with these sizes; batch norms applied
#   after each convolution exactly when normalization=True; the parameters of the applied layers.
# - free: attribute names (conv1 … or an nn.Sequential), nn.ReLU modules or F.relu, MaxPool2d modules
#   or F.max_pool2d, view or flatten, and whether the batch norms exist without normalization (the
#   sheet's Net constructs them always and skips them; the template uses nn.Identity()).
# The layers' order is observed on a forward pass (hooks on every leaf module), and weights move
# between networks in that order (grader.worker.probes.load_layer_states), never by state_dict name.
CONV1 = ("Conv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": [5, 5], "stride": [1, 1], "padding": [0, 0]})
CONV2 = ("Conv2d", {"in_channels": 6, "out_channels": 16, "kernel_size": [5, 5], "stride": [1, 1], "padding": [0, 0]})
POOL = ("MaxPool2d", {"kernel_size": 2, "stride": 2})
FCS = [("Linear", {"in_features": 400, "out_features": 120}), ("Linear", {"in_features": 120, "out_features": 84}),
       ("Linear", {"in_features": 84, "out_features": 10})]
SEQUENCE_TYPES = ("Conv2d", "BatchNorm2d", "MaxPool2d", "Linear")


def expected_sequence(normalization: bool, pools: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """The layers the exercise's Net applies, in order (pooling left out where it is functional)."""
    bn = lambda n: [("BatchNorm2d", {"num_features": n})] if normalization else []  # noqa: E731
    pool = [POOL] if pools else []
    return [CONV1, *bn(6), *pool, CONV2, *bn(16), *pool, *FCS]


def same_param(got: Any, want: Any) -> bool:
    as_list = lambda v: list(v) if isinstance(v, (list, tuple)) else [v, v]  # noqa: E731
    return got == want or as_list(got) == as_list(want)


def layer_text(kind: str, attrs: dict[str, Any]) -> str:
    shown = {k: v[0] if isinstance(v, list) and len(set(map(str, v))) == 1 else v for k, v in attrs.items()}
    return f"{kind}({', '.join(f'{k}={v}' for k, v in shown.items())})"


def net_reading(got: dict[str, Any], normalization: bool) -> str:
    """Which correct way of writing the Net this is, in words for the feedback."""
    applied = {m["name"] for m in got["executed"]}
    unused_bn = [m["name"] for m in got["modules"] if m["type"] == "BatchNorm2d" and m["name"] not in applied]
    if normalization:
        return "batch norms applied after each convolution"
    if unused_bn:
        return f"batch norms constructed but not applied without normalization ({', '.join(unused_bn)}; the sheet's Net)"
    if any(m["type"] == "Identity" for m in got["executed"]):
        return "nn.Identity() in place of the batch norms (the template's Net)"
    return "no norm layers without normalization"


def follows(inp: np.ndarray, out: np.ndarray) -> str | None:
    """How a layer's input follows from the previous weighted layer's output, or None.

    Between the exercise's weighted layers come only ReLU, max pooling (2, 2) and flattening,
    in any of their orders (ReLU and max pooling commute); a missing ReLU is the forward checks'
    business, not the architecture's.
    """
    o = torch.from_numpy(np.array(out, dtype=np.float32))
    candidates = {"as it is": o, "ReLU": F.relu(o)}
    if o.ndim == 4:
        candidates["max pooling"] = F.max_pool2d(o, 2, 2)
        candidates["ReLU and max pooling"] = F.max_pool2d(F.relu(o), 2, 2)
    for name, c in candidates.items():
        if c.numel() == inp.size and np.allclose(c.reshape(inp.shape).numpy(), inp, atol=1e-5, rtol=1e-4):
            return name
    return None


def recompute(kind: str, state: dict[str, torch.Tensor], inp: np.ndarray) -> torch.Tensor:
    """A weighted layer's output recomputed by the grader from its input and weights (the exercise's settings)."""
    x = torch.from_numpy(np.array(inp, dtype=np.float32))
    if kind == "Conv2d":
        return F.conv2d(x, state["weight"].float(), state.get("bias", torch.zeros(0)).float() if "bias" in state else None)
    if kind == "BatchNorm2d":
        return F.batch_norm(x, None, None, state["weight"].float(), state["bias"].float(), training=True, eps=1e-5)
    return F.linear(x, state["weight"].float(), state["bias"].float() if "bias" in state else None)


def verify_trace(trace: Any, x: torch.Tensor, normalization: bool, what: str) -> None:
    """The architecture, shown by numbers: each weighted layer recomputed from its input and weights, the inputs chained.

    CheckFailed unless the layers in forward order have the reference's types and weight shapes,
    the first layer saw the grader's images, each layer's output is what its weights give on its
    input, and each input follows from the previous output (see `follows`).
    """
    want = [(layer["type"], {k: tuple(v.shape) for k, v in layer["state"].items()})
            for layer in layer_states(build_model(ARCH_BN if normalization else ARCH), torch.zeros(2, 3, 32, 32))]
    if not isinstance(trace, list) or [t.get("type") if isinstance(t, dict) else None for t in trace] != [k for k, _ in want]:
        raise CheckFailed(f"{what}: the weighted layers its forward pass applies should be "
                          f"{[k for k, _ in want]}; the grader saw {reply_types(trace)}.")
    previous: np.ndarray | None = None
    for i, (layer, (kind, shapes)) in enumerate(zip(trace, want)):
        state = layer.get("state")
        if not isinstance(state, dict) or {k: tuple(np.shape(v)) for k, v in state.items()} != shapes:
            raise CheckFailed(f"{what}: layer {i + 1} ({kind}) should hold weights of shapes {shapes}.")
        inp, out = np.asarray(layer.get("input")), np.asarray(layer.get("output"))
        if inp.dtype.kind != "f" or out.dtype.kind != "f":
            raise CheckFailed(f"{what}: the grader could not read layer {i + 1}'s input and output.")
        if previous is None:
            if inp.shape != tuple(x.shape) or not np.allclose(inp, x.numpy(), atol=1e-6):
                raise CheckFailed(f"{what}: its first layer should receive the images given to the Net.")
        elif follows(inp, previous) is None:
            raise CheckFailed(f"{what}: the input of layer {i + 1} ({kind}) should be the previous layer's output "
                              "after ReLU, max pooling (2, 2) or flattening; it is something else.")
        weights = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}
        try:
            expected = recompute(kind, weights, inp).numpy()
        except RuntimeError:
            raise CheckFailed(f"{what}: layer {i + 1} ({kind}) cannot be applied to an input of shape "
                              f"{list(inp.shape)} with the exercise's settings (stride 1, no padding).") from None
        if expected.shape != out.shape or not np.allclose(out, expected, atol=1e-4, rtol=1e-3):
            raise CheckFailed(f"{what}: layer {i + 1} ({kind}) should compute {kind} with stride 1 and no padding "
                              "from its input and weights; its output is something else.")
        previous = out
    shape = () if previous is None else previous.shape
    if tuple(shape) != (len(x), 10):
        raise CheckFailed(f"{what} should map {len(x)} images to shape [{len(x)}, 10], gave {list(shape)}.")


def reply_types(trace: Any) -> list[Any]:
    return [str(t.get("type"))[:40] if isinstance(t, dict) else type(t).__name__ for t in (trace or [])][:20] \
        if isinstance(trace, list) else []


def test_net_architecture(ctx, ref):
    probe = net_probe(ctx)
    x = net_inputs(ctx)
    readings = []
    for normalization in (False, True):
        got = layers_decoded(outcome(probe[f"normalization={normalization}"], f"Net(normalization={normalization})"))
        what = f"Net(normalization={normalization})"
        # What the worker says about the modules (observations) can only take the point away ...
        ran = [(m["type"], m["attrs"]) for m in got["executed"] if m["type"] in SEQUENCE_TYPES]
        pools = any(kind == "MaxPool2d" for kind, _ in ran)
        expected = expected_sequence(normalization, pools)
        matches = len(ran) == len(expected) and all(
            kind == want_kind and all(same_param(attrs.get(a), v) for a, v in want.items())
            for (kind, attrs), (want_kind, want) in zip(ran, expected))
        if not matches:
            raise CheckFailed(f"{what}: a forward pass should apply {', '.join(layer_text(*e) for e in expected)} in this "
                              f"order (ReLUs and flatten aside); it applies "
                              f"{', '.join(layer_text(*r) for r in ran) or 'none of these layers'}.")
        applied = {m["name"] for m in got["executed"]}
        idle = [m for m in got["modules"] if m["parameters"] and m["name"] not in applied]
        # Only the sheet's idle batch norms are a correct reading; any other unused weights are not the exercise's network.
        extra = [m for m in idle if not (m["type"] == "BatchNorm2d" and not normalization)]
        if extra:
            raise CheckFailed(f"{what} constructs layers with weights that its forward pass never applies: "
                              + ", ".join(f"{m['name']} ({m['type']})" for m in extra) + ".")
        # ... the point itself is earned by numbers the grader recomputes: each layer's output from its input.
        verify_trace(got["trace"], x, normalization, what)
        readings.append(f"normalization={normalization}: {net_reading(got, normalization)}"
                        + ("" if pools else "; pooling with F.max_pool2d"))
    ctx.recognise("Recognised: " + "; ".join(readings) + ".")


def layers_decoded(got: dict[str, Any]) -> dict[str, Any]:
    """net_structure's reply with each module's settings decoded."""
    def settings(m: dict[str, Any]) -> dict[str, Any]:
        return {**m, "attrs": {str(a): as_param(values.decode(v)) for a, v in m["attrs"].items()}}
    return {**got, "modules": [settings(m) for m in got["modules"]], "executed": [settings(m) for m in got["executed"]]}


def check_forward(ctx, ref, normalization: bool) -> None:
    ctx.student.require("Net")
    rng = ctx.rng(f"forward{normalization}")
    torch.manual_seed(int(rng.integers(1 << 31)))
    net = ref.Net(normalization=normalization)
    if normalization:
        for bn in (net.norm1, net.norm2):
            bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.3, bn.num_features)).float())
            bn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2, bn.num_features)).float())
            bn.weight.data.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, bn.num_features)).float())
            bn.bias.data.copy_(torch.from_numpy(rng.normal(0, 0.2, bn.num_features)).float())
    net.eval()
    x = images(part(ctx.test, 0, 16))
    with torch.no_grad():
        expected = net(x).numpy()
    what = f"Net(normalization={normalization}) with the reference's weights loaded layer by layer, in eval mode"
    got = outcome(ctx.student.probe("net_forward", what, normalization=normalization, layers=reference_layers(net),
                                    inputs=x), what)
    expect_close(tensor_of(got, what), expected, f"{what}: its outputs for 16 test images", atol=1e-4)


def test_net_forward_plain(ctx, ref):
    check_forward(ctx, ref, False)


def test_net_forward_batchnorm(ctx, ref):
    check_forward(ctx, ref, True)


NET_STEPS, NET_BATCH = 8, 64
"""test_net_learns: Adam steps of the grader's loop on the student's Net, replayed on the reference network."""


def test_net_learns(ctx, ref):
    ctx.student.require("Net")
    rng = ctx.rng("net-steps")
    torch.manual_seed(int(rng.integers(1 << 31)))
    start = build_model(ARCH)
    pick = rng.permutation(len(ctx.train.labels))[:NET_STEPS * NET_BATCH]
    train = Split(ctx.train.images[pick], ctx.train.labels[pick])
    batches = [np.arange(i, i + NET_BATCH) for i in range(0, len(pick), NET_BATCH)]
    what = (f"Your Net with the reference's starting weights loaded, after {NET_STEPS} Adam steps of the grader's loop "
            f"(batches of {NET_BATCH} CIFAR-10 images, lr {LR})")
    got = outcome(ctx.student.probe("net_steps", what, timeout=120, layers=reference_layers(start), train_x=images(train),
                                    train_y=train.labels, batches=batches, lr=LR, device=ctx.device), what)
    ctx.record_timing("grader_trains_net", NET_STEPS * NET_BATCH / max(ctx.student.last_seconds, 1e-3))
    trained = build_model(ARCH)
    try:
        load_layer_states(trained, torch.zeros(2, 3, 32, 32), got["layers"])
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise CheckFailed(f"{what}: its weights should fit the exercise's architecture, but {' '.join(str(exc).split())}.") from None
    replayed = replay(start.state_dict(), train, np.arange(len(pick)), NET_BATCH, zero=True)
    unchanged = [name for (name, have), before in zip(trained.state_dict().items(), start.state_dict().values())
                 if torch.equal(have, before)]
    differ = [name for name in weights_apart(trained.state_dict(), replayed.state_dict(), start.state_dict())
              if name not in unchanged]
    if unchanged:
        raise CheckFailed(f"{what}: every layer should learn, but the weights of {', '.join(unchanged)} (in the reference "
                          "network's names) did not change: no gradient reaches them (detached, or not parameters?).")
    if differ:
        raise CheckFailed(f"{what}: its weights should change as the reference network's do under the same steps; "
                          f"{', '.join(differ)} (in the reference network's names) differ.")


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
