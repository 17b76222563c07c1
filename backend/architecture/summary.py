"""Per-layer size summary computed from the description alone (no torch).

MACs count one multiply-accumulate per weight use, as SEED_STUDY.md does: a conv's MACs are
out_h * out_w * in_ch * out_ch * k * k, a linear's in * out. Bias adds, batch norm, activations and
pooling are not counted (torchsummaryX, which the seed report used, counted C per batch norm;
fvcore-style counters and this summary count conv + linear only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from backend.architecture.description import (
    AnyArchitecture,
    CompactArchitecture,
    PlainArchitecture,
    ResNetArchitecture,
)

KERNEL = 3


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str  # conv | bn | pool | gpool | fc
    kernel_shape: list[int] | None
    output_shape: list[int]
    params: int
    macs: int


@dataclass(frozen=True)
class Summary:
    architecture: str
    rows: list[LayerRow] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    def verdict(self, budget: int) -> dict[str, object]:
        over = self.total_params - budget
        return {
            "budget": budget,
            "params": self.total_params,
            "within_budget": over <= 0,
            "message": (
                f"{self.total_params:,} parameters, within the budget of {budget:,}"
                if over <= 0
                else f"{self.total_params:,} parameters is over the budget of {budget:,} by {over:,}"
            ),
        }

    def to_dict(self) -> dict[str, object]:
        return {
            "architecture": self.architecture,
            "rows": [asdict(r) for r in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.total_params,
            "total_macs": self.total_macs,
        }

    def format_table(self) -> str:
        """The seed report's layout: index_name, kernel shape, output shape, params, mult-adds."""
        header = ("Layer", "Kernel Shape", "Output Shape", "Params", "Mult-Adds")
        lines = [
            (
                f"{i}_{r.name}",
                str(r.kernel_shape) if r.kernel_shape else "-",
                str(r.output_shape),
                f"{r.params:,}" if r.kind not in ("pool", "gpool") else "-",
                f"{r.macs:,}" if r.kind in ("conv", "fc") else "-",
            )
            for i, r in enumerate(self.rows)
        ]
        widths = [max(len(row[c]) for row in [header, *lines]) for c in range(5)]
        fmt = "  ".join(f"{{:<{w}}}" if c < 3 else f"{{:>{w}}}" for c, w in enumerate(widths))
        out = [f"Architecture: {self.architecture}", fmt.format(*header)]
        out += [fmt.format(*row) for row in lines]
        out += [
            "",
            "Totals",
            f"Total params          {self.total_params:,}",
            f"Trainable params      {self.total_params:,}",
            "Non-trainable params  0",
            f"Mult-Adds             {self.total_macs:,}",
        ]
        return "\n".join(out)


def _conv(name: str, cin: int, cout: int, size: int, bias: bool, kernel: int = KERNEL) -> LayerRow:
    """``size``: the conv's output height = width."""
    params = cin * cout * kernel * kernel + (cout if bias else 0)
    macs = size * size * cin * cout * kernel * kernel
    return LayerRow(name, "conv", [cin, cout, kernel, kernel], [1, cout, size, size], params, macs)


def _bn(name: str, channels: int, size: int) -> LayerRow:
    return LayerRow(name, "bn", [channels], [1, channels, size, size], 2 * channels, 0)


def _pool(channels: int, size: int) -> LayerRow:
    return LayerRow("pool", "pool", None, [1, channels, size, size], 0, 0)


def _fc(name: str, fin: int, fout: int) -> LayerRow:
    return LayerRow(name, "fc", [fin, fout], [1, fout], fin * fout + fout, fin * fout)


def _plain_rows(arch: PlainArchitecture) -> list[LayerRow]:
    rows: list[LayerRow] = []
    channels, size, k = arch.in_channels, arch.input_size, 0
    for stage in arch.stages:
        for j, width in enumerate(stage):
            k += 1
            rows.append(_conv(f"conv{k}", channels, width, size, bias=True))
            if arch.batch_norm == "every" or (arch.batch_norm == "first" and j == 0):
                rows.append(_bn(f"bn{k}", width, size))
            channels = width
        size //= 2
        rows.append(_pool(channels, size))
    features = channels * size * size
    for i, width in enumerate([*arch.hidden, arch.num_classes], start=1):
        rows.append(_fc(f"fc{i}", features, width))
        features = width
    return rows


def _compact_rows(arch: CompactArchitecture) -> list[LayerRow]:
    rows: list[LayerRow] = []
    channels, size, k = arch.in_channels, arch.input_size, 0
    if arch.stem:
        rows += [_conv("conv0", channels, arch.stem, size, bias=False), _bn("bn0", arch.stem, size)]
        channels = arch.stem
    for stage in arch.stages:
        for j, width in enumerate(stage):
            k += 1
            rows.append(_conv(f"conv{k}", channels, width, size, bias=False))
            if j == arch.pooled_conv(stage):
                size //= 2
                rows.append(_pool(width, size))
            rows.append(_bn(f"bn{k}", width, size))
            channels = width
    rows.append(LayerRow(f"{arch.global_pool}pool", "gpool", None, [1, channels], 0, 0))
    rows.append(_fc("fc", channels, arch.num_classes))
    return rows


def _resnet_rows(arch: ResNetArchitecture) -> list[LayerRow]:
    """Rows in application order: a block's two convs, then its shortcut (when it has one)."""
    rows = [_conv("conv0", arch.in_channels, arch.stem, arch.input_size, bias=False),
            _bn("bn0", arch.stem, arch.input_size)]
    channels, size = arch.stem, arch.input_size
    for k, first, second, stride in arch.blocks():
        out = (size - 1) // stride + 1  # a 3x3 conv with padding 1, or a 1x1 without, at this stride
        rows += [_conv(f"conv{k}", channels, first, out, bias=False), _bn(f"bn{k}", first, out),
                 _conv(f"conv{k + 1}", first, second, out, bias=False), _bn(f"bn{k + 1}", second, out)]
        if stride != 1 or channels != second:
            rows += [_conv(f"short{k}", channels, second, out, bias=False, kernel=1), _bn(f"shortbn{k}", second, out)]
        channels, size = second, out
    rows.append(LayerRow(f"{arch.global_pool}pool", "gpool", None, [1, channels], 0, 0))
    rows.append(_fc("fc", channels, arch.num_classes))
    return rows


def summarize(arch: AnyArchitecture) -> Summary:
    if isinstance(arch, PlainArchitecture):
        return Summary(arch.name, _plain_rows(arch))
    if isinstance(arch, CompactArchitecture):
        return Summary(arch.name, _compact_rows(arch))
    return Summary(arch.name, _resnet_rows(arch))
