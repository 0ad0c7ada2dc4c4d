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
import matplotlib.pyplot as plt

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_CHECKPOINT = "resnet18-f37072fd.pth"
PHOTOS = ("chelsea", "coffee", "astronaut")

# my settings
batch_size = 16
learning_rate = 0.001
num_epochs = 10
DATA_ROOT = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
RESULTS_DIR = "results"
if not os.path.exists(RESULTS_DIR):
    os.makedirs(RESULTS_DIR)

# for the hooks in task 4
activation = {}

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
    # conv2d wants (batch, channels, H, W) so i add two dimensions
    x = x.float().unsqueeze(0).unsqueeze(0)
    w = w.float().unsqueeze(0).unsqueeze(0)
    out = F.conv2d(x, w, stride=stride, padding=padding)
    out = out + b
    out = F.relu(out)
    # remove the two dimensions again
    return out[0][0]


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
    # with dilation the kernel gets bigger: d*(k-1)+1
    k_dilated = d * (k - 1) + 1
    out = (n + 2 * p - k_dilated) // s + 1
    return int(out)


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    rf = 1
    jump = 1  # how many input pixels one step in the current layer is
    for layer in layers:
        k = layer[0]
        s = layer[1]
        if len(layer) > 2:
            d = layer[2]
        else:
            d = 1
        k = d * (k - 1) + 1
        rf = rf + (k - 1) * jump
        jump = jump * s
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
    transform_list = []
    if augment:
        transform_list.append(transforms.RandomHorizontalFlip())
        transform_list.append(transforms.RandomCrop(32, padding=4))
        transform_list.append(transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2))
    transform_list.append(transforms.ToTensor())
    if normalize:
        transform_list.append(transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    return transforms.Compose(transform_list)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    train_transform = make_transform(augment=augment, normalize=normalize)
    # no augmentation for the test set!!
    test_transform = make_transform(augment=False, normalize=normalize)
    trainset = load_cifar10(root, train=True, transform=train_transform)
    testset = load_cifar10(root, train=False, transform=test_transform)
    print("train images:", len(trainset), "test images:", len(testset))
    train_loader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    test_loader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader


class Net(nn.Module):
    """The LeNet-style CNN of Task 3.2, with optional batch normalization."""

    def __init__(self, normalization: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(3, 6, 5)
        if normalization:
            self.norm1 = nn.BatchNorm2d(6)
        else:
            self.norm1 = nn.Identity()
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        if normalization:
            self.norm2 = nn.BatchNorm2d(16)
        else:
            self.norm2 = nn.Identity()
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, 10) for images x (N, 3, 32, 32)."""
        x = self.pool1(self.relu1(self.norm1(self.conv1(x))))
        x = self.pool2(self.relu2(self.norm2(self.conv2(x))))
        x = x.view(-1, 16 * 5 * 5)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        x = self.fc3(x)
        return x


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
    if use_gpu and torch.cuda.is_available():
        device = torch.device("cuda")
    else:
        device = torch.device("cpu")
    model.to(device)

    train_accuracies = []
    test_accuracies = []

    for epoch in range(num_epochs):
        model.train()
        running_loss = 0.0
        correct = 0
        total = 0
        for i, (images, labels) in enumerate(train_loader):
            images = images.to(device)
            labels = labels.to(device)

            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
            _, predicted = torch.max(outputs.data, 1)
            correct += (predicted == labels).sum().item()
            total += labels.size(0)

        train_acc = correct / total
        train_accuracies.append(train_acc)

        # test
        model.eval()
        correct = 0
        total = 0
        with torch.no_grad():
            for images, labels in test_loader:
                images = images.to(device)
                labels = labels.to(device)
                outputs = model(images)
                _, predicted = torch.max(outputs.data, 1)
                correct += (predicted == labels).sum().item()
                total += labels.size(0)
        test_acc = correct / total
        test_accuracies.append(test_acc)

        print("Epoch", epoch + 1, "loss:", running_loss / (i + 1), "train acc:", train_acc, "test acc:", test_acc)
        torch.save(model.state_dict(), f"{RESULTS_DIR}/ConvNet{epoch + 1}.ckpt")

    return train_accuracies, test_accuracies


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in runs:
        train_acc, test_acc = runs[name]
        epochs = list(range(1, len(train_acc) + 1))
        ax.plot(epochs, train_acc, label=name + " train")
        ax.plot(epochs, test_acc, label=name + " test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy over epochs")
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
    fig, axes = plt.subplots(2, n, figsize=(2 * n, 4), squeeze=False)
    for i in range(n):
        original_image = dataset[i][0]
        augmented_image = augmented[i][0]
        axes[0][i].imshow(to_image(original_image))
        axes[0][i].axis("off")
        axes[1][i].imshow(to_image(augmented_image))
        axes[1][i].axis("off")
    axes[0][0].set_title("original")
    axes[1][0].set_title("augmented")
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


def get_activation(name):
    # this function makes a hook that saves the output in the global activation dict
    def hook(model, input, output):
        activation[name] = output.detach()
    return hook


def get_activations(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Return the detached outputs of the given modules for input x, captured with forward hooks."""
    activation.clear()
    hooks = []
    for name in layers:
        h = layers[name].register_forward_hook(get_activation(name))
        hooks.append(h)
    with torch.no_grad():
        model(x)
    # remove the hooks again
    for h in hooks:
        h.remove()
    for name in activation:
        print(name, activation[name].shape)
    return activation.copy()


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
    X = X.clone()
    X.requires_grad = True

    scores = model(X)
    # score of the correct class for every image
    correct_scores = scores[torch.arange(X.shape[0]), y]
    correct_scores.sum().backward()

    saliency = X.grad.abs()
    saliency, _ = torch.max(saliency, dim=1)
    # scale every map with its maximum
    for i in range(saliency.shape[0]):
        saliency[i] = saliency[i] / saliency[i].max()
    print("saliency shape:", saliency.shape)
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
    "1b": "Each kernel has exactly two ones, so w * x is the number of pixels in the patch that are 1 at the "
          "same place as the ones of the kernel (0, 1 or 2). With the bias -1 the result is -1, 0 or 1 and "
          "the ReLU sets the -1 to 0. So the output is only 1 if the patch has both pixels of the kernel "
          "pattern and 0 otherwise. w1 looks for a diagonal, w2 for two ones on top of each other and w3 for "
          "two ones next to each other. So you can just look in the input where this pattern is and write a 1 "
          "there, without calculating anything. Its like a template matching.",
    "1d": "Stride 2 is used to downsample the feature map, the output has about half the heigth and width. "
          "This makes the network faster and needs less memory and the later layers see a bigger part of the "
          "image (bigger receptive field). The same can be done with pooling, for example max pooling with "
          "2x2 and stride 2.",
    "1e": "For input size n, kernel size k, stride s and padding p the output size is "
          "o = floor((n + 2p - k) / s) + 1. The kernel can start at the positions 0, s, 2s, ... as long as it "
          "still fits in the padded input of length n + 2p, thats (n + 2p - k)/s steps plus the first "
          "position. With dilation d the kernel size is d*(k-1)+1 instead of k.",
    "2c": "The deeper the network the bigger the receptive field. With stride 1 every layer with kernel k adds "
          "k-1 pixels, so it grows linear with the depth (3 layers 3x3 = 7). If the layers before have a "
          "stride, the k-1 gets multiplied with the product of the strides, so it grows faster.",
    "2d": "You can use bigger kernels, a bigger stride or pooling layers (downsampling) in between, or dilated "
          "convolutions which have gaps in the kernel so they see more pixels with the same number of weights.",
    "3.3": "The training accuracy goes up every epoch but the test accuracy stops increasing after some epochs "
           "and stays lower, so there is a gap between them that gets bigger. The network is overfitting, it "
           "learns the training images (we only have ~5000) by heart and does not generalise so good to the "
           "test images it has never seen.",
    "3.4": "With augmentation the training accuracy is lower and grows slower because the net sees slightly "
           "different images every epoch and cannot memorize them. The test accuracy is similar or a bit "
           "higher and the gap between train and test is much smaller, so there is less overfitting. The "
           "normalization (and batch norm) makes the training more stable.",
    "4.5": "The saliency map is the gradient of the score of one class with respect to the pixels, so it "
           "shows which pixels change the score of that class the most. For a different label we take the "
           "derivative of a different output, so different pixels are important: for 285 Egyptian cat the "
           "pixels of the cat (face, ears, fur) and for 243 bull mastiff the parts that look a bit like a dog. "
           "(Without the pretrained weights the maps are just noise.)",
}


if __name__ == "__main__":
    # Task 1
    for name, w, b in [("w1", W1, B1), ("w2", W2, B2), ("w3", W3, B3)]:
        print(name, "stride 1")
        print(conv_relu(X, w, b, stride=1))
        print(name, "stride 2")
        print(conv_relu(X, w, b, stride=2))
    print(conv_output_size(32, 5))

    # Task 2
    print("receptive field a:", receptive_field([(3, 1), (3, 1), (3, 1)]))
    print("receptive field b:", receptive_field([(4, 2), (4, 2)]))

    # Task 3
    trainset = load_cifar10(DATA_ROOT, train=True)
    fig = show_examples(trainset)
    fig.savefig(RESULTS_DIR + "/examples.png")

    use_gpu = torch.cuda.is_available()
    criterion = nn.CrossEntropyLoss()

    train_loader, test_loader = make_loaders(DATA_ROOT, batch_size=batch_size)
    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    train_acc, test_acc = train(net, criterion, optimizer, train_loader, test_loader, num_epochs, use_gpu)
    fig = plot_accuracy({"no augmentation": (train_acc, test_acc)})
    fig.savefig(RESULTS_DIR + "/accuracy.png")

    augmented_set = load_cifar10(DATA_ROOT, train=True, transform=make_transform(augment=True))
    fig = show_augmentations(trainset, augmented_set, n=6)
    fig.savefig(RESULTS_DIR + "/augmentations.png")

    train_loader2, test_loader2 = make_loaders(DATA_ROOT, batch_size=batch_size, augment=True, normalize=True)
    net2 = Net(normalization=True)
    optimizer2 = torch.optim.Adam(net2.parameters(), lr=learning_rate)
    train_acc2, test_acc2 = train(net2, criterion, optimizer2, train_loader2, test_loader2, num_epochs, use_gpu)
    fig = plot_accuracy({"no augmentation": (train_acc, test_acc), "augmentation": (train_acc2, test_acc2)})
    fig.savefig(RESULTS_DIR + "/accuracy2.png")

    # Task 4
    resnet, text = load_resnet18()
    print(text)
    x = load_photo("chelsea")
    acts = get_activations(resnet, x, resnet_layers(resnet))
    for name in acts:
        fig = show_activation_grid(acts[name], title=name)
        fig.savefig(RESULTS_DIR + "/activations_" + name + ".png")
    fig = show_overlays(x, acts)
    fig.savefig(RESULTS_DIR + "/overlays.png")

    maps = saliency_maps(torch.cat([x, x]), torch.tensor([243, 285]), resnet)
    fig = show_saliency(x, {"243 bull mastiff": maps[0], "285 Egyptian cat": maps[1]})
    fig.savefig(RESULTS_DIR + "/saliency.png")
    plt.show()
