"""Probes: trusted code run inside the student's process that reports on student objects.

Each probe takes the student's module and plain arguments (tensors arrive as torch tensors)
and returns plain data. Whatever a probe returns is untrusted: the student's code ran in this
process first and may have replaced anything here, this table included. So a point is only
ever earned from numbers the grading process checks itself: outputs on the inputs it chose and
sent, weights it replays with the data and batch order it chose, layer outputs it recomputes.
What a probe reports about the student's objects (their layers, steps, hooks, figure labels)
can only take a point away, never give one.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from typing import Any, Callable

import numpy as np

from . import values
from .models import build_model, executed_layers, forward_with_hooks, layer_states, load_layer_states, \
    seeded_resnet, state_arrays, weighted_layers

PROBES: dict[str, Callable[..., Any]] = {}


def probe(func: Callable[..., Any]) -> Callable[..., Any]:
    PROBES[func.__name__] = func
    return func


def guarded(func: Callable[[], Any]) -> dict[str, Any]:
    """Run a piece of student code; its failure becomes data instead of ending the probe."""
    try:
        return {"ok": True, "value": func()}
    except BaseException as exc:  # noqa: BLE001
        return {"ok": False, "error": values.describe_failure(exc)}


# ---------------------------------------------------------------- Task 1 and 2


@probe
def call_many(module: Any, name: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Call one student function on many argument sets; each result or error separately."""
    func = getattr(module, name)
    out = []
    for case in cases:
        result = guarded(lambda: func(*case.get("args", []), **case.get("kwargs", {})))
        if result["ok"]:
            result["value"] = values.encode(result["value"])
        out.append(result)
    return out


@probe
def constant(module: Any, name: str) -> Any:
    """A module-level constant, encoded."""
    if not hasattr(module, name):
        return {"present": False}
    return {"present": True, "value": values.encode(getattr(module, name))}


# ---------------------------------------------------------------- Task 3: transforms and loaders


def transform_family(cls: type) -> str:
    """Which torchvision namespace a transform class comes from ("v1", "v2"), else its module."""
    module = cls.__module__
    if module.startswith("torchvision.transforms.v2"):
        return "v2"
    if module.startswith("torchvision.transforms"):
        return "v1"
    return module[:100]


def describe_step(step: Any, depth: int = 0) -> dict[str, Any]:
    """One transform: its class, namespace and every public attribute, encoded (nested transforms described in turn)."""
    params: dict[str, Any] = {}
    inner: list[dict[str, Any]] | None = None
    attrs = vars(step) if hasattr(step, "__dict__") else {}
    for name, value in list(attrs.items())[:40]:
        if name.startswith("_") or name == "training":
            continue
        if name == "transforms" and isinstance(value, (list, tuple)) and depth < 3:
            inner = [describe_step(s, depth + 1) for s in list(value)[:20]]
        else:
            params[name[:100]] = values.encode(value)
    return {"type": type(step).__name__[:100], "family": transform_family(type(step)), "params": params,
            **({"steps": inner} if inner is not None else {})}


def describe_transform(t: Any) -> list[dict[str, Any]]:
    """The steps of a transform pipeline, each with everything the grader needs to rebuild it."""
    steps = getattr(t, "transforms", None)
    if not isinstance(steps, (list, tuple)):
        steps = [t]
    return [describe_step(step) for step in list(steps)[:50]]


@probe
def transforms(module: Any, image: Any, samples: int) -> dict[str, Any]:
    """Each of make_transform's four pipelines: its steps, and its outputs on one image under fixed seeds."""
    import torch
    from PIL import Image

    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    out: dict[str, Any] = {}
    for augment in (False, True):
        for normalize in (False, True):
            key = f"augment={augment},normalize={normalize}"

            def run() -> dict[str, Any]:
                t = module.make_transform(augment=augment, normalize=normalize)
                outputs = []
                for seed in range(samples):
                    torch.manual_seed(seed)
                    outputs.append(values.encode(t(pil.copy())))
                return {"steps": describe_transform(t), "type": type(t).__name__, "family": transform_family(type(t)),
                        "outputs": outputs}

            out[key] = guarded(run)
    return out


def write_cifar(root: str, train: tuple[Any, Any], test: tuple[Any, Any]) -> None:
    """A CIFAR-10 folder in the original on-disk format holding the given images."""
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    # CIFAR-10 stores each image as its red, green and blue planes one after the other.
    images, labels = np.asarray(train[0]).transpose(0, 3, 1, 2), train[1]
    parts = np.array_split(np.arange(len(labels)), 5)
    for i, idx in enumerate(parts, start=1):
        batch = {"data": np.asarray(images)[idx].reshape(len(idx), -1), "labels": [int(v) for v in np.asarray(labels)[idx]],
                 "batch_label": f"training batch {i} of 5", "filenames": [f"img{j}.png" for j in idx]}
        with open(os.path.join(folder, f"data_batch_{i}"), "wb") as fh:
            pickle.dump(batch, fh)
    images, labels = np.asarray(test[0]).transpose(0, 3, 1, 2), test[1]
    batch = {"data": np.asarray(images).reshape(len(labels), -1), "labels": [int(v) for v in np.asarray(labels)],
             "batch_label": "testing batch 1 of 1", "filenames": [f"t{j}.png" for j in range(len(labels))]}
    with open(os.path.join(folder, "test_batch"), "wb") as fh:
        pickle.dump(batch, fh)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": 10000, "num_vis": 3072}
    with open(os.path.join(folder, "batches.meta"), "wb") as fh:
        pickle.dump(meta, fh)


def allow_small_cifar() -> None:
    """Let torchvision's CIFAR10 read our small folder: its md5 check knows only the full files."""
    import torchvision
    import torchvision.datasets.cifar

    torchvision.datasets.CIFAR10._check_integrity = lambda self: True  # type: ignore[method-assign]
    torchvision.datasets.cifar.check_integrity = lambda *args, **kwargs: True  # type: ignore[assignment]


def drain(loader: Any, limit: int = 10_000) -> dict[str, Any]:
    """All batches of a loader: their sizes, labels and images."""
    import torch

    sizes, labels, images = [], [], []
    for i, batch in enumerate(loader):
        if i >= limit:
            break
        x, y = batch[0], batch[1]
        sizes.append(int(len(y)))
        labels.append(torch.as_tensor(y).detach().cpu().to(torch.int64).numpy())
        images.append(torch.as_tensor(x).detach().cpu().to(torch.float32).numpy())
    return {"sizes": sizes, "labels": np.concatenate(labels) if labels else np.zeros(0, np.int64),
            "images": np.concatenate(images) if images else np.zeros((0, 3, 32, 32), np.float32)}


@probe
def loaders(module: Any, train_images: Any, train_labels: Any, test_images: Any, test_labels: Any,
            batch_size: int) -> dict[str, Any]:
    """make_loaders on a small CIFAR-format folder: what each loader yields, twice over, plain and augmented."""
    import torch

    root = os.path.abspath("cifar-probe")
    write_cifar(root, (train_images.numpy(), train_labels.numpy()), (test_images.numpy(), test_labels.numpy()))
    allow_small_cifar()
    out: dict[str, Any] = {}
    for augment, normalize in ((False, False), (True, True)):
        def run() -> dict[str, Any]:
            torch.manual_seed(0)
            train_loader, test_loader = module.make_loaders(root, batch_size=batch_size, augment=augment,
                                                             normalize=normalize, num_workers=0)
            return {"train": [drain(train_loader), drain(train_loader)], "test": [drain(test_loader), drain(test_loader)],
                    "train_len": len(train_loader), "test_len": len(test_loader)}
        out[f"augment={augment},normalize={normalize}"] = guarded(run)
    return out


@probe
def augmentation_figure(module: Any, train_images: Any, train_labels: Any, test_images: Any, test_labels: Any,
                        n: int) -> dict[str, Any]:
    """show_augmentations on CIFAR images with the student's own augmenting transform."""
    import torchvision

    root = os.path.abspath("cifar-figure")
    write_cifar(root, (train_images.numpy(), train_labels.numpy()), (test_images.numpy(), test_labels.numpy()))
    allow_small_cifar()

    def run() -> dict[str, Any]:
        dataset = torchvision.datasets.CIFAR10(root, train=True, transform=None)
        augmented = torchvision.datasets.CIFAR10(root, train=True, transform=module.make_transform(augment=True))
        return describe_figure(lambda: module.show_augmentations(dataset, augmented, n=n), keep_images=True)

    return guarded(run)


# ---------------------------------------------------------------- Task 3: the network


LAYER_ATTRS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
               "in_features", "out_features", "num_features", "eps", "affine", "track_running_stats")


def module_attrs(m: Any) -> dict[str, Any]:
    """A layer's settings (kernel size, channels …), encoded."""
    if type(m).__name__ in ("MaxPool2d", "AvgPool2d"):
        return {a: values.encode(getattr(m, a)) for a in ("kernel_size", "stride", "padding")}
    return {a: values.encode(getattr(m, a)) for a in LAYER_ATTRS if hasattr(m, a)}


def layer_trace(net: Any, inputs: Any) -> list[dict[str, Any]]:
    """Each executed weighted layer in forward order: its type, weights, and its input and output on `inputs`.

    The forward pass runs in training mode (batch norms use the batch's statistics), without
    gradients. The grading process recomputes every layer's output from its input and weights and
    checks that each layer's input follows from the previous layer's output: the architecture is
    then shown by numbers, not by what this process says about itself.
    """
    import torch

    layers = weighted_layers(net, inputs[:2])
    seen: dict[int, dict[str, Any]] = {}
    order: list[dict[str, Any]] = []

    def record(mod: Any, args: Any, out: Any) -> None:
        if id(mod) in seen or not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
            return
        entry = {"type": type(mod).__name__, "state": state_arrays(mod),
                 "input": args[0].detach().cpu().float().numpy().copy(), "output": out.detach().cpu().float().numpy().copy()}
        seen[id(mod)] = entry
        order.append(entry)

    forward_with_hooks(net, layers, record, inputs, training=True)
    return order


@probe
def net_structure(module: Any, inputs: Any) -> dict[str, Any]:
    """Net(False) and Net(True): the layers a forward pass runs through, every module, and each weighted layer's trace."""
    import torch

    out = {}
    for normalization in (False, True):
        def run() -> dict[str, Any]:
            torch.manual_seed(0)
            net = module.Net(normalization=normalization)
            example = torch.zeros(2, 3, 32, 32)
            modules = [{"name": name, "type": type(m).__name__, "attrs": module_attrs(m),
                        "parameters": int(sum(p.numel() for p in m.parameters(recurse=False)))}
                       for name, m in list(net.named_modules())[:200]]
            ran = [{"name": name, "type": type(m).__name__, "attrs": module_attrs(m)}
                   for name, m in executed_layers(net, example)[:200]]
            return {"modules": modules, "executed": ran, "trace": layer_trace(net, inputs.float())}
        out[f"normalization={normalization}"] = guarded(run)
    return out


@probe
def net_forward(module: Any, normalization: bool, layers: list[dict[str, Any]], inputs: Any) -> dict[str, Any]:
    """The student's Net with the reference's weights loaded layer by layer in forward order: its outputs in eval mode."""
    import torch

    def run() -> Any:
        net = module.Net(normalization=normalization)
        load_layer_states(net, torch.zeros(2, 3, 32, 32), layers)
        net.eval()
        with torch.no_grad():
            return values.encode(net(inputs))

    return guarded(run)


class BatchLoader:
    """Batches of preloaded tensors by indexing: what the training checks give the student's train().

    Looks like a DataLoader where it matters (`len()`, `batch_size`, `dataset`, iteration of
    `(images, labels)`), without per-image PIL work. Every pass yields the images in the order the
    grading process chose and sent (`order`; None: as stored), so the grading process knows each
    batch without being told by this process, and can replay training on its own.
    """

    def __init__(self, images: Any, labels: Any, batch_size: int, order: Any = None) -> None:
        import torch

        self.dataset = torch.utils.data.TensorDataset(images, labels)
        self.images, self.labels = images, labels
        self.batch_size = batch_size
        self.order = torch.arange(len(labels)) if order is None else torch.as_tensor(order).long()

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __iter__(self) -> Any:
        for start in range(0, len(self.order), self.batch_size):
            idx = self.order[start:start + self.batch_size]
            yield self.images[idx], self.labels[idx]


def to_device(device: str, *tensors: Any) -> list[Any]:
    return [t.to(device) for t in tensors]


@probe
def student_train(module: Any, spec: list[list[Any]], state: dict[str, Any], train_x: Any, train_y: Any,
                  test_x: Any, test_y: Any, epochs: int, batch_size: int, lr: float, seed: int,
                  use_gpu: bool, order: Any) -> dict[str, Any]:
    """The student's train() on the grader's network, data and batch order; its return value and the final weights."""
    import torch

    torch.manual_seed(seed)
    model = build_model(spec)
    model.load_state_dict(state)
    model.train()
    train_loader = BatchLoader(train_x.float(), train_y.long(), batch_size, order)
    test_loader = BatchLoader(test_x.float(), test_y.long(), batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = torch.nn.CrossEntropyLoss()
    result = guarded(lambda: module.train(model, criterion, optimizer, train_loader, test_loader,
                                          num_epochs=epochs, use_gpu=use_gpu))
    if result["ok"]:
        result["value"] = values.encode(result["value"])
    model = model.cpu()
    result["state"] = state_arrays(model)
    return result


@probe
def net_steps(module: Any, layers: list[dict[str, Any]], train_x: Any, train_y: Any, batches: list[Any], lr: float,
              device: str) -> dict[str, Any]:
    """The student's Net(False) with the grader's weights loaded in forward order, after the grader's Adam steps."""
    import torch
    import torch.nn.functional as F

    def run() -> dict[str, Any]:
        torch.manual_seed(0)
        net = module.Net(normalization=False)
        load_layer_states(net, torch.zeros(2, 3, 32, 32), layers)
        net = net.to(device)
        x, y = to_device(device, train_x.float(), train_y.long())
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        net.train()
        for idx in batches:
            idx = torch.as_tensor(idx).long().to(device)
            optimizer.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            optimizer.step()
        net = net.cpu()
        return {"layers": layer_states(net, torch.zeros(2, 3, 32, 32))}

    return guarded(run)


# ---------------------------------------------------------------- Task 3: plots


def small_image(ax: Any) -> Any:
    """The first image an axes shows, as a float array, when it is small (a CIFAR-10 image or a grid of them)."""
    images = ax.get_images()
    if not images:
        return None
    array = np.ma.getdata(images[0].get_array())
    # Up to a make_grid of a few dozen CIFAR-10 images (a grid is a correct way to show them).
    if array is None or array.size > 256 * 1024 or array.dtype.kind not in "biuf":
        return None
    return np.asarray(array, dtype=np.float32)


IMAGE_BUDGET = 2 * 1024 * 1024
"""Values of all pictures one figure may send back (8 MiB as float32): 10 CIFAR-10 images need 30,720."""


def within(image: Any, budget: list[int]) -> Any:
    """The image if it fits what is left of the budget (which it then uses up), else None."""
    if image is None or image.size > budget[0]:
        return None
    budget[0] -= image.size
    return image


def describe_figure(make: Callable[[], Any], keep_images: bool = False) -> dict[str, Any]:
    """Call a plotting function; report its Figure's axes, lines, legend, images and a PNG of it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure
    import matplotlib.pyplot as plt

    shown = []
    original_show = plt.show
    plt.show = lambda *a, **k: shown.append(1)  # type: ignore[assignment]
    try:
        fig = make()
    finally:
        plt.show = original_show
    if not isinstance(fig, matplotlib.figure.Figure):
        return {"is_figure": False, "type": f"{type(fig).__module__}.{type(fig).__qualname__}", "show_called": bool(shown)}
    axes = []
    # Pictures cross the boundary only up to a budget: a figure of many axes must not become gigabytes.
    budget = [IMAGE_BUDGET if keep_images else 0]
    for ax in fig.axes[:64]:
        legend = ax.get_legend()
        axes.append({
            "xlabel": ax.get_xlabel()[:200], "ylabel": ax.get_ylabel()[:200], "title": ax.get_title()[:200],
            "legend": [t.get_text()[:200] for t in legend.get_texts()[:50]] if legend else None,
            "lines": [{"label": str(line.get_label())[:200],
                       "x": np.asarray(line.get_xdata(), dtype=np.float64)[:1000],
                       "y": np.asarray(line.get_ydata(), dtype=np.float64)[:1000]} for line in ax.get_lines()[:50]],
            "images": len(ax.get_images()),
            **({"image": within(small_image(ax), budget)} if keep_images else {}),
        })
    fig_legends = [[t.get_text()[:200] for t in lg.get_texts()[:50]] for lg in fig.legends[:10]]
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    plt.close(fig)
    return {"is_figure": True, "axes": axes, "figure_legends": fig_legends, "png": buffer.getvalue(),
            "show_called": bool(shown)}


@probe
def accuracy_figure(module: Any, runs: dict[str, Any]) -> dict[str, Any]:
    """plot_accuracy on the given runs."""
    plain = {name: ([float(v) for v in pair[0]], [float(v) for v in pair[1]]) for name, pair in runs.items()}
    return guarded(lambda: describe_figure(lambda: module.plot_accuracy(plain)))


# ---------------------------------------------------------------- Task 4


def param_sums(model: Any) -> dict[str, list[float]]:

    return {k: [float(v.detach().double().sum()), float((v.detach().double() ** 2).sum())]
            for k, v in model.state_dict().items() if v.is_floating_point()}


@probe
def resnet_layers(module: Any, seed: int, inputs: Any) -> dict[str, Any]:
    """What the student's resnet_layers picks of a seeded ResNet18: each module's qualified name and its output on `inputs`.

    The names are for the feedback; the grading process judges the outputs, which it recomputes.
    """
    import torch

    model = seeded_resnet(seed)
    names = {id(m): n for n, m in model.named_modules()}

    def run() -> Any:
        picked = dict(module.resnet_layers(model))
        outputs: dict[str, Any] = {}
        handles = []
        def keep(key: str, out: Any) -> None:  # a forward hook that returns None leaves the output as it is
            if key not in outputs:
                outputs[key] = values.encode(out)

        for key, layer in list(picked.items())[:20]:
            if isinstance(layer, torch.nn.Module) and id(layer) in names:
                handles.append(layer.register_forward_hook(lambda mod, args, out, key=str(key): keep(key, out)))
        try:
            # Training mode: batch norms use the batch's statistics, so a batch norm's output differs from
            # its convolution's (the seeded model's running statistics would make them nearly equal).
            model.train()
            with torch.no_grad():
                model(inputs)
        finally:
            model.eval()
            for h in handles:
                h.remove()
        return {str(k)[:100]: {"name": names.get(id(v), f"<not a submodule: {type(v).__name__}>")[:200],
                               "output": outputs.get(str(k))} for k, v in list(picked.items())[:20]}

    return guarded(run)


@probe
def activations(module: Any, seed: int, image: Any, names: dict[str, str]) -> dict[str, Any]:
    """get_activations on a seeded ResNet18 and a photo; hooks left behind and the model's output after."""
    import torch

    model = seeded_resnet(seed)
    layers = {k: model.get_submodule(n) for k, n in names.items()}
    result = guarded(lambda: {str(k): values.encode(v) for k, v in dict(module.get_activations(model, image, layers)).items()})
    result["hooks_left"] = {n: len(m._forward_hooks) + len(m._forward_pre_hooks) for n, m in model.named_modules()
                            if len(m._forward_hooks) + len(m._forward_pre_hooks)}
    with torch.no_grad():
        result["output_after"] = model.eval()(image).numpy()
    return result


@probe
def saliency(module: Any, seed: int, images: Any, labels: Any) -> dict[str, Any]:
    """saliency_maps on a seeded ResNet18; the weights' sums before and after."""
    model = seeded_resnet(seed)
    result = guarded(lambda: values.encode(module.saliency_maps(images.clone(), labels.clone(), model)))
    result["weights_after"] = param_sums(model)
    return result


@probe
def answers(module: Any) -> dict[str, Any]:
    """The written answers, as strings."""
    value = getattr(module, "ANSWERS", None)
    if not isinstance(value, dict):
        return {"present": False, "type": type(value).__name__}
    return {"present": True, "answers": {str(k)[:100]: (v[:20_000] if type(v) is str else repr(v)[:2000])
                                         for k, v in list(value.items())[:100]}}
