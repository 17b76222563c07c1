"""Shipped searches: bodies of POST /api/searches that the form starts from."""

from __future__ import annotations

from typing import Any

from backend.searches.schemas import SearchPreset
from backend.training.recipes import PILOT_15MIN

# The recipe knobs and the network's shape over the compact and resnet families, 8-epoch trials:
# the seed's hand search, asked of TPE with Hyperband pruning.
_BEST_UNDER_BUDGET: dict[str, Any] = {
    "name": "best under the budget",
    "base_config": PILOT_15MIN.config("compact", epochs=8, time_budget_s=900, schedule_by="epochs"),
    "space": {
        "architecture.family": {"choice": ["compact", "resnet"]},
        "architecture.depth": {"int": [2, 4]},
        "architecture.convs_per_stage": {"int": [1, 3]},
        "architecture.blocks_per_stage": {"int": [1, 3]},
        "architecture.width_1": {"int": [16, 64], "step": 8},
        "architecture.width_mult": {"float": [0.5, 2.0], "log": True},
        "architecture.residual": {"choice": [False, True]},
        "architecture.activation": {"choice": ["relu", "gelu"]},
        "architecture.dropout": {"float": [0.0, 0.3]},
        "lr": {"float": [0.05, 0.5], "log": True},
        "label_smoothing": {"float": [0.0, 0.3]},
        "batch_size": {"choice": [128, 256, 512]},
        "augment.cutout": {"int": [0, 12], "step": 4},
    },
    "objectives": ["maximize val_acc"],
    "n_trials": 24,
    "max_concurrent": 2,
    "sampler": "tpe",
    "pruner": "hyperband",
    "full_epochs": 30,
}

SEARCH_PRESETS: dict[str, SearchPreset] = {p.key: p for p in (
    SearchPreset(key="best_under_budget", title="Best under the budget",
                 description="The compact and resnet families' shape (stages, convs or blocks per stage, "
                 "widths, residual, activation, dropout) and the recipe's knobs (learning rate, label smoothing, "
                 "batch size, cutout), 8-epoch trials of the 15-minute pilot recipe, TPE with Hyperband pruning; "
                 "networks over the parameter budget are told to the sampler, never trained.",
                 body=_BEST_UNDER_BUDGET),
)}
