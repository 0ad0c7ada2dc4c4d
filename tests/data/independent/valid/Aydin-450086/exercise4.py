#!/usr/bin/env python
# coding: utf-8

# # Exercise 4: Convolutional Neural Networks
# 
# Computer Vision & Deep Learning - Exercise 4
# 
# Author: Emre Aydin, 450086

# In[ ]:


get_ipython().system('pip install torch torchvision scikit-image opencv-python scikit-learn tqdm')


# In[ ]:


get_ipython().run_line_magic('matplotlib', 'inline')


# In[ ]:


import os, cv2, numpy as np
import itertools
import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from PIL import Image
from tqdm import tqdm
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
import torch, torchvision, torch.nn as nn, torch.optim as optim, torch.nn.functional as F
from torchvision import transforms as T
from torchvision import transforms
plt.rcParams['figure.figsize'] = [10, 5]
RESULTS_DIR = 'results'
if not os.path.exists(RESULTS_DIR):
    os.makedirs(RESULTS_DIR)


# In[ ]:


# settings: QUICK = a few batches and 1 epoch so that Run All is fast, set to False for the real run (10 epochs)
QUICK = True
EPOCHS = 1 if QUICK else 10
TRAIN_BATCHES, TEST_BATCHES = (20, 10) if QUICK else (None, None)
DATA_ROOT = os.environ.get("CIFAR10_ROOT", "../data/cache/cifar10-subset")
device = "cuda" if torch.cuda.is_available() else "cpu"
print(device, DATA_ROOT)


# In[ ]:


CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_CHECKPOINT = "resnet18-f37072fd.pth"
PHOTOS = ("chelsea", "coffee", "astronaut")


# ## Task 1: Convolutions revisited

# In[ ]:


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


# In[ ]:


def conv_relu(x, w, b, stride=1, padding=0):
    """ReLU(w * x + b) with F.conv2d (cross-correlation, no flipping)"""
    x = x[None, None, :, :].float()
    w = w[None, None, :, :].float()
    b = torch.as_tensor(b, dtype=torch.float32).view(1)
    out = F.conv2d(x, w, bias=b, stride=stride, padding=padding)
    out = F.relu(out)
    return out[0, 0]


# ### (a) and (c): by hand
# 
# w * x + b for every 2x2 window, then ReLU. Every output is 1 if the window contains the pattern of the kernel, else 0.

# In[ ]:


HAND_COMPUTED = {
    # (a) stride 1
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
    # (c) stride 2
    "w1_s2": [[1, 0, 1],
              [0, 0, 0]],
    "w2_s2": [[0, 0, 0],
              [0, 0, 0]],
    "w3_s2": [[0, 0, 0],
              [0, 1, 0]],
}


# In[ ]:


for name, w, b in (("w1", W1, B1), ("w2", W2, B2), ("w3", W3, B3)):
    for s in (1, 2):
        out = conv_relu(X, w, b, stride=s)
        print(name, "stride", s, "same as by hand:", torch.equal(out, torch.tensor(HAND_COMPUTED[f"{name}_s{s}"], dtype=torch.float32)))
        print(out)


# ### (e) output size

# In[ ]:


def conv_output_size(n, k, s=1, p=0, d=1):
    return int(np.floor((n + 2 * p - d * (k - 1) - 1) / s)) + 1

print(conv_output_size(32, 5), conv_output_size(5, 2, s=2), conv_output_size(6, 2, s=2))


# ## Task 2: Receptive field

# In[ ]:


def receptive_field(layers):
    # r_l = r_{l-1} + (k_l - 1) * d_l * prod(strides of the layers before l)
    r = 1
    stride_product = 1
    for layer in layers:
        if len(layer) == 3:
            k, s, d = layer
        else:
            (k, s), d = layer, 1
        r += (k - 1) * d * stride_product
        stride_product *= s
    return r

RF_ANSWERS = {
    "a": 7,
    "b": 10,
}
print(receptive_field([(3, 1)] * 3), receptive_field([(4, 2)] * 2))


# ## Task 3: CNN on CIFAR-10
# ### 3.1 Data

# In[ ]:


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


# In[ ]:


def make_transform(augment=False, normalize=False):
    transform_list = []
    if augment:
        transform_list += [
            T.RandomHorizontalFlip(),
            T.RandomCrop(32, padding=4),
            T.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.05),
        ]
    transform_list.append(T.ToTensor())
    if normalize:
        transform_list.append(T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    return T.Compose(transform_list)


def make_loaders(root, batch_size=16, augment=False, normalize=False, num_workers=2):
    trainset = load_cifar10(root, train=True, transform=make_transform(augment=augment, normalize=normalize))
    testset = load_cifar10(root, train=False, transform=make_transform(augment=False, normalize=normalize))
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return trainloader, testloader


# In[ ]:


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


# In[ ]:


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


# In[ ]:


train_images = load_cifar10(DATA_ROOT, train=True)
print(len(train_images), "training images,", len(load_cifar10(DATA_ROOT, train=False)), "test images")
show_examples(train_images, per_class=6)


# ### 3.2 Network

# In[ ]:


class Net(nn.Module):
    def __init__(self, normalization=False):
        super(Net, self).__init__()
        self.normalization = normalization
        self.conv1 = nn.Conv2d(in_channels=3, out_channels=6, kernel_size=(5, 5), padding=0, stride=1)
        self.pool1 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.conv2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=(5, 5), padding=0, stride=1)
        self.pool2 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        if normalization:
            self.norm1 = nn.BatchNorm2d(num_features=6)
            self.norm2 = nn.BatchNorm2d(num_features=16)
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

print(Net(normalization=True))


# ### 3.3 Training

# In[ ]:


def train(model, criterion, optimizer, train_loader, test_loader, num_epochs=10, use_gpu=False):
    dev = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
    model = model.to(dev)
    train_accuracies = []
    test_accuracies = []
    for epoch in tqdm(range(num_epochs)):
        model.train()
        running_loss = 0.0
        correct = 0
        total = 0
        for images, labels in train_loader:
            images, labels = images.to(dev), labels.to(dev)
            optimizer.zero_grad()
            prediction = model(images)
            loss = criterion(prediction, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            _, predicted = torch.max(prediction.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
        train_accuracies.append(correct / total)

        model.eval()
        correct = 0
        total = 0
        with torch.no_grad():
            for images, labels in tqdm(test_loader, leave=False):
                images, labels = images.to(dev), labels.to(dev)
                prediction = model(images)
                _, predicted = torch.max(prediction.data, 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        test_accuracies.append(correct / total)
        print(f"Epoch {epoch + 1}: loss {running_loss / len(train_loader):.4f}, "
              f"train accuracy {train_accuracies[-1]:.4f}, test accuracy {test_accuracies[-1]:.4f}")
        torch.save(model.state_dict(), f'{RESULTS_DIR}/ConvNet{epoch + 1}.ckpt')
    return train_accuracies, test_accuracies


def plot_accuracy(runs):
    fig, ax = plt.subplots()
    for name, (train_acc, test_acc) in runs.items():
        ax.plot(range(1, len(train_acc) + 1), train_acc, label=name + " train")
        ax.plot(range(1, len(test_acc) + 1), test_acc, label=name + " test")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Accuracy")
    ax.set_title("Train vs. test accuracy")
    ax.legend()
    return fig


# In[ ]:


def limit(loader, n):
    # only the first n batches in QUICK mode
    return loader if n is None else list(itertools.islice(loader, n))

torch.manual_seed(0)
train_loader, test_loader = make_loaders(DATA_ROOT, batch_size=16)
model = Net()
criterion = nn.CrossEntropyLoss()
optimizer = optim.Adam(model.parameters(), lr=1e-3)
plain = train(model, criterion, optimizer, limit(train_loader, TRAIN_BATCHES), limit(test_loader, TEST_BATCHES),
              num_epochs=EPOCHS, use_gpu=torch.cuda.is_available())


# In[ ]:


plot_accuracy({"plain": plain})
plt.show()


# ### 3.4 Augmentation

# In[ ]:


def show_augmentations(dataset, augmented, n=5):
    fig, axs = plt.subplots(2, n, figsize=(2 * n, 4))
    axs = np.array(axs).reshape(2, n)
    for i in range(n):
        axs[0, i].imshow(to_image(dataset[i][0]))
        axs[0, i].set_title("original")
        axs[1, i].imshow(to_image(augmented[i][0]))
        axs[1, i].set_title("augmented")
        axs[0, i].axis("off")
        axs[1, i].axis("off")
    plt.tight_layout()
    return fig

augmented_images = load_cifar10(DATA_ROOT, train=True, transform=make_transform(augment=True))
show_augmentations(train_images, augmented_images, n=6)
plt.show()


# In[ ]:


torch.manual_seed(0)
train_loader, test_loader = make_loaders(DATA_ROOT, batch_size=16, augment=True, normalize=True)
model_aug = Net(normalization=True)
optimizer = optim.Adam(model_aug.parameters(), lr=1e-3)
augmented = train(model_aug, criterion, optimizer, limit(train_loader, TRAIN_BATCHES), limit(test_loader, TEST_BATCHES),
                  num_epochs=EPOCHS, use_gpu=torch.cuda.is_available())
plot_accuracy({"plain": plain, "augmented + normalized": augmented})
plt.show()


# ## Task 4: Activation and saliency maps

# In[ ]:


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


# In[ ]:


resnet, weights_note = load_resnet18()
print(weights_note)


# In[ ]:


def resnet_layers(model):
    return {
        "maxpool": model.maxpool,
        "comp": model.layer3[0].downsample[1],
        "conv2": model.layer4[1].conv2,
        "avgpool": model.avgpool,
    }


def get_activations(model, x, layers):
    activation = {}

    def get_activation(name):
        def hook(model, input, output):
            activation[name] = output.detach()
        return hook

    hooks = []
    for name, layer in layers.items():
        hooks.append(layer.register_forward_hook(get_activation(name)))
    model.eval()
    with torch.no_grad():
        model(x)
    # remove the hooks again, otherwise every forward pass keeps writing into activation
    for hook in hooks:
        hook.remove()
    return activation

x = load_photo("chelsea", 224)
activations = get_activations(resnet, x, resnet_layers(resnet))
for name, act in activations.items():
    print(name, list(act.shape))


# In[ ]:


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


# In[ ]:


for name in activations:
    show_activation_grid(activations[name], n=16, title=name)
show_overlays(x, activations)


# In[ ]:


def saliency_maps(X, y, model):
    model.eval()
    X = X.clone().detach()
    X.requires_grad = True
    scores = model(X)
    # score of the correct class for every image (not the loss!)
    score = scores.gather(1, y.view(-1, 1)).squeeze()
    score.sum().backward()
    saliency = X.grad.data.abs()
    saliency, _ = torch.max(saliency, dim=1)
    # every image on its own: divide by its maximum
    for i in range(saliency.shape[0]):
        saliency[i] = saliency[i] / saliency[i].max()
    model.zero_grad()
    return saliency


# In[ ]:


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


# In[ ]:


maps = saliency_maps(x.repeat(2, 1, 1, 1), torch.tensor([243, 285]), resnet)
show_saliency(x, {"243 bull mastiff": maps[0], "285 Egyptian cat": maps[1]})


# ## Written answers

# In[ ]:


ANSWERS = {
    "1b": "The output is ReLU(<patch, kernel> - 1). The kernel has two ones, so <patch, kernel> counts how many of "
          "these two positions are 1 in the patch (0, 1 or 2). Because of the bias -1 and the ReLU only the case 2 "
          "gives an output (1), everything else is cut to 0. So each filter detects a pattern: w1 a diagonal, w2 a "
          "vertical line of two, w3 a horizontal line of two, and you can read the result off by looking where that "
          "pattern is in x.",
    "1d": "Stride 2 reduces the size of the feature map (downsampling), that makes the following layers cheaper and "
          "increases the receptive field. Pooling (for example max pooling 2x2 with stride 2) is used for the same.",
    "1e": "Pad the input to n + 2p. The kernel (size k) is placed at positions 0, s, 2s, ...; the last position i*s "
          "still needs i*s + k <= n + 2p. So i goes from 0 to floor((n + 2p - k)/s) and the output size is "
          "floor((n + 2p - k) / s) + 1 (with dilation d replace k by d*(k - 1) + 1).",
    "2c": "Every layer adds (k - 1) * (product of the previous strides) to the receptive field, so a deeper network "
          "has a larger receptive field; with stride 1 it grows linearly with the depth (7 for three 3x3 layers).",
    "2d": "With larger strides or pooling, larger kernels, or dilated convolutions.",
    "3.3": "The training accuracy rises with every epoch, the test accuracy goes up only in the first epochs and then "
           "stays about the same, so there is a growing gap between them. The network overfits the small "
           "training set.",
    "3.4": "With augmentation and normalization the training accuracy grows slower and stays lower, because the "
           "training images change in every epoch and the model cannot memorize them. The test accuracy is about the "
           "same or better, and the gap between train and test is much smaller, so augmentation reduces "
           "overfitting. The test set is not augmented, only normalized.",
    "4.5": "The saliency map is the gradient of the score of one class with respect to the image, so it depends on the "
           "class we choose. For 'bull mastiff' the pixels that matter for the dog score are highlighted, for "
           "'Egyptian cat' the pixels that matter for the cat score (the cat's face and fur), so the same image gives "
           "different maps.",
}
for q, a in ANSWERS.items():
    print(q, ":", a, "\n")

