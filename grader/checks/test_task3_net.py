"""Task 3.2: the Net, checked by the layers it applies and how it learns."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from grader.checks.support import as_param, expect_close, tensor_of
from grader.data import Split
from grader.student import CheckFailed, outcome
from grader.worker import values
from grader.training import ARCH, ARCH_BN, LR, images, part, reference_layers, replay, weights_apart
from grader.worker.models import build_model, layer_states, load_layer_states


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
