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
CIFAR_MEAN = (0.5, 0.5, 0.5)
CIFAR_STD = (0.5, 0.5, 0.5)

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
    # conv2d erwartet (N, C, H, W) bzw. (C_out, C_in, kH, kW)
    inp = x.to(torch.float32).unsqueeze(0).unsqueeze(0)
    kern = w.to(torch.float32).unsqueeze(0).unsqueeze(0)
    bias = torch.as_tensor(b, dtype=torch.float32).reshape(1)
    z = F.conv2d(inp, kern, bias=bias, stride=stride, padding=padding)
    return F.relu(z).squeeze(0).squeeze(0)


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
HAND_COMPUTED = {
    # w1 = Diagonale
    "w1_s1": [[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]],
    # w2 = zwei Einsen untereinander
    "w2_s1": [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
    # w3 = zwei Einsen nebeneinander
    "w3_s1": [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]],
    # Stride 2: jede zweite Zeile/Spalte der Ergebnisse oben
    "w1_s2": [[1, 0, 1], [0, 0, 0]],
    "w2_s2": [[0, 0, 0], [0, 0, 0]],
    "w3_s2": [[0, 0, 0], [0, 1, 0]],
}


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    effective_kernel = d * (k - 1) + 1
    if n + 2 * p < effective_kernel:
        return 0
    return (n + 2 * p - effective_kernel) // s + 1


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    field = 1
    jump = 1  # Abstand benachbarter Einheiten, gemessen in Eingabepixeln
    for spec in layers:
        kernel, stride = int(spec[0]), int(spec[1])
        dilation = int(spec[2]) if len(spec) > 2 else 1
        field += dilation * (kernel - 1) * jump
        jump *= stride
    return field


RF_ANSWERS = {
    "a": 7,   # 3 -> 5 -> 7
    "b": 10,  # 4 -> 4 + 3 * 2
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
    pipeline: list = []
    if augment:
        pipeline.extend([
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.RandomCrop(size=32, padding=4),
            transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
        ])
    pipeline.append(transforms.ToTensor())
    if normalize:
        pipeline.append(transforms.Normalize(mean=CIFAR_MEAN, std=CIFAR_STD))
    return transforms.Compose(pipeline)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    train_set = load_cifar10(root, train=True, transform=make_transform(augment=augment, normalize=normalize))
    # Testdaten nie augmentieren, nur gleich normalisieren
    test_set = load_cifar10(root, train=False, transform=make_transform(augment=False, normalize=normalize))
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=batch_size, shuffle=True, num_workers=num_workers
    )
    test_loader = torch.utils.data.DataLoader(
        test_set, batch_size=batch_size, shuffle=False, num_workers=num_workers
    )
    return train_loader, test_loader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        # Block 1: 3x32x32 -> 6x28x28 -> 6x14x14
        self.conv1 = nn.Conv2d(3, 6, kernel_size=5, stride=1, padding=0)
        self.norm1 = nn.BatchNorm2d(6) if normalization else nn.Identity()
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        # Block 2: 6x14x14 -> 16x10x10 -> 16x5x5
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, stride=1, padding=0)
        self.norm2 = nn.BatchNorm2d(16) if normalization else nn.Identity()
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        # Klassifikator
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = self.pool1(F.relu(self.norm1(self.conv1(x))))
        x = self.pool2(F.relu(self.norm2(self.conv2(x))))
        x = x.reshape(x.shape[0], -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: torch.device) -> float:
    """Anteil der richtig klassifizierten Bilder von loader (Modell im eval-Modus)."""
    model.eval()
    correct, count = 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        predicted = model(images).argmax(dim=1)
        correct += int((predicted == labels).sum())
        count += labels.numel()
    return correct / count


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
    device = torch.device("cuda" if (use_gpu and torch.cuda.is_available()) else "cpu")
    model.to(device)
    train_history: list[float] = []
    test_history: list[float] = []
    for epoch in range(1, num_epochs + 1):
        model.train()
        correct, count, loss_total = 0, 0, 0.0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            loss = criterion(logits, labels)
            loss.backward()
            optimizer.step()

            loss_total += loss.item() * labels.numel()
            correct += int((logits.argmax(dim=1) == labels).sum())
            count += labels.numel()
        train_history.append(correct / count)
        test_history.append(evaluate(model, test_loader, device))
        print(f"Epoche {epoch}/{num_epochs}: Loss {loss_total / count:.4f} | "
              f"Train-Acc {train_history[-1]:.4f} | Test-Acc {test_history[-1]:.4f}")
    return train_history, test_history


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot(111)
    for name, (train_acc, test_acc) in runs.items():
        epochs = list(range(1, len(train_acc) + 1))
        ax.plot(epochs, list(train_acc), marker="o", label=f"{name} train")
        ax.plot(epochs, list(test_acc), marker="s", linestyle=":", label=f"{name} test")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Accuracy")
    ax.set_ylim(0, 1)
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
    fig = Figure(figsize=(n * 1.8, 4))
    axes = fig.subplots(2, n, squeeze=False)
    for col in range(n):
        image, label = dataset[col]
        aug_image, _ = augmented[col]
        axes[0, col].imshow(to_image(image))
        axes[0, col].set_title(CLASSES[int(label)], fontsize=8)
        axes[1, col].imshow(to_image(aug_image))
        axes[1, col].set_title("augmentiert", fontsize=8)
        axes[0, col].set_axis_off()
        axes[1, col].set_axis_off()
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
        "comp": model.layer3[0].downsample[1],   # BatchNorm der Downsampling-Abkuerzung
        "conv2": model.layer4[1].conv2,
        "avgpool": model.avgpool,
    }


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    result: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in layers.items():
        def hook(mod, inputs, output, key=name):
            result[key] = output.detach().clone()
        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return result


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
    images = X.detach().clone().requires_grad_(True)
    scores = model(images)                                   # (N, 1000), Scores vor dem Softmax
    chosen = scores.gather(1, y.long().view(-1, 1)).squeeze(1)
    grad, = torch.autograd.grad(chosen.sum(), images)        # Summe: jedes Bild haengt nur von seinem Score ab
    saliency = grad.abs().max(dim=1).values                  # (N, H, W)
    peak = saliency.flatten(start_dim=1).max(dim=1).values.clamp_min(1e-12)
    model.train(was_training)
    return (saliency / peak[:, None, None]).detach()


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
    "1b": "Each filter has two ones and the bias is -1. The product with a patch counts the ones of the patch "
          "at the kernel's ones (0, 1 or 2), so after the bias we get -1, 0 or 1, and ReLU maps -1 to 0. "
          "The output is 1 exactly where the kernel's pattern appears in full (w1: diagonal, w2: vertical "
          "pair, w3: horizontal pair) and 0 everywhere else, so it can be read off by searching the input for "
          "the pattern; the filters act as pattern detectors.",
    "1d": "A stride of 2 subsamples the output by a factor of 2 in each direction, which reduces the size of "
          "the feature maps and the computational cost and lets the receptive field grow faster. The same "
          "purpose is served by pooling (e.g. 2x2 max pooling with stride 2).",
    "1e": "After padding the input has length n + 2p. The first kernel position covers k pixels; every "
          "further position moves s pixels and has to stay inside, which gives floor((n + 2p - k)/s) more "
          "positions: o = floor((n + 2p - k)/s) + 1. With dilation d the kernel spans d(k-1)+1 pixels.",
    "2c": "The receptive field grows with the depth of the network: every layer adds (k-1) times the product "
          "of the strides of the preceding layers. With stride 1 the growth is linear in depth (7 for three "
          "3x3 layers); strides make it grow multiplicatively (10 for two 4x4 layers with stride 2).",
    "2d": "At fixed depth: larger kernels, larger strides / pooling between the layers, or dilated "
          "convolutions, which spread the kernel taps apart.",
    "3.3": "After a few epochs the training accuracy continues to rise while the test accuracy stagnates, so "
           "the gap between the two curves grows. This is overfitting: with only ~5000 training images the "
           "network fits the training data (including noise) instead of learning general features.",
    "3.4": "With data augmentation and normalization the training accuracy is lower and increases more "
           "slowly, because the network sees a differently transformed version of each image every epoch. The "
           "test accuracy is similar or slightly better and the train/test gap is much smaller, i.e. "
           "augmentation works as a regularizer; normalization and batch norm make training more stable.",
    "4.5": "The saliency map is the gradient of the score of a particular class with respect to the input "
           "pixels. Different labels mean different output scores and therefore different gradients: the "
           "map for 285 'Egyptian cat' highlights the pixels that make the image look like a cat (head, "
           "eyes, fur), the map for 243 'bull mastiff' the pixels that would increase the dog score. With "
           "the random weights used here the maps carry no real meaning.",
}


def main() -> None:
    """Ganze Uebung durchlaufen lassen, Abbildungen landen in figures/."""
    root = Path(os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset"))
    out = Path("figures")
    out.mkdir(exist_ok=True)
    torch.manual_seed(0)
    show_examples(load_cifar10(root, train=True)).savefig(out / "examples.png")

    runs = {}
    for label, normalization, augment in (("plain", False, False), ("augmented", True, True)):
        train_loader, test_loader = make_loaders(root, batch_size=16, augment=augment, normalize=augment)
        net = Net(normalization=normalization)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        runs[label] = train(net, nn.CrossEntropyLoss(), optimizer, train_loader, test_loader,
                            num_epochs=10, use_gpu=torch.cuda.is_available())
    plot_accuracy(runs).savefig(out / "accuracy.png")
    show_augmentations(load_cifar10(root, True), load_cifar10(root, True, make_transform(augment=True))).savefig(
        out / "augmentations.png")

    model, message = load_resnet18()
    print(message)
    x = load_photo("chelsea")
    activations = get_activations(model, x, resnet_layers(model))
    for name, act in activations.items():
        show_activation_grid(act, title=name).savefig(out / f"activation_{name}.png")
    show_overlays(x, activations).savefig(out / "overlays.png")
    maps = saliency_maps(x.repeat(2, 1, 1, 1), torch.tensor([243, 285]), model)
    show_saliency(x, {"243 bull mastiff": maps[0], "285 Egyptian cat": maps[1]}).savefig(out / "saliency.png")


if __name__ == "__main__":
    main()
