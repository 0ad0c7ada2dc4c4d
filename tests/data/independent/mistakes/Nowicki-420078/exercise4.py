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

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from matplotlib.figure import Figure
from torch import nn
from torchvision import transforms
from tqdm import tqdm

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_CHECKPOINT = "resnet18-f37072fd.pth"
PHOTOS = ("chelsea", "coffee", "astronaut")
RESULTS_DIR = "results"
os.makedirs(RESULTS_DIR, exist_ok=True)

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
    # straightforward implementation with two loops (checked against F.conv2d in __main__)
    x = x.float()
    w = w.float()
    if padding:
        x = F.pad(x, [padding] * 4)
    kh, kw = w.shape
    out_h = (x.shape[0] - kh) // stride + 1
    out_w = (x.shape[1] - kw) // stride + 1
    out = torch.zeros(out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            patch = x[i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[i, j] = (patch * w).sum() + b
    return F.relu(out)


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
HAND_COMPUTED = {
    "w1_s1": [[1., 0., 0., 0., 1.],
              [0., 1., 0., 0., 0.],
              [0., 0., 0., 1., 0.],
              [0., 0., 0., 0., 1.]],
    "w2_s1": [[0., 0., 0., 0., 0.],
              [0., 0., 0., 0., 0.],
              [0., 0., 0., 0., 0.],
              [1., 0., 0., 0., 0.]],
    "w3_s1": [[0., 0., 0., 1., 0.],
              [0., 0., 0., 0., 0.],
              [0., 0., 1., 0., 0.],
              [0., 0., 0., 0., 0.]],
    "w1_s2": [[1., 0., 1.],
              [0., 0., 0.]],
    "w2_s2": [[0., 0., 0.],
              [0., 0., 0.]],
    "w3_s2": [[0., 0., 0.],
              [0., 1., 0.]],
}


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s + 1)


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    # r = 1 + sum_l d_l * (k_l - 1) * prod_{i < l} s_i
    total = 1
    for l, layer in enumerate(layers):
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) > 2 else 1
        total += d * (k - 1) * math.prod(prev[1] for prev in layers[:l])
    return int(total)


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
    pipeline = []
    if augment:
        pipeline.extend([
            transforms.RandomHorizontalFlip(),
            transforms.RandomCrop(size=32, padding=4),
            transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
        ])
    pipeline.append(transforms.ToTensor())
    if normalize:
        pipeline.append(transforms.Normalize(mean=[0.5] * 3, std=[0.5] * 3))
    return transforms.Compose(pipeline)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    transform = make_transform(augment=augment, normalize=normalize)
    trainset = load_cifar10(root, train=True, transform=transform)
    testset = load_cifar10(root, train=False, transform=transform)
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True,
                                              num_workers=num_workers)
    testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False,
                                             num_workers=num_workers)
    return trainloader, testloader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(in_channels=3, out_channels=6, kernel_size=(5, 5), padding=0, stride=1)
        self.norm1 = nn.BatchNorm2d(num_features=6) if normalization else nn.Identity()
        self.pool1 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.conv2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=(5, 5), padding=0, stride=1)
        self.norm2 = nn.BatchNorm2d(num_features=16) if normalization else nn.Identity()
        self.pool2 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = self.conv1(x)
        x = self.norm1(x)
        x = self.pool1(F.relu(x))
        x = self.conv2(x)
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
    device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
    model = model.to(device)
    history_train, history_test = [], []
    for epoch in tqdm(range(num_epochs)):
        model.train()
        running_loss = 0.0
        correct = 0
        seen = 0
        for inputs, labels in train_loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            prediction = model(inputs)
            loss = criterion(prediction, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            _, predicted = torch.max(prediction.data, 1)
            correct += (predicted == labels).sum().item()
            seen += labels.size(0)
        history_train.append(correct / seen)

        model.eval()
        correct = 0
        seen = 0
        with torch.no_grad():
            for inputs, labels in tqdm(test_loader, leave=False):
                inputs, labels = inputs.to(device), labels.to(device)
                prediction = model(inputs)
                _, predicted = torch.max(prediction.data, 1)
                correct += (predicted == labels).sum().item()
                seen += labels.size(0)
        history_test.append(correct / seen)
        print(f"[epoch {epoch + 1}] loss: {running_loss / len(train_loader):.3f} "
              f"train: {history_train[-1]:.3f} test: {history_test[-1]:.3f}")
        torch.save(model.state_dict(), f"{RESULTS_DIR}/ConvNet{epoch + 1}.ckpt")
    return history_train, history_test


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(10, 5))
    ax = fig.add_subplot()
    styles = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for idx, (name, (acc_train, acc_test)) in enumerate(runs.items()):
        color = styles[idx % len(styles)]
        ax.plot(np.arange(1, len(acc_train) + 1), acc_train, color=color, label=f"{name} train")
        ax.plot(np.arange(1, len(acc_test) + 1), acc_test, color=color, linestyle=":", label=f"{name} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
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
    fig = Figure(figsize=(2 * n, 4))
    grid = fig.subplots(nrows=2, ncols=n, squeeze=False)
    for col in range(n):
        original, label = dataset[col]
        changed, _ = augmented[col]
        grid[0, col].imshow(to_image(original))
        grid[0, col].set_title(CLASSES[label], fontsize=8)
        grid[1, col].imshow(to_image(changed))
        grid[0, col].axis("off")
        grid[1, col].axis("off")
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
        "comp": model.layer3[0].downsample[1],   # BatchNorm of the shortcut
        "conv2": model.layer4[1].conv2,
        "avgpool": model.avgpool,
    }


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    captured: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(lambda m, i, o, key=key: captured.__setitem__(key, o.detach()))
        for key, module in layers.items()
    ]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured


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
    model.eval()
    images = X.detach().clone().requires_grad_(True)
    logits = model(images)
    chosen = logits[torch.arange(len(y)), y]
    (grad,) = torch.autograd.grad(chosen.sum(), images)
    saliency = grad.abs().amax(dim=1)
    saliency = saliency / saliency.amax(dim=(1, 2), keepdim=True)
    return saliency.detach()


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
    "1b": "Every entry is 0 or 1, so w*x counts how many of the two 1s of the kernel fall on a 1 of the patch (0, 1 or 2). "
          "Adding b = -1 gives -1, 0 or 1 and the ReLU keeps only the 1, i.e. the output is 1 exactly where the patch "
          "contains the kernel's pattern. The kernels are detectors for a diagonal (w1), a vertical (w2) and a "
          "horizontal (w3) pair of ones and the outputs can be read off by searching x for these pairs.",
    "1d": "A stride of 2 downsamples: the output is about half as large in each dimension, which saves computation "
          "and memory and lets later layers cover a larger part of the image. Pooling (max or average pooling with "
          "window 2 and stride 2) has the same purpose.",
    "1e": "After padding the input has n + 2p positions. A kernel of size k (dilated: d(k-1)+1) placed at start "
          "position i covers i ... i + d(k-1), so valid starts are 0 <= i <= n + 2p - d(k-1) - 1, in steps of s. That gives "
          "floor((n + 2p - d(k-1) - 1) / s) + 1 outputs, for d = 1: floor((n + 2p - k) / s) + 1.",
    "2c": "More layers -> larger receptive field. Each layer adds (k-1) times the product of the strides of all layers "
          "before it, so with stride 1 the field grows linearly with the depth and with stride > 1 exponentially.",
    "2d": "Use larger kernels, add strides or pooling layers (downsampling) or use dilated convolutions.",
    "3.3": "Training accuracy increases every epoch while the test accuracy stops improving after a few epochs at about "
           "45 %. The widening gap shows overfitting: with only ~5k training images the network memorizes them.",
    "3.4": "With augmentation and normalization the training accuracy grows more slowly, the test accuracy ends up "
           "slightly higher and the gap is much smaller. Augmentation acts as regularization (the network never sees "
           "exactly the same image twice), normalization/batch norm make the optimization easier.",
    "4.5": "The map is the gradient of the score of the chosen label with respect to the pixels. The scores for 243 "
           "(bull mastiff) and 285 (Egyptian cat) depend on the image in different ways (different weights in the last "
           "layer and different features), so the gradients and therefore the maps are different: each map shows the "
           "pixels that matter for that class. Without pretrained weights (random init here) the maps look like noise.",
}


if __name__ == "__main__":
    # sanity checks
    for w, b in ((W1, B1), (W2, B2), (W3, B3)):
        for s in (1, 2):
            ref = F.relu(F.conv2d(X[None, None], w[None, None], torch.tensor([b]), stride=s))[0, 0]
            assert torch.allclose(conv_relu(X, w, b, stride=s), ref)
    print("conv_relu ok")

    DATA = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    gpu = torch.cuda.is_available()
    criterion = nn.CrossEntropyLoss()
    results = {}
    for name, aug in (("baseline", False), ("augmented+normalized", True)):
        train_loader, test_loader = make_loaders(DATA, batch_size=16, augment=aug, normalize=aug)
        model = Net(normalization=aug)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        results[name] = train(model, criterion, optimizer, train_loader, test_loader, num_epochs=10, use_gpu=gpu)
    plot_accuracy(results).savefig(f"{RESULTS_DIR}/accuracy.png")
