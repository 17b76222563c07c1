"""The class report's fixed draw of test images, which the run page's "Try it" offers."""

from __future__ import annotations

import base64

import torch

from tests.utils.datasets import make_arrays
from worker.evaluation import class_report


def test_the_report_carries_a_fixed_random_draw_of_test_images() -> None:
    data = make_arrays(classes=3, train_per_class=2, test_per_class=10)
    predicted = torch.from_numpy(data.test_y.copy())
    first = class_report(data, predicted, epoch=1, samples=5)
    again = class_report(data, predicted, epoch=1, samples=5)
    assert [s["index"] for s in first["samples"]] == [s["index"] for s in again["samples"]]  # the same draw
    assert len(first["samples"]) == 5 and len({s["index"] for s in first["samples"]}) == 5
    for s in first["samples"]:
        assert s["true"] == int(data.test_y[s["index"]])
        assert base64.b64decode(s["png"]).startswith(b"\x89PNG")
    assert len(class_report(data, predicted, epoch=1, samples=64)["samples"]) == 30  # at most the test set
