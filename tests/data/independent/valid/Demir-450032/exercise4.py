"""Exercise 4: Convolutional Neural Networks.

Fill in every function that raises NotImplementedError and every placeholder in
HAND_COMPUTED, RF_ANSWERS and ANSWERS. The names and signatures are fixed: the
grader imports this module and calls them. Everything else here is given.

Given values: X is the 5 x 6 input and W1, W2, W3 the 2 x 2 filters of Task 1 as
float32 tensors; B1, B2, B3 are their biases as Python floats (-1.0).
"""

from __future__ import annotations

import math
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
from tqdm import tqdm

RESULTS_DIR = 'results'
if not os.path.exists(RESULTS_DIR):
    os.makedirs(RESULTS_DIR)

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
    inp = x.unsqueeze(0).unsqueeze(0)            # (1, 1, H, W)
    kernel = w.unsqueeze(0).unsqueeze(0).to(inp.dtype)
    bias = torch.tensor([float(b)], dtype=inp.dtype)
    return torch.relu(F.conv2d(inp, kernel, bias, stride=stride, padding=padding)).squeeze(0).squeeze(0)


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
# stride 1 (4 x 5 outputs)
HAND_COMPUTED = {
    "w1_s1": [[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]],
    "w2_s1": [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
    "w3_s1": [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]],
    # stride 2 (2 x 3 outputs), the last row of x is not used any more
    "w1_s2": [[1, 0, 1], [0, 0, 0]],
    "w2_s2": [[0, 0, 0], [0, 0, 0]],
    "w3_s2": [[0, 0, 0], [0, 1, 0]],
}


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    k_eff = d * (k - 1) + 1   # a dilated kernel covers d*(k-1)+1 pixels
    return math.floor((n + 2 * p - k_eff) / s + 1)


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    # go backwards from one unit of the last layer down to the input:
    # r_in = s * r_out + (k_eff - s)
    r = 1
    for layer in reversed(list(layers)):
        k, s, *rest = layer
        dil = rest[0] if rest else 1
        k_eff = dil * (k - 1) + 1
        r = s * r + (k_eff - s)
    return int(r)


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
    ops = []
    if augment:
        ops.append(transforms.RandomHorizontalFlip(p=0.5))
        ops.append(transforms.RandomCrop(32, padding=4))
        ops.append(transforms.ColorJitter(brightness=0.5, hue=0.1))
    ops.append(transforms.ToTensor())
    if normalize:
        ops.append(transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]))
    return transforms.Compose(ops)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    trainset = load_cifar10(root, train=True, transform=make_transform(augment, normalize))
    testset = load_cifar10(root, train=False, transform=make_transform(False, normalize))  # no augmentation for testing!
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True,
                                              num_workers=num_workers)
    testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False,
                                             num_workers=num_workers)
    return trainloader, testloader


class Net(nn.Module):
    def __init__(self, normalization=False):
        super(Net, self).__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(in_channels=3, out_channels=6, kernel_size=(5, 5), padding=0, stride=1)
        self.norm1 = nn.BatchNorm2d(num_features=6)
        self.pool1 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.conv2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=(5, 5), padding=0, stride=1)
        self.norm2 = nn.BatchNorm2d(num_features=16)
        self.pool2 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.conv1(x)
        if self.normalization:
            x = self.norm1(x)
        x = self.pool1(F.relu(x))
        x = self.conv2(x)
        if self.normalization:
            x = self.norm2(x)
        x = self.pool2(F.relu(x))
        x = x.view(x.size(0), -1)
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
    if use_gpu and torch.cuda.is_available():
        model = model.cuda()
    dev = next(model.parameters()).device

    train_accuracies, test_accuracies = [], []
    for epoch in tqdm(range(num_epochs), desc="epochs"):
        model.train()
        running_loss = 0.0
        correct, total = 0, 0
        for inputs, labels in train_loader:
            inputs, labels = inputs.to(dev), labels.to(dev)
            optimizer.zero_grad()
            prediction = model(inputs)
            loss = criterion(prediction, labels)
            loss.backward()
            optimizer.step()

            running_loss += loss.item() * labels.size(0)
            _, predicted = torch.max(prediction.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
        train_accuracies.append(correct / total)

        test_accuracies.append(evaluate(model, test_loader, dev))
        print(f"Epoch [{epoch + 1}/{num_epochs}], loss: {running_loss / max(total, 1):.4f}, "
              f"train acc: {train_accuracies[-1]:.4f}, test acc: {test_accuracies[-1]:.4f}")
        torch.save(model.state_dict(), f"{RESULTS_DIR}/ConvNet{epoch + 1}.ckpt")
    return train_accuracies, test_accuracies


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, dev: torch.device | str = "cpu") -> float:
    """Accuracy (fraction of images) of model on loader, in eval mode."""
    model.eval()
    correct, total = 0, 0
    with torch.inference_mode():
        for inputs, labels in tqdm(loader, desc="test", leave=False):
            inputs, labels = inputs.to(dev), labels.to(dev)
            _, predicted = torch.max(model(inputs), 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return correct / total


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(9, 5))
    ax = fig.add_subplot(1, 1, 1)
    for name, (train_acc, test_acc) in runs.items():
        ax.plot(np.arange(1, len(train_acc) + 1), train_acc, "-o", label=f"{name} train")
        ax.plot(np.arange(1, len(test_acc) + 1), test_acc, "--o", label=f"{name} test")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Accuracy (fraction correct)")
    ax.legend(loc="lower right")
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
    fig = Figure(figsize=(2 * n, 4.4))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        axes[0, i].imshow(to_image(dataset[i][0]))
        axes[1, i].imshow(to_image(augmented[i][0]))
        axes[0, i].axis("off")
        axes[1, i].axis("off")
    axes[0, 0].set_title("original", loc="left")
    axes[1, 0].set_title("augmented", loc="left")
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
    layers = dict()
    layers["maxpool"] = model.maxpool
    layers["comp"] = model.layer3[0].downsample[1]   # the BatchNorm of the shortcut
    layers["conv2"] = model.layer4[1].conv2
    layers["avgpool"] = model.avgpool
    return layers


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    activation = {}

    def get_activation(name):
        def hook(model, input, output):
            activation[name] = output.detach().clone()
        return hook

    handles = []
    try:
        for name, layer in layers.items():
            handles.append(layer.register_forward_hook(get_activation(name)))
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return activation


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
    mode = model.training
    model.eval()
    # the weights should not collect gradients, only the input
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        X = X.clone()
        X.requires_grad_()
        scores = model(X).gather(1, y.view(-1, 1)).squeeze(1)   # score of the wanted class per image
        scores.backward(torch.ones_like(scores))
        saliency = X.grad.abs().max(dim=1).values                # (N, H, W)
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(mode)
    # min-max scaling, separately for every image
    lo = saliency.flatten(1).min(dim=1).values.view(-1, 1, 1)
    hi = saliency.flatten(1).max(dim=1).values.view(-1, 1, 1)
    return ((saliency - lo) / (hi - lo + 1e-12)).clamp(0, 1).detach()


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

ANSWERS = {
    "1b": "The kernel is laid on a 2x2 patch, the products are summed and the bias -1 is added. Since the kernels "
          "are 0/1 with two ones and x is binary, the sum is at most 2, so w*x+b is -1, 0 or 1 and the ReLU leaves a 1 "
          "only where the patch contains the kernel's pattern completely (both ones), otherwise 0. The bias works "
          "like a threshold. So one can read the output directly: mark every position where the pattern of the kernel "
          "(w1: diagonal, w2: two ones on top of each other on the left, w3: two ones next to each other on top) "
          "appears in x.",
    "1d": "Stride 2 reduces the spatial resolution (downsampling): fewer outputs, less computation in the next "
          "layers and a faster growing receptive field. The same is done by pooling layers, e.g. 2x2 max pooling "
          "with stride 2.",
    "1e": "out = floor((n + 2p - k) / s) + 1. The padded signal has length n + 2p, the first window starts at 0 and "
          "the last one must end inside the signal, so the start positions are 0, s, 2s, ..., up to n + 2p - k; "
          "that gives floor((n + 2p - k)/s) + 1 windows. The floor is needed when the stride does not divide "
          "n + 2p - k (the rest is just dropped). With dilation d use k_eff = d(k - 1) + 1 instead of k.",
    "2c": "The deeper the network, the larger the receptive field: every conv layer adds (k - 1) times the product of "
          "the strides before it. With stride 1 it grows linearly (1 + L(k-1)), with strides > 1 much faster.",
    "2d": "By using strides > 1 or pooling, by larger kernels, or by dilated (atrous) convolutions, which enlarge the "
          "kernel's footprint to d(k-1)+1 without adding weights.",
    "3.3": "Training accuracy increases steadily over the epochs, while the test accuracy stops improving after "
           "a few epochs and is clearly below the training accuracy (the gap grows with the epochs). This is overfitting: "
           "with few training images the net learns the specific training images by heart and does not generalize.",
    "3.4": "With data augmentation the training images are different in every epoch (flipped, shifted, other colours), "
           "so the training accuracy is lower and increases more slowly, but the test accuracy is similar or higher, "
           "so the gap between training and test is much smaller: augmentation works as a regularizer. The "
           "normalization (and batch norm) makes the optimization faster and more stable. Only the training data is "
           "augmented, the test data is only normalized.",
    "4.5": "The saliency map is the derivative of the score of the chosen class w.r.t. the pixels, so it depends on "
           "the class: it shows which pixels the score of exactly this class is most sensitive to. For 'bull mastiff' "
           "(243) the net looks for dog features, for 'Egyptian cat' (285) for cat features (face, ears, fur pattern), "
           "so the gradients and the highlighted regions differ even though the image is the same.",
}
