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
    b = torch.as_tensor(b, dtype=x.dtype).reshape(1)
    return F.relu(F.conv2d(x[None, None], w[None, None].to(x.dtype), b, stride=stride, padding=padding))[0, 0]


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
HAND_COMPUTED = {
    "w1_s1": [[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]],
    "w2_s1": [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
    "w3_s1": [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]],
    "w1_s2": [[1, 0, 1], [0, 0, 0]],
    "w2_s2": [[0, 0, 0], [0, 0, 0]],
    "w3_s2": [[0, 0, 0], [0, 1, 0]],
}


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    rf, jump = 1, 1
    for k, s, *d in layers:
        rf += (d[0] if d else 1) * (k - 1) * jump
        jump *= s
    return rf


RF_ANSWERS = {"a": 7, "b": 10}


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
    aug = [transforms.RandomHorizontalFlip(), transforms.RandomCrop(32, padding=4),
           transforms.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3)] if augment else []
    norm = [transforms.Normalize((0.5,) * 3, (0.5,) * 3)] if normalize else []
    return transforms.Compose(aug + [transforms.ToTensor()] + norm)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    DL = torch.utils.data.DataLoader
    train_set = load_cifar10(root, True, make_transform(augment, normalize))
    test_set = load_cifar10(root, False, make_transform(False, normalize))
    return (DL(train_set, batch_size, shuffle=True, num_workers=num_workers),
            DL(test_set, batch_size, shuffle=False, num_workers=num_workers))


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if normalization else (lambda c: nn.Identity())
        self.conv1, self.norm1, self.pool1 = nn.Conv2d(3, 6, 5), norm(6), nn.MaxPool2d(2, 2)
        self.conv2, self.norm2, self.pool2 = nn.Conv2d(6, 16, 5), norm(16), nn.MaxPool2d(2, 2)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = self.pool1(F.relu(self.norm1(self.conv1(x))))
        x = self.pool2(F.relu(self.norm2(self.conv2(x)))).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


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
    dev = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
    model.to(dev)
    train_acc, test_acc = [], []
    for epoch in range(num_epochs):
        model.train()
        correct = n = 0
        for x, y in train_loader:
            x, y = x.to(dev), y.to(dev)
            out = model(x)
            loss = criterion(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += (out.argmax(1) == y).float().sum().item()
            n += len(y)
        train_acc.append(correct / n)
        model.eval()
        correct = n = 0
        with torch.no_grad():
            for x, y in test_loader:
                x, y = x.to(dev), y.to(dev)
                correct += (model(x).argmax(1) == y).float().sum().item()
                n += len(y)
        test_acc.append(correct / n)
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} train {train_acc[-1]:.3f} test {test_acc[-1]:.3f}")
    return train_acc, test_acc


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure()
    ax = fig.subplots()
    for name, (tr, te) in runs.items():
        ax.plot(range(1, len(tr) + 1), tr, label=f"{name} train")
        ax.plot(range(1, len(te) + 1), te, "--", label=f"{name} test")
    ax.set(xlabel="epoch", ylabel="accuracy")
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
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for row, ds in enumerate((dataset, augmented)):
            axes[row, i].imshow(to_image(ds[i][0]))
            axes[row, i].axis("off")
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
    return dict(maxpool=model.maxpool, comp=model.layer3[0].downsample[1],
                conv2=model.layer4[1].conv2, avgpool=model.avgpool)


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    acts = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: acts.__setitem__(name, o.detach().clone()))
             for name, m in layers.items()]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return acts


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
    maps = []
    for img, label in zip(X, y):
        img = img[None].clone().requires_grad_()
        model(img)[0, label].backward()
        s = img.grad[0].abs().amax(0)
        maps.append(s / s.max())
    model.zero_grad()
    return torch.stack(maps).detach()


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
    "1b": "The kernel is multiplied elementwise with the patch and summed, then the bias -1 is added and ReLU clips "
          "negatives to 0. Since everything is 0/1 and each kernel has two ones, the output is 1 only where the "
          "patch contains both ones of the kernel (the kernel's pattern), else 0. So you just look where the "
          "pattern occurs in x.",
    "1d": "Stride 2 reduces the spatial resolution (downsampling, ~half size per dimension), cheaper and larger "
          "receptive field. Pooling (max/avg pooling) does the same.",
    "1e": "out = floor((n + 2p - k) / s) + 1 (with dilation: k -> d(k-1)+1).",
    "2c": "Deeper = larger receptive field: each layer adds (k-1) * (product of previous strides). "
          "With stride 1 it grows linearly with depth.",
    "2d": "Bigger kernels, strides > 1 / pooling, or dilated convolutions.",
    "3.3": "Train accuracy goes up steadily, test accuracy saturates early -> growing gap = overfitting, "
           "the net memorizes the training set.",
    "3.4": "With augmentation + normalization train accuracy is lower and grows slower (harder, changing data), "
           "test accuracy is about the same or better and the gap is much smaller -> less overfitting, "
           "augmentation regularizes. Normalization/BN makes training more stable.",
    "4.5": "The map is d score_y / d image, i.e. it depends on the class y whose score we differentiate. Different "
           "classes depend on different pixels/features (dog vs cat evidence), so the gradients differ even for "
           "the same image.",
}


if __name__ == "__main__":
    root = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    epochs = int(os.environ.get("EPOCHS", 10))
    runs = {}
    for name, bn, aug in (("plain", False, False), ("aug+norm", True, True)):
        torch.manual_seed(0)
        net = Net(bn)
        runs[name] = train(net, nn.CrossEntropyLoss(), torch.optim.Adam(net.parameters(), 1e-3),
                           *make_loaders(root, 16, aug, aug), epochs, torch.cuda.is_available())
    plot_accuracy(runs).savefig("accuracy.png")
    show_augmentations(load_cifar10(root, True), load_cifar10(root, True, make_transform(True))).savefig("aug.png")
    model, msg = load_resnet18()
    print(msg)
    x = load_photo()
    acts = get_activations(model, x, resnet_layers(model))
    print({k: tuple(v.shape) for k, v in acts.items()})
    show_overlays(x, acts).savefig("overlays.png")
    sal = saliency_maps(x.repeat(2, 1, 1, 1), torch.tensor([243, 285]), model)
    show_saliency(x, {"bull mastiff": sal[0], "Egyptian cat": sal[1]}).savefig("saliency.png")
