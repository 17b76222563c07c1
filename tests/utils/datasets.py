"""Tiny generated datasets: learnable (each class has its own colour and stripe), no downloads."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from worker.data import ImageDataset


def class_images(label: int, count: int, size: int, rng: np.random.Generator, classes: int) -> np.ndarray:
    """Images of one class: a class colour, a stripe at a class position, plus noise."""
    base = np.zeros((count, size, size, 3), np.float32)
    base[..., label % 3] = 160
    stripe = (label * size) // classes
    base[:, stripe : stripe + max(1, size // classes), :, :] += 80
    noise = rng.normal(0, 30, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_arrays(classes: int = 3, train_per_class: int = 20, test_per_class: int = 10,
                size: int = 32, seed: int = 0) -> ImageDataset:
    rng = np.random.default_rng(seed)
    parts = {}
    for split, per in (("train", train_per_class), ("test", test_per_class)):
        xs = [class_images(c, per, size, rng, classes) for c in range(classes)]
        ys = [np.full(per, c, np.int64) for c in range(classes)]
        parts[split] = (np.concatenate(xs), np.concatenate(ys))
    names = [f"class{c}" for c in range(classes)]
    return ImageDataset(*parts["train"], *parts["test"], classes=names)


def write_image_folder(root: Path, data: ImageDataset, fmt: str = "png") -> Path:
    for split, xs, ys in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        counters: dict[int, int] = {}
        for img, label in zip(xs, ys, strict=True):
            n = counters.get(int(label), 0)
            counters[int(label)] = n + 1
            folder = root / split / data.classes[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{n:04d}.{fmt}")
    return root


def write_tarball(path: Path, folder: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(folder / split, arcname=split)
    return path


def write_torchvision_cifar(root: Path, data: ImageDataset) -> Path:
    """torchvision's cifar-10-batches-py layout from 32x32 arrays."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    chunks = np.array_split(np.arange(len(data.train_y)), 5)
    for i, idx in enumerate(chunks, start=1):
        batch = {"data": data.train_x[idx].transpose(0, 3, 1, 2).reshape(len(idx), -1),
                 "labels": data.train_y[idx].tolist()}
        (base / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    test = {"data": data.test_x.transpose(0, 3, 1, 2).reshape(len(data.test_y), -1),
            "labels": data.test_y.tolist()}
    (base / "test_batch").write_bytes(pickle.dumps(test))
    return root
