"""Task 4: Activation and saliency maps."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchvision

from grader import figures
from grader.checks.support import expect_close, tensor_of
from grader.student import CheckFailed, outcome

LAYERS = {"maxpool": "maxpool", "comp": "layer3.0.downsample.1", "conv2": "layer4.1.conv2", "avgpool": "avgpool"}
SHAPES = {"maxpool": [1, 64, 56, 56], "comp": [1, 256, 14, 14], "conv2": [1, 512, 7, 7], "avgpool": [1, 512, 1, 1]}
LABELS = {243: "bull mastiff", 285: "Egyptian cat"}


def seeded_resnet(seed: int) -> torch.nn.Module:
    """The same seeded ResNet18 the worker builds (grader.worker.probes.seeded_resnet)."""
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None).eval()


def photo(ctx, ref, name: str) -> torch.Tensor:
    key = f"photo:{name}"
    if key not in ctx.cache:
        ctx.cache[key] = ref.load_photo(name)
    return ctx.cache[key]


def test_resnet_layers(ctx):
    ctx.student.require("resnet_layers")
    what = "resnet_layers(model)"
    got = outcome(ctx.student.probe("resnet_layers", what, seed=ctx.seed), what)
    wrong = {k: got.get(k, "<missing>") for k, v in LAYERS.items() if got.get(k) != v}
    if wrong:
        expected = ", ".join(f"{k!r}: model.{v}" for k, v in LAYERS.items())
        picked = ", ".join(f"{k!r}: {v}" for k, v in wrong.items())
        raise CheckFailed(f"{what} should pick {expected}; it picked {picked}.")


def reference_activations(ctx, ref) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The reference's activations and the model's output for the photo (what the student's must equal)."""
    model = seeded_resnet(ctx.seed)
    x = photo(ctx, ref, "chelsea")
    layers = {k: model.get_submodule(v) for k, v in LAYERS.items()}
    acts = ref.get_activations(model, x, layers)
    with torch.no_grad():
        return acts, model(x)


def activation_probe(ctx, ref) -> dict[str, Any]:
    if "activations" not in ctx.cache:
        ctx.student.require("get_activations")
        ctx.in_background("reference_activations", lambda: reference_activations(ctx, ref))
        ctx.cache["activations"] = ctx.student.probe("activations", "get_activations(model, x, layers)", seed=ctx.seed,
                                                     image=photo(ctx, ref, "chelsea"), names=LAYERS)
    return ctx.cache["activations"]


def test_activations_match(ctx, ref):
    result = activation_probe(ctx, ref)
    what = "get_activations(model, x, layers) on a photo of a cat (224 x 224)"
    acts = outcome(result, what)
    x = photo(ctx, ref, "chelsea")
    expected = ctx.in_background("reference_activations", lambda: reference_activations(ctx, ref)).result()[0]
    got: dict[str, np.ndarray] = {}
    for name, shape in SHAPES.items():
        if name not in acts:
            raise CheckFailed(f"{what} should return the activation of {name!r}; it returned the keys {sorted(acts)}.")
        got[name] = tensor_of(acts[name], f"{what}[{name!r}]")
        expect_close(got[name], expected[name].numpy(), f"{what}[{name!r}] (expected shape {shape})", atol=1e-4, rtol=1e-3)
    ctx.figures.save("activations.png", figures.activation_grid(got, x[0].numpy()),
                     "Your get_activations(): the first channels of each layer, and their mean over the photo", "4.3")


def test_activations_clean_up(ctx, ref):
    result = activation_probe(ctx, ref)
    what = "get_activations(model, x, layers)"
    acts = outcome(result, what)
    problems = []
    if result["hooks_left"]:
        problems.append(f"it should remove its hooks (handle.remove()), but hooks are still registered on "
                        f"{sorted(result['hooks_left'])}")
    attached = [k for k, v in acts.items() if v.get("requires_grad")]
    if attached:
        problems.append(f"the activations should be detached, but {attached} still require gradients")
    expected = ctx.in_background("reference_activations", lambda: reference_activations(ctx, ref)).result()[1].numpy()
    if not np.allclose(result["output_after"], expected, atol=1e-4, rtol=1e-3):
        problems.append("the model's output should be unchanged after the call, but it changed")
    if problems:
        raise CheckFailed(f"{what}: " + "; ".join(problems) + ".")


def saliency_probe(ctx, ref) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
    if "saliency" not in ctx.cache:
        ctx.student.require("saliency_maps")
        x = torch.cat([photo(ctx, ref, "chelsea"), photo(ctx, ref, "chelsea"), photo(ctx, ref, "coffee") * 0.25])
        y = torch.tensor([243, 285, 285])
        ctx.in_background("reference_saliency", lambda: ref.saliency_maps(x.clone(), y.clone(), seeded_resnet(ctx.seed)))
        result = ctx.student.probe("saliency", "saliency_maps(X, y, model)", seed=ctx.seed, images=x, labels=y)
        ctx.cache["saliency"] = (result, x, y)
    return ctx.cache["saliency"]


def test_saliency_shape_and_scaling(ctx, ref):
    result, x, y = saliency_probe(ctx, ref)
    what = "saliency_maps(X, y, model) for 3 images of 224 x 224"
    maps = tensor_of(outcome(result, what), what)
    if list(maps.shape) != [3, 224, 224]:
        raise CheckFailed(f"{what} should return shape [3, 224, 224] (N, H, W: the maximum over colour channels), "
                          f"got {list(maps.shape)}.")
    lows, highs = maps.reshape(3, -1).min(axis=1), maps.reshape(3, -1).max(axis=1)
    if lows.min() < -1e-6 or not np.allclose(highs, 1.0, atol=1e-4):
        raise CheckFailed(f"{what}: each image's map should be scaled to [0, 1] on its own (maximum 1 per image); "
                          f"the per-image ranges are {[(round(float(a), 3), round(float(b), 3)) for a, b in zip(lows, highs)]}.")


def test_saliency_matches_reference(ctx, ref):
    result, x, y = saliency_probe(ctx, ref)
    what = "saliency_maps(X, y, model)"
    maps = tensor_of(outcome(result, what), what)
    expected = ctx.in_background("reference_saliency", lambda: ref.saliency_maps(x.clone(), y.clone(),
                                                                                  seeded_resnet(ctx.seed))).result().numpy()
    if maps.shape != expected.shape:
        raise CheckFailed(f"{what}: expected shape {list(expected.shape)}, got {list(maps.shape)}.")
    ctx.figures.save("saliency.png", figures.saliency_row(x.numpy()[:2], maps[:2], [f"{k} {v}" for k, v in LABELS.items()]),
                     "Your saliency_maps() for the same photo and two labels", "4.5")
    for i in range(2):
        label = int(y[i])
        expect_close(maps[i], expected[i], f"{what} for label {label} ({LABELS[label]}): |d score / d X|, maximum over "
                     "colour channels, scaled per image", atol=2e-3, rtol=1e-2)
    if np.allclose(maps[0], maps[1], atol=1e-6):
        raise CheckFailed(f"{what} should follow the score of the given class, but gives the same map for labels 243 and 285.")


def test_saliency_keeps_weights(ctx, ref):
    result, _, _ = saliency_probe(ctx, ref)
    what = "saliency_maps(X, y, model)"
    outcome(result, what)
    model = seeded_resnet(ctx.seed)
    changed = []
    for name, value in model.state_dict().items():
        if not value.is_floating_point():
            continue
        got = result["weights_after"].get(name)
        want = [float(value.double().sum()), float((value.double() ** 2).sum())]
        if got is None or not np.allclose(got, want, rtol=1e-6, atol=1e-6):
            changed.append(name)
    if changed:
        raise CheckFailed(f"{what} should leave the model's weights as they were, but changed "
                          f"{', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}; a saliency map only reads "
                          "gradients with respect to the input.")
