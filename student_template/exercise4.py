"""Exercise 4: Convolutional Neural Networks.

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
    # YOUR CODE HERE
    raise NotImplementedError("Task 1(a): conv_relu(): compute ReLU(w * x + b) with torch.nn.functional.conv2d (add the batch and channel dimensions, remove them again)")


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
# TODO Task 1(a)/(c): fill in the six outputs you computed by hand (lists of rows of numbers)
HAND_COMPUTED = {
    "w1_s1": None,
    "w2_s1": None,
    "w3_s1": None,
    "w1_s2": None,
    "w2_s2": None,
    "w3_s2": None,
}


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    # YOUR CODE HERE
    raise NotImplementedError("Task 1(e): conv_output_size(): return the output length as an int (mind the floor)")


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    # YOUR CODE HERE
    raise NotImplementedError("Task 2: receptive_field(): layers are (kernel, stride) or (kernel, stride, dilation), first layer first")


# TODO Task 2(a)/(b): fill in the receptive fields (ints)
RF_ANSWERS = {
    "a": None,
    "b": None,
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
    # YOUR CODE HERE
    raise NotImplementedError("Task 3.4: make_transform(): with augment flip, crop 32 (padding 4) and ColorJitter (give it non-zero settings, e.g. brightness=0.2) before ToTensor; with normalize Normalize(0.5, 0.5) after it")


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    # YOUR CODE HERE
    raise NotImplementedError("Task 3.1/3.4: make_loaders(): use load_cifar10 and make_transform; augment only the training set; shuffle only the training loader")


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("Task 3.2: Net.__init__(): create conv1, norm1, pool1, conv2, norm2, pool2, fc1, fc2, fc3 (norm1/norm2 nn.Identity() unless normalization)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        # YOUR CODE HERE
        raise NotImplementedError("Task 3.2: Net.forward(): conv -> norm -> ReLU -> pool twice, flatten, fc1 -> ReLU -> fc2 -> ReLU -> fc3")


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
    # YOUR CODE HERE
    raise NotImplementedError("Task 3.3: train(): per epoch train on train_loader, then evaluate on test_loader (eval mode, no_grad); accuracy = correct images / images")


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    # YOUR CODE HERE
    raise NotImplementedError('Task 3.3: plot_accuracy(): lines "<name> train" and "<name> test" per run over epochs 1..n, axis labels, legend; return the Figure')


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
    # YOUR CODE HERE
    raise NotImplementedError("Task 3.4: show_augmentations(): 2 x n grid, dataset[i] on top, augmented[i] below (use to_image)")


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
    # YOUR CODE HERE
    raise NotImplementedError('Task 4.2: resnet_layers(): return {"maxpool": ..., "comp": layer3[0].downsample[1], "conv2": layer4[1].conv2, "avgpool": ...}')


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    # YOUR CODE HERE
    raise NotImplementedError("Task 4.2: get_activations(): register a forward hook per module, run the model, remove every hook afterwards")


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
    # YOUR CODE HERE
    raise NotImplementedError("Task 4.5: saliency_maps(): gradient of the class score (not the loss) w.r.t. X, abs, max over channels, divide each image's map by its own maximum (so it lies in [0, 1]); leave the weights as they were")


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

# TODO Written answers: answer each question in a few sentences
ANSWERS = {
    "1b": "",
    "1d": "",
    "1e": "",
    "2c": "",
    "2d": "",
    "3.3": "",
    "3.4": "",
    "4.5": "",
}
