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

import matplotlib.pyplot as plt
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
if not os.path.exists(RESULTS_DIR):
    os.makedirs(RESULTS_DIR)

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
    if not torch.is_tensor(b):
        b = torch.tensor(b)
    out = F.conv2d(
        x.float().unsqueeze(0).unsqueeze(0),   # (1, 1, H, W)
        w.float().unsqueeze(0).unsqueeze(0),   # (1, 1, kh, kw)
        bias=b.float().reshape(1),
        stride=stride,
        padding=padding,
    )
    return F.relu(out).squeeze(0).squeeze(0)


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
    return int(math.floor((n + 2 * p - d * (k - 1) - 1) / s)) + 1


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    rf = 1      # receptive field of one unit
    jump = 1    # distance in input pixels between two neighbouring units of the current layer
    for layer in layers:
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) > 2 else 1
        rf += d * (k - 1) * jump
        jump *= s
    return rf


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
    tf = []
    if augment:
        tf.append(transforms.RandomHorizontalFlip())
        tf.append(transforms.RandomCrop(32, padding=4))
        tf.append(transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05))
    tf.append(transforms.ToTensor())
    if normalize:
        tf.append(transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    return transforms.Compose(tf)


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
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return trainloader, testloader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, kernel_size=5),                           # 0 conv1
            nn.BatchNorm2d(6) if normalization else nn.Identity(),   # 1 norm1
            nn.ReLU(),                                                # 2
            nn.MaxPool2d(kernel_size=2, stride=2),                    # 3 pool1
            nn.Conv2d(6, 16, kernel_size=5),                          # 4 conv2
            nn.BatchNorm2d(16) if normalization else nn.Identity(),  # 5 norm2
            nn.ReLU(),                                                # 6
            nn.MaxPool2d(kernel_size=2, stride=2),                    # 7 pool2
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),  # 0 fc1
            nn.ReLU(),
            nn.Linear(120, 84),          # 2 fc2
            nn.ReLU(),
            nn.Linear(84, 10),           # 4 fc3
        )

    # the layer names from the exercise sheet point into the Sequential blocks
    conv1 = property(lambda self: self.features[0])
    norm1 = property(lambda self: self.features[1])
    pool1 = property(lambda self: self.features[3])
    conv2 = property(lambda self: self.features[4])
    norm2 = property(lambda self: self.features[5])
    pool2 = property(lambda self: self.features[7])
    fc1 = property(lambda self: self.classifier[0])
    fc2 = property(lambda self: self.classifier[2])
    fc3 = property(lambda self: self.classifier[4])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def accuracy(prediction: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """Return (number of correctly classified images, number of images) of one batch."""
    _, predicted = torch.max(prediction.data, 1)
    return (predicted == labels).sum().item(), labels.size(0)


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
    device = "cuda" if (use_gpu and torch.cuda.is_available()) else "cpu"
    model = model.to(device)
    train_accs, test_accs = [], []
    for epoch in tqdm(range(num_epochs), desc="epochs"):
        model.train()
        running_loss = 0.0
        n_correct, n_seen = 0, 0
        for i, (images, labels) in enumerate(train_loader):
            images = images.to(device)
            labels = labels.to(device)
            prediction = model(images)
            loss = criterion(prediction, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            c, t = accuracy(prediction, labels)
            n_correct += c
            n_seen += t
        train_accs.append(n_correct / n_seen)

        model.eval()
        n_correct, n_seen = 0, 0
        with torch.no_grad():
            for images, labels in tqdm(test_loader, desc="test", leave=False):
                images = images.to(device)
                labels = labels.to(device)
                prediction = model(images)
                c, t = accuracy(prediction, labels)
                n_correct += c
                n_seen += t
        test_accs.append(n_correct / n_seen)
        print(f"Epoch [{epoch + 1}/{num_epochs}], Loss: {running_loss / (i + 1):.4f}, "
              f"Train acc: {100 * train_accs[-1]:.2f} %, Test acc: {100 * test_accs[-1]:.2f} %")
        torch.save(model.state_dict(), f"{RESULTS_DIR}/ConvNet{epoch + 1}.ckpt")
    return train_accs, test_accs


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig, ax = plt.subplots(figsize=(10, 5))
    for name, (train_acc, test_acc) in runs.items():
        ax.plot(range(1, len(train_acc) + 1), train_acc, label=f"{name} train")
        ax.plot(range(1, len(test_acc) + 1), test_acc, label=f"{name} test")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Accuracy")
    ax.legend()
    plt.close(fig)
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
    fig, axs = plt.subplots(2, n, figsize=(2 * n, 4))
    axs = np.array(axs).reshape(2, n)
    for i in range(n):
        axs[0][i].imshow(to_image(dataset[i][0]))
        axs[0][i].set_title(CLASSES[dataset[i][1]])
        axs[1][i].imshow(to_image(augmented[i][0]))
        axs[1][i].set_title("augmented")
        axs[0][i].axis("off")
        axs[1][i].axis("off")
    plt.close(fig)
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
    layers = {}
    layers["maxpool"] = model.maxpool
    layers["comp"] = model.layer3[0].downsample[1]
    layers["conv2"] = model.layer4[1].conv2
    layers["avgpool"] = model.avgpool
    return layers


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    activation = {}

    def get_activation(name):
        def hook(model, input, output):
            activation[name] = output.detach()
        return hook

    hooks = [module.register_forward_hook(get_activation(name)) for name, module in layers.items()]
    model.eval()
    with torch.no_grad():
        _ = model(x)
    for h in hooks:
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
    model.eval()
    X = X.clone().requires_grad_()
    scores = model(X)
    scores = scores.gather(1, y.view(-1, 1)).squeeze()   # score of the wanted class per image
    scores.sum().backward()
    saliency = X.grad.data.abs()
    saliency, _ = torch.max(saliency, dim=1)             # (N, H, W)
    saliency = saliency / saliency.amax(dim=(1, 2), keepdim=True)  # every map by its own max
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
    "1b": "Because x and w only contain 0 and 1 and b = -1, the result is 1 only if both 1-entries of the kernel lie on "
          "1-entries of the patch (sum 2, minus 1). If only one matches we get 0 and if none matches -1, which the ReLU "
          "sets to 0. So the kernel is a small pattern detector (w1 diagonal, w2 vertical, w3 horizontal) and the output "
          "can be read off by looking where the pattern occurs in x.",
    "1d": "Stride 2 reduces the spatial size of the output (downsampling), so the next layers need less computation and "
          "memory and see a bigger part of the image. Pooling (e.g. MaxPool2d(2, 2)) is the other operation used for that.",
    "1e": "With padding the input has length n + 2p. The kernel covers k positions (d(k-1)+1 with dilation), so the first "
          "window starts at 0 and the last possible start is n + 2p - k. Moving s each time gives "
          "floor((n + 2p - k) / s) + 1 windows, in general o = floor((n + 2p - d(k-1) - 1) / s) + 1.",
    "2c": "The deeper the network, the bigger the receptive field: every conv layer adds (k-1) * (product of the strides "
          "before it). With stride 1 this is linear in the depth, with strides > 1 it grows exponentially.",
    "2d": "Use bigger kernels, use strides/pooling in the earlier layers, or use dilated convolutions.",
    "3.3": "Training accuracy goes up every epoch (to about 75%) but test accuracy stays around 45-50% and gets worse at the "
           "end, so the gap gets bigger. This is overfitting: the net learns the ~5000 training images by heart and does "
           "not generalize to the test images.",
    "3.4": "With augmentation + normalization the train accuracy is lower and grows slower, but the test accuracy is "
           "similar or better and the gap is small: the augmented images work against overfitting because every epoch "
           "the images look a bit different. Normalization (and batch norm) makes the training more stable and faster.",
    "4.5": "The map shows the gradient of the score of the chosen class, so it depends on the label: for 285 (Egyptian cat) "
           "the pixels that make the image look like a cat are important (head, eyes, ears), for 243 (bull mastiff) other "
           "pixels increase the dog score. Different classes are different output neurons with different weights, so "
           "the gradients are different. (We only have random weights offline, so our maps look random.)",
}


if __name__ == "__main__":
    DATA_ROOT = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
    use_gpu = torch.cuda.is_available()
    print("GPU:", use_gpu)

    # Task 3.3
    train_loader, test_loader = make_loaders(DATA_ROOT, batch_size=16)
    model = Net(normalization=False)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    plain = train(model, criterion, optimizer, train_loader, test_loader, num_epochs=10, use_gpu=use_gpu)
    plot_accuracy({"plain": plain}).savefig(f"{RESULTS_DIR}/acc_plain.png")

    # Task 3.4
    trainset = load_cifar10(DATA_ROOT, train=True)
    show_augmentations(trainset, load_cifar10(DATA_ROOT, train=True, transform=make_transform(augment=True)),
                       n=6).savefig(f"{RESULTS_DIR}/augmentations.png")
    train_loader, test_loader = make_loaders(DATA_ROOT, batch_size=16, augment=True, normalize=True)
    model = Net(normalization=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    aug = train(model, criterion, optimizer, train_loader, test_loader, num_epochs=10, use_gpu=use_gpu)
    plot_accuracy({"plain": plain, "augmented": aug}).savefig(f"{RESULTS_DIR}/acc_both.png")

    # Task 4
    resnet, msg = load_resnet18()
    print(msg)
    img = load_photo("chelsea")
    acts = get_activations(resnet, img, resnet_layers(resnet))
    for k, v in acts.items():
        print(k, v.shape)
        show_activation_grid(v, title=k).savefig(f"{RESULTS_DIR}/act_{k}.png")
    show_overlays(img, acts).savefig(f"{RESULTS_DIR}/overlays.png")
    sal = saliency_maps(img.repeat(2, 1, 1, 1), torch.tensor([243, 285]), resnet)
    show_saliency(img, {"243": sal[0], "285": sal[1]}).savefig(f"{RESULTS_DIR}/saliency.png")
