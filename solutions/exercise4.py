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
    ### STUB: Task 1(a): conv_relu(): compute ReLU(w * x + b) with torch.nn.functional.conv2d (add the batch and channel dimensions, remove them again)
    ### BEGIN SOLUTION
    x = torch.as_tensor(x)
    dtype = x.dtype if x.is_floating_point() else torch.float32
    x = x.to(dtype)
    w = torch.as_tensor(w).to(dtype)
    # conv2d wants a bias per output channel: one channel here.
    bias = torch.as_tensor(b).to(dtype).reshape(1)
    out = F.conv2d(x[None, None], w[None, None], bias=bias, stride=stride, padding=padding)
    return F.relu(out)[0, 0]
    ### END SOLUTION


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
### STUB: Task 1(a)/(c): fill in the six outputs you computed by hand (lists of rows of numbers)
### BEGIN SOLUTION
HAND_COMPUTED = {
    "w1_s1": [[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]],
    "w2_s1": [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
    "w3_s1": [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]],
    "w1_s2": [[1, 0, 1], [0, 0, 0]],
    "w2_s2": [[0, 0, 0], [0, 0, 0]],
    "w3_s2": [[0, 0, 0], [0, 1, 0]],
}
### END SOLUTION


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    ### STUB: Task 1(e): conv_output_size(): return the output length as an int (mind the floor)
    ### BEGIN SOLUTION
    return (n + 2 * p - d * (k - 1) - 1) // s + 1
    ### END SOLUTION


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    ### STUB: Task 2: receptive_field(): layers are (kernel, stride) or (kernel, stride, dilation), first layer first
    ### BEGIN SOLUTION
    field, jump = 1, 1
    for layer in layers:
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) > 2 else 1
        # Each layer widens the field by its (dilated) kernel extent, measured
        # in input pixels: one step of this layer is `jump` input pixels.
        field += d * (k - 1) * jump
        jump *= s
    return int(field)
    ### END SOLUTION


### STUB: Task 2(a)/(b): fill in the receptive fields (ints)
### BEGIN SOLUTION
RF_ANSWERS = {"a": 7, "b": 10}
### END SOLUTION


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
    ### STUB: Task 3.4: make_transform(): with augment flip, crop 32 (padding 4) and ColorJitter (give it non-zero settings, e.g. brightness=0.2) before ToTensor; with normalize Normalize(0.5, 0.5) after it
    ### BEGIN SOLUTION
    steps: list = []
    if augment:
        steps += [
            transforms.RandomHorizontalFlip(),
            transforms.RandomCrop(32, padding=4),
            transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
        ]
    steps.append(transforms.ToTensor())
    if normalize:
        steps.append(transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    return transforms.Compose(steps)
    ### END SOLUTION


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    ### STUB: Task 3.1/3.4: make_loaders(): use load_cifar10 and make_transform; augment only the training set; shuffle only the training loader
    ### BEGIN SOLUTION
    train_set = load_cifar10(root, train=True, transform=make_transform(augment, normalize))
    # The test set is never augmented: we measure accuracy on the images as they are.
    test_set = load_cifar10(root, train=False, transform=make_transform(False, normalize))
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=batch_size, shuffle=True, num_workers=num_workers
    )
    test_loader = torch.utils.data.DataLoader(
        test_set, batch_size=batch_size, shuffle=False, num_workers=num_workers
    )
    return train_loader, test_loader
    ### END SOLUTION


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        ### STUB: Task 3.2: Net.__init__(): create conv1, norm1, pool1, conv2, norm2, pool2, fc1, fc2, fc3 (norm1/norm2 nn.Identity() unless normalization)
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(3, 6, 5)
        # Identity has no parameters, so without normalization the state_dict
        # holds only the conv and fc layers.
        self.norm1 = nn.BatchNorm2d(6) if normalization else nn.Identity()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.norm2 = nn.BatchNorm2d(16) if normalization else nn.Identity()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        ### STUB: Task 3.2: Net.forward(): conv -> norm -> ReLU -> pool twice, flatten, fc1 -> ReLU -> fc2 -> ReLU -> fc3
        ### BEGIN SOLUTION
        x = self.pool1(F.relu(self.norm1(self.conv1(x))))
        x = self.pool2(F.relu(self.norm2(self.conv2(x))))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
        ### END SOLUTION


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
    ### STUB: Task 3.3: train(): per epoch train on train_loader, then evaluate on test_loader (eval mode, no_grad); accuracy = correct images / images
    ### BEGIN SOLUTION
    device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
    model.to(device)
    train_acc: list[float] = []
    test_acc: list[float] = []
    for _ in range(num_epochs):
        model.train()
        correct = seen = 0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            correct += (outputs.argmax(dim=1) == labels).sum().item()
            # Count images, not batches: the last batch may be smaller.
            seen += labels.numel()
        train_acc.append(correct / max(seen, 1))

        model.eval()
        correct = seen = 0
        with torch.no_grad():
            for images, labels in test_loader:
                images, labels = images.to(device), labels.to(device)
                correct += (model(images).argmax(dim=1) == labels).sum().item()
                seen += labels.numel()
        test_acc.append(correct / max(seen, 1))
    return train_acc, test_acc
    ### END SOLUTION


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    ### STUB: Task 3.3: plot_accuracy(): lines "<name> train" and "<name> test" per run over epochs 1..n, axis labels, legend; return the Figure
    ### BEGIN SOLUTION
    # Figure() instead of pyplot: no global figure list that grows with every call.
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for name, (train_acc, test_acc) in runs.items():
        ax.plot(range(1, len(train_acc) + 1), list(train_acc), marker="o", label=f"{name} train")
        ax.plot(range(1, len(test_acc) + 1), list(test_acc), marker="s", linestyle="--", label=f"{name} test")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Accuracy")
    ax.set_title("CIFAR-10 accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
    ### END SOLUTION


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
    ### STUB: Task 3.4: show_augmentations(): 2 x n grid, dataset[i] on top, augmented[i] below (use to_image)
    ### BEGIN SOLUTION
    fig = Figure(figsize=(2 * n, 4.4))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for row, source in enumerate((dataset, augmented)):
            image, label = source[i]
            ax = axes[row, i]
            ax.imshow(to_image(image))
            ax.set_axis_off()
            ax.set_title(("original" if row == 0 else "augmented") + f" ({CLASSES[int(label)]})", fontsize=8)
    fig.tight_layout()
    return fig
    ### END SOLUTION


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
    ### STUB: Task 4.2: resnet_layers(): return {"maxpool": ..., "comp": layer3[0].downsample[1], "conv2": layer4[1].conv2, "avgpool": ...}
    ### BEGIN SOLUTION
    return {
        "maxpool": model.maxpool,
        "comp": model.layer3[0].downsample[1],
        "conv2": model.layer4[1].conv2,
        "avgpool": model.avgpool,
    }
    ### END SOLUTION


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    ### STUB: Task 4.2: get_activations(): register a forward hook per module, run the model, remove every hook afterwards
    ### BEGIN SOLUTION
    activations: dict[str, torch.Tensor] = {}
    handles = []

    def hook_for(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            activations[name] = output.detach()

        return hook

    try:
        for name, module in layers.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        with torch.no_grad():
            model(x)
    finally:
        # Hooks left behind would keep capturing on every later forward pass.
        for handle in handles:
            handle.remove()
    return activations
    ### END SOLUTION


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
    ### STUB: Task 4.5: saliency_maps(): gradient of the class score (not the loss) w.r.t. X, abs, max over channels, divide each image's map by its own maximum (so it lies in [0, 1]); leave the weights as they were
    ### BEGIN SOLUTION
    was_training = model.training
    model.eval()
    try:
        X = X.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            scores = model(X).gather(1, y.view(-1, 1).to(X.device)).squeeze(1)
            # Gradient w.r.t. X only: the parameters' .grad stay as they were.
            (grad,) = torch.autograd.grad(scores.sum(), X)
    finally:
        model.train(was_training)
    saliency = grad.abs().amax(dim=1)
    # Each image on its own scale; an all-zero map stays zero.
    peak = saliency.amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(saliency.dtype).tiny)
    return (saliency / peak).detach()
    ### END SOLUTION


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

### STUB: Written answers: answer each question in a few sentences
### BEGIN SOLUTION
ANSWERS = {
    "1b": (
        "Each output is the dot product of the kernel with the patch under it, plus the bias. "
        "The kernels and the input are binary, so the dot product counts the positions where both "
        "are 1; with b = -1 only patches matching both ones of the kernel exceed 0 and ReLU keeps "
        "exactly those (value 1), everything else becomes 0. So one reads the output off by "
        "looking for the kernel's pattern (diagonal, vertical pair, horizontal pair) in the input."
    ),
    "1d": (
        "Stride 2 downsamples: it halves the spatial resolution, saving computation and memory "
        "and enlarging the receptive field of later layers. Pooling (e.g. max pooling 2x2 with "
        "stride 2) serves the same purpose."
    ),
    "1e": (
        "Padding p on both sides gives a length n + 2p. A kernel of size k (dilated extent "
        "d(k-1)+1) fits at the first position and then every s steps while it stays inside, so "
        "the number of positions is floor((n + 2p - d(k-1) - 1) / s) + 1; with d = 1 this is "
        "floor((n + 2p - k) / s) + 1."
    ),
    "2c": (
        "Each additional layer adds (k-1) times the product of the strides before it to the "
        "receptive field: with stride 1 it grows linearly with depth (r = 1 + L(k-1)), with "
        "strides > 1 it grows exponentially, so deeper layers see larger regions of the input."
    ),
    "2d": (
        "Use larger kernels, larger strides or pooling (downsampling multiplies the step of all "
        "later layers), or dilated convolutions, which spread the kernel over a larger area "
        "without more parameters."
    ),
    "3.3": (
        "Training accuracy keeps rising while test accuracy levels off, so the gap widens: the "
        "network overfits, memorizing the training images instead of learning features that "
        "generalize; the small training set makes this worse."
    ),
    "3.4": (
        "Augmentation shows the network a different variant of each image every epoch, so it "
        "cannot memorize them: training accuracy rises more slowly and stays closer to test "
        "accuracy, which ends up at least as high. Normalization (and batch norm) centres the "
        "inputs and activations, which speeds up and stabilizes training. Only the training data "
        "is augmented; the test set must stay the unaltered images."
    ),
    "4.5": (
        "The saliency map is the gradient of one class score, so it shows the pixels that most "
        "change that class's score. For 285 (Egyptian cat) these are the cat's features such as "
        "face, ears and fur pattern; for 243 (bull mastiff) the network looks for dog-like "
        "evidence, so other pixels matter and the map differs although the image is the same."
    ),
}
### END SOLUTION
