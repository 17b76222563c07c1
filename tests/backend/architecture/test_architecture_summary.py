"""The torch-free summary equals the built torch model: parameters and conv+linear MACs."""

from __future__ import annotations

import random

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from backend.architecture import (
    PRESETS,
    CompactArchitecture,
    PlainArchitecture,
    ResNetArchitecture,
    summarize,
)
from worker.model import build_model, count_params

SEED_FIGURES = {  # SEED_STUDY.md, to the unit
    "wide": (222_226, 13_131_728),
    "deep": (127_724, 2_689_740),
    "wide_deep": (253_638, 12_509_136),
    "wide_deep_bn": (253_846, 12_509_136),
    "wide_deep_dropout": (253_638, 12_509_136),
}


def torch_macs(model: torch.nn.Module, arch) -> int:
    """conv + linear MACs as torch's own FLOP counter sees them (it counts 2 FLOPs per MAC)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, arch.in_channels, arch.input_size, arch.input_size))
    counted = counter.get_flop_counts()["Global"]
    ops = {str(k): v for k, v in counted.items()}
    assert set(ops) <= {"aten.convolution", "aten.addmm", "aten.mm"}, ops
    return sum(ops.values()) // 2


def assert_summary_matches_model(arch) -> None:
    summary = summarize(arch)
    model = build_model(arch)
    assert summary.total_params == count_params(model)
    assert summary.total_macs == torch_macs(model, arch)
    layers = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)
    torch_rows = {name.rsplit(".", 1)[-1]: sum(p.numel() for p in m.parameters(recurse=False))
                  for name, m in model.named_modules() if isinstance(m, layers)}
    ours = {r.name: r.params for r in summary.rows if r.kind in ("conv", "fc", "bn")}
    assert ours == torch_rows


@pytest.mark.parametrize("name", sorted(SEED_FIGURES))
def test_seed_presets_match_the_seed_report_to_the_unit(name: str) -> None:
    summary = summarize(PRESETS[name])
    assert (summary.total_params, summary.total_macs) == SEED_FIGURES[name]


def test_wide_deep_rows_match_the_seed_table() -> None:
    rows = [(r.name, r.kernel_shape, r.output_shape, r.params, r.macs) for r in summarize(PRESETS["wide_deep"]).rows]
    assert rows[0] == ("conv1", [3, 24, 3, 3], [1, 24, 32, 32], 672, 663_552)
    assert rows[2] == ("pool", None, [1, 24, 16, 16], 0, 0)
    assert rows[9] == ("fc1", [768, 220], [1, 220], 169_180, 168_960)
    assert rows[-1] == ("fc3", [120, 10], [1, 10], 1_210, 1_200)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_summary_equals_its_torch_model(name: str) -> None:
    assert_summary_matches_model(PRESETS[name])


def test_every_preset_fits_the_default_budget() -> None:
    for name, arch in PRESETS.items():
        assert summarize(arch).total_params <= 256_000, name


def random_description(rng: random.Random):
    size = rng.choice([8, 16, 28, 32, 40])
    max_stages = min(3, size.bit_length() - 1)
    stages = [[rng.randint(1, 24) for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(1, max_stages))]
    common = {"input_size": size, "in_channels": rng.choice([1, 3]), "num_classes": rng.randint(2, 12)}
    family = rng.choice(["plain", "compact", "resnet"])
    if family == "resnet":  # odd sizes too: a stride-2 conv rounds up where a max-pool rounds down
        size = rng.choice([7, 16, 28, 32, 33])
        stages = [[rng.randint(1, 24) for _ in range(2 * rng.randint(1, 2))] for _ in range(rng.randint(1, 4))]
        common["input_size"] = size
        return ResNetArchitecture(stages=stages, stem=rng.randint(1, 16), activation=rng.choice(["relu", "gelu"]),
                                  global_pool=rng.choice(["max", "avg"]), **common)
    if family == "plain":
        return PlainArchitecture(stages=stages, batch_norm=rng.choice(["none", "first", "every"]),
                                 hidden=[rng.randint(1, 40) for _ in range(rng.randint(0, 2))],
                                 dropout_input=rng.choice([0.0, 0.3]), dropout_hidden=rng.choice([0.0, 0.5]), **common)
    residual = rng.random() < 0.5
    if residual:
        stages = [[s[0]] * len(s) for s in stages]
    return CompactArchitecture(stages=stages, residual=residual, activation=rng.choice(["relu", "gelu", "gelu_tanh"]),
                               stem=rng.choice([0, 0, rng.randint(1, 16)]),
                               pool_at="first" if residual else rng.choice(["first", "last"]),
                               global_pool=rng.choice(["max", "avg"]), **common)


@pytest.mark.parametrize("seed", range(25))
def test_random_descriptions_summary_equals_torch_model(seed: int) -> None:
    arch = random_description(random.Random(seed))
    assert_summary_matches_model(arch)


def test_pool_at_last_keeps_the_params_and_moves_the_pool_after_each_stages_last_conv() -> None:
    first, last = PRESETS["compact"], PRESETS["compact_pool_last"]
    assert (last.stages, last.pool_at) == (first.stages, "last")
    rows = summarize(last).rows
    assert summarize(last).total_params == summarize(first).total_params == 244_746
    # by hand: each conv's in x out x 9 x its output pixels; conv2, conv4, conv6 now at the stage's input size
    convs = [(3, 32, 32), (32, 32, 32), (32, 64, 16), (64, 64, 16), (64, 112, 8), (112, 112, 8)]
    assert summarize(last).total_macs == sum(i * o * 9 * s * s for i, o, s in convs) + 112 * 10 == 35_832_928
    names = [r.name for r in rows]
    assert names[:5] == ["conv1", "bn1", "conv2", "pool", "bn2"]
    assert rows[names.index("bn1")].output_shape == [1, 32, 32, 32]
    assert_summary_matches_model(last)


def test_format_table_prints_seed_layout_and_totals() -> None:
    table = summarize(PRESETS["wide_deep"]).format_table()
    assert "0_conv1  [3, 24, 3, 3]   [1, 24, 32, 32]" in table
    assert "Total params          253,638" in table
    assert "Mult-Adds             12,509,136" in table


def test_budget_verdict_names_count_and_budget() -> None:
    verdict = summarize(PRESETS["wide_deep"]).verdict(200_000)
    assert verdict["within_budget"] is False
    assert verdict["message"] == "253,638 parameters is over the budget of 200,000 by 53,638"
    assert summarize(PRESETS["wide_deep"]).verdict(256_000)["within_budget"] is True


def test_description_round_trips_through_json() -> None:
    for arch in PRESETS.values():
        again = type(arch).model_validate_json(arch.model_dump_json())
        assert again == arch
        assert summarize(again).to_dict() == summarize(arch).to_dict()


def test_resnet20_by_hand() -> None:
    """The preset against He et al.'s ResNet-20 arithmetic: 3x3 convs in blocks of two, stride 2 and
    a 1x1 projection where a stage starts, BN (2 params per channel) after every conv."""
    arch = PRESETS["resnet20"]
    conv, bn = (lambda i, o: i * o * 9), (lambda c: 2 * c)
    stem = conv(3, 16) + bn(16)
    stage1 = 6 * (conv(16, 16) + bn(16))
    stage2 = conv(16, 32) + 5 * conv(32, 32) + 6 * bn(32) + 16 * 32 + bn(32)  # + the 1x1 projection
    stage3 = conv(32, 60) + 5 * conv(60, 60) + 6 * bn(60) + 32 * 60 + bn(60)
    head = 60 * 10 + 10
    assert summarize(arch).total_params == stem + stage1 + stage2 + stage3 + head == 248_778
    macs = (conv(3, 16) + 6 * conv(16, 16)) * 32 * 32 + (conv(16, 32) + 5 * conv(32, 32) + 16 * 32) * 16 * 16 \
        + (conv(32, 60) + 5 * conv(60, 60) + 32 * 60) * 8 * 8 + 60 * 10
    assert summarize(arch).total_macs == macs == 39_302_744
    rows = summarize(arch).rows
    names = [r.name for r in rows]
    assert names[:6] == ["conv0", "bn0", "conv1", "bn1", "conv2", "bn2"]
    assert names.index("short7") == names.index("bn8") + 1  # stage 2's first block: its convs, then the shortcut
    assert [n for n in names if n.startswith("short")] == ["short7", "shortbn7", "short13", "shortbn13"]
    assert rows[names.index("conv7")].output_shape == [1, 32, 16, 16]
    assert rows[names.index("short13")].kernel_shape == [32, 60, 1, 1]
    assert rows[-1].name == "fc" and rows[-2].name == "avgpool"
    assert_summary_matches_model(arch)


def test_resnet_identity_blocks_add_their_input() -> None:
    """A block whose shape is unchanged adds its input back: with the branch's last BN zeroed, the
    block is act(x); a shortcut-free stack would give act(0) = 0 instead."""
    from worker.model import BasicBlock

    block = BasicBlock(1, 8, 8, 8, 1, torch.nn.ReLU).eval()
    torch.nn.init.zeros_(block.branch.bn2.weight)
    x = torch.randn(2, 8, 5, 5)
    assert isinstance(block.shortcut, torch.nn.Identity)
    torch.testing.assert_close(block(x), torch.relu(x))
    projected = BasicBlock(1, 8, 8, 12, 2, torch.nn.ReLU)
    assert projected(x).shape == (2, 12, 3, 3)
