"""Loading image folders, tarballs and torchvision's format; clear errors for bad datasets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.utils.datasets import make_arrays, write_image_folder, write_tarball, write_torchvision_cifar
from worker.data import DatasetError, load_dataset


@pytest.fixture
def arrays():
    return make_arrays(classes=3, train_per_class=6, test_per_class=3)


def test_image_folder_loads_with_class_names_from_folders(tmp_path, arrays) -> None:
    root = write_image_folder(tmp_path / "ds", arrays)
    data = load_dataset(root)
    assert data.classes == ["class0", "class1", "class2"]
    assert data.train_x.shape == (18, 32, 32, 3) and data.train_x.dtype == np.uint8
    assert data.test_x.shape == (9, 32, 32, 3)
    assert np.bincount(data.train_y).tolist() == [6, 6, 6]
    np.testing.assert_array_equal(data.train_x, arrays.train_x)  # PNG is lossless


def test_tarball_loads_the_same_as_the_folder(tmp_path, arrays) -> None:
    folder = write_image_folder(tmp_path / "ds", arrays)
    tarball = write_tarball(tmp_path / "ds.tar.gz", folder)
    a, b = load_dataset(folder), load_dataset(tarball)
    assert a.classes == b.classes
    np.testing.assert_array_equal(a.train_x, b.train_x)
    np.testing.assert_array_equal(a.test_y, b.test_y)


def test_folder_holding_one_tarball_uses_it(tmp_path, arrays) -> None:
    folder = write_image_folder(tmp_path / "ds", arrays)
    (tmp_path / "holder").mkdir()
    write_tarball(tmp_path / "holder" / "data.tar.gz", folder)
    assert len(load_dataset(tmp_path / "holder").train_y) == 18


def test_torchvision_format_loads(tmp_path, arrays) -> None:
    root = write_torchvision_cifar(tmp_path / "tv", arrays)
    data = load_dataset(root)
    assert data.classes[0] == "airplane" and len(data.classes) == 10
    np.testing.assert_array_equal(data.train_x, arrays.train_x)
    np.testing.assert_array_equal(data.test_y, arrays.test_y)


def test_images_of_another_size_are_resized(tmp_path) -> None:
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("RGB", (48, 20), (200, 10, 10)).save(tmp_path / split / cls / "x.jpg")
            Image.new("L", (8, 8), 100).save(tmp_path / split / cls / "y.png")  # greyscale too
    data = load_dataset(tmp_path, size=32)
    assert data.train_x.shape == (4, 32, 32, 3)


def test_decoded_dataset_is_cached(tmp_path, arrays) -> None:
    folder = write_image_folder(tmp_path / "ds", arrays)
    cache = tmp_path / "cache"
    first = load_dataset(folder, cache_dir=cache)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    second = load_dataset(folder, cache_dir=cache)
    np.testing.assert_array_equal(first.train_x, second.train_x)
    assert second.classes == first.classes
    # a changed dataset gets a new cache entry, not a stale one
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "train" / "class0" / "extra.png")
    assert len(load_dataset(folder, cache_dir=cache).train_y) == 19


def test_limits_take_a_fixed_mixed_subset(arrays) -> None:
    small = arrays.limited(7, 4)
    assert len(small.train_y) == 7 and len(small.test_y) == 4
    again = arrays.limited(7, 4)
    np.testing.assert_array_equal(small.train_x, again.train_x)
    assert len(set(small.train_y.tolist())) > 1


def test_missing_path_names_it(tmp_path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere: does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_empty_folder_says_what_was_expected(tmp_path) -> None:
    with pytest.raises(DatasetError, match=r"cifar-10-batches-py/, train/ and test/ class folders"):
        load_dataset(tmp_path)


def test_partial_dataset_without_test_split(tmp_path, arrays) -> None:
    folder = write_image_folder(tmp_path / "ds", arrays)
    for f in (folder / "test").rglob("*.png"):
        f.unlink()
    for d in (folder / "test").iterdir():
        d.rmdir()
    with pytest.raises(DatasetError, match=r"ds: expected class folders under test/"):
        load_dataset(folder)


def test_mismatched_classes_are_named(tmp_path, arrays) -> None:
    folder = write_image_folder(tmp_path / "ds", arrays)
    (folder / "test" / "class2").rename(folder / "test" / "class9")
    with pytest.raises(DatasetError, match=r"differ in \['class2', 'class9'\]"):
        load_dataset(folder)


def test_corrupt_image_is_named(tmp_path, arrays) -> None:
    folder = write_image_folder(tmp_path / "ds", arrays)
    bad = folder / "train" / "class1" / "0003.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"class1/0003.png: not a readable image"):
        load_dataset(folder)


def test_corrupt_tarball_is_named(tmp_path, arrays) -> None:
    folder = write_image_folder(tmp_path / "ds", arrays)
    tarball = write_tarball(tmp_path / "ds.tar.gz", folder)
    tarball.write_bytes(tarball.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"ds.tar.gz: expected a readable .tar.gz"):
        load_dataset(tarball)


def test_truncated_torchvision_batch_is_named(tmp_path, arrays) -> None:
    root = write_torchvision_cifar(tmp_path / "tv", arrays)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DatasetError, match=r"data_batch_3: not a readable CIFAR-10 batch"):
        load_dataset(root)
    other = write_torchvision_cifar(tmp_path / "tv2", arrays)
    (other / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DatasetError, match=r"test_batch: missing"):
        load_dataset(other)
