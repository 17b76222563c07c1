"""Image datasets as uint8 arrays: torchvision's CIFAR-10, an image-folder tree, or a tarball of one.

A source is decoded once and cached as an ``.npz`` of uint8 arrays (N, H, W, 3) keyed by the
source's path, size and modification time; later loads read the cache in well under a second.
Any image-folder dataset works (``train/<class>/*``, ``test/<class>/*``); class names come from
the folder names; images of another size are resized to the target size.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from backend.core.settings import settings
from backend.training.config import TrainConfig

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff"}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CACHE_VERSION = 1


class DatasetError(ValueError):
    """A missing, partial or corrupt dataset; the message names the path and what was expected."""


def holdout_indices(labels: np.ndarray, count: int, seed: int, classes: Sequence[str]) -> np.ndarray:
    """The training images held out as a validation split: ``count`` of them, stratified by class
    (each class gives its share, the remainders going to the classes with the largest fractions),
    drawn by ``seed`` alone — so every run with the same count and seed holds out exactly the same
    images, whatever its own seed. Sorted indices into ``labels``."""
    n = len(labels)
    if count >= n:
        raise DatasetError(f"data.holdout: {count:,} held-out images must be fewer than the dataset's "
                           f"{n:,} training images")
    per_class = np.bincount(labels, minlength=len(classes))
    share = per_class * count / n
    quota = np.floor(share).astype(np.int64)
    extra = count - int(quota.sum())
    order = sorted(range(len(classes)), key=lambda c: (-(share[c] - quota[c]), c))
    for c in order[:extra]:
        quota[c] += 1
    for c, (have, take) in enumerate(zip(per_class, quota, strict=True)):
        if have and take >= have:
            raise DatasetError(f"data.holdout: {count:,} held-out images leave class {classes[c]!r} "
                               f"({have} training images) with none to train on; hold out fewer")
    rng = np.random.default_rng([seed, 0x0DA7A])  # its own stream: never the run's seed
    picked = [rng.permutation(np.flatnonzero(labels == c))[:take] for c, take in enumerate(quota)]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


@dataclass(frozen=True)
class ImageDataset:
    train_x: np.ndarray  # uint8 (N, H, W, 3)
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    # the validation split (held-out training images; empty: none) and where it came from
    val_x: np.ndarray | None = None
    val_y: np.ndarray | None = None
    holdout: tuple[int, ...] = ()  # the held-out images' indices in the full training set

    @property
    def has_validation(self) -> bool:
        return self.val_y is not None and len(self.val_y) > 0

    def with_holdout(self, count: int, seed: int) -> ImageDataset:
        """The training images less a stratified validation split of ``count`` (holdout_indices)."""
        if count <= 0:
            return self
        held = holdout_indices(self.train_y, count, seed, self.classes)
        keep = np.ones(len(self.train_y), bool)
        keep[held] = False
        return ImageDataset(self.train_x[keep], self.train_y[keep], self.test_x, self.test_y, self.classes,
                            self.train_x[held], self.train_y[held], tuple(int(i) for i in held))

    def limited(self, train_limit: int | None, test_limit: int | None, seed: int = 0) -> ImageDataset:
        """A class-mixed subset: a fixed permutation (same seed, same subset), then the first N."""
        rng = np.random.default_rng(seed)

        def take(x: np.ndarray, y: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
            if limit is None or limit >= len(y):
                return x, y
            idx = np.sort(rng.permutation(len(y))[:limit])
            return x[idx], y[idx]

        train_x, train_y = take(self.train_x, self.train_y, train_limit)
        test_x, test_y = take(self.test_x, self.test_y, test_limit)
        return ImageDataset(train_x, train_y, test_x, test_y, self.classes, self.val_x, self.val_y, self.holdout)

    def prepared(self, holdout: int, holdout_seed: int, train_limit: int | None,
                 test_limit: int | None) -> ImageDataset:
        """What a run trains and is judged on: the validation split is drawn from every training
        image first (so it never depends on the limits), then the limits cut what is left."""
        return self.with_holdout(holdout, holdout_seed).limited(train_limit, test_limit)


def run_split(data: ImageDataset, config: TrainConfig) -> ImageDataset:
    """``data`` as a run's config asks for it: the holdout, then the limits."""
    d = config.data
    return data.prepared(d.holdout, d.holdout_seed, d.train_limit, d.test_limit)


def _decode(data: bytes | Path, where: str, size: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as opened:
            img = opened.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DatasetError(f"{where}: not a readable image ({exc})") from None


def _stack(images: list[np.ndarray], labels: list[int], size: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return x, np.asarray(labels, dtype=np.int64)


def _check_classes(root: str, train: Mapping[str, Sequence[object]], test: Mapping[str, Sequence[object]]) -> list[str]:
    if not train:
        raise DatasetError(f"{root}: expected class folders under train/ (train/<class>/<image>), found none")
    if not test:
        raise DatasetError(f"{root}: expected class folders under test/ (test/<class>/<image>), found none")
    if set(train) != set(test):
        only = sorted(set(train) ^ set(test))
        raise DatasetError(f"{root}: train/ and test/ must hold the same class folders; differ in {only}")
    for split, groups in (("train", train), ("test", test)):
        for name, files in groups.items():
            if not files:
                raise DatasetError(f"{root}/{split}/{name}: expected images in this class folder, found none")
    return sorted(train)


class _Within:
    """Every path a loader opens, checked to lie inside ``root`` once its symlinks are followed
    (no root: anywhere). A refusal names the source and the entry relative to it, never the
    folder's absolute path."""

    def __init__(self, source: Path, root: Path | None) -> None:
        self.source, self.root = source, root

    def __call__(self, path: Path) -> Path:
        if self.root is None:
            return path
        try:
            real = path.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop: RuntimeError before Python 3.13
            raise DatasetError(f"{path.name}: cannot follow its symlinks ({type(exc).__name__})") from None
        if not real.is_relative_to(self.root):
            source = self.source.resolve()
            shown = source.relative_to(self.root).as_posix() if source.is_relative_to(self.root) else self.source.name
            entry = path.relative_to(self.source).as_posix() if path.is_relative_to(self.source) else path.name
            where = f"data.source {shown!r}" + ("" if entry == "." else f": {entry!r}")
            raise DatasetError(f"{where} leads outside the lab's data folder (CNNLAB_DATA_DIR) once symlinks are "
                               "followed; every file of a dataset must lie inside it")
        return path


def _folder_files(root: Path, within: _Within) -> dict[str, dict[str, list[Path]]]:
    """{split: {class: image files}} of an image-folder tree, every entry walked checked ``within``."""
    splits: dict[str, dict[str, list[Path]]] = {}
    for split in ("train", "test"):
        base = within(root / split)
        if not base.is_dir():
            raise DatasetError(f"{base}: expected a folder of class folders ({split}/<class>/<image>)")
        splits[split] = {
            d.name: sorted(f for f in map(within, d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES)
            for d in sorted(map(within, base.iterdir()))
            if d.is_dir()
        }
    return splits


def _load_folder(root: Path, splits: dict[str, dict[str, list[Path]]], size: int) -> ImageDataset:
    classes = _check_classes(str(root), splits["train"], splits["test"])
    arrays: list[np.ndarray] = []
    for split in ("train", "test"):
        images: list[np.ndarray] = []
        labels: list[int] = []
        for label, name in enumerate(classes):
            for f in splits[split][name]:
                images.append(_decode(f, str(f), size))
                labels.append(label)
        arrays += _stack(images, labels, size)
    train_x, train_y, test_x, test_y = arrays
    return ImageDataset(train_x, train_y, test_x, test_y, classes=classes)


def _tar_members(path: Path) -> Iterator[tuple[str, str, str, bytes]]:
    """(split, class, name, bytes) of every image in a tarball of an image-folder tree."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = PurePosixPath(member.name).parts[-3:]  # any leading folders are ignored
                if len(parts) != 3 or parts[0] not in ("train", "test"):
                    continue
                if PurePosixPath(parts[2]).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                handle = tar.extractfile(member)
                assert handle is not None
                yield parts[0], parts[1], parts[2], handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(
            f"{path}: expected a readable .tar.gz of train/<class>/* and test/<class>/* ({exc})"
        ) from None


def _load_tarball(path: Path, size: int) -> ImageDataset:
    groups: dict[str, dict[str, list[tuple[str, bytes]]]] = {"train": {}, "test": {}}
    for split, cls, name, data in _tar_members(path):
        groups[split].setdefault(cls, []).append((name, data))
    classes = _check_classes(str(path), groups["train"], groups["test"])
    arrays: list[np.ndarray] = []
    for split in ("train", "test"):
        images: list[np.ndarray] = []
        labels: list[int] = []
        for label, cls in enumerate(classes):
            for name, data in sorted(groups[split][cls]):
                images.append(_decode(data, f"{path}:{split}/{cls}/{name}", size))
                labels.append(label)
        arrays += _stack(images, labels, size)
    train_x, train_y, test_x, test_y = arrays
    return ImageDataset(train_x, train_y, test_x, test_y, classes=classes)


class _BatchUnpickler(pickle.Unpickler):
    """torchvision's CIFAR batches are pickles, and a pickle can run any code it names. These hold
    a dict of numpy arrays, lists, bytes, str and int: only what rebuilds those may be named."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # how protocol-2 pickles of Python 3 write bytes
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refuses to load {module}.{name}: a CIFAR batch holds only arrays, lists, "
                                         "bytes, str and int")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        batch = _BatchUnpickler(fh, encoding="latin1").load()
    if not isinstance(batch, dict):
        raise pickle.UnpicklingError(f"expected a dict, got {type(batch).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _batch_files(root: Path, within: _Within) -> list[list[Path]]:
    """torchvision's CIFAR-10 layout: <root>/cifar-10-batches-py/{data_batch_1..5,test_batch}."""
    base = within(root / "cifar-10-batches-py")
    splits = []
    for names in ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]):
        files = [within(base / name) for name in names]
        for f in files:
            if not f.is_file():
                raise DatasetError(f"{f}: missing; torchvision's CIFAR-10 needs data_batch_1..5 and test_batch")
        splits.append(files)
    return splits


def _load_torchvision(splits: list[list[Path]], size: int) -> ImageDataset:
    arrays: list[np.ndarray] = []
    for files in splits:
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for f in files:
            try:
                batch = read_batch(f)
                xs.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                ys.append(np.asarray(batch["labels"], np.int64))
            except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
                raise DatasetError(f"{f}: not a readable CIFAR-10 batch ({exc})") from None
        x = np.concatenate(xs)
        if size != 32:
            x = np.stack([_resize(img, size) for img in x])
        arrays += [x, np.concatenate(ys)]
    train_x, train_y, test_x, test_y = arrays
    return ImageDataset(train_x, train_y, test_x, test_y, classes=list(CIFAR10_CLASSES))


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR), np.uint8)


def _download_torchvision(root: Path) -> None:
    try:
        from torchvision.datasets import CIFAR10  # only for a download: torchvision is slow to import

        CIFAR10(str(root), train=True, download=True)
        CIFAR10(str(root), train=False, download=True)
    except Exception as exc:  # noqa: BLE001 - no network, a refused mirror, a bad archive
        raise DatasetError(
            f"{root}: expected torchvision's cifar-10-batches-py/, an image-folder tree (train/<class>/*, "
            f"test/<class>/*) or a .tar.gz of one; downloading CIFAR-10 failed ({exc})"
        ) from None


def _resolve(path: Path, download: bool, within: _Within) -> tuple[str, Path]:
    """Which loader a path needs: ('tarball'|'folder'|'torchvision', the path to give it)."""
    within(path)
    if path.is_file():
        if path.name.endswith((".tar.gz", ".tgz", ".tar")):
            return "tarball", path
        raise DatasetError(f"{path}: expected a folder or a .tar.gz of train/<class>/* and test/<class>/*")
    if path.is_dir():
        if (path / "cifar-10-batches-py").is_dir():
            return "torchvision", path
        if (path / "train").is_dir() or (path / "test").is_dir():
            return "folder", path
        tarballs = sorted(path.glob("*.tar.gz"))
        if len(tarballs) == 1:
            return "tarball", within(tarballs[0])
    elif not download:
        raise DatasetError(f"{path}: does not exist; expected a dataset folder or a .tar.gz")
    if download:
        path.mkdir(parents=True, exist_ok=True)
        _download_torchvision(path)
        return "torchvision", path
    raise DatasetError(
        f"{path}: expected torchvision's cifar-10-batches-py/, train/ and test/ class folders, or one .tar.gz"
    )


def _cache_key(kind: str, path: Path, files: list[Path], size: int) -> str:
    """The source, the size and each file the loader reads (its size and modification time)."""
    stats = [f.stat() for f in files]
    fingerprint = f"{CACHE_VERSION}|{kind}|{path.resolve()}|{size}|" + "|".join(
        f"{s.st_size}:{s.st_mtime_ns}" for s in stats
    )
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:24]


def _confining_root(path: Path, root: str | os.PathLike[str] | None) -> Path | None:
    """``root`` resolved; when None, the lab's data folder (CNNLAB_DATA_DIR) if ``path`` lies in
    it, so that a dataset there never leads out of it; else None (anywhere: the command line's own
    paths, the lab's CIFAR-10 copy)."""
    if root is not None:
        return Path(root).resolve()
    lab = Path(settings.DATA_DIR).resolve()
    return lab if path.resolve().is_relative_to(lab) else None


SHARED_CIFAR10 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"


def resolve_source(source: str) -> tuple[str, bool]:
    """(path, may download) for a config's data source. 'cifar10' means the lab's copy:
    CNNLAB_CIFAR10 when it exists, else the copy shipped beside this checkout
    (../shared/data/cifar10), else CNNLAB_CIFAR10 filled by torchvision's download when the
    network allows. Any other source is a path, used as it is."""
    if source != "cifar10":
        return source, False
    if Path(settings.CIFAR10).exists() or not SHARED_CIFAR10.exists():
        return settings.CIFAR10, True
    return str(SHARED_CIFAR10), False


def load_dataset(
    source: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    size: int = 32,
    download: bool = False,
    root: str | os.PathLike[str] | None = None,
) -> ImageDataset:
    """Decode (or read from the cache) the dataset at ``source``. With ``root`` (by default the
    lab's data folder when ``source`` lies in it), every path read — the tarball, train/ and test/,
    each class folder and image, each CIFAR batch — must lie inside ``root`` once symlinks are
    followed, or the dataset is refused before anything is read."""
    within = _Within(Path(source), _confining_root(Path(source), root))
    kind, path = _resolve(Path(source), download, within)
    load: Callable[[int], ImageDataset]
    if kind == "folder":
        splits = _folder_files(path, within)
        files = [f for groups in splits.values() for images in groups.values() for f in images]
        load = partial(_load_folder, path, splits)
    elif kind == "torchvision":
        batches = _batch_files(path, within)
        files = [f for split in batches for f in split]
        load = partial(_load_torchvision, batches)
    else:
        files, load = [path], partial(_load_tarball, path)
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"{path.name}-{_cache_key(kind, path, files, size)}.npz"
        if cache.is_file():
            with np.load(cache) as z:
                return ImageDataset(
                    z["train_x"], z["train_y"], z["test_x"], z["test_y"], [str(c) for c in z["classes"]]
                )
    data = load(size)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, train_x=data.train_x, train_y=data.train_y, test_x=data.test_x,
                 test_y=data.test_y, classes=np.asarray(data.classes))
        os.replace(tmp, cache)
    return data
