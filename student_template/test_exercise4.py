"""Public tests of Exercise 4: types, shapes and sanity checks you can run yourself with `pytest`.

Passing them does not mean your answers are right: the grader's own checks test
the values. A test that fails with "Task ...: ..." points at the task to work on.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # No window: the tests only look at the figures' contents.

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

import exercise4 as ex

HAND_KEYS = ("w1_s1", "w2_s1", "w3_s1", "w1_s2", "w2_s2", "w3_s2")
# What the exercise gives (the template has them too; your code need not define them, and the
# grader does not require them either).
X = torch.tensor([[1, 0, 0, 1, 1, 0], [0, 1, 0, 0, 0, 1], [0, 0, 1, 1, 0, 0], [1, 0, 0, 0, 1, 0],
                  [1, 0, 0, 0, 0, 1]], dtype=torch.float32)
W1 = torch.tensor([[1, 0], [0, 1]], dtype=torch.float32)
B1 = -1.0
CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def photo(name: str = "chelsea", size: int = 224) -> torch.Tensor:
    """A scikit-image photo, ImageNet-normalized, shape (1, 3, size, size)."""
    import skimage.data
    from torchvision import transforms

    image = torch.from_numpy(np.ascontiguousarray(getattr(skimage.data, name)())).permute(2, 0, 1).float() / 255.0
    prepare = transforms.Compose([transforms.Resize(size, antialias=True), transforms.CenterCrop(size),
                                  transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    return prepare(image)[None]
ANSWER_IDS = ("1b", "1d", "1e", "2c", "2d", "3.3", "3.4", "4.5")


def write_tiny_cifar(root: Path, per_batch: int = 4, test_size: int = 6) -> Path:
    """Write a small data set in CIFAR-10's on-disk format under root and return root."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test_size if name == "test_batch" else per_batch
        batch = {
            "batch_label": name,
            "labels": [int(v) for v in rng.integers(0, 10, n)],
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"{name}_{i}.png" for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CLASSES), "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return root


@pytest.fixture
def tiny_cifar(tmp_path: Path) -> Path:
    return write_tiny_cifar(tmp_path / "cifar")


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


# --- Task 1 -----------------------------------------------------------------


def test_conv_relu_shape_and_sign():
    out = ex.conv_relu(X, W1, B1)
    assert isinstance(out, torch.Tensor), "Task 1(a): conv_relu must return a torch.Tensor"
    assert out.dim() == 2 and tuple(out.shape) == (4, 5), f"Task 1(a): expected shape (4, 5), got {tuple(out.shape)}"
    assert out.is_floating_point(), "Task 1(a): conv_relu must return a float tensor"
    assert (out >= 0).all(), "Task 1(a): a ReLU output is never negative"
    assert tuple(ex.conv_relu(X, W1, B1, stride=2).shape) == (2, 3), "Task 1(c): stride 2 gives shape (2, 3)"


def test_conv_relu_matches_conv2d():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(7, 9, generator=gen)
    w = torch.randn(2, 3, generator=gen)
    b = torch.tensor(0.25)
    expected = F.relu(F.conv2d(x[None, None], w[None, None], bias=b.reshape(1), stride=2, padding=1))[0, 0]
    out = ex.conv_relu(x, w, b, stride=2, padding=1)
    assert tuple(out.shape) == tuple(expected.shape), f"Task 1(a): expected shape {tuple(expected.shape)}, got {tuple(out.shape)}"
    assert torch.allclose(out.float(), expected, atol=1e-5), "Task 1(a): conv_relu differs from ReLU(conv2d(x, w) + b)"


def test_hand_computed_is_filled_in():
    assert set(ex.HAND_COMPUTED) == set(HAND_KEYS), f"Task 1(a)/(c): HAND_COMPUTED needs exactly the keys {HAND_KEYS}"
    for key in HAND_KEYS:
        value = ex.HAND_COMPUTED[key]
        assert value is not None, f"Task 1(a)/(c): HAND_COMPUTED[{key!r}] is not filled in yet"
        shape = (4, 5) if key.endswith("s1") else (2, 3)
        array = np.asarray(value, dtype=float)
        assert array.shape == shape, f"Task 1(a)/(c): HAND_COMPUTED[{key!r}] should have shape {shape}, got {array.shape}"
        assert (array >= 0).all(), f"Task 1(a)/(c): HAND_COMPUTED[{key!r}] has negative entries after a ReLU"


@pytest.mark.parametrize("n, k, s, p, d", [(32, 5, 1, 0, 1), (7, 2, 2, 0, 1), (10, 3, 3, 1, 1), (9, 3, 1, 0, 2)])
def test_conv_output_size_matches_torch(n, k, s, p, d):
    size = ex.conv_output_size(n, k, s, p, d)
    assert isinstance(size, int), f"Task 1(e): conv_output_size must return an int, got {type(size).__name__}"
    actual = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
    assert size == actual, f"Task 1(e): conv_output_size{(n, k, s, p, d)} = {size}, but conv1d gives {actual}"


# --- Task 2 -----------------------------------------------------------------


def test_receptive_field_sanity():
    for k in (1, 3, 5):
        got = ex.receptive_field([(k, 1)])
        assert got == k, f"Task 2: one layer of kernel {k} sees {k} pixels, got {got}"
    assert isinstance(ex.receptive_field([(3, 2), (3, 1)]), int), "Task 2: receptive_field must return an int"
    assert ex.receptive_field([(3, 1), (3, 1)]) > ex.receptive_field([(3, 1)]), "Task 2: another layer must widen the field"
    assert ex.receptive_field([(3, 1, 2)]) > ex.receptive_field([(3, 1)]), "Task 2: dilation must widen the field"


def test_rf_answers_are_filled_in():
    assert set(ex.RF_ANSWERS) == {"a", "b"}, "Task 2(a)/(b): RF_ANSWERS needs the keys 'a' and 'b'"
    for key in ("a", "b"):
        value = ex.RF_ANSWERS[key]
        assert value is not None, f"Task 2({key}): RF_ANSWERS[{key!r}] is not filled in yet"
        assert isinstance(value, int) and value > 0, f"Task 2({key}): RF_ANSWERS[{key!r}] must be a positive int"


# --- Task 3 -----------------------------------------------------------------


def test_make_transform_plain_and_normalized():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    plain = ex.make_transform()(image)
    assert isinstance(plain, torch.Tensor) and tuple(plain.shape) == (3, 32, 32), "Task 3.4: transform must give a (3, 32, 32) tensor"
    assert plain.min() >= 0 and plain.max() <= 1, "Task 3.4: without normalize the values stay in [0, 1]"
    normalized = ex.make_transform(normalize=True)(image)
    assert torch.allclose(normalized, (plain - 0.5) / 0.5, atol=1e-6), "Task 3.4: normalize means (x - 0.5) / 0.5 per channel"


def test_make_transform_augment_is_random():
    from torchvision import transforms

    transform = ex.make_transform(augment=True)
    assert isinstance(transform, transforms.Compose), "Task 3.4: make_transform must return a transforms.Compose"
    kinds = [type(t) for t in transform.transforms]
    for kind in (transforms.RandomHorizontalFlip, transforms.RandomCrop, transforms.ColorJitter):
        assert kind in kinds, f"Task 3.4: augmentation needs {kind.__name__}"
        assert kinds.index(kind) < kinds.index(transforms.ToTensor), f"Task 3.4: {kind.__name__} goes before ToTensor"
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    torch.manual_seed(0)
    outs = [transform(image) for _ in range(5)]
    assert all(tuple(o.shape) == (3, 32, 32) for o in outs), "Task 3.4: augmented images stay 3 x 32 x 32"
    assert any(not torch.equal(outs[0], o) for o in outs[1:]), "Task 3.4: augmentation should change the image"


def test_make_loaders(tiny_cifar):
    from torch.utils.data import RandomSampler, SequentialSampler

    train_loader, test_loader = ex.make_loaders(tiny_cifar, batch_size=3, augment=True, normalize=True, num_workers=0)
    assert len(train_loader.dataset) == 20 and len(test_loader.dataset) == 6, "Task 3.1: the loaders must read the training and the test set"
    assert isinstance(train_loader.sampler, RandomSampler), "Task 3.3: the training loader shuffles"
    assert isinstance(test_loader.sampler, SequentialSampler), "Task 3.3: the test loader does not shuffle"
    images, labels = next(iter(train_loader))
    assert tuple(images.shape) == (3, 3, 32, 32) and labels.shape == (3,), "Task 3.1: batches of (images, labels)"
    assert images.min() < 0, "Task 3.4: normalized images have negative values"
    first = [test_loader.dataset[0][0] for _ in range(3)]
    assert all(torch.equal(first[0], f) for f in first), "Task 3.4: the test set must not be augmented"
    torch.manual_seed(0)
    augmented = [train_loader.dataset[0][0] for _ in range(5)]
    assert any(not torch.equal(augmented[0], a) for a in augmented[1:]), "Task 3.4: the training set is augmented"


@pytest.mark.parametrize("normalization", [False, True])
def test_net_shapes(normalization):
    net = ex.Net(normalization=normalization)
    out = net(torch.randn(2, 3, 32, 32))
    assert tuple(out.shape) == (2, 10), f"Task 3.2: Net must give (N, 10) scores, got {tuple(out.shape)}"
    # The layers a forward pass applies, in order. How you name them is up to you (conv1 … as on the
    # sheet, or an nn.Sequential), and so is whether the batch norms exist without normalization: the
    # sheet's Net constructs them always and applies them only when normalization=True, the
    # template's uses nn.Identity(). Both are right.
    applied = []
    hooks = [m.register_forward_hook(lambda m, i, o: applied.append(m)) for m in net.modules() if not list(m.children())]
    net.eval()
    with torch.no_grad():
        net(torch.randn(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    layers = [type(m).__name__ for m in applied if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    bn = ["BatchNorm2d"] if normalization else []
    expected = ["Conv2d", *bn, "Conv2d", *bn, "Linear", "Linear", "Linear"]
    assert layers == expected, f"Task 3.2: a forward pass should apply {expected} in this order, applies {layers}"
    counts = [sum(p.numel() for p in m.parameters()) for m in applied if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert counts == [456, 2416, 48120, 10164, 850], f"Task 3.2: parameters of conv1, conv2, fc1, fc2, fc3: {counts}"
    if normalization:
        sizes = [m.num_features for m in applied if isinstance(m, nn.BatchNorm2d)]
        assert sizes == [6, 16], f"Task 3.2: the batch norms are BatchNorm2d(6) and BatchNorm2d(16), got {sizes}"


def test_train_returns_accuracies():
    torch.manual_seed(0)
    batches = [(torch.randn(4, 3, 8, 8), torch.randint(0, 3, (4,))) for _ in range(3)]
    batches.append((torch.randn(1, 3, 8, 8), torch.randint(0, 3, (1,))))
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_acc, test_acc = ex.train(model, nn.CrossEntropyLoss(), optimizer, batches, batches[:2], num_epochs=2)
    for name, accs in (("training", train_acc), ("test", test_acc)):
        assert len(accs) == 2, f"Task 3.3: one {name} accuracy per epoch, got {len(accs)}"
        assert all(isinstance(a, float) and 0.0 <= a <= 1.0 for a in accs), f"Task 3.3: {name} accuracies are floats in [0, 1]: {accs}"


def test_plot_accuracy():
    runs = {"plain": ([0.3, 0.5, 0.6], [0.3, 0.4, 0.45]), "augmented": ([0.2, 0.4, 0.5], [0.25, 0.4, 0.5])}
    fig = ex.plot_accuracy(runs)
    assert isinstance(fig, Figure), "Task 3.3: plot_accuracy must return a matplotlib Figure"
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel(), "Task 3.3: label both axes"
    legend = ax.get_legend()
    assert legend is not None, "Task 3.3: the plot needs a legend"
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == 4, f"Task 3.3: one train and one test curve per run, got legend {labels}"
    ys = sorted(tuple(np.round(line.get_ydata(), 6)) for line in ax.get_lines())
    assert ys == sorted(tuple(np.round(acc, 6)) for run in runs.values() for acc in run), "Task 3.3: plot the accuracies as given"


def test_show_augmentations():
    rng = np.random.default_rng(3)
    originals = [(Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)), i) for i in range(3)]
    augmented = [(torch.rand(3, 32, 32), i) for i in range(3)]
    fig = ex.show_augmentations(originals, augmented, n=3)
    assert isinstance(fig, Figure), "Task 3.4: show_augmentations must return a matplotlib Figure"
    # Six images, or grids of them (torchvision.utils.make_grid is fine): counted by their pixels.
    pictures = [np.asarray(im.get_array()) for ax in fig.axes for im in ax.get_images()]
    shown = sum(a.shape[0] * a.shape[1] for a in pictures) / (32 * 32)
    assert shown >= 6, f"Task 3.4: 3 originals above 3 augmented images make 6 images of 32 x 32, got {shown:.1f} images' worth"


# --- Task 4 -----------------------------------------------------------------


def test_resnet_layers(resnet):
    layers = ex.resnet_layers(resnet)
    assert set(layers) == {"maxpool", "comp", "conv2", "avgpool"}, f"Task 4.2: keys are maxpool, comp, conv2, avgpool; got {sorted(layers)}"
    assert all(isinstance(m, nn.Module) for m in layers.values()), "Task 4.2: the values are modules of the model"
    assert layers["maxpool"] is resnet.maxpool and layers["avgpool"] is resnet.avgpool, "Task 4.2: maxpool and avgpool are the model's own"


def test_get_activations(resnet):
    x = photo("chelsea", 224)
    before = resnet(x).detach()
    acts = ex.get_activations(resnet, x, ex.resnet_layers(resnet))
    shapes = {name: tuple(a.shape) for name, a in acts.items()}
    assert shapes == {"maxpool": (1, 64, 56, 56), "comp": (1, 256, 14, 14), "conv2": (1, 512, 7, 7), "avgpool": (1, 512, 1, 1)}, f"Task 4.2: activation shapes {shapes}"
    assert not any(a.requires_grad for a in acts.values()), "Task 4.2: return detached tensors"
    left = [name for name, m in resnet.named_modules() if m._forward_hooks]
    assert not left, f"Task 4.2: remove the hooks afterwards; still hooked: {left}"
    assert torch.allclose(resnet(x), before, atol=1e-5), "Task 4.2: the hooks must not change the model's output"


def test_saliency_maps(resnet):
    gen = torch.Generator().manual_seed(5)
    X = torch.randn(2, 3, 64, 64, generator=gen)
    weights = {k: v.clone() for k, v in resnet.state_dict().items()}
    maps = ex.saliency_maps(X, torch.tensor([243, 285]), resnet)
    assert tuple(maps.shape) == (2, 64, 64), f"Task 4.5: saliency maps have shape (N, H, W), got {tuple(maps.shape)}"
    assert not maps.requires_grad, "Task 4.5: return a detached tensor"
    assert maps.min() >= 0 and maps.max() <= 1, "Task 4.5: each map is scaled to [0, 1]"
    assert torch.allclose(maps.amax(dim=(1, 2)), torch.ones(2)), "Task 4.5: scale each image's map on its own (its maximum becomes 1)"
    assert all(torch.equal(v, weights[k]) for k, v in resnet.state_dict().items()), "Task 4.5: the model's weights must not change"


# --- Written answers ----------------------------------------------------------


@pytest.mark.parametrize("question", ANSWER_IDS)
def test_answer_written(question):
    task = question if "." in question else f"{question[0]}({question[1:]})"
    answer = ex.ANSWERS.get(question)
    assert isinstance(answer, str) and answer.strip(), f"Task {task}: ANSWERS[{question!r}] is still empty"
