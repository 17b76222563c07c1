"""The worker trusts nothing from the network: pickled batches through a restricted unpickler,
data paths inside the lab's folder with symlinks followed, reasons without absolute paths."""

from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest

from backend.core.settings import settings
from backend.training.config import TrainConfig
from tests.utils.datasets import make_arrays, write_image_folder, write_tarball, write_torchvision_cifar
from tests.utils.factories import tiny_config
from worker.data import DatasetError, load_dataset, read_batch
from worker.runner import run_data
from worker.trust import inside_data_dir, without_paths


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cnnlab-pwned",))


def test_a_crafted_batch_is_refused_and_runs_nothing(tmp_path) -> None:
    root = write_torchvision_cifar(tmp_path / "tv", make_arrays(classes=10, train_per_class=2, test_per_class=1))
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps({"data": Exploit(), "labels": [0]}))
    marker = "/tmp/cnnlab-pwned"
    if os.path.exists(marker):
        os.remove(marker)
    with pytest.raises(DatasetError, match=r"refuses to load posix\.system"):
        load_dataset(root)
    assert not os.path.exists(marker)


def test_a_genuine_batch_still_loads(tmp_path) -> None:
    arrays = make_arrays(classes=10, train_per_class=2, test_per_class=1)
    root = write_torchvision_cifar(tmp_path / "tv", arrays)
    batch = read_batch(root / "cifar-10-batches-py" / "test_batch")
    assert isinstance(batch["data"], np.ndarray) and batch["data"].dtype == np.uint8
    for protocol in (2, 5):  # Python 2-style and numpy 2's own pickles
        path = tmp_path / f"p{protocol}"
        path.write_bytes(pickle.dumps({b"data": np.arange(6, dtype=np.uint8), b"labels": [1, 2], b"batch_label": b"x"},
                                      protocol=protocol))
        assert read_batch(path)["labels"] == [1, 2] and read_batch(path)["data"].tolist() == list(range(6))


def test_a_data_path_must_stay_inside_the_data_folder(tmp_path) -> None:
    data = tmp_path / "data"
    (data / "tiny" / "train").mkdir(parents=True)
    outside = tmp_path / "secret"
    outside.mkdir()
    (data / "link").symlink_to(outside)
    (data / "inner-link").symlink_to(data / "tiny")
    assert inside_data_dir("tiny", data) == (data / "tiny").resolve()
    assert inside_data_dir("inner-link", data) == (data / "tiny").resolve()  # a link that stays inside is fine
    for source in ("link", "link/x", "../secret", "tiny/../../secret", "/etc"):
        with pytest.raises(DatasetError, match="outside the lab's data folder"):
            inside_data_dir(source, data)


def test_a_stored_reason_names_no_absolute_path() -> None:
    reason = without_paths("DatasetError: /home/ada/lab/data/tiny: does not exist; see /var/lib/cnnlab/cache/x.npz, "
                           "'/srv/d/train' (relative/path stays)")
    assert "/home" not in reason and "/var" not in reason and "/srv" not in reason
    assert "…/tiny" in reason and "…/x.npz" in reason and "…/train" in reason and "relative/path stays" in reason


@pytest.fixture
def lab_data(tmp_path, monkeypatch):
    """(the lab's data folder, a dataset folder outside it) with CNNLAB_DATA_DIR pointing at the first."""
    data = tmp_path / "data"
    data.mkdir()
    outside = write_image_folder(tmp_path / "outside", make_arrays(classes=2, train_per_class=2, test_per_class=1))
    monkeypatch.setattr(settings, "DATA_DIR", data)
    return data, outside


def refused_by_the_worker(source: str, data) -> str:
    """The worker's refusal of ``source`` (as run_data reads it), checked to name no absolute path."""
    with pytest.raises(DatasetError, match="leads outside the lab's data folder") as refusal:
        run_data(TrainConfig.model_validate(tiny_config(data={"source": source, "holdout": 0})))
    message = str(refusal.value)
    assert str(data.resolve()) not in message and str(data.parent.resolve()) not in message, message
    assert "CNNLAB_DATA_DIR" in message
    return message


def test_a_symlinked_tarball_inside_a_source_is_refused(lab_data, tmp_path) -> None:
    data, outside = lab_data
    (data / "c10.tar.gz").symlink_to(write_tarball(tmp_path / "elsewhere.tar.gz", outside))
    assert "data.source '.': 'c10.tar.gz'" in refused_by_the_worker(".", data)
    with pytest.raises(DatasetError, match="leads outside"):
        load_dataset(data, root=data)
    (tmp_path / "cli").mkdir()  # the command line's own paths, outside the lab's folder, may lead anywhere
    (tmp_path / "cli" / "c10.tar.gz").symlink_to(tmp_path / "elsewhere.tar.gz")
    assert len(load_dataset(tmp_path / "cli").train_y) == 4


def test_a_symlinked_train_folder_inside_a_source_is_refused(lab_data) -> None:
    data, outside = lab_data
    write_image_folder(data / "ds", make_arrays(classes=2, train_per_class=2, test_per_class=1))
    shutil.rmtree(data / "ds" / "train")
    (data / "ds" / "train").symlink_to(outside / "train")
    assert "data.source 'ds': 'train'" in refused_by_the_worker("ds", data)


def test_a_symlinked_class_folder_image_or_batch_inside_a_source_is_refused(lab_data, tmp_path) -> None:
    data, outside = lab_data
    arrays = make_arrays(classes=2, train_per_class=2, test_per_class=1)
    write_image_folder(data / "by-class", arrays)
    shutil.rmtree(data / "by-class" / "test" / "class1")
    (data / "by-class" / "test" / "class1").symlink_to(outside / "test" / "class1")
    assert "'test/class1'" in refused_by_the_worker("by-class", data)
    write_image_folder(data / "by-image", arrays)
    (data / "by-image" / "train" / "class0" / "0000.png").unlink()
    (data / "by-image" / "train" / "class0" / "0000.png").symlink_to(outside / "train" / "class0" / "0000.png")
    assert "'train/class0/0000.png'" in refused_by_the_worker("by-image", data)
    batches = write_torchvision_cifar(data / "tv", make_arrays(classes=10, train_per_class=1, test_per_class=1))
    elsewhere = write_torchvision_cifar(tmp_path / "tv-outside", make_arrays(classes=10, train_per_class=1,
                                                                              test_per_class=1))
    (batches / "cifar-10-batches-py" / "test_batch").unlink()
    (batches / "cifar-10-batches-py" / "test_batch").symlink_to(elsewhere / "cifar-10-batches-py" / "test_batch")
    assert "'cifar-10-batches-py/test_batch'" in refused_by_the_worker("tv", data)


def test_links_that_stay_inside_the_data_folder_still_load(lab_data) -> None:
    data, _ = lab_data
    write_image_folder(data / "real", make_arrays(classes=2, train_per_class=3, test_per_class=1))
    (data / "linked" / "test").mkdir(parents=True)
    (data / "linked" / "train").symlink_to(data / "real" / "train")
    for cls in ("class0", "class1"):
        (data / "linked" / "test" / cls).symlink_to(data / "real" / "test" / cls)
    (data / "holder").mkdir()
    (data / "holder" / "ds.tar.gz").symlink_to(write_tarball(data / "real.tar.gz", data / "real"))
    assert len(run_data(TrainConfig.model_validate(tiny_config(data={"source": "linked", "holdout": 0}))).train_y) == 6
    assert len(run_data(TrainConfig.model_validate(tiny_config(data={"source": "holder", "holdout": 0}))).train_y) == 6
