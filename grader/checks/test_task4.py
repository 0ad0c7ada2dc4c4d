"""Task 4: Activation and saliency maps.

The task and what is free: resnet_layers picks the four modules by identity; get_activations
returns each module's output for the input, detached, leaving no hook behind and the model as it
was (hooks of any kind, clones or not, any bookkeeping). Saliency: written beside its checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grader import figures
from grader.checks.support import expect_close, tensor_of
from grader.saliency import SALIENCY_ATOL, SALIENCY_RTOL, scaling_readings
from grader.student import CheckFailed, outcome
from grader.worker import values
from grader.worker.models import seeded_resnet
from grader.worker.values import Tensor

LAYERS = {"maxpool": "maxpool", "comp": "layer3.0.downsample.1", "conv2": "layer4.1.conv2", "avgpool": "avgpool"}
SHAPES = {"maxpool": [1, 64, 56, 56], "comp": [1, 256, 14, 14], "conv2": [1, 512, 7, 7], "avgpool": [1, 512, 1, 1]}
LABELS = {243: "bull mastiff", 285: "Egyptian cat"}


def photo(ctx, ref, name: str) -> torch.Tensor:
    """One of the reference's photos as a normalized 1 x 3 x 224 x 224 batch, loaded once."""
    return ctx.once(f"photo:{name}", lambda: ref.load_photo(name))


def test_resnet_layers(ctx):
    ctx.student.require("resnet_layers")
    what = "resnet_layers(model)"
    rng = ctx.rng("resnet-layers")
    x = torch.from_numpy(rng.normal(0, 1, (2, 3, 64, 64)).astype(np.float32))
    got = outcome(ctx.student.probe("resnet_layers", what, seed=ctx.seed, inputs=x), what)
    if not isinstance(got, dict):
        raise CheckFailed(f"{what} should return a dict of the four layers.")
    # The names the worker reports make the feedback; the point is earned by the picked modules'
    # outputs on the grader's random input, which must be those of the exercise's modules.
    model = seeded_resnet(ctx.seed)
    expected: dict[str, np.ndarray] = {}
    hooks = [model.get_submodule(v).register_forward_hook(lambda m, a, o, k=k: expected.update({k: o.numpy().copy()})
                                                           if k not in expected else None)
             for k, v in LAYERS.items()]
    model.train()  # as the probe: batch norms on the batch's statistics
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    wrong = {}
    for key in LAYERS:
        entry = got.get(key)
        name = entry.get("name", "<missing>") if isinstance(entry, dict) else "<missing>"
        out = values.decode(entry.get("output")) if isinstance(entry, dict) else None
        array = out.array if isinstance(out, Tensor) else None
        if not (isinstance(array, np.ndarray) and array.shape == expected[key].shape
                and np.allclose(array, expected[key], atol=1e-4, rtol=1e-3)):
            wrong[key] = name if name != LAYERS[key] else f"{name} (but its output is not that module's)"
    if wrong:
        want = ", ".join(f"{k!r}: model.{v}" for k, v in LAYERS.items())
        picked = ", ".join(f"{k!r}: {v}" for k, v in wrong.items())
        raise CheckFailed(f"{what} should pick {want}; it picked {picked}.")


def reference_activations(ctx, ref) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The reference's activations and the model's output for the photo (what the student's must equal)."""
    model = seeded_resnet(ctx.seed)
    x = photo(ctx, ref, "chelsea")
    layers = {k: model.get_submodule(v) for k, v in LAYERS.items()}
    acts = ref.get_activations(model, x, layers)
    with torch.no_grad():
        return acts, model(x)


def activation_probe(ctx, ref) -> dict[str, Any]:
    """The activations probe's reply on the cat photo, shared by the activation checks."""
    def run() -> dict[str, Any]:
        ctx.student.require("get_activations")
        ctx.in_background("reference_activations", lambda: reference_activations(ctx, ref))
        return ctx.student.probe("activations", "get_activations(model, x, layers)", seed=ctx.seed,
                                 image=photo(ctx, ref, "chelsea"), names=LAYERS)
    return ctx.once("activations", run)


def matching_activations(ctx, ref) -> dict[str, np.ndarray]:
    """The student's activations when they equal the reference's, else CheckFailed saying what differs."""
    result = activation_probe(ctx, ref)
    what = "get_activations(model, x, layers) on a photo of a cat (224 x 224)"
    acts = outcome(result, what)
    expected = ctx.in_background("reference_activations", lambda: reference_activations(ctx, ref)).result()[0]
    got: dict[str, np.ndarray] = {}
    for name, shape in SHAPES.items():
        if name not in acts:
            raise CheckFailed(f"{what} should return the activation of {name!r}; it returned the keys {sorted(acts)}.")
        got[name] = tensor_of(acts[name], f"{what}[{name!r}]")
        expect_close(got[name], expected[name].numpy(), f"{what}[{name!r}] (expected shape {shape})", atol=1e-4, rtol=1e-3)
    return got


def test_activations_match(ctx, ref):
    got = matching_activations(ctx, ref)
    ctx.figures.save("activations.png", figures.activation_grid(got, photo(ctx, ref, "chelsea")[0].numpy()),
                     "Your get_activations(): the first channels of each layer, and their mean over the photo"
                     + figures.RANDOM_WEIGHTS_CAPTION, "4.3")


def test_activations_clean_up(ctx, ref):
    what = "get_activations(model, x, layers)"
    try:
        matching_activations(ctx, ref)
    except CheckFailed as exc:
        # Hygiene is only worth a point in a function that does its job (an empty dict has no hooks to leave).
        raise CheckFailed(f"This point is for a {what} that returns the layers' outputs and cleans up after itself; "
                          f"it does not return them yet. {exc.message}") from None
    result = activation_probe(ctx, ref)
    acts = outcome(result, what)
    problems = []
    if result["hooks_left"]:
        problems.append(f"it should remove its hooks (handle.remove()), but hooks are still registered on "
                        f"{sorted(result['hooks_left'])}")
    attached = [k for k, v in acts.items() if isinstance(values.decode(v), Tensor) and values.decode(v).requires_grad]
    if attached:
        problems.append(f"the activations should be detached, but {attached} still require gradients")
    expected = ctx.in_background("reference_activations", lambda: reference_activations(ctx, ref)).result()[1].numpy()
    if not np.allclose(result["output_after"], expected, atol=1e-4, rtol=1e-3):
        problems.append("the model's output should be unchanged after the call, but it changed")
    if problems:
        raise CheckFailed(f"{what}: " + "; ".join(problems) + ".")


def saliency_probe(ctx, ref) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
    """The saliency probe's reply and the images and labels it was given, shared by the saliency checks."""
    def run() -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
        ctx.student.require("saliency_maps")
        x = torch.cat([photo(ctx, ref, "chelsea"), photo(ctx, ref, "chelsea"), photo(ctx, ref, "coffee") * 0.25])
        y = torch.tensor([243, 285, 285])
        ctx.in_background("reference_saliency", lambda: ref.saliency_maps(x.clone(), y.clone(), seeded_resnet(ctx.seed)))
        result = ctx.student.probe("saliency", "saliency_maps(X, y, model)", seed=ctx.seed, images=x, labels=y)
        return result, x, y
    return ctx.once("saliency", run)


def reference_saliency(ctx, ref, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    return ctx.in_background("reference_saliency", lambda: ref.saliency_maps(x.clone(), y.clone(),
                                                                               seeded_resnet(ctx.seed))).result().numpy()


def student_maps(ctx, ref) -> np.ndarray:
    result, x, y = saliency_probe(ctx, ref)
    what = "saliency_maps(X, y, model) for 3 images of 224 x 224"
    maps = tensor_of(outcome(result, what), what)
    if list(maps.shape) != [3, 224, 224]:
        raise CheckFailed(f"{what} should return shape [3, 224, 224] (N, H, W: the maximum over colour channels), "
                          f"got {list(maps.shape)}.")
    return maps


def rescaled(m: np.ndarray) -> dict[str, np.ndarray]:
    """One student map as returned and rescaled on its own both ways (so a scaling mistake costs only the scaling point)."""
    low, high = float(m.min()), float(m.max())
    return {"as returned": m, "rescaled by its maximum": m / high if high > 0 else m,
            "rescaled min-max": (m - low) / (high - low) if high > low else m}


def matching_saliency(ctx, ref) -> tuple[np.ndarray, str]:
    """The student's maps and the reading recognised when they follow the class score, else CheckFailed.

    The pattern is compared, not the scale: each map is also compared rescaled on its own, so a map
    scaled over the whole batch (or not at all) still follows the class score here and loses only
    the scaling check's point.
    """
    maps = student_maps(ctx, ref)
    _, x, y = saliency_probe(ctx, ref)
    what = "saliency_maps(X, y, model)"
    readings = scaling_readings(reference_saliency(ctx, ref, x, y))
    found = []
    for i in range(2):
        label = int(y[i])
        fits = [(name, how) for name, expected in readings.items() for how, got in rescaled(maps[i]).items()
                if np.allclose(got, expected[i], atol=SALIENCY_ATOL, rtol=SALIENCY_RTOL)]
        if not fits:
            nearest = min(readings, key=lambda n: float(np.abs(maps[i] - readings[n][i]).max()))
            expect_close(maps[i], readings[nearest][i], f"{what} for label {label} ({LABELS[label]}): |d score / d X|, "
                         f"maximum over colour channels, scaled per image (compared with the map {nearest})",
                         atol=SALIENCY_ATOL, rtol=SALIENCY_RTOL)
        found.append(fits[0])
    if np.allclose(maps[0], maps[1], atol=1e-6):
        raise CheckFailed(f"{what} should follow the score of the given class, but gives the same map for labels 243 and 285.")
    reading, how = found[0]
    note = "" if all(h == "as returned" for _, h in found) else " after rescaling each map on its own (its scaling is the scaling check's point)"
    return maps, reading + note


def test_saliency_shape_and_scaling(ctx, ref):
    maps = student_maps(ctx, ref)
    _, x, y = saliency_probe(ctx, ref)
    what = "saliency_maps(X, y, model) for 3 images of 224 x 224"
    expected = reference_saliency(ctx, ref, x, y)
    # Scaling is only worth a point on maps that are this image's saliency (a constant map of ones is "in [0, 1]").
    for i in range(3):
        if maps[i].std() < 1e-6 or np.corrcoef(maps[i].ravel(), expected[i].ravel())[0, 1] < 0.5:
            raise CheckFailed(f"{what}: this point is for scaling saliency maps, but map {i + 1} does not follow "
                              f"|d score / d X| of its image (it is constant or unlike the gradient's pattern).")
    lows, highs = maps.reshape(3, -1).min(axis=1), maps.reshape(3, -1).max(axis=1)
    if lows.min() < -1e-6 or not np.allclose(highs, 1.0, atol=1e-4):
        raise CheckFailed(f"{what}: each image's map should be scaled to [0, 1] on its own (maximum 1 per image); "
                          f"the per-image ranges are {[(round(float(a), 3), round(float(b), 3)) for a, b in zip(lows, highs)]}.")


def test_saliency_matches_reference(ctx, ref):
    maps, reading = matching_saliency(ctx, ref)
    _, x, _ = saliency_probe(ctx, ref)
    ctx.figures.save("saliency.png", figures.saliency_row(x.numpy()[:2], maps[:2], [f"{k} {v}" for k, v in LABELS.items()]),
                     "Your saliency_maps() for the same photo and two labels" + figures.RANDOM_WEIGHTS_CAPTION, "4.5")
    ctx.recognise(f"Recognised: each map {reading}.")


def test_saliency_keeps_weights(ctx, ref):
    result, _, _ = saliency_probe(ctx, ref)
    what = "saliency_maps(X, y, model)"
    try:
        matching_saliency(ctx, ref)
    except CheckFailed as exc:
        raise CheckFailed(f"This point is for a {what} that computes the saliency maps and leaves the weights as they "
                          f"were; it does not compute them yet. {exc.message}") from None
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
