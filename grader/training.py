"""The training protocol of the Task 3 checks: sizes, threshold, the reference architecture, data as tensors,
the grader's own replay of training and the accuracy it measures.

Shared by the hidden checks, the benchmarks and the calibration that measures the threshold, so all
three run the same protocol; the networks themselves come from `grader.worker.models`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from grader.data import Split
from grader.worker.models import build_model, layer_states

# Short training on real CIFAR-10 images: the student's train() runs EPOCHS epochs over TRAIN_IMAGES
# images on the reference network, batch BATCH, Adam lr 1e-3, with the classes renamed (see run_train).
# THRESHOLD separates "learns" from "does not": measured over seeds by benchmarks/calibrate.py (figures
# in the README), the reference stays well above it and untrained or lr-0 networks well below.
TRAIN_IMAGES = 5000
TEST_IMAGES = 1000
EPOCHS = 6
BATCH = 128
LR = 1e-3
THRESHOLD = 0.25

ARCH: list[list[Any]] = [["conv", 3, 6, 5], ["relu"], ["maxpool", 2, 2], ["conv", 6, 16, 5], ["relu"], ["maxpool", 2, 2],
        ["flatten"], ["linear", 400, 120], ["relu"], ["linear", 120, 84], ["relu"], ["linear", 84, 10]]
# The same network with frozen batch norms (momentum 0 keeps the running statistics as set).
ARCH_BN: list[list[Any]] = ARCH[:1] + [["bn", 6, 0.0]] + ARCH[1:4] + [["bn", 16, 0.0]] + ARCH[4:]


def images(split: Split, normalize: bool = True) -> torch.Tensor:
    """uint8 NHWC images as float NCHW, like ToTensor (and Normalize(0.5, 0.5))."""
    x = torch.from_numpy(split.images).permute(0, 3, 1, 2).float() / 255
    return (x - 0.5) / 0.5 if normalize else x


def part(split: Split, start: int, stop: int) -> Split:
    """Images start … stop - 1 of a split."""
    return Split(split.images[start:stop], split.labels[start:stop])


def reference_layers(net: torch.nn.Module) -> list[dict[str, Any]]:
    """The reference network's weighted layers in forward order, as the worker's net_forward takes them."""
    return layer_states(net, torch.zeros(2, 3, 32, 32))


def accuracy(model: torch.nn.Module, split: Split) -> float:
    """The fraction of a split's images the model classifies right, in eval mode."""
    model.eval()
    with torch.no_grad():
        return float((model(images(split)).argmax(1).numpy() == split.labels).mean())


def state_dict(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Weights as plain arrays (a probe's reply) as a state_dict of tensors."""
    return {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}


def seeded_state(arch: list[list[Any]], seed: int) -> dict[str, torch.Tensor]:
    """The starting weights of the architecture under `seed`."""
    torch.manual_seed(seed)
    return build_model(arch).state_dict()


def replay(state: dict[str, torch.Tensor], train: Split, order: np.ndarray, batch: int, zero: bool,
           epochs: int = 1) -> torch.nn.Module:
    """The grader's own training of the reference network: Adam steps on `order`'s batches, each epoch alike."""
    model = build_model(ARCH)
    model.load_state_dict(state)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    x = images(train)
    y = torch.from_numpy(train.labels)
    for _ in range(epochs):
        for start in range(0, len(order), batch):
            idx = torch.from_numpy(np.asarray(order[start:start + batch]))
            if zero:
                optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
    return model


FOLLOW_TOLERANCE = 0.15
"""How far trained weights may lie from the grader's replay, as a share of how far the replay moved them.

Adam's first steps are about lr times the gradient's sign, so a weight whose gradient is near zero
moves by lr in a direction a float rounding can flip (another kernel or order of sums in the
student's process than in the replay), and later steps carry that on through every layer. Measured
on the reference (benchmarks: the three training checks under 6 seeds): at most 3.9 % of a layer's
movement (8 steps, seed 44), most layers equal to 1e-5. Gradients not zeroed lie at 41-126 %; another
learning rate, loss or network further still.
"""


def weights_apart(have: dict[str, torch.Tensor], want: dict[str, torch.Tensor],
                  start: dict[str, torch.Tensor]) -> list[str]:
    """The tensors of `have` that do not follow the replay `want` from `start` (see FOLLOW_TOLERANCE)."""
    apart = []
    for name, target in want.items():
        got, begin = have[name].float(), start[name].float()
        target = target.float()
        if torch.allclose(got, target, atol=1e-5, rtol=1e-4):
            continue
        moved = float((target - begin).norm())
        if moved == 0.0 or float((got - target).norm()) > FOLLOW_TOLERANCE * moved:
            apart.append(name)
    return apart
