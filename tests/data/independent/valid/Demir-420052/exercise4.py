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
    # pad first, then cut out all kh x kw patches with unfold (rows, then columns)
    x = x.float()
    w = w.to(x)
    if padding > 0:
        x = F.pad(x, (padding, padding, padding, padding))
    kh, kw = w.shape
    patches = x.unfold(0, kh, stride).unfold(1, kw, stride)  # (out_h, out_w, kh, kw)
    out = (patches * w).sum(dim=(-2, -1)) + b
    return torch.clamp(out, min=0)


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
HAND_COMPUTED = {
    # stride 1 -> 4 x 5 outputs
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
    # stride 2 -> 2 x 3 outputs (every second row/column of the above)
    "w1_s2": [[1, 0, 1],
              [0, 0, 0]],
    "w2_s2": [[0, 0, 0],
              [0, 0, 0]],
    "w3_s2": [[0, 0, 0],
              [0, 1, 0]],
}


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    # effective kernel size with dilation is d*(k-1)+1
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    # Go backwards from the last layer: one unit of layer L sees r_L = 1 unit of its own output,
    # and r_{l-1} = s_l * (r_l - 1) + d_l * (k_l - 1) + 1 units of the layer below.
    def rf_below(i: int, r: int) -> int:
        if i < 0:
            return r
        k, s, *rest = layers[i]
        d = rest[0] if rest else 1
        return rf_below(i - 1, s * (r - 1) + d * (k - 1) + 1)

    return int(rf_below(len(layers) - 1, 1))


RF_ANSWERS = {
    "a": 7,   # 1 + 3 * (3 - 1)
    "b": 10,  # backwards: 1 -> (1-1)*2 + 4 = 4 -> (4-1)*2 + 4 = 10
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
            transforms.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3),
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
    train_tf = make_transform(augment=augment, normalize=normalize)
    test_tf = make_transform(augment=False, normalize=normalize)  # never augment the test images
    try:
        trainset = torchvision.datasets.CIFAR10(root=str(root), train=True, download=False, transform=train_tf)
        testset = torchvision.datasets.CIFAR10(root=str(root), train=False, download=False, transform=test_tf)
    except RuntimeError:
        # the course subset has other md5 sums than the full data set -> use the given loader
        trainset = load_cifar10(root, train=True, transform=train_tf)
        testset = load_cifar10(root, train=False, transform=test_tf)
    train_loader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    test_loader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(3, 6, kernel_size=5)
        self.norm1 = nn.BatchNorm2d(6) if normalization else nn.Identity()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.norm2 = nn.BatchNorm2d(16) if normalization else nn.Identity()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = self.pool1(F.relu(self.norm1(self.conv1(x))))  # (N, 6, 14, 14)
        x = self.pool2(F.relu(self.norm2(self.conv2(x))))  # (N, 16, 5, 5)
        x = x.reshape(x.shape[0], -1)
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
    model.to(device)
    train_acc, test_acc = [], []
    for epoch in range(num_epochs):
        model.train()
        correct, total, running_loss = 0, 0, 0.0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * labels.size(0)
            correct += (outputs.argmax(dim=1) == labels).sum().item()
            total += labels.size(0)
        train_acc.append(correct / total)
        epoch_loss = running_loss / total

        model.eval()
        correct, total = 0, 0
        with torch.no_grad():
            for images, labels in test_loader:
                images, labels = images.to(device), labels.to(device)
                outputs = model(images)
                correct += (outputs.argmax(dim=1) == labels).sum().item()
                total += labels.size(0)
        test_acc.append(correct / total)
        print(f"epoch {epoch + 1}/{num_epochs}: loss {epoch_loss:.4f}, "
              f"train acc {train_acc[-1]:.3f}, test acc {test_acc[-1]:.3f}")
    return train_acc, test_acc


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot(1, 1, 1)
    for name, (train_acc, test_acc) in runs.items():
        epochs = np.arange(1, len(train_acc) + 1)
        line, = ax.plot(epochs, train_acc, marker="o", label=f"{name} train")
        ax.plot(np.arange(1, len(test_acc) + 1), test_acc, marker="s", linestyle="--",
                color=line.get_color(), label=f"{name} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("CIFAR-10: training vs. test accuracy")
    ax.grid(alpha=0.3)
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
    fig = Figure(figsize=(2 * n, 4.4))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        axes[0, i].imshow(to_image(dataset[i][0]))
        axes[1, i].imshow(to_image(augmented[i][0]))
        axes[0, i].axis("off")
        axes[1, i].axis("off")
    axes[0, 0].set_title("original", loc="left")
    axes[1, 0].set_title("augmented", loc="left")
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
    for name, module in layers.items():
        def hook(mod, inputs, output, name=name):
            activations[name] = output.detach()
        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
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
    model.eval()
    X = X.clone().detach().requires_grad_(True)
    scores = model(X)                                    # (N, 1000)
    class_scores = scores.gather(1, y.view(-1, 1)).squeeze(1)
    grad, = torch.autograd.grad(class_scores.sum(), X)   # does not touch the parameters' .grad
    sal = grad.abs().amax(dim=1)                         # (N, H, W)
    # min-max scaling, for every image separately
    lo = sal.flatten(1).min(dim=1).values.view(-1, 1, 1)
    hi = sal.flatten(1).max(dim=1).values.view(-1, 1, 1)
    sal = (sal - lo) / (hi - lo).clamp_min(1e-12)
    return sal.detach()


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
    "1b": (
        "All inputs and weights are 0 or 1 and the bias is -1, so w*x+b is (number of positions where the "
        "patch and the kernel both have a 1) - 1. Each kernel has two ones, so the sum is -1, 0 or 1 and after "
        "the ReLU only 0 or 1 is left: the output is 1 exactly where the patch contains the kernel's pattern "
        "(w1 a diagonal, w2 a vertical pair in the left column, w3 a horizontal pair in the top row). So you can "
        "read the output off by sliding the kernel over x and looking for that pattern; the bias works as a "
        "threshold and the ReLU removes the negative/partial matches."
    ),
    "1d": (
        "Stride 2 downsamples the feature map (about half the height and width): fewer computations and "
        "memory in later layers and a faster growing receptive field, at the cost of spatial detail. "
        "Pooling (max pooling or average pooling with stride 2) serves the same purpose."
    ),
    "1e": (
        "1-D, input length n, padding p on both sides -> padded length n + 2p. A kernel of size k (dilated: "
        "d*(k-1)+1) fits at start positions 0, s, 2s, ... as long as start + d*(k-1)+1 <= n + 2p, so the number "
        "of positions is o = floor((n + 2p - d*(k-1) - 1) / s) + 1; without dilation o = floor((n + 2p - k) / s) + 1. "
        "Example: n=6, k=2, s=2, p=0 -> floor(4/2)+1 = 3, n=5 -> floor(3/2)+1 = 2."
    ),
    "2c": (
        "Every layer adds to the receptive field, so it grows with depth: with stride 1 each k x k layer "
        "adds k-1, i.e. r = 1 + L(k-1) grows linearly (3 layers of 3x3 -> 7). With strides > 1 each later layer "
        "adds (k-1) times the product of the previous strides, so the growth is much faster."
    ),
    "2d": (
        "Larger kernels, larger strides or pooling layers between the convolutions (downsampling multiplies "
        "what later layers see), and dilated (atrous) convolutions, which spread the kernel out without extra "
        "parameters."
    ),
    "3.3": (
        "The training accuracy keeps climbing (towards 70-80% after 10 epochs) while the test accuracy stops at "
        "around 45-50% after a few epochs and even drops a little. The growing gap is overfitting: the small "
        "network still has ~62k parameters for only ~5000 training images, so it memorizes the training set "
        "instead of learning features that generalize."
    ),
    "3.4": (
        "With augmentation (flip, crop, colour jitter) plus normalization the training accuracy rises more "
        "slowly and stays lower, because the network never sees exactly the same image twice, but the test "
        "accuracy is as high or higher and the gap between the curves is much smaller: augmentation acts as a "
        "regularizer. Normalizing the inputs to mean 0 / std 0.5 and batch norm make the optimization better "
        "conditioned so training is more stable."
    ),
    "4.5": (
        "The saliency map is the gradient of the score of ONE class with respect to the pixels, i.e. which pixels "
        "would change that class score the most. The score of 'bull mastiff' (243) and of 'Egyptian cat' (285) are "
        "different functions of the image (different rows of the last layer), so their gradients differ: for the "
        "cat label the face/ears/fur of the cat light up, for the dog label other regions that look dog-like. "
        "(With the random weights we have offline the maps are just noise, but still different per label.)"
    ),
}


if __name__ == "__main__":
    import matplotlib.pyplot as plt

    root = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    use_gpu = torch.cuda.is_available()
    runs = {}
    for name, norm, aug in (("plain", False, False), ("augmented + normalized", True, True)):
        torch.manual_seed(0)
        train_loader, test_loader = make_loaders(root, batch_size=16, augment=aug, normalize=norm)
        model = Net(normalization=norm)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        runs[name] = train(model, nn.CrossEntropyLoss(), optimizer, train_loader, test_loader,
                           num_epochs=10, use_gpu=use_gpu)
    plot_accuracy(runs).savefig("accuracy.png")

    resnet, note = load_resnet18()
    print(note)
    x = load_photo("chelsea")
    acts = get_activations(resnet, x, resnet_layers(resnet))
    for name, a in acts.items():
        print(name, list(a.shape))
    maps = saliency_maps(x.repeat(2, 1, 1, 1), torch.tensor([243, 285]), resnet)
    show_saliency(x, {"243 bull mastiff": maps[0], "285 Egyptian cat": maps[1]}).savefig("saliency.png")
