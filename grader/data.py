"""The CIFAR-10 data the checks train and test on: the shipped real subset, or a full set given by path.

The files are the course's own (never a student's), in CIFAR-10's python format, so reading
their pickles here is reading trusted data.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.config import DATA_CACHE, SHIPPED_DATA
from grader.errors import DataError

BATCHES = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, 32, 32, 3) and labels as int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray


def shipped_root() -> Path:
    """The shipped subset, unpacked once into the project's data cache; returns its root."""
    root = DATA_CACHE / "cifar10-subset"
    if (root / BATCHES / TEST_FILE).exists():
        return root
    if not SHIPPED_DATA.exists():
        raise DataError(f"The shipped CIFAR-10 subset {SHIPPED_DATA} is missing; give a data set with --data.")
    if DATA_CACHE.is_symlink() and not DATA_CACHE.exists():
        raise DataError(f"The data cache {DATA_CACHE} is a link to {os.readlink(DATA_CACHE)}, which does not exist; "
                        "remove the link (the subset is unpacked there again) or give a data set with --data.")
    DATA_CACHE.mkdir(parents=True, exist_ok=True)
    # Unpack beside the target and rename, so two graders starting at once never see half a folder.
    tmp = Path(tempfile.mkdtemp(dir=DATA_CACHE, prefix=".unpack-"))
    try:
        with tarfile.open(SHIPPED_DATA) as tar:
            extract_plain(tar, tmp)
        try:
            tmp.rename(root)
        except OSError:
            if not (root / BATCHES / TEST_FILE).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def extract_plain(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract the plain files and folders of a tar archive inside dest, nothing that points outside.

    Uses tarfile's "data" filter where this Python has it (3.11.4 and later); Debian 12's 3.11.2
    lacks it, so there the same rule is applied to the member list by hand.
    """
    archive = os.fsdecode(tar.name) if tar.name else "the archive"
    if hasattr(tarfile, "data_filter"):
        try:
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as exc:
            raise DataError(f"{archive} holds {exc.tarinfo.name!r}, which is not a plain file inside the archive.") from exc
        return
    members = []
    for member in tar.getmembers():
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise DataError(f"{archive} holds {member.name!r}, which is not a plain file inside the archive.")
        member.mode &= 0o755
        members.append(member)
    tar.extractall(dest, members=members)


def data_root(data_dir: Path | None) -> Path:
    """The root folder (holding `cifar-10-batches-py`) to use: the given one, else the shipped subset."""
    if data_dir is None:
        return shipped_root()
    for candidate in (data_dir, data_dir.parent):
        if (candidate / BATCHES).is_dir():
            missing = [n for n in (*TRAIN_FILES, TEST_FILE) if not (candidate / BATCHES / n).is_file()]
            if missing:
                raise DataError(f"{candidate / BATCHES} lacks {', '.join(missing)}.")
            return candidate
    raise DataError(f"{data_dir} holds no {BATCHES} folder (CIFAR-10's python version).")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
        raise DataError(f"Cannot read the CIFAR-10 batch {path}: {exc}") from exc
    return np.ascontiguousarray(data), labels


def load_split(root: Path, train: bool) -> Split:
    """All images of the training or test part."""
    names = TRAIN_FILES if train else (TEST_FILE,)
    parts = [_read_batch(root / BATCHES / n) for n in names]
    return Split(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def sample(split: Split, size: int, rng: np.random.Generator) -> Split:
    """A seeded random subset of at most `size` images, in random order."""
    idx = rng.permutation(len(split.labels))[:size]
    return Split(split.images[idx], split.labels[idx])


