"""Exercise 4: Convolutional Neural Networks.

Abgabe: Jonas Brandt, Matrikelnummer 410052

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
    # Faltung "zu Fuss": Schleifen ueber alle Ausgabepositionen (kein Kernel-Flip,
    # also Kreuzkorrelation wie bei conv2d)
    x = torch.as_tensor(x, dtype=torch.float32)
    w = torch.as_tensor(w, dtype=torch.float32)
    b = float(b)
    if padding > 0:
        xp = torch.zeros(x.shape[0] + 2 * padding, x.shape[1] + 2 * padding)
        xp[padding:padding + x.shape[0], padding:padding + x.shape[1]] = x
    else:
        xp = x
    kh, kw = w.shape
    out_h = (xp.shape[0] - kh) // stride + 1
    out_w = (xp.shape[1] - kw) // stride + 1
    out = torch.zeros(out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            r, c = i * stride, j * stride
            patch = xp[r:r + kh, c:c + kw]
            wert = float((patch * w).sum()) + b
            out[i, j] = max(wert, 0.0)  # ReLU
    return out


# Task 1(a) und 1(c): von Hand gerechnet (stimmt mit conv_relu ueberein)
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
    # effektive Kernelgroesse mit Dilatation: d*(k-1)+1
    k_eff = d * (k - 1) + 1
    return int((n + 2 * p - k_eff) // s + 1)


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    # rf_l = rf_{l-1} + (k_l - 1) * j_{l-1},   j_l = j_{l-1} * s_l
    # j ("jump") = Abstand zweier benachbarter Einheiten der Schicht in Eingabepixeln
    rf = 1
    jump = 1
    for layer in layers:
        k = layer[0]
        s = layer[1]
        d = layer[2] if len(layer) > 2 else 1
        k_eff = d * (k - 1) + 1
        rf = rf + (k_eff - 1) * jump
        jump = jump * s
    return int(rf)


# (a) 1 + 2 + 2 + 2 = 7     (b) 1 + 3*1 + 3*2 = 10
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
    schritte = []
    if augment:
        schritte.append(transforms.RandomHorizontalFlip())
        schritte.append(transforms.RandomCrop(32, padding=4))
        schritte.append(transforms.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3))
    schritte.append(transforms.ToTensor())
    if normalize:
        schritte.append(transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    return transforms.Compose(schritte)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    train_set = load_cifar10(root, train=True, transform=make_transform(augment, normalize))
    # Testdaten nie augmentieren, nur gleich normalisieren
    test_set = load_cifar10(root, train=False, transform=make_transform(False, normalize))
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.norm1 = nn.BatchNorm2d(6) if normalization else nn.Identity()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.norm2 = nn.BatchNorm2d(16) if normalization else nn.Identity()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = self.pool1(F.relu(self.norm1(self.conv1(x))))  # 32 -> 28 -> 14
        x = self.pool2(F.relu(self.norm2(self.conv2(x))))  # 14 -> 10 -> 5
        x = torch.flatten(x, 1)
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
        richtig, anzahl, verlust = 0, 0, 0.0
        for bilder, labels in train_loader:
            bilder, labels = bilder.to(device), labels.to(device)
            optimizer.zero_grad()
            ausgabe = model(bilder)
            loss = criterion(ausgabe, labels)
            loss.backward()
            optimizer.step()
            verlust += loss.item() * labels.size(0)
            richtig += (ausgabe.argmax(dim=1) == labels).sum().item()
            anzahl += labels.size(0)
        train_acc.append(richtig / anzahl)

        # Test: eval-Modus (BatchNorm mit laufenden Statistiken), ohne Gradienten
        model.eval()
        richtig, anzahl = 0, 0
        with torch.no_grad():
            for bilder, labels in test_loader:
                bilder, labels = bilder.to(device), labels.to(device)
                richtig += (model(bilder).argmax(dim=1) == labels).sum().item()
                anzahl += labels.size(0)
        test_acc.append(richtig / anzahl)
        print(f"Epoche {epoch + 1}/{num_epochs}: Loss {verlust / anzahl if anzahl else 0:.3f}, "
              f"Train {train_acc[-1]:.3f}, Test {test_acc[-1]:.3f}")
    return train_acc, test_acc


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for name, (tr, te) in runs.items():
        epochen = list(range(1, len(tr) + 1))
        ax.plot(epochen, tr, "-o", label=f"{name} train")
        ax.plot(epochen, te, "--s", label=f"{name} test")
    ax.set_xlabel("Epoche")
    ax.set_ylabel("Genauigkeit")
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
    fig = Figure(figsize=(1.6 * n, 3.4))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        axes[0, i].imshow(to_image(dataset[i][0]))
        axes[1, i].imshow(to_image(augmented[i][0]))
        axes[0, i].set_axis_off()
        axes[1, i].set_axis_off()
    axes[0, 0].set_title("Original", fontsize=8, loc="left")
    axes[1, 0].set_title("augmentiert", fontsize=8, loc="left")
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
    ergebnis = {}
    handles = []
    for name, modul in layers.items():
        def hook(m, eingabe, ausgabe, name=name):
            ergebnis[name] = ausgabe.detach()
        handles.append(modul.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        # Hooks immer wieder entfernen
        for h in handles:
            h.remove()
    return ergebnis


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
    X = X.detach().clone().requires_grad_(True)
    scores = model(X)
    # Score der gewuenschten Klasse (nicht der Loss)
    score = scores[torch.arange(X.shape[0]), y]
    grad, = torch.autograd.grad(score.sum(), X)
    sal = grad.abs().max(dim=1).values
    # jede Karte durch ihr eigenes Maximum teilen
    maxima = sal.flatten(1).max(dim=1).values.clamp(min=1e-12)
    return (sal / maxima[:, None, None]).detach()


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
        "Eingabe und Filter sind binaer, jeder Filter hat genau zwei Einsen. Das Skalarprodukt von Patch und "
        "Kernel ist also 0, 1 oder 2; mit dem Bias -1 ergibt sich -1, 0 oder 1, und die ReLU setzt alles "
        "Negative auf 0. Eine 1 entsteht also genau dann, wenn der Patch an BEIDEN Einsen des Kernels eine 1 "
        "hat, sonst 0. Der Bias wirkt wie eine Schwelle, der Filter ist ein Musterdetektor: w1 findet "
        "diagonale Paare (x[i][j] und x[i+1][j+1]), w2 senkrechte und w3 waagerechte Paare. Man kann die "
        "Ausgabe daher ablesen, indem man diese Paare in x sucht (Position = linkes oberes Pixel des Paars)."
    ),
    "1d": (
        "Stride 2 verkleinert die Feature Map (Downsampling, etwa halbe Hoehe und Breite): weniger Rechenaufwand "
        "und Speicher, und die folgenden Schichten haben ein groesseres rezeptives Feld. Denselben Zweck "
        "erfuellt Pooling, z.B. Max-Pooling oder Average-Pooling mit 2x2 und Stride 2."
    ),
    "1e": (
        "1-D: Eingabe der Laenge n, auf beiden Seiten p Pixel Padding -> Laenge n + 2p. Der Kernel deckt k Pixel "
        "ab (mit Dilatation d(k-1)+1). Die Fenster beginnen bei 0, s, 2s, ..., der letzte Start darf hoechstens "
        "n + 2p - k sein. Also ist die Anzahl der Fenster o = floor((n + 2p - k) / s) + 1, allgemein "
        "o = floor((n + 2p - d(k-1) - 1) / s) + 1. Abgerundet wird, weil ein Fenster, das ueber den Rand "
        "hinausragen wuerde, nicht berechnet wird. Beispiel: n=5, k=2, s=2 -> floor(3/2) + 1 = 2."
    ),
    "2c": (
        "Mit jeder Schicht waechst das rezeptive Feld: Schicht l fuegt (k_l - 1) mal das Produkt der Strides "
        "aller vorherigen Schichten hinzu (rf_l = rf_{l-1} + (k_l - 1) * j_{l-1}). Bei Stride 1 waechst es "
        "linear mit der Tiefe (1 + L(k-1), 3 Schichten 3x3 -> 7), mit Strides > 1 deutlich schneller "
        "(2 Schichten 4x4, Stride 2 -> 10)."
    ),
    "2d": (
        "Bei fester Tiefe: groessere Kernel, groessere Strides bzw. Pooling-/Downsampling-Schichten dazwischen "
        "(jede folgende Schicht arbeitet dann auf einem groeberen Raster), oder dilatierte Faltungen "
        "(atrous convolution), die den Kernel ohne zusaetzliche Gewichte auseinanderziehen."
    ),
    "3.3": (
        "Die Trainingsgenauigkeit steigt ueber die Epochen immer weiter, die Testgenauigkeit steigt nur am "
        "Anfang und bleibt dann ungefaehr konstant bzw. sinkt leicht. Die Luecke zwischen beiden ist "
        "Overfitting: Das Netz lernt die (wenigen) Trainingsbilder auswendig statt allgemeiner Merkmale. "
        "Dagegen helfen mehr Daten, Datenaugmentation, Regularisierung (Weight Decay, Dropout) oder "
        "Early Stopping."
    ),
    "3.4": (
        "Mit Augmentation sieht das Netz in jeder Epoche leicht veraenderte Bilder und kann sie schlechter "
        "auswendig lernen: Die Trainingsgenauigkeit steigt langsamer und bleibt niedriger, die "
        "Testgenauigkeit ist aehnlich oder besser, die Luecke zwischen Training und Test wird deutlich kleiner. "
        "Die Normalisierung (Mittelwert 0.5, Std 0.5 pro Kanal) und BatchNorm machen die Optimierung stabiler, "
        "das Netz lernt in den ersten Epochen schneller. Augmentiert werden nur die Trainingsdaten."
    ),
    "4.5": (
        "Die Saliency Map ist der Gradient des Scores EINER Klasse nach den Eingabepixeln, sie zeigt also, "
        "welche Pixel diesen Klassenscore am staerksten veraendern. Jede Klasse hat eigene Gewichte in der "
        "letzten Schicht, daher laeuft der Gradient durch andere Merkmale zurueck: fuer 243 'bull mastiff' "
        "sind hundetypische Bereiche wichtig, fuer 285 'Egyptian cat' katzentypische (Ohren, Augen, Fell). "
        "Deshalb liefert dasselbe Bild fuer verschiedene Labels verschiedene Karten. (Mit zufaelligen "
        "Gewichten sind die Karten allerdings nicht aussagekraeftig.)"
    ),
}


if __name__ == "__main__":
    # kurzer Testlauf
    root = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    for name, w in (("w1", W1), ("w2", W2), ("w3", W3)):
        for s in (1, 2):
            print(name, "stride", s, conv_relu(X, w, B1, stride=s).tolist())
    print("RF (a):", receptive_field([(3, 1)] * 3), " RF (b):", receptive_field([(4, 2)] * 2))
    train_loader, test_loader = make_loaders(root, batch_size=16)
    net = Net()
    hist = train(net, nn.CrossEntropyLoss(), torch.optim.Adam(net.parameters(), lr=1e-3),
                 train_loader, test_loader, num_epochs=10, use_gpu=torch.cuda.is_available())
    plot_accuracy({"ohne Augmentation": hist}).savefig("accuracy.png")
