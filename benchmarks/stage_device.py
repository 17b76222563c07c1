"""Stage what the device check needs on a lent GPU machine, here, at no device time:

    python -m benchmarks.stage_device            # -> var/device/ (git-ignored): carry it with the device command

The device machine has no ``../shared`` and its Python 3.12 (with its own torch) lacks the
pydantic stack that backend.training.config imports. This writes into ``--dest``:

- ``cifar10.npz``: CIFAR-10 from ../shared's JPEG tarball as a compact array file — each split's
  JPEG files concatenated (``*_jpeg``, uint8) with their offsets and labels, in the order
  worker.data loads them (compressed, about 19 MB; the decoded arrays would be 184 MB, over the device tool's 64 MiB
  carry limit). ``load_staged`` decodes it there as worker.data does, in seconds; the sha256 of the
  arrays decoded here is kept, so the check can say whether its decode matched this one;
- ``wheels/``: the wheels the device's Python 3.12 lacks (``WHEELS``), at the versions installed
  here, fetched with pip from this machine's offline index (``--python-version 3.12``);
- ``manifest.json``: what was staged, the sizes, what is missing, and whether the working tree
  plus this folder fit the device tool's 64 MiB.

``--tiny`` stages the generated data of ``gpu_suite --tiny`` (lossless PNG) instead, for the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from worker.data import ImageDataset, _decode, _tar_members

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = ROOT / "var" / "device"
CARRY_LIMIT = 64 * 2**20  # the device tool's limit on the working tree and the carried paths together
# distributions the project imports (benchmarks.gpu_suite and gpu_search, worker.trainer, tests/worker/test_gpu.py)
# that the device image lacks (its package list: /work/.library/device/KINDS.md); typing-extensions
# is there, but pydantic needs a newer one than it may have
WHEELS = ("pydantic", "pydantic-core", "pydantic-settings", "annotated-types", "typing-inspection", "python-dotenv",
          "typing-extensions", "optuna", "colorlog")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _pack(encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0] + [len(b) for b in encoded]).astype(np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _tarball_splits(tarball: Path) -> tuple[dict[str, list[bytes]], dict[str, list[int]], list[str]]:
    """Each split's encoded images and labels, in worker.data's order (by class, then by file name)."""
    groups: dict[str, dict[str, list[tuple[str, bytes]]]] = {"train": {}, "test": {}}
    for split, cls, name, data in _tar_members(tarball):
        groups[split].setdefault(cls, []).append((name, data))
    classes = sorted(groups["train"])
    encoded: dict[str, list[bytes]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    for split in ("train", "test"):
        for label, cls in enumerate(classes):
            for _name, data in sorted(groups[split].get(cls, [])):
                encoded[split].append(data)
                labels[split].append(label)
    return encoded, labels, classes


def _png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def stage_data(dest: Path, tiny: bool, tarball: Path | None) -> dict[str, Any]:
    if tiny:
        from benchmarks.gpu_suite import tiny_dataset

        data = tiny_dataset()
        encoded = {"train": [_png(x) for x in data.train_x], "test": [_png(x) for x in data.test_x]}
        labels = {"train": data.train_y.tolist(), "test": data.test_y.tolist()}
        classes, source = data.classes, "generated (gpu_suite --tiny)"
    else:
        from benchmarks.common import cifar10_path

        path = tarball or cifar10_path()
        encoded, labels, classes = _tarball_splits(path)
        source = str(path)
    arrays: dict[str, np.ndarray] = {"classes": np.asarray(classes)}
    for split in ("train", "test"):
        arrays[f"{split}_jpeg"], arrays[f"{split}_offsets"] = _pack(encoded[split])
        arrays[f"{split}_y"] = np.asarray(labels[split], dtype=np.int64)
    path = dest / "cifar10.npz"
    np.savez_compressed(path, **arrays)
    decoded = load_staged(path)
    np.savez_compressed(path, **arrays, decoded_sha256=np.asarray(digest(decoded.train_x, decoded.test_x)))
    return {"file": path.name, "source": source, "bytes": path.stat().st_size, "train": len(decoded.train_y),
            "test": len(decoded.test_y), "classes": classes,
            "decoded_sha256": digest(decoded.train_x, decoded.test_x)}


def load_staged(path: Path) -> ImageDataset:
    """The dataset stage_data wrote, decoded as worker.data decodes (Pillow, RGB)."""
    with np.load(path) as z:
        classes = [str(c) for c in z["classes"]]
        splits = []
        for split in ("train", "test"):
            blob, offsets = z[f"{split}_jpeg"].tobytes(), z[f"{split}_offsets"]
            images = [_decode(blob[a:b], f"{path}:{split}[{i}]", 32)
                      for i, (a, b) in enumerate(zip(offsets[:-1], offsets[1:], strict=True))]
            x = np.stack(images) if images else np.zeros((0, 32, 32, 3), np.uint8)
            splits += [x, z[f"{split}_y"]]
    return ImageDataset(splits[0], splits[1], splits[2], splits[3], classes)


def save_decoded(data: ImageDataset, path: Path | str) -> None:
    """``data``'s decoded arrays, uncompressed: a process reads them back (load_decoded) in well under a second."""
    np.savez(path, train_x=data.train_x, train_y=data.train_y, test_x=data.test_x, test_y=data.test_y,
             classes=np.asarray(data.classes))


def load_decoded(path: Path | str) -> ImageDataset:
    with np.load(path) as z:
        return ImageDataset(z["train_x"], z["train_y"], z["test_x"], z["test_y"], [str(c) for c in z["classes"]])


def load_staged_cached(path: Path) -> ImageDataset:
    """load_staged, decoded once per machine: the device check's parts (one process each) after the
    first read the decoded arrays from an uncompressed file in the temporary folder, in well under a second."""
    import os
    import tempfile

    stat = path.stat()
    cache = Path(tempfile.gettempdir()) / f"cnnlab-staged-{stat.st_size}-{int(stat.st_mtime)}.npz"
    if cache.is_file():
        return load_decoded(cache)
    data = load_staged(path)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    save_decoded(data, tmp)
    os.replace(tmp, cache)
    return data


def decode_matches(path: Path, data: ImageDataset) -> bool | None:
    """Whether ``data`` (load_staged's) has the pixels decoded where it was staged (None: not recorded)."""
    with np.load(path) as z:
        expected = str(z["decoded_sha256"]) if "decoded_sha256" in z.files else None
    return None if expected is None else digest(data.train_x, data.test_x) == expected


def stage_wheels(dest: Path) -> dict[str, Any]:
    """pip download of WHEELS for CPython 3.12 on x86-64 Linux, at the versions installed here."""
    folder = dest / "wheels"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pins, missing = [], []
    for name in WHEELS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{name} (not installed here, so no version to pin)")
    got: list[str] = []
    for pin in pins:  # one at a time: one that pip cannot find does not hide the others
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                   "--python-version", "3.12", "--implementation", "cp", "-d", str(folder), pin]
        for platform in PLATFORMS:
            command[-1:-1] = ["--platform", platform]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            missing.append(f"{pin}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'pip failed'}")
    got = sorted(p.name for p in folder.glob("*.whl"))
    return {"folder": "wheels", "pinned": pins, "wheels": got, "missing": missing,
            "bytes": sum(p.stat().st_size for p in folder.glob("*.whl"))}


def tree_bytes() -> int | None:
    """What travels to the device machine besides the carried paths: tracked and untracked-not-ignored files."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = [ROOT / name for name in listed.decode().split("\0") if name]
    return sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stage_device", description=__doc__.split("\n")[0])
    p.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="the folder to carry (default var/device)")
    p.add_argument("--tiny", action="store_true", help="stage gpu_suite's generated data (for the tests)")
    p.add_argument("--tarball", type=Path, help="the CIFAR-10 JPEG tarball (default: ../shared's)")
    p.add_argument("--no-wheels", action="store_true", help="stage the data alone")
    args = p.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"data": stage_data(args.dest, args.tiny, args.tarball)}
    manifest["wheels"] = {"skipped": True} if args.no_wheels else stage_wheels(args.dest)
    (args.dest / "manifest.json").unlink(missing_ok=True)
    staged, tree = folder_bytes(args.dest), tree_bytes()  # the manifest itself: a few kB more
    manifest.update(staged_bytes=staged, tree_bytes=tree, carry_limit_bytes=CARRY_LIMIT,
                    fits=None if tree is None else tree + staged + 65_536 <= CARRY_LIMIT)
    (args.dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(json.dumps(manifest, indent=2))
    if manifest["fits"] is False:
        print(f"error: the working tree ({tree:,} bytes) and {args.dest} ({staged:,}) exceed the device tool's "
              f"{CARRY_LIMIT:,} bytes", file=sys.stderr)
    missing = manifest["wheels"].get("missing")
    if missing:
        print(f"error: wheels missing: {missing}", file=sys.stderr)
    return manifest if manifest["fits"] is not False and not missing else {"failed": True, **manifest}


if __name__ == "__main__":
    sys.exit(1 if main().get("failed") else 0)
