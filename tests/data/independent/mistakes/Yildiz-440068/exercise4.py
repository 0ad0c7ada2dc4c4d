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
from torch.utils.data import DataLoader
from tqdm import tqdm

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_CHECKPOINT = "resnet18-f37072fd.pth"
PHOTOS = ("chelsea", "coffee", "astronaut")
RESULTS_DIR = "results"

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
    inp = x.float().reshape(1, 1, *x.shape)
    kernel = w.float().reshape(1, 1, *w.shape)
    bias = torch.as_tensor(b, dtype=torch.float32).reshape(1)
    return torch.relu(F.conv2d(inp, kernel, bias, stride=stride, padding=padding)).squeeze(0).squeeze(0)


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
HAND_COMPUTED = {
    "w1_s1": [
        [1, 0, 0, 0, 1],
        [0, 1, 0, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 0, 1],
    ],
    "w2_s1": [
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0],
    ],
    "w3_s1": [
        [0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0],
    ],
    "w1_s2": [
        [1, 0, 1],
        [0, 0, 0],
    ],
    "w2_s2": [
        [0, 0, 0],
        [0, 0, 0],
    ],
    "w3_s2": [
        [0, 0, 0],
        [0, 1, 0],
    ],
}


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Return the output length of a convolution over length n (kernel k, stride s, padding p, dilation d)."""
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s + 1)


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    # Work backwards from one output unit: r_{l-1} = s_l * (r_l - 1) + k_eff_l
    r = 1
    for layer in reversed(list(layers)):
        k, s, *rest = layer
        d = rest[0] if rest else 1
        r = s * (r - 1) + d * (k - 1) + 1
    return r


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
    augmentation = [
        transforms.RandomHorizontalFlip(),
        transforms.RandomCrop(32, padding=4),
        transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
    ]
    normalization = [transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
    return transforms.Compose(
        (augmentation if augment else []) + [transforms.ToTensor()] + (normalization if normalize else [])
    )


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    trainset = load_cifar10(root, train=True, transform=make_transform(augment, normalize))
    testset = load_cifar10(root, train=False, transform=make_transform(False, normalize))
    trainloader = DataLoader(trainset, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    testloader = DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
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
    device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
    model = model.to(device)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    train_accuracy, test_accuracy = [], []

    for epoch in tqdm(range(num_epochs), desc="epochs"):
        model.train()
        running_loss = 0.0
        correct, total = 0, 0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            prediction = model(images)
            loss = criterion(prediction, labels)
            loss.backward()
            optimizer.step()

            running_loss += loss.item() * labels.size(0)
            _, predicted = torch.max(prediction.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
        train_accuracy.append(correct / total)
        epoch_loss = running_loss / total

        model.eval()
        correct, total = 0, 0
        with torch.no_grad():
            for images, labels in tqdm(test_loader, desc="test", leave=False):
                images, labels = images.to(device), labels.to(device)
                prediction = model(images)
                _, predicted = torch.max(prediction.data, 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        test_accuracy.append(correct / total)

        print(f"Epoch [{epoch + 1}/{num_epochs}], Loss: {epoch_loss:.4f}, "
              f"Train acc: {100 * train_accuracy[-1]:.2f} %, Test acc: {100 * test_accuracy[-1]:.2f} %")
        torch.save(model.state_dict(), f"{RESULTS_DIR}/ConvNet{epoch + 1}.ckpt")

    return train_accuracy, test_accuracy


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(10, 5))
    ax = fig.subplots()
    for name, (train_acc, test_acc) in runs.items():
        ax.plot(range(1, len(train_acc) + 1), train_acc, label=f"{name} train")
        ax.plot(range(1, len(test_acc) + 1), test_acc, label=f"{name} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("CIFAR-10: training vs. test accuracy")
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
    fig = Figure(figsize=(2 * n, 4))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        axes[0, i].imshow(to_image(dataset[i][0]))
        axes[0, i].set_title(CLASSES[dataset[i][1]], fontsize=8)
        axes[1, i].imshow(to_image(augmented[i][0]))
        axes[0, i].axis("off")
        axes[1, i].axis("off")
    fig.suptitle("top: original, bottom: augmented")
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

    def save_output(name):
        def hook(module, inputs, output):
            activations[name] = output.detach()
        return hook

    handles = [module.register_forward_hook(save_output(name)) for name, module in layers.items()]
    model.eval()
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
    model.eval()
    X = X.clone().detach().requires_grad_(True)
    scores = model(X)
    # how strongly does each pixel influence the prediction of label y
    loss = F.cross_entropy(scores, y)
    loss.backward()
    saliency = X.grad.data.abs().max(dim=1)[0]
    n = saliency.shape[0]
    saliency = saliency / saliency.view(n, -1).max(dim=1)[0].view(n, 1, 1)
    model.zero_grad()
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
    "1b": "All three kernels contain two ones and the bias is -1, so a patch gives 1*1 + 1*1 - 1 = 1 only if "
          "both pixels under the ones of the kernel are 1; with one matching pixel we get 0 and with none -1, "
          "which the ReLU turns into 0. The output is therefore a binary map of where the kernel pattern "
          "occurs: w1 finds diagonals, w2 vertical pairs and w3 horizontal pairs, and we can read it off by "
          "marking the top-left corner of every occurrence of the pattern in x.",
    "1d": "Stride 2 reduces the spatial resolution of the output by a factor of about 2 per dimension "
          "(downsampling). This saves computation and memory and enlarges the receptive field of later "
          "layers. Pooling layers (max pooling or average pooling) are used for the same purpose.",
    "1e": "The padded input has n + 2p positions; the kernel covers k of them, so it can be placed at "
          "(n + 2p - k) / s further positions after the first one if we move by s. Only complete steps count, "
          "hence o = floor((n + 2p - k) / s) + 1 (with dilation d replace k by d(k - 1) + 1).",
    "2c": "Stacking layers increases the receptive field: each layer adds (k - 1) times the product of the "
          "strides of all layers before it. With stride 1 it grows linearly with depth (3 layers of 3x3: "
          "1 + 3*2 = 7), with strides > 1 it grows much faster (2 layers of 4x4, stride 2: 4 + 3*2 = 10).",
    "2d": "Use larger kernels, larger strides or pooling between the convolutions, or dilated convolutions.",
    "3.3": "The training accuracy keeps growing with every epoch, while the test accuracy levels off early "
           "and stays well below it, so the gap widens: the model overfits. The training set is small "
           "(about 5k images) and the network starts memorizing it rather than learning features that "
           "generalize to unseen images.",
    "3.4": "With augmentation and normalization the training accuracy grows more slowly and is lower, because "
           "the augmented images are harder and never exactly repeated, but the test accuracy is as good or "
           "better and follows the training curve much more closely. The smaller gap shows that augmentation "
           "reduces overfitting; normalization and batch norm make the optimization more stable.",
    "4.5": "The saliency map shows which pixels the prediction of a given label is most sensitive to. Since "
           "the derivative depends on the label, the bull mastiff map highlights the regions that speak "
           "for/against a dog, and the Egyptian cat map highlights the cat's head and fur, so the same image "
           "gives different maps. (Here the ResNet has random weights, so the maps are not meaningful.)",
}


if __name__ == "__main__":
    import matplotlib.pyplot as plt

    DATA_ROOT = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    torch.manual_seed(0)
    runs = {}
    for name, kwargs, norm in (("plain", {}, False), ("augmented", {"augment": True, "normalize": True}, True)):
        train_loader, test_loader = make_loaders(DATA_ROOT, batch_size=16, **kwargs)
        model = Net(normalization=norm)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        runs[name] = train(model, nn.CrossEntropyLoss(), optimizer, train_loader, test_loader,
                           num_epochs=10, use_gpu=torch.cuda.is_available())
    plot_accuracy(runs).savefig(f"{RESULTS_DIR}/accuracy.png")

    resnet, note = load_resnet18()
    print(note)
    x = load_photo("chelsea")
    acts = get_activations(resnet, x, resnet_layers(resnet))
    show_overlays(x, acts).savefig(f"{RESULTS_DIR}/overlays.png")
    maps = saliency_maps(x.repeat(2, 1, 1, 1), torch.tensor([243, 285]), resnet)
    show_saliency(x, {"243 bull mastiff": maps[0], "285 Egyptian cat": maps[1]}).savefig(f"{RESULTS_DIR}/saliency.png")
