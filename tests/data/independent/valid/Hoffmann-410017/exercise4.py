"""Exercise 4: Convolutional Neural Networks.

Lukas Hoffmann, 410017

Preamble and Net are taken over from the exercise sheet, the rest is the
template filled in.
"""

from __future__ import annotations

import os, cv2, numpy as np
from PIL import Image
from tqdm import tqdm
import matplotlib.pyplot as plt
from sklearn.decomposition import PCA
import torch, torchvision, torch.nn as nn, torch.optim as optim, torch.nn.functional as F
from torchvision import transforms as T
plt.rcParams['figure.figsize'] = [10, 5]
RESULTS_DIR = 'results'
if not os.path.exists(RESULTS_DIR):
    os.makedirs(RESULTS_DIR)

# from the template
import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure
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
    x = torch.as_tensor(x, dtype=torch.float32)
    w = torch.as_tensor(w, dtype=torch.float32)
    bias = torch.as_tensor(b, dtype=torch.float32).reshape(1)
    # conv2d wants (N, C, H, W) for the input and (out, in, kH, kW) for the kernel
    out = F.conv2d(x[None, None], w[None, None], bias=bias, stride=stride, padding=padding)
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
    # a dilated kernel covers d*(k-1)+1 input pixels
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------------------
# Task 2: Receptive field
# ---------------------------------------------------------------------------


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit of the last layer."""
    # go backwards from one output unit: r_{l-1} = s_l * (r_l - 1) + k_eff_l
    r = 1
    for layer in reversed(list(layers)):
        k, s = int(layer[0]), int(layer[1])
        d = int(layer[2]) if len(layer) > 2 else 1
        k_eff = d * (k - 1) + 1
        r = s * (r - 1) + k_eff
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
    transform_list = []
    if augment:
        transform_list += [
            T.RandomHorizontalFlip(p=0.5),
            T.RandomCrop(32, padding=4),
            T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05),
        ]
    transform_list.append(T.ToTensor())
    if normalize:
        transform_list.append(T.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)))
    return T.Compose(transform_list)


def make_loaders(
    root: str | Path,
    batch_size: int = 16,
    augment: bool = False,
    normalize: bool = False,
    num_workers: int = 2,
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Return (train_loader, test_loader) for CIFAR-10 in root; only training data is augmented."""
    trainset = load_cifar10(root, train=True, transform=make_transform(augment=augment, normalize=normalize))
    # the test images are never augmented, only normalized like the training images
    testset = load_cifar10(root, train=False, transform=make_transform(augment=False, normalize=normalize))
    train_loader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    test_loader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader


class Net(nn.Module):
    def __init__(self, normalization=False):
        super(Net, self).__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(in_channels=3, out_channels=6, kernel_size=(5, 5), padding=0, stride=1)
        self.norm1 = nn.BatchNorm2d(num_features=6)
        self.pool1 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.conv2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=(5, 5), padding=0, stride=1)
        self.norm2 = nn.BatchNorm2d(num_features=16)
        self.pool2 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.conv1(x)
        if self.normalization:
            x = self.norm1(x)
        x = self.pool1(F.relu(x))
        x = self.conv2(x)
        if self.normalization:
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
    device = torch.device('cuda' if use_gpu and torch.cuda.is_available() else 'cpu')
    model = model.to(device)
    train_accuracies = []
    test_accuracies = []
    for epoch in tqdm(range(num_epochs)):
        # training
        model.train()
        running_loss = 0.0
        n_batches = 0
        correct = 0
        total = 0
        for images, labels in train_loader:
            images = images.to(device)
            labels = labels.to(device)

            prediction = model(images)
            loss = criterion(prediction, labels)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
            n_batches += 1
            _, predicted = torch.max(prediction.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
        train_acc = correct / total
        train_accuracies.append(train_acc)

        # testing
        model.eval()
        correct = 0
        total = 0
        with torch.no_grad():
            for images, labels in tqdm(test_loader):
                images = images.to(device)
                labels = labels.to(device)
                prediction = model(images)
                _, predicted = torch.max(prediction.data, 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        test_acc = correct / total
        test_accuracies.append(test_acc)

        print('Epoch [{}/{}], Loss: {:.4f}, Train accuracy: {:.2f} %, Test accuracy: {:.2f} %'
              .format(epoch + 1, num_epochs, running_loss / max(n_batches, 1), 100 * train_acc, 100 * test_acc))
        torch.save(model.state_dict(), f'{RESULTS_DIR}/ConvNet{epoch + 1}.ckpt')
    return train_accuracies, test_accuracies


def plot_accuracy(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Return a figure with the training and test accuracy of each named run over epochs."""
    fig, ax = plt.subplots()
    for name, (train_acc, test_acc) in runs.items():
        epochs = np.arange(1, len(train_acc) + 1)
        ax.plot(epochs, train_acc, marker='o', label=f'{name} train')
        ax.plot(epochs, test_acc, marker='x', linestyle='--', label=f'{name} test')
    ax.set_xlabel('Epoch')
    ax.set_ylabel('Accuracy')
    ax.set_title('Training and test accuracy')
    ax.legend()
    ax.grid(True)
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
        axes[0, i].imshow(to_image(dataset[i][0]))
        axes[0, i].set_title('original')
        axes[0, i].axis('off')
        axes[1, i].imshow(to_image(augmented[i][0]))
        axes[1, i].set_title('augmented')
        axes[1, i].axis('off')
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
    activation = {}

    def get_activation(name):
        def hook(module, inp, output):
            activation[name] = output.detach()
        return hook

    handles = []
    for name, layer in layers.items():
        handles.append(layer.register_forward_hook(get_activation(name)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
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
    X = X.clone().detach().requires_grad_(True)
    scores = model(X)
    # score of the wanted class for every image (not the loss!)
    correct_scores = scores.gather(1, y.view(-1, 1)).squeeze(1)
    correct_scores.sum().backward()
    saliency, _ = torch.max(X.grad.data.abs(), dim=1)
    # every map scaled by its own maximum
    saliency = saliency / saliency.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
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
    "1b": (
        "The input and the kernels are binary and every kernel has exactly two ones, so w * x over one "
        "patch is 0, 1 or 2. Adding the bias -1 gives -1, 0 or 1 and the ReLU sets everything below zero "
        "to 0. So an output is 1 exactly when the patch has a one under BOTH ones of the kernel, otherwise 0. "
        "The bias works like a threshold and the filter is a pattern detector: w1 finds diagonal pairs "
        "(x[i][j] and x[i+1][j+1] both 1), w2 vertical pairs and w3 horizontal pairs. You can read the "
        "output off by looking for these pairs in x; the output position is the top left pixel of the pair."
    ),
    "1d": (
        "Stride 2 downsamples: the output is about half as high and wide, so later layers need less "
        "computation and memory and each unit sees a larger part of the input (bigger receptive field). "
        "Pooling (max pooling or average pooling, e.g. 2x2 with stride 2) serves the same purpose."
    ),
    "1e": (
        "In 1-D with input length n, padding p on both sides the padded input has n + 2p pixels. The kernel "
        "covers k pixels (with dilation d: d(k-1)+1). The first window starts at 0, the next ones at s, 2s, ... "
        "and the last start must be <= n + 2p - k. So the number of windows is "
        "out = floor((n + 2p - k) / s) + 1, in general floor((n + 2p - d(k-1) - 1) / s) + 1. The floor is "
        "needed because a window that would stick out of the padded input is not computed. "
        "Example: n=5, k=2, s=2, p=0 gives floor(3/2)+1 = 2."
    ),
    "2c": (
        "Every additional layer enlarges the receptive field: a layer with kernel k adds (k-1) times the "
        "product of the strides of all layers before it. With stride 1 the receptive field grows linearly "
        "with depth (1 + L(k-1), e.g. 3 layers 3x3 -> 7); with strides > 1 it grows much faster because the "
        "later layers work on a coarser grid (2 layers 4x4 stride 2 -> 10)."
    ),
    "2d": (
        "With the same number of layers the receptive field can grow with larger kernels, with larger "
        "strides or pooling layers (downsampling) in between, and with dilated (atrous) convolutions, which "
        "spread the kernel out without adding weights."
    ),
    "3.3": (
        "The training accuracy keeps going up while the test accuracy goes up only in the first epochs and "
        "then stays about constant (or even drops a bit), so a gap opens. This is overfitting: the network "
        "learns the training images (we only use a small subset of CIFAR-10) instead of features that "
        "generalize. Against it one can use more data, data augmentation, regularization (weight decay, "
        "dropout) or stop training early at the best test/validation accuracy."
    ),
    "3.4": (
        "With augmentation the network sees a slightly different version of each image in every epoch, so "
        "it cannot memorize the training set as easily: the training accuracy rises more slowly and stays "
        "lower, but the test accuracy is similar or better and the gap between train and test is much smaller. "
        "Normalizing the inputs to mean 0 / std 0.5 and batch norm make the optimization better conditioned, "
        "so the network learns faster in the first epochs. Augmentation is only applied to the training data, "
        "the test set stays unchanged."
    ),
    "4.5": (
        "The saliency map is the gradient of the score of ONE class with respect to the input pixels, so it "
        "shows which pixels would change this class score most. Each class has its own weights in the last "
        "layer, so the gradient flows back through different features: for 'bull mastiff' the pixels that "
        "look like dog features matter, for 'Egyptian cat' the cat features (ears, eyes, fur pattern). Hence "
        "the same image gives different maps for different labels. (With random weights the maps do not "
        "show anything meaningful.)"
    ),
}


if __name__ == '__main__':
    DATA_ROOT = os.environ.get('CIFAR10_ROOT', '../data/cache/cifar10-subset')
    use_gpu = torch.cuda.is_available()

    train_loader, test_loader = make_loaders(DATA_ROOT, batch_size=16)
    model = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    plain = train(model, criterion, optimizer, train_loader, test_loader, num_epochs=10, use_gpu=use_gpu)

    train_loader, test_loader = make_loaders(DATA_ROOT, batch_size=16, augment=True, normalize=True)
    model = Net(normalization=True)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    augmented = train(model, criterion, optimizer, train_loader, test_loader, num_epochs=10, use_gpu=use_gpu)

    plot_accuracy({'plain': plain, 'augmented + normalized': augmented})
    plt.show()
