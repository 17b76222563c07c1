"""Training throughput of `wide_deep` with crop + flip augmentation: our trainer against a
reference loop written the way the seed did it, both measured in this run on this machine.

    python -m benchmarks.throughput [--limit N]

Reference: a torch Dataset decoding each image to PIL and applying torchvision transforms
(RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize), through a DataLoader with
batch 16 and 2 loader workers, SGD momentum. Ours: worker.trainer.train for one epoch (data on
the device as one uint8 tensor, batched tensor augmentation, channels_last), at batch 16 and at
the trainer's default batch. Images per second over one training epoch; ratio = ours / reference.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from backend.architecture import preset
from backend.training.config import TrainConfig
from benchmarks.common import cifar10_path, machine
from worker.data import load_dataset
from worker.model import build_model
from worker.trainer import train

RESULTS = Path(__file__).parent / "results"


class SeedStyleDataset(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels
        self.transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        ])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def reference_images_per_s(images: np.ndarray, labels: np.ndarray) -> float:
    torch.manual_seed(0)
    model = build_model(preset("wide_deep"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    criterion = torch.nn.CrossEntropyLoss()
    loader = DataLoader(SeedStyleDataset(images, labels), batch_size=16, shuffle=True, num_workers=2)
    model.train()
    seen, start = 0, time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        seen += len(y)
    return seen / (time.perf_counter() - start)


def ours_images_per_s(data, batch_size: int, **extra) -> float:
    config = TrainConfig.model_validate({"architecture": "wide_deep", "epochs": 1, "batch_size": batch_size,
                                         "lr": 0.01, "augment": {"crop": True, "flip": True}, "device": "auto",
                                         "data": {"holdout": 0},  # a speed figure: no choice is made
                                         **extra})
    result = train(config, data, log=None)
    return len(data.train_y) / result.history[0].seconds  # the tiny test set makes evaluation negligible


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, help="train images (default: all 50,000)")
    args = parser.parse_args()
    data = load_dataset(cifar10_path(), cache_dir="var/cache").limited(args.limit, 100)
    default_batch = TrainConfig.model_fields["batch_size"].default
    ref = reference_images_per_s(data.train_x, data.train_y)
    ours16 = ours_images_per_s(data, 16)
    ours_default = ours_images_per_s(data, default_batch)
    ours_ema = ours_images_per_s(data, default_batch, ema_epochs=1.0)  # what the weight average costs a step
    results = {"machine": machine(), "train_images": len(data.train_y),
               "reference_seed_style_batch16_img_s": ref, "ours_batch16_img_s": ours16,
               f"ours_batch{default_batch}_img_s": ours_default,
               f"ours_batch{default_batch}_ema_img_s": ours_ema,
               "ratio_batch16": ours16 / ref, f"ratio_batch{default_batch}": ours_default / ref,
               f"ratio_batch{default_batch}_ema_to_without": ours_ema / ours_default}
    RESULTS.mkdir(exist_ok=True)
    if args.limit is None:
        (RESULTS / "throughput.json").write_text(json.dumps(results, indent=2))
    for k, v in results.items():
        print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
