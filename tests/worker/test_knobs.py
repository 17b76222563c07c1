"""The recipe knobs of issue 33: identity (dirac) starts of the convs, frozen batch-norm weights,
Muon on the conv filters only (its step is torch.optim.Muon's, whatever the filters' memory layout)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from backend.training.config import TrainConfig
from tests.utils.datasets import make_arrays
from worker.knobs import dirac_convs, freeze_bn_weights
from worker.model import build_model
from worker.muon import MuonSGD, as_matrix
from worker.trainer import _optimizer, train

ARCH = {"family": "compact", "stages": [[8, 8], [16]], "num_classes": 3}


def config(**overrides) -> TrainConfig:
    base = {"architecture": ARCH, "epochs": 2, "batch_size": 16, "lr": 0.05, "device": "cpu",
            "augment": {"crop": True, "flip": True}, "data": {"holdout": 0}}
    return TrainConfig.model_validate({**base, **overrides})


@pytest.fixture(scope="module")
def data():
    return make_arrays(classes=3, train_per_class=30, test_per_class=10)


@pytest.mark.parametrize(("cin", "cout"), [(8, 8), (4, 8), (8, 4)])
def test_a_dirac_conv_passes_its_input_through_on_its_first_channels(cin: int, cout: int) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, 3, padding=1)
    assert dirac_convs(conv) == 1
    x = torch.randn(2, cin, 6, 6)
    keep = min(cin, cout)
    torch.testing.assert_close(conv(x)[:, :keep], x[:, :keep], rtol=0, atol=1e-6)
    if cout > cin:  # the other filters keep PyTorch's random start
        assert conv.weight[cin:].abs().sum() > 0 and not torch.equal(conv(x)[:, cin:], torch.zeros_like(x[:, :1]))


def test_dirac_sets_every_conv_of_a_built_net_and_the_run_starts_from_it(data) -> None:
    model = build_model(config().architecture)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert dirac_convs(model) == len(convs) >= 3
    for conv in convs:
        keep = min(conv.in_channels, conv.out_channels)
        expected = torch.zeros_like(conv.weight[:keep])
        nn.init.dirac_(expected)
        assert torch.equal(conv.weight[:keep], expected)
    first = train(config(conv_init="dirac"), data, log=None)
    plain = train(config(), data, log=None)
    assert first.history[0].train_loss != plain.history[0].train_loss  # the option reaches the trainer


def test_frozen_batch_norm_weights_do_not_move_and_their_biases_train(data, tmp_path) -> None:
    model = build_model(config().architecture)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert freeze_bn_weights(model) == len(norms) >= 3
    assert all(not m.weight.requires_grad and torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)

    train(config(bn_weights_frozen=True), data, checkpoint_dir=tmp_path, log=None)
    state = torch.load(tmp_path / "last.pt", weights_only=False)["model"]
    weights = {k: v for k, v in state.items() if k.endswith(".weight") and v.ndim == 1}
    biases = {k: v for k, v in state.items() if k.endswith(".bias") and v.ndim == 1 and k.replace("bias", "weight")
              in weights}
    assert weights and all(torch.equal(v, torch.ones_like(v)) for v in weights.values())
    assert biases and any(v.abs().sum() > 0 for v in biases.values())  # they start at 0 and trained


@pytest.mark.parametrize("whiten", [False, True])
def test_muon_takes_the_conv_filters_only(whiten: bool) -> None:
    model = build_model(config().architecture)
    opt = _optimizer(config(optimizer="muon", whiten_init=whiten, muon_lr=0.03), model)
    assert isinstance(opt, MuonSGD)
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    muon = [g for g in opt.param_groups if g["muon"]]
    assert len(muon) == 1 and muon[0]["lr_scale"] == pytest.approx(0.03 / 0.05)
    expected = convs[1:] if whiten else convs  # a whitened first conv keeps SGD
    assert {id(p) for p in muon[0]["params"]} == {id(p) for p in expected}
    others = {id(p) for g in opt.param_groups if not g["muon"] for p in g["params"]}
    linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert id(linear.weight) in others and not others & {id(p) for p in expected}
    assert others | {id(p) for p in expected} == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_muon_steps_a_filter_bank_as_torch_muon_steps_its_matrix(layout) -> None:
    torch.manual_seed(0)
    bank = nn.Parameter(torch.randn(16, 8, 3, 3).contiguous(memory_format=layout))
    reference = nn.Parameter(bank.detach().reshape(16, -1).clone())
    ours = MuonSGD([{"params": [bank], "muon": True, "weight_decay": 0.01}], lr=0.02, momentum=0.9, nesterov=True)
    theirs = torch.optim.Muon([reference], lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.01)
    for step in range(3):
        grad = torch.randn(16, 8, 3, 3, generator=torch.Generator().manual_seed(step))
        bank.grad = grad.contiguous(memory_format=layout)
        reference.grad = grad.reshape(16, -1).clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(bank.detach().reshape(16, -1), reference.detach(), rtol=1e-5, atol=1e-6)
    assert as_matrix(bank).data_ptr() == bank.data_ptr()  # the step wrote the parameter itself


def test_muon_sgd_groups_step_as_torch_sgd() -> None:
    torch.manual_seed(0)
    ours_p, theirs_p = nn.Parameter(torch.randn(10)), None
    theirs_p = nn.Parameter(ours_p.detach().clone())
    ours = MuonSGD([{"params": [ours_p], "muon": False, "weight_decay": 5e-4}], lr=0.1, momentum=0.9, nesterov=True)
    theirs = torch.optim.SGD([theirs_p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    for step in range(3):
        grad = torch.randn(10, generator=torch.Generator().manual_seed(step))
        ours_p.grad, theirs_p.grad = grad.clone(), grad.clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(ours_p.detach(), theirs_p.detach(), rtol=0, atol=0)


def test_a_muon_run_learns(data) -> None:
    result = train(config(epochs=5, optimizer="muon", muon_lr=0.05), data, log=None)
    assert result.history[-1].train_loss < 0.8 * result.history[0].train_loss
    assert result.test_acc_at_best > 0.6  # three easy classes; chance is 1/3
