"""The networks both sides build: the reference architecture from a plain layer list, the seeded ResNet18,
and weights moved between networks layer by layer in forward order.

Worker code (it runs in the student's process, so it imports only numpy and torch); the grading
process imports it too, so that what the checks rebuild is what the probes built.
"""

from __future__ import annotations

from typing import Any, Callable


def state_arrays(model: Any) -> dict[str, Any]:
    """A module's state_dict as plain float arrays (buffers included)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


WEIGHTED = ("Conv2d", "BatchNorm2d", "Linear")


def executed_layers(net: Any, example: Any) -> list[tuple[str, Any]]:
    """The leaf modules a forward pass of `example` runs through, in the order they run (eval mode, no grad).

    The order a network applies its layers in is the one thing every correct reading shares: the
    sheet's Net constructs both batch norms and skips them without normalization, the template's
    uses nn.Identity, an nn.Sequential names its layers 0, 1, 2 … Weights move between networks
    by this order, never by state_dict names.
    """

    names = {id(m): n for n, m in net.named_modules()}
    ran: list[tuple[str, Any]] = []
    forward_with_hooks(net, [m for m in net.modules() if not list(m.children())],
                       lambda mod, args, out: ran.append((names.get(id(mod), "?"), mod)), example, training=False)
    return ran


def forward_with_hooks(net: Any, modules: list[Any], hook: Callable[..., None], inputs: Any, training: bool) -> None:
    """One forward pass without gradients in the given mode with `hook` on each of `modules`; the net's mode kept."""
    import torch

    handles = [m.register_forward_hook(hook) for m in modules]
    was_training = net.training
    try:
        net.train(training)
        with torch.no_grad():
            net(inputs)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)


def weighted_layers(net: Any, example: Any) -> list[Any]:
    """The executed Conv2d, BatchNorm2d and Linear modules in forward order, each once."""
    seen: set[int] = set()
    out = []
    for _, m in executed_layers(net, example):
        if type(m).__name__ in WEIGHTED and id(m) not in seen:
            seen.add(id(m))
            out.append(m)
    return out


def layer_states(net: Any, example: Any) -> list[dict[str, Any]]:
    """The executed weighted layers' types and state_dicts as plain arrays, in forward order."""
    return [{"type": type(m).__name__, "state": state_arrays(m)} for m in weighted_layers(net, example)]


def load_layer_states(net: Any, example: Any, layers: list[dict[str, Any]]) -> None:
    """Load weights given in forward order into the executed weighted layers of `net`."""
    import torch

    targets = weighted_layers(net, example)
    got = [type(m).__name__ for m in targets]
    want = [layer["type"] for layer in layers]
    if got != want:
        raise ValueError(f"the layers your Net applies are {got or 'none'}; the exercise's network applies {want}, "
                         "so the reference's weights cannot be loaded into it")
    for m, layer in zip(targets, layers):
        m.load_state_dict({k: torch.as_tensor(v) for k, v in layer["state"].items()}, strict=True)


def build_model(spec: list[list[Any]]) -> Any:
    """A network from a plain layer list; the grader sends its reference architecture this way."""
    import torch.nn as nn

    layers: list[nn.Module] = []
    for kind, *args in spec:
        if kind == "conv":
            layers.append(nn.Conv2d(*args))
        elif kind == "bn":
            layers.append(nn.BatchNorm2d(args[0], momentum=args[1]))
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "maxpool":
            layers.append(nn.MaxPool2d(*args))
        elif kind == "flatten":
            layers.append(nn.Flatten())
        elif kind == "linear":
            layers.append(nn.Linear(*args))
        else:
            raise ValueError(f"unknown layer {kind}")
    return nn.Sequential(*layers)


def seeded_resnet(seed: int) -> Any:
    """torchvision's ResNet18 with weights drawn from `seed`, in eval mode: the one the worker's probes and the checks build."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None).eval()
