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
    # Mit numpy: alle Fenster der Groesse des Kerns herausschneiden, mit dem Kern multiplizieren, summieren.
    x_np = np.asarray(x.detach().cpu().numpy(), dtype=np.float64)
    w_np = np.asarray(w.detach().cpu().numpy(), dtype=np.float64)
    bias = float(np.asarray(b.detach().cpu() if isinstance(b, torch.Tensor) else b).reshape(-1)[0])
    if padding > 0:
        x_np = np.pad(x_np, padding, mode="constant", constant_values=0.0)
    windows = np.lib.stride_tricks.sliding_window_view(x_np, w_np.shape)   # (H_out, W_out, kh, kw)
    windows = windows[::stride, ::stride]
    out = np.einsum("ijkl,kl->ij", windows, w_np) + bias
    out = np.maximum(out, 0.0)                                               # ReLU
    return torch.from_numpy(out.astype(np.float32))


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
    k_eff = d * (k - 1) + 1
    return int(np.floor((n + 2 * p - k_eff) / s)) + 1


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    if len(layers) == 0:
        return 1
    params = np.array([(l[0], l[1], l[2] if len(l) > 2 else 1) for l in layers], dtype=np.int64)
    kernels, strides, dilations = params[:, 0], params[:, 1], params[:, 2]
    k_eff = dilations * (kernels - 1) + 1
    # Abstand zweier Nachbarn von Schicht l im Eingabebild = Produkt der Strides davor
    jumps = np.concatenate(([1], np.cumprod(strides)[:-1]))
    return int(1 + np.sum((k_eff - 1) * jumps))


RF_ANSWERS = {
    "a": 7,   # 1 + 2 + 2 + 2
    "b": 10,  # 1 + 3 + 3*2
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
        ops += [transforms.RandomHorizontalFlip(),
                transforms.RandomCrop(32, padding=4),
                transforms.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25)]
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
    train_data = load_cifar10(root, train=True, transform=make_transform(augment=augment, normalize=normalize))
    test_data = load_cifar10(root, train=False, transform=make_transform(augment=False, normalize=normalize))
    train_loader = torch.utils.data.DataLoader(train_data, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    test_loader = torch.utils.data.DataLoader(test_data, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(3, 6, kernel_size=5)
        self.norm1 = nn.BatchNorm2d(6) if normalization else nn.Identity()
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.norm2 = nn.BatchNorm2d(16) if normalization else nn.Identity()
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = F.relu(self.norm1(self.conv1(x)))      # (N, 6, 28, 28)
        x = self.pool1(x)                           # (N, 6, 14, 14)
        x = F.relu(self.norm2(self.conv2(x)))      # (N, 16, 10, 10)
        x = self.pool2(x)                           # (N, 16, 5, 5)
        x = torch.flatten(x, start_dim=1)           # (N, 400)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def _evaluate(model, loader, device):
    """Anteil richtig klassifizierter Bilder (numpy)."""
    model.eval()
    predictions, targets = [], []
    with torch.no_grad():
        for images, labels in loader:
            outputs = model(images.to(device))
            predictions.append(outputs.argmax(dim=1).cpu().numpy())
            targets.append(labels.cpu().numpy())
    return float(np.mean(np.concatenate(predictions) == np.concatenate(targets)))


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
    device = torch.device("cuda") if (use_gpu and torch.cuda.is_available()) else torch.device("cpu")
    model.to(device)
    train_acc, test_acc = [], []
    for epoch in range(num_epochs):
        model.train()
        losses, hits, counts = [], [], []
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            hits.append(np.sum(outputs.detach().argmax(dim=1).cpu().numpy() == labels.cpu().numpy()))
            counts.append(len(labels))
        train_acc.append(float(np.sum(hits) / np.sum(counts)))
        test_acc.append(_evaluate(model, test_loader, device))
        print(f"Epoche {epoch + 1:2d}: Loss {np.mean(losses):.3f}  "
              f"Train {train_acc[-1]:.3f}  Test {test_acc[-1]:.3f}")
    return train_acc, test_acc


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for name, (tr, te) in runs.items():
        tr, te = np.asarray(tr, dtype=float), np.asarray(te, dtype=float)
        epochs = np.arange(1, len(tr) + 1)
        ax.plot(epochs, tr, marker="o", label=f"{name} train")
        ax.plot(epochs, te, marker="x", linestyle="--", label=f"{name} test")
    ax.set_xlabel("Epoche")
    ax.set_ylabel("Genauigkeit")
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
    fig = Figure(figsize=(2 * n, 4.2))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for row, data in enumerate((dataset, augmented)):
            axes[row, i].imshow(np.clip(to_image(data[i][0]), 0, 1))
            axes[row, i].set_axis_off()
    axes[0, 0].set_title("Original", loc="left", fontsize=9)
    axes[1, 0].set_title("Augmentiert", loc="left", fontsize=9)
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
    return {"maxpool": model.maxpool,
            "comp": model.layer3[0].downsample[1],
            "conv2": model.layer4[1].conv2,
            "avgpool": model.avgpool}


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    outputs = {}
    handles = [module.register_forward_hook(lambda m, inp, out, name=name: outputs.__setitem__(name, out.detach()))
               for name, module in layers.items()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return outputs


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
    y = torch.as_tensor(y, dtype=torch.long, device=X.device)
    model.zero_grad()
    scores = model(X)
    scores.gather(1, y.view(-1, 1)).sum().backward()
    grad = X.grad.detach().cpu().numpy()                 # (N, 3, H, W)
    sal = np.abs(grad).max(axis=1)                       # (N, H, W)
    sal = sal / np.maximum(sal.max(axis=(1, 2), keepdims=True), 1e-12)
    model.zero_grad()
    return torch.from_numpy(sal.astype(np.float32))


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

# Antworten auf Deutsch
ANSWERS = {
    "1b": "Jeder Kern hat genau zwei Einsen, der Bias ist -1. w * x zaehlt also, wie viele der beiden "
          "Positionen im Patch eine 1 haben (0, 1 oder 2); nach dem Bias kommt -1, 0 oder 1 heraus und die ReLU "
          "setzt -1 auf 0. Die Ausgabe ist also genau dort 1, wo das Muster des Kerns vollstaendig im Patch "
          "vorkommt (w1: Diagonale, w2: zwei Einsen untereinander, w3: zwei Einsen nebeneinander), sonst 0. "
          "Man kann das Ergebnis deshalb direkt ablesen, indem man im Eingabebild nach dem Muster sucht "
          "(Template Matching), ohne zu rechnen.",
    "1d": "Stride 2 verkleinert die Feature Map (Downsampling, etwa halbe Hoehe und Breite). Dadurch sinken "
          "Rechenaufwand und Speicherbedarf, und das rezeptive Feld der folgenden Schichten waechst schneller. "
          "Denselben Zweck erfuellt Pooling, z. B. Max-Pooling 2x2 mit Stride 2.",
    "1e": "Mit Padding p hat die Eingabe die Laenge n + 2p. Der Kern (effektive Groesse k bzw. d(k-1)+1 mit "
          "Dilation) passt an Position 0 und dann an jede s-te Position, solange er nicht ueber den Rand "
          "hinausgeht: o = floor((n + 2p - k) / s) + 1, allgemein o = floor((n + 2p - d(k-1) - 1) / s) + 1. "
          "Das floor ist noetig, weil ein angefangener Schritt nicht mehr zaehlt.",
    "2c": "Mit jeder weiteren Schicht waechst das rezeptive Feld: r_l = r_{l-1} + (k_l - 1) * (Produkt der "
          "Strides davor). Bei Stride 1 waechst es linear mit der Tiefe (3 Schichten 3x3 -> 7), mit Strides > 1 "
          "in den vorderen Schichten deutlich schneller (2 Schichten 4x4, Stride 2 -> 10).",
    "2d": "Bei fester Tiefe kann man groessere Kerne nehmen, groessere Strides bzw. Pooling zwischen den "
          "Schichten verwenden oder dilatierte (atrous) Faltungen benutzen, die mit gleich vielen Gewichten "
          "einen groesseren Bereich abdecken.",
    "3.3": "Die Trainingsgenauigkeit steigt ueber die Epochen stetig weiter, die Testgenauigkeit bleibt nach "
           "wenigen Epochen ungefaehr gleich und liegt deutlich darunter; die Luecke wird mit jeder Epoche "
           "groesser. Das Netz overfittet: Mit nur ca. 5000 Trainingsbildern lernt es die Trainingsbilder "
           "auswendig, statt allgemeine Merkmale zu lernen, die auch auf den Testbildern funktionieren.",
    "3.4": "Mit Augmentierung (plus Normalisierung und BatchNorm) ist die Trainingsgenauigkeit niedriger und "
           "steigt langsamer, weil das Netz jedes Bild in jeder Epoche leicht veraendert sieht und es nicht "
           "auswendig lernen kann. Die Testgenauigkeit ist gleich oder etwas besser, der Abstand zwischen "
           "Training und Test ist viel kleiner: Augmentierung wirkt als Regularisierung gegen Overfitting, "
           "Normalisierung/BatchNorm stabilisieren das Training.",
    "4.5": "Die Saliency Map ist der Gradient des Scores einer bestimmten Klasse nach den Pixeln des Bildes. "
           "Sie zeigt, welche Pixel den Score genau dieser Klasse am staerksten beeinflussen. Fuer ein anderes "
           "Label leitet man einen anderen Ausgang des Netzes ab, also sind andere Pixel wichtig: fuer 285 "
           "'Egyptian cat' z. B. Gesicht, Augen und Fell der Katze, fuer 243 'bull mastiff' eher Bereiche, die "
           "an einen Hund erinnern. Mit den zufaelligen Gewichten (keine vortrainierten Gewichte offline) sind "
           "die Karten allerdings nicht aussagekraeftig.",
}


if __name__ == "__main__":
    import matplotlib.pyplot as plt

    root = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    out_dir = Path("results")
    out_dir.mkdir(exist_ok=True)

    # Aufgabe 1 und 2: Kontrolle der Handrechnung
    for key, w in (("w1", W1), ("w2", W2), ("w3", W3)):
        for s in (1, 2):
            res = conv_relu(X, w, -1.0, stride=s).numpy()
            print(key, "stride", s, "ok:", np.array_equal(res, np.array(HAND_COMPUTED[f"{key}_s{s}"])))
    print("RF a:", receptive_field([(3, 1)] * 3), " RF b:", receptive_field([(4, 2)] * 2))

    # Aufgabe 3
    show_examples(load_cifar10(root, train=True)).savefig(out_dir / "examples.png")
    use_gpu = torch.cuda.is_available()
    runs = {}
    for name, norm, aug in (("ohne Augmentierung", False, False), ("mit Augmentierung + Norm.", True, True)):
        torch.manual_seed(0)
        train_loader, test_loader = make_loaders(root, batch_size=16, augment=aug, normalize=aug)
        net = Net(normalization=norm)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        runs[name] = train(net, nn.CrossEntropyLoss(), opt, train_loader, test_loader, num_epochs=10, use_gpu=use_gpu)
        plot_accuracy(runs).savefig(out_dir / "accuracy.png")
    show_augmentations(load_cifar10(root, True), load_cifar10(root, True, make_transform(augment=True)), n=6).savefig(
        out_dir / "augmentation.png")

    # Aufgabe 4
    resnet, info = load_resnet18()
    print(info)
    img = load_photo("chelsea")
    acts = get_activations(resnet, img, resnet_layers(resnet))
    for name, a in acts.items():
        print(name, tuple(a.shape))
        show_activation_grid(a, title=name).savefig(out_dir / f"act_{name}.png")
    show_overlays(img, acts).savefig(out_dir / "overlays.png")
    sal = saliency_maps(img.repeat(2, 1, 1, 1), torch.tensor([243, 285]), resnet)
    show_saliency(img, {"243 bull mastiff": sal[0], "285 Egyptian cat": sal[1]}).savefig(out_dir / "saliency.png")
