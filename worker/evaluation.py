"""A finished run's test set, class by class: per-class accuracy, the confusion matrix and a
small gallery of misclassified images (PNG, base64) for the run page and the study report."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image

from worker.data import ImageDataset


def png_base64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def views_label(flip: bool, shift: int) -> str:
    """The test-time views a prediction averaged, in words (trainer._tta_logits)."""
    return "image" + (" + mirror" if flip else "") + (f" + {shift}-px shifts" if shift else "")


def class_report(
    data: ImageDataset, predicted: torch.Tensor, epoch: int, gallery: int = 24, views: str = "image"
) -> dict:
    """``predicted`` holds one label per test image, in the dataset's order; ``views`` names the
    test-time views it averaged (views_label)."""
    truth = data.test_y
    pred = predicted.numpy().astype(np.int64)
    k = len(data.classes)
    confusion = np.zeros((k, k), dtype=np.int64)  # rows: true class, columns: predicted class
    np.add.at(confusion, (truth, pred), 1)
    totals = confusion.sum(axis=1)
    per_class = [float(confusion[i, i] / totals[i]) if totals[i] else None for i in range(k)]
    wrong = np.flatnonzero(pred != truth)
    # spread the gallery over the classes: the first mistakes of each true class in turn
    by_class = [[i for i in wrong if truth[i] == c] for c in range(k)]
    picked: list[int] = []
    for rank in range(gallery):
        for c in range(k):
            if len(picked) < gallery and rank < len(by_class[c]):
                picked.append(int(by_class[c][rank]))
    return {
        "epoch": epoch,
        "classes": list(data.classes),
        "accuracy": float((pred == truth).mean()) if len(truth) else 0.0,
        "views": views,
        "per_class_acc": per_class,
        "confusion": confusion.tolist(),
        "misclassified": [
            {"index": i, "true": int(truth[i]), "pred": int(pred[i]), "png": png_base64(data.test_x[i])} for i in picked
        ],
    }
