"""Exercise 4: Convolutional Neural Networks -- Jonas Brandt (430017).

Fill in every function that raises NotImplementedError and every placeholder in
HAND_COMPUTED, RF_ANSWERS and ANSWERS. The names and signatures are fixed: the
grader imports this module and calls them. Everything else here is given.

Given values: X is the 5 x 6 input and W1, W2, W3 the 2 x 2 filters of Task 1 as
float32 tensors; B1, B2, B3 are their biases as Python floats (-1.0).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from matplotlib.figure import Figure
from torch import nn
from torchvision import transforms

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_CHECKPOINT = "resnet18-f37072fd.pth"
PHOTOS = ("chelsea", "coffee", "astronaut")
RESULTS_DIR = "results"  # checkpoints of train() go here

# ---------------------------------------------------------------------------
# Task 1: Convolutions revisited
# ---------------------------------------------------------------------------

X = torch.tensor(
    [
        [1, 0, 0, 1, 1, 0],
        [0, 1, 0, 0, 0, 1],
        [0, 0, 1, 1, 0, 0],
        [1, 0, 0, 0, 1, 0],
        [1, 0, 0, 0, 0, 1],
    ],
    dtype=torch.float32,
)
W1 = torch.tensor([[1, 0], [0, 1]], dtype=torch.float32)
W2 = torch.tensor([[1, 0], [1, 0]], dtype=torch.float32)
W3 = torch.tensor([[1, 1], [0, 0]], dtype=torch.float32)
B1 = B2 = B3 = -1.0


def conv_relu(
    x: torch.Tensor, w: torch.Tensor, b: float | torch.Tensor, stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """Return ReLU(w * x + b) for a 2-D input x and a 2-D kernel w, as a 2-D tensor (* as in the exercise:
    the cross-correlation that torch.nn.functional.conv2d computes, no kernel flip)."""
    if x.dim() != 2 or w.dim() != 2:
        raise ValueError(f"conv_relu expects 2-D x and w, got {tuple(x.shape)} and {tuple(w.shape)}")
    x4 = x.to(torch.float32)[None, None]  # (1, 1, H, W)
    w4 = w.to(device=x4.device, dtype=torch.float32)[None, None]  # (out=1, in=1, kh, kw)
    bias = torch.as_tensor(b, dtype=torch.float32, device=x4.device).reshape(1)
    out = F.conv2d(x4, w4, bias=bias, stride=stride, padding=padding)
    return F.relu(out)[0, 0]


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
# w1 looks for a "\" diagonal (two ones), w2 for a vertical pair, w3 for a horizontal pair;
# with b = -1 only a patch matching both ones of the kernel gives 2 - 1 = 1, all else is <= 0 -> 0.
HAND_COMPUTED = {
    "w1_s1": [[1, 0, 0, 0, 1],
              [0, 1, 0, 0, 0],
              [0, 0, 0, 1, 0],
              [0, 0, 0, 0, 1]],
    "w2_s1": [[0, 0, 0, 0, 0],
              [0, 0, 0, 0, 0],
              [0, 0, 0, 0, 0],
              [1, 0, 0, 0, 0]],
    "w3_s1": [[0, 0, 0, 1, 0],
              [0, 0, 0, 0, 0],
              [0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0]],
    "w1_s2": [[1, 0, 1],
              [0, 0, 0]],
    "w2_s2": [[0, 0, 0],
              [0, 0, 0]],
    "w3_s2": [[0, 0, 0],
              [0, 1, 0]],
}


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    if s < 1 or d < 1:
        raise ValueError("stride and dilation must be >= 1")
    effective_k = d * (k - 1) + 1
    # floor division = the last window that does not fit is dropped
    return int((n + 2 * p - effective_k) // s + 1)


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    rf = 1      # receptive field of one unit, in input pixels
    jump = 1    # distance in input pixels between two neighbouring units of the current layer
    for layer in layers:
        if len(layer) == 2:
            k, s = layer
            d = 1
        elif len(layer) == 3:
            k, s, d = layer
        else:
            raise ValueError(f"layer must be (kernel, stride) or (kernel, stride, dilation), got {layer}")
        effective_k = d * (k - 1) + 1
        rf += (effective_k - 1) * jump
        jump *= s
    return int(rf)


# Task 2(a)/(b): receptive fields
# (a) 1 + 3 * (3 - 1) = 7
# (b) 1 + (4 - 1) * 1 + (4 - 1) * 2 = 10
RF_ANSWERS = {
    "a": 7,
    "b": 10,
}


# ---------------------------------------------------------------------------
# Task 3: A CNN on CIFAR-10
# ---------------------------------------------------------------------------


class _UncheckedCIFAR10(torchvision.datasets.CIFAR10):
    """CIFAR-10 in torchvision's on-disk format, without the md5 checks of the full files."""

    def _check_integrity(self) -> bool:
        # Subsets in the same format (such as the one shipped with the course)
        # have other checksums; the batch files were found before we got here.
        return True

    def _load_meta(self) -> None:
        path = os.path.join(self.root, self.base_folder, self.meta["filename"])
        with open(path, "rb") as infile:
            data = pickle.load(infile, encoding="latin1")
        self.classes = data[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


def load_cifar10(
    root: str | Path, train: bool, transform=None
) -> torchvision.datasets.CIFAR10:
    """Return CIFAR-10 from root (the folder holding cifar-10-batches-py); never downloads."""
    try:
        return torchvision.datasets.CIFAR10(root, train=train, transform=transform, download=False)
    except RuntimeError:
        folder = Path(root) / torchvision.datasets.CIFAR10.base_folder
        names = [name for name, _ in torchvision.datasets.CIFAR10.train_list]
        names += [name for name, _ in torchvision.datasets.CIFAR10.test_list]
        names.append(torchvision.datasets.CIFAR10.meta["filename"])
        missing = [name for name in names if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"No CIFAR-10 data in {folder}: missing {', '.join(missing)}."
            ) from None
        # The files are all there but their md5 sums are not the full data
        # set's: a subset in the same format, read it as it is.
        return _UncheckedCIFAR10(root, train=train, transform=transform, download=False)


def make_transform(augment: bool = False, normalize: bool = False) -> transforms.Compose:
    """Return the CIFAR-10 transform: optional augmentation, ToTensor, optional normalization."""
    steps = []
    if augment:
        steps += [
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.RandomCrop(32, padding=4),
            transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05),
        ]
    steps.append(transforms.ToTensor())
    if normalize:
        steps.append(transforms.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)))
    return transforms.Compose(steps)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    # augmentation only for the training data, the test data only gets ToTensor (+ Normalize)
    train_set = load_cifar10(root, train=True, transform=make_transform(augment=augment, normalize=normalize))
    test_set = load_cifar10(root, train=False, transform=make_transform(augment=False, normalize=normalize))
    pin = torch.cuda.is_available()
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=batch_size, shuffle=True, num_workers=num_workers, pin_memory=pin
    )
    test_loader = torch.utils.data.DataLoader(
        test_set, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=pin
    )
    return train_loader, test_loader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(in_channels=3, out_channels=6, kernel_size=5, stride=1, padding=0)
        # nn.Identity has no parameters, so without normalization there is no BN in the state_dict
        self.norm1 = nn.BatchNorm2d(6) if normalization else nn.Identity()
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5, stride=1, padding=0)
        self.norm2 = nn.BatchNorm2d(16) if normalization else nn.Identity()
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = self.pool1(F.relu(self.norm1(self.conv1(x))))   # (N, 6, 14, 14)
        x = self.pool2(F.relu(self.norm2(self.conv2(x))))   # (N, 16, 5, 5)
        x = torch.flatten(x, start_dim=1)                    # (N, 400)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def train(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_loader: Iterable,
    test_loader: Iterable,
    num_epochs: int = 10,
    use_gpu: bool = False,
) -> tuple[list[float], list[float]]:
    """Train model and return the per-epoch training and test accuracy (fractions of images)."""
    if use_gpu and not torch.cuda.is_available():
        print("use_gpu=True but CUDA is not available, training on the CPU instead")
    device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
    model.to(device)
    os.makedirs(RESULTS_DIR, exist_ok=True)

    train_accuracies: list[float] = []
    test_accuracies: list[float] = []
    for epoch in range(num_epochs):
        # --- training ---
        model.train()
        running_loss, correct, total = 0.0, 0, 0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * labels.size(0)
            predicted = outputs.argmax(dim=1)
            correct += (predicted == labels).sum().item()
            total += labels.size(0)
        train_acc = correct / total if total > 0 else 0.0

        # --- evaluation ---
        model.eval()
        test_correct, test_total = 0, 0
        with torch.no_grad():
            for images, labels in test_loader:
                images, labels = images.to(device), labels.to(device)
                predicted = model(images).argmax(dim=1)
                test_correct += (predicted == labels).sum().item()
                test_total += labels.size(0)
        test_acc = test_correct / test_total if test_total > 0 else 0.0

        train_accuracies.append(float(train_acc))
        test_accuracies.append(float(test_acc))
        mean_loss = running_loss / total if total > 0 else float("nan")
        print(f"Epoch {epoch + 1}/{num_epochs}: loss {mean_loss:.4f}, "
              f"train acc {train_acc:.4f}, test acc {test_acc:.4f}")
        torch.save(model.state_dict(), os.path.join(RESULTS_DIR, f"ConvNet{epoch + 1}.ckpt"))
    return train_accuracies, test_accuracies


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for name, (train_acc, test_acc) in runs.items():
        epochs_train = np.arange(1, len(train_acc) + 1)
        epochs_test = np.arange(1, len(test_acc) + 1)
        line, = ax.plot(epochs_train, list(train_acc), marker="o", label=f"{name} train")
        # same colour for train and test of one run, dashed line for test
        ax.plot(epochs_test, list(test_acc), marker="s", linestyle="--", color=line.get_color(), label=f"{name} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("CIFAR-10: training vs. test accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def to_image(image) -> np.ndarray:
    """Return a PIL image or a (3, H, W) tensor as an (H, W, 3) array in [0, 1] for imshow."""
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu().float().permute(1, 2, 0).numpy()
        low, high = float(array.min()), float(array.max())
        # Normalized tensors leave [0, 1]; stretch them back so imshow shows colours.
        if low < 0 or high > 1:
            array = (array - low) / max(high - low, 1e-12)
        return array
    return np.asarray(image, dtype=np.float32) / 255.0


def show_augmentations(dataset, augmented, n: int = 5) -> Figure:
    """Return a figure with n images of dataset (top row) above the same images of augmented."""
    n = min(n, len(dataset), len(augmented))
    if n < 1:
        raise ValueError("need at least one image")
    fig = Figure(figsize=(2 * n, 4.4))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        original, label = dataset[i]
        changed, _ = augmented[i]
        axes[0, i].imshow(to_image(original))
        axes[1, i].imshow(to_image(changed))
        axes[0, i].set_title(CLASSES[int(label)] if 0 <= int(label) < len(CLASSES) else str(label), fontsize=8)
        axes[0, i].set_axis_off()
        axes[1, i].set_axis_off()
    axes[0, 0].text(-0.15, 0.5, "original", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
    axes[1, 0].text(-0.15, 0.5, "augmented", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
    fig.tight_layout()
    return fig


def show_examples(dataset, per_class: int = 4) -> Figure:
    """Return a grid with per_class example images of each CIFAR-10 class (one row per class)."""
    chosen: dict[int, list[int]] = {c: [] for c in range(len(CLASSES))}
    targets = getattr(dataset, "targets", None)
    for index in range(len(dataset)):
        label = int(targets[index]) if targets is not None else int(dataset[index][1])
        if len(chosen[label]) < per_class:
            chosen[label].append(index)
        if all(len(v) == per_class for v in chosen.values()):
            break
    fig = Figure(figsize=(per_class * 1.2, len(CLASSES) * 1.2))
    axes = fig.subplots(len(CLASSES), per_class, squeeze=False)
    for label, indices in chosen.items():
        for j in range(per_class):
            ax = axes[label, j]
            ax.set_axis_off()
            if j < len(indices):
                ax.imshow(to_image(dataset[indices[j]][0]))
        axes[label, 0].set_title(CLASSES[label], fontsize=8, loc="left")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Task 4: Activation and saliency maps
# ---------------------------------------------------------------------------


def load_resnet18(weights_path: str | Path | None = None, seed: int = 0) -> tuple[nn.Module, str]:
    """Return a torchvision ResNet18 in eval mode and a sentence saying which weights it has; never downloads."""
    if weights_path is not None:
        candidate = Path(weights_path)
    else:
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_CHECKPOINT
    if candidate.is_file():
        model = torchvision.models.resnet18(weights=None)
        model.load_state_dict(torch.load(candidate, map_location="cpu", weights_only=True))
        return model.eval(), f"Using the pretrained ImageNet weights from {candidate}."
    # Seed inside a forked RNG so building the model does not disturb the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torchvision.models.resnet18(weights=None)
    return model.eval(), (
        f"No pretrained weights at {candidate}; using random weights (seed {seed}), "
        "so the maps show no learned features."
    )


def load_photo(name: str = "chelsea", size: int = 224) -> torch.Tensor:
    """Return a scikit-image photo as an ImageNet-normalized tensor of shape (1, 3, size, size)."""
    if name not in PHOTOS:
        raise ValueError(f"Unknown photo {name!r}; choose one of {', '.join(PHOTOS)}.")
    import skimage.data

    image = torch.from_numpy(np.ascontiguousarray(getattr(skimage.data, name)()))
    image = image.permute(2, 0, 1).float() / 255.0
    prepare = transforms.Compose(
        [
            transforms.Resize(size, antialias=True),
            transforms.CenterCrop(size),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    return prepare(image)[None]


def denormalize(x: torch.Tensor) -> np.ndarray:
    """Return an ImageNet-normalized (1, 3, H, W) or (3, H, W) tensor as an (H, W, 3) array in [0, 1]."""
    image = x.detach().cpu().reshape(-1, *x.shape[-2:])[:3]
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (image * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def resnet_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Return the modules of a ResNet18 whose outputs Task 4.2 asks for."""
    return {
        "maxpool": model.maxpool,
        "comp": model.layer3[0].downsample[1],   # the BatchNorm of the 1x1 shortcut
        "conv2": model.layer4[1].conv2,
        "avgpool": model.avgpool,
    }


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    activations: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name: str):
        def hook(module, inputs, output):
            activations[name] = output.detach().cpu().clone()
        return hook

    was_training = model.training
    try:
        for name, module in layers.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            model(x.to(device))
    finally:
        # always remove the hooks, even if the forward pass fails
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return activations


def show_activation_grid(activation: torch.Tensor, n: int = 16, title: str = "") -> Figure:
    """Return a grid of the first n channel maps of a (1, C, H, W) activation."""
    maps = activation.detach().cpu()[0]
    n = min(n, maps.shape[0])
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(cols * 1.5, rows * 1.5 + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(maps[i].numpy(), cmap="viridis")
    fig.suptitle(title or f"{n} of {maps.shape[0]} channels, {tuple(maps.shape[1:])} each")
    return fig


def show_overlays(x: torch.Tensor, activations: Mapping[str, torch.Tensor]) -> Figure:
    """Return the image with each activation's channel mean upsampled and overlaid on it."""
    image = denormalize(x)
    fig = Figure(figsize=(3 * (len(activations) + 1), 3.3))
    axes = fig.subplots(1, len(activations) + 1, squeeze=False)[0]
    axes[0].imshow(image)
    axes[0].set_title("image")
    for ax, (name, act) in zip(axes[1:], activations.items()):
        heat = act.detach().cpu().float().mean(dim=1, keepdim=True)
        heat = F.interpolate(heat, size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
        heat = (heat - heat.min()) / max(float(heat.max() - heat.min()), 1e-12)
        ax.imshow(image)
        ax.imshow(heat.numpy(), cmap="jet", alpha=0.5)
        ax.set_title(f"{name} {tuple(act.shape[1:])}", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def saliency_maps(X: torch.Tensor, y: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Return |d score_y / d X|, maximum over colour channels, each map divided by its own maximum: shape (N, H, W)."""
    was_training = model.training
    model.eval()  # no BN statistics update, no dropout
    device = next(model.parameters()).device
    inputs = X.detach().clone().to(device).requires_grad_(True)
    labels = torch.as_tensor(y, device=device).long().view(-1)
    try:
        scores = model(inputs)                                 # (N, 1000) unnormalized class scores
        class_scores = scores.gather(1, labels[:, None]).sum()  # sum of S_y(x_i): gradients stay per image
        (grad,) = torch.autograd.grad(class_scores, inputs)    # does not touch the .grad of the weights
    finally:
        model.train(was_training)
    saliency = grad.abs().amax(dim=1)                          # (N, H, W), max over colour channels
    per_image_max = saliency.flatten(1).amax(dim=1).clamp_min(1e-12)
    saliency = saliency / per_image_max[:, None, None]
    return saliency.detach().cpu()


def show_saliency(x: torch.Tensor, maps: Mapping[str, torch.Tensor]) -> Figure:
    """Return the image beside each named (H, W) saliency map."""
    fig = Figure(figsize=(3.2 * (len(maps) + 1), 3.4))
    axes = fig.subplots(1, len(maps) + 1, squeeze=False)[0]
    axes[0].imshow(denormalize(x))
    axes[0].set_title("image")
    for ax, (name, saliency) in zip(axes[1:], maps.items()):
        ax.imshow(saliency.detach().cpu().numpy(), cmap="hot")
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Written answers
# ---------------------------------------------------------------------------

# Written answers
ANSWERS = {
    "1b": (
        "Every output value is the dot product of the kernel with the 2x2 patch under it, plus the bias. "
        "Because x and the kernels are binary and every kernel has exactly two ones, the dot product counts "
        "how many of the kernel's ones are also ones in the patch (0, 1 or 2). With b = -1 the result is "
        "-1, 0 or 1, and the ReLU sets everything <= 0 to 0. So the output is 1 exactly where the patch "
        "contains the kernel's pattern (diagonal for w1, vertical pair for w2, horizontal pair for w3) and "
        "0 elsewhere: one can read the output off by looking for the pattern in the input."
    ),
    "1d": (
        "Stride 2 downsamples: the output is about half as large in each dimension, which saves "
        "computation and memory and makes the receptive field of later layers grow faster. "
        "Pooling (e.g. max pooling 2x2 with stride 2, or average pooling) serves the same purpose."
    ),
    "1e": (
        "For input length n, kernel size k, stride s and padding p (on each side): "
        "n_out = floor((n + 2p - k) / s) + 1. The padded input has n + 2p positions, the first window starts "
        "at 0 and the last one must still fit, so there are floor((n + 2p - k)/s) further steps. With dilation d "
        "replace k by d(k - 1) + 1. Example: n = 6, k = 2, s = 2, p = 0 gives floor(4/2) + 1 = 3."
    ),
    "2c": (
        "Each additional layer adds (k - 1) times the product of the strides of all earlier layers to the "
        "receptive field: r_L = 1 + sum_l (k_l - 1) * prod_{i<l} s_i. With stride 1 the receptive field grows "
        "linearly with the depth (3x3 kernels: 3, 5, 7, ...); with strides > 1 it grows much faster (geometrically)."
    ),
    "2d": (
        "With a fixed number of layers it grows with larger kernels, larger strides (or pooling/downsampling "
        "layers in between) and dilated convolutions, where dilation d makes a kernel k cover d(k - 1) + 1 pixels "
        "without more parameters."
    ),
    "3.3": (
        "The training accuracy keeps rising with the epochs while the test accuracy levels off much earlier, "
        "so a gap opens between the two curves: the network overfits, it memorizes the training images "
        "(about 62k parameters for a small training set) instead of learning features that generalize. "
        "After a few epochs further training mostly increases the gap, not the test accuracy."
    ),
    "3.4": (
        "With augmentation and normalization (and batch norm) the training accuracy rises more slowly and stays "
        "lower, because every epoch shows slightly different images, so memorizing is harder. The test accuracy "
        "is similar or higher than in the plain run and the gap between train and test is much smaller: "
        "augmentation acts as a regularizer. Normalizing the inputs to mean 0 / std 1 and batch norm make the "
        "optimization better conditioned and faster. Only the training data is augmented; the test data is only "
        "normalized so that the evaluation is deterministic."
    ),
    "4.5": (
        "The saliency map is the gradient of the score of one particular class with respect to the input pixels, "
        "so it shows which pixels would change THAT class score most. For a different label y a different row of "
        "the last layer (and different paths through the network) is differentiated, so the gradient is different: "
        "for 285 'Egyptian cat' the pixels of the cat's face/fur matter most, for 243 'bull mastiff' the network "
        "looks for dog-like evidence, which lies in other pixels. The image is the same, but the question asked "
        "(which pixels support class y?) is different. With random weights the maps show no meaningful structure."
    ),
}


# ---------------------------------------------------------------------------
# Running the experiments (only when started as a script, not on import)
# ---------------------------------------------------------------------------


def _run(root, normalization: bool, augment: bool, normalize: bool, epochs: int, use_gpu: bool):
    torch.manual_seed(0)
    train_loader, test_loader = make_loaders(root, batch_size=16, augment=augment, normalize=normalize)
    model = Net(normalization=normalization)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return train(model, nn.CrossEntropyLoss(), optimizer, train_loader, test_loader,
                 num_epochs=epochs, use_gpu=use_gpu)


if __name__ == "__main__":
    root = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    epochs = int(os.environ.get("EX4_EPOCHS", "10"))
    use_gpu = torch.cuda.is_available()
    os.makedirs(RESULTS_DIR, exist_ok=True)

    for key, (w, b) in {"w1": (W1, B1), "w2": (W2, B2), "w3": (W3, B3)}.items():
        for s in (1, 2):
            out = conv_relu(X, w, b, stride=s)
            same = torch.equal(out, torch.tensor(HAND_COMPUTED[f"{key}_s{s}"], dtype=out.dtype))
            print(f"{key}, stride {s}: hand computation correct: {same}")
    print("RF (a):", receptive_field([(3, 1)] * 3), " RF (b):", receptive_field([(4, 2)] * 2))

    show_examples(load_cifar10(root, train=True)).savefig(os.path.join(RESULTS_DIR, "examples.png"))
    plain = _run(root, normalization=False, augment=False, normalize=False, epochs=epochs, use_gpu=use_gpu)
    plot_accuracy({"plain": plain}).savefig(os.path.join(RESULTS_DIR, "accuracy_plain.png"))
    show_augmentations(load_cifar10(root, train=True),
                       load_cifar10(root, train=True, transform=make_transform(augment=True)),
                       n=6).savefig(os.path.join(RESULTS_DIR, "augmentations.png"))
    augmented = _run(root, normalization=True, augment=True, normalize=True, epochs=epochs, use_gpu=use_gpu)
    plot_accuracy({"plain": plain, "augmented + normalized": augmented}).savefig(
        os.path.join(RESULTS_DIR, "accuracy_both.png"))

    resnet, note = load_resnet18()
    print(note)
    image = load_photo("chelsea", 224)
    acts = get_activations(resnet, image, resnet_layers(resnet))
    for name, act in acts.items():
        print(f"{name:8s} {list(act.shape)}")
        show_activation_grid(act, n=16, title=name).savefig(os.path.join(RESULTS_DIR, f"act_{name}.png"))
    show_overlays(image, acts).savefig(os.path.join(RESULTS_DIR, "overlays.png"))
    sal = saliency_maps(image.repeat(2, 1, 1, 1), torch.tensor([243, 285]), resnet)
    show_saliency(image, {"243 bull mastiff": sal[0], "285 Egyptian cat": sal[1]}).savefig(
        os.path.join(RESULTS_DIR, "saliency.png"))
