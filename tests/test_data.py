"""CIFAR-10 data: the shipped subset, a folder given by path, and clear errors."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from grader.data import BATCHES, data_root, extract_plain, load_split, sample, shipped_root
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


def _tar(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    with tarfile.open(path, "w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo("data/link")
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
    return path


@pytest.fixture(params=["data filter", "python 3.11.2"])
def extractor(request, monkeypatch):
    """extract_plain as on a Python with tarfile's data filter, and as on Debian 12's 3.11.2 without it."""
    if request.param == "python 3.11.2":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return extract_plain


def test_extract_plain_unpacks_files(tmp_path, extractor):
    archive = _tar(tmp_path / "ok.tar.xz", {"sub/cifar-10-batches-py/test_batch": b"abc", "sub/README": b"r"})
    with tarfile.open(archive) as tar:
        extractor(tar, tmp_path / "out")
    assert (tmp_path / "out/sub/cifar-10-batches-py/test_batch").read_bytes() == b"abc"


@pytest.mark.parametrize("members, link", [({"../evil": b"x"}, None), ({"data/a": b"x"}, "/etc/passwd")])
def test_extract_plain_refuses_what_points_outside(tmp_path, extractor, members, link):
    archive = _tar(tmp_path / "bad.tar.xz", members, link)
    with tarfile.open(archive) as tar, pytest.raises(DataError, match="not a plain file inside the archive"):
        extractor(tar, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_extract_plain_never_writes_an_absolute_name_outside(tmp_path, extractor):
    name = tmp_path / "abs" / "evil"
    archive = _tar(tmp_path / "abs.tar.xz", {str(name): b"x"})
    with tarfile.open(archive) as tar:
        try:
            extractor(tar, tmp_path / "out")  # the data filter strips the leading "/": inside out/
        except DataError:
            pass  # without it, refused
    assert not name.exists()


def test_a_dangling_cache_link_is_a_clear_error(tmp_path, monkeypatch):
    """What CI met: `data/cache` committed as a link to another machine's folder."""
    import grader.data as data
    cache = tmp_path / "cache"
    cache.symlink_to(tmp_path / "elsewhere" / "cache")
    monkeypatch.setattr(data, "DATA_CACHE", cache)
    with pytest.raises(DataError, match="link to .*does not exist"):
        data.shipped_root()
