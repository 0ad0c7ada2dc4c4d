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

# one device for everything, GPU if there is one
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
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
    # tiny, but keep the habit: compute on the device, hand back a CPU tensor
    inp = x[None, None].float().to(device)
    ker = w[None, None].float().to(device)
    bias = torch.as_tensor(b, dtype=torch.float32, device=device).reshape(1)
    out = F.relu(F.conv2d(inp, ker, bias=bias, stride=stride, padding=padding))
    return out[0, 0].cpu()


# Task 1(a) and 1(c): ReLU(w * x + b) computed by hand, as lists of rows.
HAND_COMPUTED = {
    "w1_s1": [[1.0, 0.0, 0.0, 0.0, 1.0],
              [0.0, 1.0, 0.0, 0.0, 0.0],
              [0.0, 0.0, 0.0, 1.0, 0.0],
              [0.0, 0.0, 0.0, 0.0, 1.0]],
    "w2_s1": [[0.0, 0.0, 0.0, 0.0, 0.0],
              [0.0, 0.0, 0.0, 0.0, 0.0],
              [0.0, 0.0, 0.0, 0.0, 0.0],
              [1.0, 0.0, 0.0, 0.0, 0.0]],
    "w3_s1": [[0.0, 0.0, 0.0, 1.0, 0.0],
              [0.0, 0.0, 0.0, 0.0, 0.0],
              [0.0, 0.0, 1.0, 0.0, 0.0],
              [0.0, 0.0, 0.0, 0.0, 0.0]],
    "w1_s2": [[1.0, 0.0, 1.0],
              [0.0, 0.0, 0.0]],
    "w2_s2": [[0.0, 0.0, 0.0],
              [0.0, 0.0, 0.0]],
    "w3_s2": [[0.0, 0.0, 0.0],
              [0.0, 1.0, 0.0]],
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
    for spec in layers:
        k, s = int(spec[0]), int(spec[1])
        d = int(spec[2]) if len(spec) == 3 else 1
        rf = rf + d * (k - 1) * jump
        jump = jump * s
    return rf


RF_ANSWERS = {
    "a": 7,   # 3 -> 5 -> 7
    "b": 10,  # 4, then + 3 * 2
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
    tf = []
    if augment:
        tf += [transforms.RandomHorizontalFlip(),
               transforms.RandomCrop(32, padding=4),
               transforms.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05)]
    tf += [transforms.ToTensor()]
    if normalize:
        tf += [transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
    return transforms.Compose(tf)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    pin = torch.cuda.is_available()   # faster host -> GPU copies
    train_ds = load_cifar10(root, train=True, transform=make_transform(augment=augment, normalize=normalize))
    test_ds = load_cifar10(root, train=False, transform=make_transform(augment=False, normalize=normalize))
    train_loader = torch.utils.data.DataLoader(
        train_ds, batch_size=batch_size, shuffle=True, num_workers=num_workers, pin_memory=pin)
    test_loader = torch.utils.data.DataLoader(
        test_ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=pin)
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
        x = self.pool1(F.relu(self.norm1(self.conv1(x))))
        x = self.pool2(F.relu(self.norm2(self.conv2(x))))
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
    dev = device if use_gpu else torch.device("cpu")
    model.to(dev)
    n_train, n_test = _num_images(train_loader), _num_images(test_loader)
    train_acc, test_acc = [], []
    for epoch in range(num_epochs):
        model.train()
        correct = torch.zeros((), dtype=torch.long, device=dev)   # stays on the GPU, no sync per batch
        running_loss = torch.zeros((), device=dev)
        for images, labels in train_loader:
            images = images.to(dev, non_blocking=True)
            labels = labels.to(dev, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.detach() * labels.size(0)
            correct += (outputs.argmax(1) == labels).sum()
        train_acc.append(correct.cpu().item() / n_train)

        model.eval()
        correct = torch.zeros((), dtype=torch.long, device=dev)
        with torch.no_grad():
            for images, labels in test_loader:
                images, labels = images.to(dev), labels.to(dev)
                correct += (model(images).argmax(1) == labels).sum()
        test_acc.append(correct.cpu().item() / n_test)
        print(f"[{epoch + 1}/{num_epochs}] loss={running_loss.cpu().item() / n_train:.3f} "
              f"train={train_acc[-1]:.3f} test={test_acc[-1]:.3f} ({dev})")
    return train_acc, test_acc


def _num_images(loader) -> int:
    """Number of images a loader yields: len(loader.dataset) for a DataLoader, else count the batches' labels
    (the notebook's quick mode passes a plain list of batches)."""
    if hasattr(loader, "dataset"):
        return len(loader.dataset)
    return sum(len(labels) for _, labels in loader)


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for name, (tr, te) in runs.items():
        ax.plot(range(1, len(tr) + 1), list(tr), label=f"{name} train")
        ax.plot(range(1, len(te) + 1), list(te), label=f"{name} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
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
    fig = Figure(figsize=(1.8 * n, 4))
    axes = fig.subplots(2, n, squeeze=False)
    for col in range(n):
        for row, ds in enumerate((dataset, augmented)):
            axes[row, col].imshow(to_image(ds[col][0]))
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("augmented")
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
    return {"maxpool": model.maxpool, "comp": model.layer3[0].downsample[1],
            "conv2": model.layer4[1].conv2, "avgpool": model.avgpool}


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    dev = next(model.parameters()).device      # use the model where it is
    acts = {}
    hooks = [
        module.register_forward_hook(lambda mod, inp, out, name=name: acts.__setitem__(name, out.detach().cpu()))
        for name, module in layers.items()
    ]
    with torch.no_grad():
        model(x.to(dev))
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
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    X = X.detach().to(dev).clone().requires_grad_(True)
    y = y.to(dev)
    scores = model(X)
    scores[torch.arange(X.shape[0], device=dev), y].sum().backward()   # class scores, not the loss
    sal = X.grad.abs().amax(dim=1)                                        # (N, H, W)
    sal = sal / sal.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    model.zero_grad(set_to_none=True)     # do not leave gradients in the model
    model.train(was_training)
    return sal.detach().cpu()


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
    "1b": "Output = ReLU(sum(patch * kernel) - 1). The kernels have two ones each, the patch is binary, so the "
          "dot product counts how many of the two kernel positions are 1 in the patch (0, 1 or 2). The bias -1 "
          "together with the ReLU turns this into an AND: the result is 1 only if both positions are 1. So the "
          "filters are pattern detectors (w1 diagonal, w2 vertical pair, w3 horizontal pair) and the output can be "
          "read off by finding where the pattern occurs in x.",
    "1d": "Stride 2 is for downsampling: the output has about half the size in each direction, so later layers "
          "are cheaper (compute + memory) and their receptive field is bigger. Pooling (max/avg pooling) does "
          "the same job.",
    "1e": "For length n, padding p, kernel k, stride s: the window start i*s must satisfy i*s + k <= n + 2p, "
          "so i = 0 .. floor((n + 2p - k)/s), i.e. out = floor((n + 2p - k)/s) + 1. With dilation d the kernel "
          "spans d*(k-1)+1 pixels: out = floor((n + 2p - d(k-1) - 1)/s) + 1.",
    "2c": "More layers -> larger receptive field. Layer l adds (k_l - 1) * (product of the strides of the layers "
          "before it), so with stride 1 the field grows linearly in depth, with strides it grows geometrically.",
    "2d": "Strides/pooling in earlier layers, bigger kernels, or dilated convolutions.",
    "3.3": "Train accuracy goes up the whole time, test accuracy saturates early (somewhere around 50%) and the gap "
           "between the curves grows with every epoch -> the model overfits the (small) training set; more epochs do "
           "not help the test accuracy.",
    "3.4": "With augmentation + normalization (and BN in the net) the training curve is lower and flatter because "
           "every epoch shows new random variants of the images, but the test accuracy is at least as high and the "
           "train/test gap is much smaller -> less overfitting, better generalization. Only the training set is "
           "augmented; the test set gets the same normalization only.",
    "4.5": "A saliency map is d(score of class c)/d(image). The score of a different class is a different function "
           "of the pixels, so the gradient differs: for 243 (bull mastiff) it highlights what would make the image "
           "look more like that dog, for 285 (Egyptian cat) the cat's own features (eyes, ears, stripes). The map "
           "explains one class score, not the image as a whole.",
}


if __name__ == "__main__":
    import matplotlib
    matplotlib.use("Agg")
    root = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    print("device:", device)
    torch.manual_seed(0)
    runs = {}
    for name, bn, aug in (("plain", False, False), ("augmented + normalized", True, True)):
        train_loader, test_loader = make_loaders(root, batch_size=16, augment=aug, normalize=aug)
        net = Net(normalization=bn).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        runs[name] = train(net, nn.CrossEntropyLoss(), opt, train_loader, test_loader,
                           num_epochs=10, use_gpu=torch.cuda.is_available())
    plot_accuracy(runs).savefig("accuracy.png")

    resnet, note = load_resnet18()
    resnet = resnet.to(device)
    print(note)
    x = load_photo("chelsea")
    acts = get_activations(resnet, x, resnet_layers(resnet))
    show_overlays(x, acts).savefig("overlays.png")
    maps = saliency_maps(x.repeat(2, 1, 1, 1), torch.tensor([243, 285]), resnet)
    show_saliency(x, {"243 bull mastiff": maps[0], "285 Egyptian cat": maps[1]}).savefig("saliency.png")
