"""Muon for the conv filters, momentum SGD for the rest, in one optimizer (one state dict for the
checkpoints, one list of param groups for the schedule).

The Muon step is torch.optim.Muon's own (``torch.optim._muon.muon``: momentum, then its
Newton-Schulz orthogonalisation, then the step scaled as Muon scales it), applied to each conv
filter seen as a matrix (out channels x in channels·kh·kw), which torch.optim.Muon cannot take itself:
it accepts only 2-D parameters. Groups marked ``muon`` take that step; the others take
torch.optim.SGD's (``torch.optim.sgd.sgd``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim._muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, DEFAULT_NS_STEPS
from torch.optim._muon import muon as muon_step
from torch.optim.sgd import sgd as sgd_step

MUON_EPS = 1e-7


def conv_filters(model: nn.Module, skip: Iterable[torch.Tensor] = ()) -> list[torch.Tensor]:
    """The trainable 2-D conv weights Muon steps (those in ``skip`` aside: a whitened first conv)."""
    skipped = {id(p) for p in skip}
    return [m.weight for m in model.modules()
            if isinstance(m, nn.Conv2d) and m.weight.requires_grad and id(m.weight) not in skipped]


def as_matrix(t: torch.Tensor) -> torch.Tensor:
    """A conv filter bank (out, in, kh, kw) as an (out, ·) matrix view that shares its storage, so
    Muon's in-place step writes the parameter itself. A channels-last bank is viewed in its memory
    order (out, kh·kw·in): its columns permuted, which Newton-Schulz orthogonalisation commutes with,
    so the step is the same as on the (out, in·kh·kw) matrix."""
    if t.ndim == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).view(len(t), -1)
    return t.view(len(t), -1)


class MuonSGD(torch.optim.Optimizer):
    """``params``: groups as torch.optim.SGD takes them, each with ``muon`` (bool). Muon groups use
    ``momentum`` and ``nesterov`` as Muon does (its momentum buffer is an average of the gradients);
    the others as SGD does. ``weight_decay`` is decoupled in Muon groups (torch.optim.Muon's), coupled
    (an L2 term) in SGD groups (torch.optim.SGD's)."""

    def __init__(self, params: Iterable[dict[str, Any]], lr: float, momentum: float, nesterov: bool) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov, "weight_decay": 0.0,
                                  "muon": False})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if group["muon"]:
                bufs, grads = [], []
                for p in params:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    # the buffer and the gradient laid out as the parameter, so the three views match
                    if state["momentum_buffer"].stride() != p.stride():
                        state["momentum_buffer"] = torch.empty_like(p).copy_(state["momentum_buffer"])
                    grad = p.grad if p.grad.stride() == p.stride() else torch.empty_like(p).copy_(p.grad)
                    bufs.append(as_matrix(state["momentum_buffer"]))
                    grads.append(as_matrix(grad))
                muon_step([as_matrix(p) for p in params], grads, bufs,
                          lr=group["lr"], weight_decay=group["weight_decay"], momentum=group["momentum"],
                          nesterov=group["nesterov"], ns_coefficients=(DEFAULT_A, DEFAULT_B, DEFAULT_C),
                          ns_steps=DEFAULT_NS_STEPS, eps=MUON_EPS, adjust_lr_fn=None, has_complex=False)
            else:
                momentum_bufs = [self.state[p].get("momentum_buffer") for p in params]
                sgd_step(params, [p.grad for p in params], momentum_bufs, weight_decay=group["weight_decay"],
                         momentum=group["momentum"], lr=group["lr"], dampening=0.0,
                         nesterov=group["nesterov"] and group["momentum"] > 0, maximize=False)
                if group["momentum"] > 0:
                    for p, buf in zip(params, momentum_bufs, strict=True):
                        self.state[p]["momentum_buffer"] = buf
        return loss
