"""Named recipes: one module, read by the shipped studies, the benchmarks (through the same
option flags as the CLI), the form's picker (GET /api/recipes)."""

from __future__ import annotations

import pytest

from backend.architecture import PRESETS
from backend.studies.catalog import BEYOND_THE_SEED, SEED_REPORT
from backend.training.config import MAX_EPOCHS, TrainConfig
from backend.training.recipes import MODERN, PILOT_15MIN, RECIPES, SEED, SEED_AUGMENTED
from worker import flags
from worker.schedule import lr_at


@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_recipe_trains_every_preset(recipe: str, preset: str) -> None:
    config = TrainConfig.model_validate(RECIPES[recipe].config(preset))
    for key, value in RECIPES[recipe].settings.items():
        assert getattr(config, key) == value or getattr(config, key).model_dump().items() >= value.items(), key


def test_the_shipped_studies_are_written_in_the_recipes() -> None:
    entries = {e["key"]: e["config"] for e in SEED_REPORT["entries"]}
    seed_protocol = {"data": {"holdout": 0}}  # the seed study keeps the seed's own protocol: no validation split
    assert entries["wide"] == SEED.config("wide", **seed_protocol)
    assert entries["wide_deep_aug"] == SEED_AUGMENTED.config("wide_deep", **seed_protocol)
    assert entries["dropout_bs4"] == SEED_AUGMENTED.config("wide_deep_dropout", batch_size=4, **seed_protocol)
    beyond = {e["key"]: e["config"] for e in BEYOND_THE_SEED["entries"]}
    assert beyond["compact"] == MODERN.config("compact")
    assert (SEED.settings["batch_size"], SEED.settings["lr"], MODERN.settings["augment"]["cutout"]) == (16, 0.001, 8)
    assert RECIPES["seed_lr0.01"].settings == {**SEED.settings, "lr": 0.01}  # the old guess, reachable, not the default


def test_the_benchmark_recipe_takes_the_option_flags() -> None:
    """What benchmarks/time_to_accuracy.py builds: a recipe for a preset, then the flags."""
    raw = flags.apply(PILOT_15MIN.config("resnet20"), {
        "augment.cutout": 8, "tta_shift": 1, "whiten_init": True, "tta_each_epoch": False,
        "architecture.stages": [[8, 8], [16, 16]], "seed": 3, "ema_epochs": 2.0, "augment.alternate_flip": True,
        "time_budget_s": 3550.0})
    config = TrainConfig.model_validate(raw)
    assert config.seed == 3
    assert (config.ema_epochs, config.augment.alternate_flip, config.augment.flip) == (2.0, True, True)
    assert config.architecture.family == "resnet" and config.architecture.stem == 16  # the preset's, kept
    assert config.architecture.stages == [[8, 8], [16, 16]]
    assert (config.augment.cutout, config.tta_shift, config.whiten_init, config.tta_each_epoch) == (8, 1, True, False)
    assert (config.time_budget_s, config.schedule_by, config.label_smoothing) == (3550, "time_budget", 0.2)
    plain = TrainConfig.model_validate(PILOT_15MIN.config("compact"))
    assert (plain.seed, plain.ema_epochs, plain.augment.alternate_flip, plain.epochs) == (0, None, False, MAX_EPOCHS)


@pytest.mark.parametrize(("recipe", "budget"), [(MODERN, 3600.0), (PILOT_15MIN, 900.0)])
def test_the_recipes_named_by_a_time_plan_by_it_and_anneal_to_it(recipe, budget) -> None:
    config = TrainConfig.model_validate(recipe.config("compact"))
    assert (config.time_budget_s, config.schedule_by, config.schedule) == (budget, "time_budget", "onecycle")
    assert config.epochs == MAX_EPOCHS  # a ceiling only: no machine's 15 minutes end on it
    # 50 of the ceiling's 1000 epochs and half the budget gone: the schedule is where the budget puts it
    # (one-cycle, half-way down from its peak after a fifth warming up), and it has annealed at the budget's end
    steps = 10
    assert lr_at(config, 50 * steps, steps, budget / 2) == pytest.approx(config.lr * 0.5 / 0.8)
    assert lr_at(config, 50 * steps, steps, budget) == 0.0


def test_the_form_picker_gets_every_recipe_in_full(client) -> None:
    body = client.get("/api/recipes").json()["data"]
    assert [r["key"] for r in body] == list(RECIPES)
    modern = next(r for r in body if r["key"] == "modern")
    assert modern["config"]["augment"]["cutout"] == 8 and "architecture" not in modern["config"]
    assert modern["config"]["bn_bias_lr_scale"] == 1.0  # the defaults of what it does not name
    page = client.get("/runs/new").text
    assert all(f'<option value="{key}"' in page for key in RECIPES)
