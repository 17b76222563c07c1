"""Build the torch module a description names. Imports only torch and the description.

Module names follow the summary's row names (conv1, bn1, fc1, ...) so the two can be compared
layer by layer.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from backend.architecture import AnyArchitecture, CompactArchitecture, PlainArchitecture, ResNetArchitecture

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "gelu_tanh": functools.partial(nn.GELU, approximate="tanh"),
}


class PlainNet(nn.Module):
    """The seed family: conv(+BN)-ReLU stages with max-pools, then an MLP head."""

    def __init__(self, arch: PlainArchitecture) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        channels, size, k = arch.in_channels, arch.input_size, 0
        for s, stage in enumerate(arch.stages):
            for j, width in enumerate(stage):
                k += 1
                layers.append((f"conv{k}", nn.Conv2d(channels, width, 3, padding=1)))
                if arch.batch_norm == "every" or (arch.batch_norm == "first" and j == 0):
                    layers.append((f"bn{k}", nn.BatchNorm2d(width)))
                layers.append((f"relu{k}", nn.ReLU(inplace=True)))
                channels = width
            layers.append((f"pool{s + 1}", nn.MaxPool2d(2)))
            size //= 2
        self.features = nn.Sequential(OrderedDict(layers))
        head: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
        if arch.dropout_input > 0:
            head.append(("drop0", nn.Dropout(arch.dropout_input)))
        fin = channels * size * size
        for i, width in enumerate(arch.hidden, start=1):
            head += [(f"fc{i}", nn.Linear(fin, width)), (f"fcrelu{i}", nn.ReLU(inplace=True))]
            if arch.dropout_hidden > 0:
                head.append((f"drop{i}", nn.Dropout(arch.dropout_hidden)))
            fin = width
        head.append((f"fc{len(arch.hidden) + 1}", nn.Linear(fin, arch.num_classes)))
        self.classifier = nn.Sequential(OrderedDict(head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class ConvBN(nn.Sequential):
    def __init__(self, conv: str, bn: str, cin: int, cout: int, act: Callable[[], nn.Module], pool: bool):
        parts: list[tuple[str, nn.Module]] = [(conv, nn.Conv2d(cin, cout, 3, padding=1, bias=False))]
        if pool:
            parts.append(("pool", nn.MaxPool2d(2)))
        parts += [(bn, nn.BatchNorm2d(cout)), ("act", act())]
        super().__init__(OrderedDict(parts))


def global_head(
    arch: CompactArchitecture | ResNetArchitecture, channels: int
) -> tuple[nn.Module, nn.Module, nn.Linear]:
    """Global pool, dropout (or identity), linear to the classes: the compact and resnet families' head."""
    pool = nn.AdaptiveMaxPool2d(1) if arch.global_pool == "max" else nn.AdaptiveAvgPool2d(1)
    drop = nn.Dropout(arch.dropout) if arch.dropout > 0 else nn.Identity()
    return pool, drop, nn.Linear(channels, arch.num_classes)


class CompactStage(nn.Module):
    def __init__(
        self, widths: list[int], cin: int, first: int, act: Callable[[], nn.Module], residual: bool, pool_index: int
    ):
        super().__init__()
        self.down = ConvBN(f"conv{first}", f"bn{first}", cin, widths[0], act, pool=pool_index == 0)
        rest = [
            ConvBN(f"conv{first + j}", f"bn{first + j}", widths[j - 1], widths[j], act, pool=pool_index == j)
            for j in range(1, len(widths))
        ]
        self.rest = nn.Sequential(*rest)
        self.residual = residual and bool(rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        rest: torch.Tensor = self.rest(x)
        return x + rest if self.residual else rest


class CompactNet(nn.Module):
    def __init__(self, arch: CompactArchitecture) -> None:
        super().__init__()
        act = _ACTIVATIONS[arch.activation]
        channels = arch.in_channels
        self.stem: nn.Module = nn.Identity()
        if arch.stem:
            self.stem = ConvBN("conv0", "bn0", channels, arch.stem, act, pool=False)
            channels = arch.stem
        stages, k = [], 1
        for widths in arch.stages:
            stages.append(CompactStage(widths, channels, k, act, arch.residual, arch.pooled_conv(widths)))
            channels, k = widths[-1], k + len(widths)
        self.stages = nn.Sequential(*stages)
        self.pool, self.drop, self.fc = global_head(arch, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.drop(self.pool(self.stages(self.stem(x))).flatten(1)))
        return out


class BasicBlock(nn.Module):
    """conv → BN → act → conv → BN, plus the shortcut, then act (He et al. 2016, post-activation)."""

    def __init__(self, k: int, cin: int, first: int, second: int, stride: int, act: Callable[[], nn.Module]):
        super().__init__()
        self.branch = nn.Sequential(OrderedDict([
            (f"conv{k}", nn.Conv2d(cin, first, 3, stride, padding=1, bias=False)),
            (f"bn{k}", nn.BatchNorm2d(first)),
            ("act", act()),
            (f"conv{k + 1}", nn.Conv2d(first, second, 3, padding=1, bias=False)),
            (f"bn{k + 1}", nn.BatchNorm2d(second)),
        ]))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != second:
            self.shortcut = nn.Sequential(OrderedDict([
                (f"short{k}", nn.Conv2d(cin, second, 1, stride, bias=False)),
                (f"shortbn{k}", nn.BatchNorm2d(second)),
            ]))
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.branch(x) + self.shortcut(x))
        return out


class ResNet(nn.Module):
    def __init__(self, arch: ResNetArchitecture) -> None:
        super().__init__()
        act = _ACTIVATIONS[arch.activation]
        self.stem = ConvBN("conv0", "bn0", arch.in_channels, arch.stem, act, pool=False)
        blocks, channels = [], arch.stem
        for k, first, second, stride in arch.blocks():
            blocks.append(BasicBlock(k, channels, first, second, stride, act))
            channels = second
        self.blocks = nn.Sequential(*blocks)
        self.pool, self.drop, self.fc = global_head(arch, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.drop(self.pool(self.blocks(self.stem(x))).flatten(1)))
        return out


def build_model(arch: AnyArchitecture) -> nn.Module:
    if isinstance(arch, PlainArchitecture):
        return PlainNet(arch)
    if isinstance(arch, CompactArchitecture):
        return CompactNet(arch)
    return ResNet(arch)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
