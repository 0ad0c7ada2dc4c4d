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
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import nn
from torchvision import transforms
from torchvision.utils import make_grid

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
    x4 = x.reshape(1, 1, *x.shape).float()
    w4 = w.reshape(1, 1, *w.shape).to(x4.dtype)
    bias = torch.as_tensor(b, dtype=x4.dtype).reshape(1)
    out = F.conv2d(x4, w4, bias=bias, stride=stride, padding=padding)
    return F.relu(out)[0, 0]


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
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
    # effective kernel size with dilation, then the usual floor formula
    k_eff = d * (k - 1) + 1
    return (n + 2 * p - k_eff) // s + 1


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    rf = 1      # a unit of the input sees itself
    jump = 1    # distance (in input pixels) between neighbouring units of the current layer
    for layer in layers:
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) > 2 else 1
        k_eff = d * (k - 1) + 1
        rf += (k_eff - 1) * jump
        jump *= s
    return int(rf)


RF_ANSWERS = {
    "a": 7,   # 1 + 3 * (3 - 1)
    "b": 10,  # 1 + (4 - 1) * 1 + (4 - 1) * 2
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
            transforms.RandomHorizontalFlip(),
            transforms.RandomCrop(32, padding=4),
            transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        ]
    steps.append(transforms.ToTensor())
    if normalize:
        steps.append(transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    return transforms.Compose(steps)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    train_set = load_cifar10(root, train=True, transform=make_transform(augment=augment, normalize=normalize))
    # the test images are never augmented, only normalized like the training images
    test_set = load_cifar10(root, train=False, transform=make_transform(augment=False, normalize=normalize))
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, kernel_size=5),
            nn.BatchNorm2d(6) if normalization else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.BatchNorm2d(16) if normalization else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        return self.classifier(self.features(x))


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
    model.to(device)
    train_acc, test_acc = [], []
    for epoch in range(num_epochs):
        model.train()
        running_loss, batches = 0.0, 0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            batches += 1
        # both accuracies with the weights at the end of the epoch, in eval mode
        train_acc.append(_accuracy(model, train_loader, device))
        test_acc.append(_accuracy(model, test_loader, device))
        print(f"epoch {epoch + 1}/{num_epochs}: loss {running_loss / max(batches, 1):.4f}, "
              f"train acc {train_acc[-1]:.4f}, test acc {test_acc[-1]:.4f}")
    return train_acc, test_acc


@torch.no_grad()
def _accuracy(model: nn.Module, loader: Iterable, device: torch.device) -> float:
    """Fraction of correctly classified images of loader (eval mode, no gradients)."""
    model.eval()
    correct, total = 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        predicted = model(images).argmax(dim=1)
        correct += (predicted == labels).sum().item()
        total += labels.size(0)
    return correct / total if total else 0.0


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (train_acc, test_acc) in runs.items():
        epochs = range(1, len(train_acc) + 1)
        line, = ax.plot(epochs, train_acc, marker="o", label=f"{name} train")
        ax.plot(range(1, len(test_acc) + 1), test_acc, marker="s", linestyle="--",
                color=line.get_color(), label=f"{name} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("CIFAR-10 accuracy per epoch")
    ax.grid(True, alpha=0.3)
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
    def as_chw(image):
        return torch.from_numpy(np.ascontiguousarray(to_image(image))).permute(2, 0, 1).float()

    originals = torch.stack([as_chw(dataset[i][0]) for i in range(n)])
    changed = torch.stack([as_chw(augmented[i][0]) for i in range(n)])
    fig, (ax_top, ax_bottom) = plt.subplots(2, 1, figsize=(1.6 * n, 4))
    for ax, images, title in ((ax_top, originals, "original"), (ax_bottom, changed, "augmented")):
        grid = make_grid(images, nrow=n, padding=2, pad_value=1.0)
        ax.imshow(grid.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(title)
        ax.axis("off")
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
        "comp": model.layer3[0].downsample[1],
        "conv2": model.layer4[1].conv2,
        "avgpool": model.avgpool,
    }


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    activations = {}
    handles = []

    def make_hook(name):
        def hook(module, inputs, output):
            activations[name] = output.detach()
        return hook

    for name, module in layers.items():
        handles.append(module.register_forward_hook(make_hook(name)))
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
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
    model.eval()
    X = X.clone().detach().requires_grad_(True)
    scores = model(X)                                    # (N, 1000)
    class_scores = scores.gather(1, y.view(-1, 1)).squeeze(1)
    # gradient of the class score (not the loss); autograd.grad leaves the parameters' .grad alone
    grad, = torch.autograd.grad(class_scores.sum(), X)
    saliency = grad.abs().amax(dim=1)                    # (N, H, W)
    saliency = saliency / saliency.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    model.train(was_training)
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
    "1b": "Each output value is the sum of the patch entries where the kernel has a 1, plus the bias -1, "
          "then ReLU. All kernels have exactly two ones, so the sum is 0, 1 or 2 and after adding -1 and the "
          "ReLU only a 2 survives (as 1). So an output is 1 exactly when the patch has ones at both kernel "
          "positions: w1 detects a diagonal pair (top-left and bottom-right), w2 a vertical pair in the left "
          "column, w3 a horizontal pair in the top row. You can read the output off by looking for these "
          "patterns in x; everything else is 0.",
    "1d": "Stride 2 downsamples the feature map (about half the width and height), which saves computation "
          "and memory in later layers and makes the receptive field of later layers grow faster. "
          "Pooling (max pooling or average pooling with stride 2) serves the same purpose.",
    "1e": "In 1-D with input length n, padding p on both sides the padded input has n + 2p positions. The kernel "
          "of size k fits at the start positions 0, s, 2s, ... as long as start + k <= n + 2p, so there are "
          "floor((n + 2p - k) / s) + 1 outputs. With dilation d the kernel covers d(k-1)+1 pixels, so k is "
          "replaced by d(k-1)+1. Example: n=5, k=2, s=2: floor(3/2)+1 = 2.",
    "2c": "With stride 1 every extra layer with a k x k kernel adds k-1 pixels, so the receptive field grows "
          "linearly with depth: 1 + L(k-1) (3 layers of 3x3 give 7). If earlier layers have stride > 1, the "
          "growth per layer is multiplied by the product of the previous strides, so it grows faster.",
    "2d": "Use larger kernels, use strides or pooling (downsampling) so later layers see more of the input per "
          "step, or use dilated convolutions, which spread the kernel out without more parameters.",
    "3.3": "The training accuracy keeps going up every epoch while the test accuracy flattens out after a few "
           "epochs (around 50% for me) and stays there, so the gap gets bigger with more epochs. The network "
           "overfits: the training set (a 5k subset) is small for the ~62k parameters, so it memorizes the "
           "training images instead of learning features that generalize.",
    "3.4": "With augmentation (flip, random crop, colour jitter) plus normalization and batch norm the training "
           "accuracy rises more slowly, because the network sees a slightly different version of each image "
           "every epoch and cannot memorize them. The test accuracy is as good or better than before and the gap "
           "between train and test is much smaller, so there is less overfitting. Normalization and batch norm "
           "make training more stable. The test set is only normalized, never augmented.",
    "4.5": "The saliency map is the gradient of one class score with respect to the input pixels. Each class "
           "score is a different function of the image (a different row of the last layer on top of the features), "
           "so its gradient is different: for 243 (bull mastiff) the pixels that would make the image more dog-like "
           "matter, for 285 (Egyptian cat) the pixels of the cat's face, ears and stripes. The map tells which "
           "pixels would change that particular score most, not where 'the object' is in general.",
}


if __name__ == "__main__":
    # quick run of the whole exercise; the notebook does the same with plots
    root = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    torch.manual_seed(0)
    runs = {}
    for name, (norm, aug) in {"plain": (False, False), "augmented + normalized": (True, True)}.items():
        train_loader, test_loader = make_loaders(root, batch_size=16, augment=aug, normalize=aug)
        model = Net(normalization=norm)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        runs[name] = train(model, nn.CrossEntropyLoss(), optimizer, train_loader, test_loader,
                           num_epochs=10, use_gpu=torch.cuda.is_available())
    plot_accuracy(runs).savefig("accuracy.png")
