"""CIFAR-10 data: the shipped subset, a folder given by path, and clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from grader.data import BATCHES, data_root, load_split, sample, shipped_root
from grader.errors import DataError


def write_fake(root: Path, n: int = 10) -> None:
    folder = root / BATCHES
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, n))}
        (folder / name).write_bytes(pickle.dumps(batch))


def test_shipped_subset_is_the_real_one():
    root = shipped_root()
    train, test = load_split(root, True), load_split(root, False)
    assert train.images.shape == (5085, 32, 32, 3) and test.images.shape == (1017, 32, 32, 3)
    assert train.images.dtype == np.uint8 and set(np.unique(train.labels)) == set(range(10))


def test_given_folder_is_used_and_sampled(tmp_path):
    write_fake(tmp_path)
    assert data_root(tmp_path) == tmp_path
    assert data_root(tmp_path / BATCHES) == tmp_path
    split = load_split(tmp_path, True)
    assert split.images.shape == (50, 32, 32, 3)
    a = sample(split, 20, np.random.default_rng(1))
    b = sample(split, 20, np.random.default_rng(1))
    assert np.array_equal(a.images, b.images) and len(a.labels) == 20


def test_channels_are_read_in_cifar_order(tmp_path):
    write_fake(tmp_path)
    raw = pickle.loads((tmp_path / BATCHES / "test_batch").read_bytes())["data"][0]
    image = load_split(tmp_path, False).images[0]
    assert np.array_equal(image[..., 0].ravel(), raw[:1024]) and np.array_equal(image[..., 2].ravel(), raw[2048:])


def test_missing_or_broken_data_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no cifar-10-batches-py"):
        data_root(tmp_path)
    (tmp_path / BATCHES).mkdir()
    with pytest.raises(DataError, match="lacks"):
        data_root(tmp_path)
    write_fake(tmp_path / "x")
    (tmp_path / "x" / BATCHES / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DataError, match="Cannot read"):
        load_split(tmp_path / "x", False)
