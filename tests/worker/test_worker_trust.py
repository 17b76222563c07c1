"""The worker trusts nothing from the network: pickled batches through a restricted unpickler,
data paths inside the lab's folder with symlinks followed, reasons without absolute paths."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from tests.utils.datasets import make_arrays, write_torchvision_cifar
from worker.data import DatasetError, load_dataset, read_batch
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
