"""Evaluation: test accuracy and loss under the test-time views (the image, its mirror, shifted
copies), and a finished run's test set class by class — per-class accuracy, the confusion matrix
and a small gallery of misclassified images (PNG, base64) for the run page and the study report."""

from __future__ import annotations

import base64
import io
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from worker.data import ImageDataset
from worker.device import DeviceData, autocast


def views_logits(model: nn.Module, x: torch.Tensor, flip: bool) -> torch.Tensor:
    """Mean logits of ``x`` and, with ``flip``, its mirror image."""
    logits: torch.Tensor = model(x).float()
    return (logits + model(x.flip(-1)).float()) / 2 if flip else logits


def tta_logits(
    model: nn.Module, x: torch.Tensor, flip: bool, shift: int,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """Test-time augmentation: the image (and its mirror), and with ``shift`` two copies moved by
    ``shift`` pixels up-left and down-right (reflect-padded, and their mirrors), weighted half and
    half — the translate TTA of Keller Jordan's airbench."""
    logits = views_logits(model, x, flip)
    if not shift:
        return logits
    h, w = x.shape[-2:]
    padded = F.pad(x, (shift,) * 4, mode="reflect")
    shifted = [padded[..., : h, : w], padded[..., 2 * shift :, 2 * shift :]]
    moved = sum(views_logits(model, v.contiguous(memory_format=memory_format), flip) for v in shifted) / 2
    return (logits + moved) / 2


@torch.no_grad()
def evaluate(
    model: nn.Module, data: DeviceData, batch_size: int, tta: bool = False, bf16: bool = False, tta_shift: int = 0,
    split: Literal["test", "val"] = "test",
) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, predicted labels) over the whole test set, or the validation split."""
    model.eval()
    images, labels = (data.test_x, data.test_y) if split == "test" else (data.val_x, data.val_y)
    total_loss, preds = 0.0, []
    device = images.device
    for i in range(0, len(labels), batch_size):
        x = data.normalize(images[i : i + batch_size])
        y = labels[i : i + batch_size]
        with autocast(device, bf16):
            logits = tta_logits(model, x, tta, tta_shift, data.memory_format)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        preds.append(logits.argmax(1))
    n = len(labels)
    pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long, device=device)
    acc = (pred == labels).float().mean().item() if n else 0.0
    return (total_loss / n if n else 0.0), acc, pred.cpu()


def png_base64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def views_label(flip: bool, shift: int) -> str:
    """The test-time views a prediction averaged, in words (tta_logits)."""
    return "image" + (" + mirror" if flip else "") + (f" + {shift}-px shifts" if shift else "")


def class_report(
    data: ImageDataset, predicted: torch.Tensor, epoch: int, gallery: int = 24, views: str = "image", samples: int = 16
) -> dict[str, Any]:
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
    # a fixed random draw of test images with their labels: what the run page's "Try it" offers
    drawn: list[int] = sorted(np.random.default_rng(0).permutation(len(truth))[:samples].tolist())
    return {
        "epoch": epoch,
        "classes": list(data.classes),
        "samples": [{"index": int(i), "true": int(truth[i]), "png": png_base64(data.test_x[i])} for i in drawn],
        "accuracy": float((pred == truth).mean()) if len(truth) else 0.0,
        "views": views,
        "per_class_acc": per_class,
        "confusion": confusion.tolist(),
        "misclassified": [
            {"index": i, "true": int(truth[i]), "pred": int(pred[i]), "png": png_base64(data.test_x[i])} for i in picked
        ],
    }
