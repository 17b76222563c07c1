"""One declaration of every run option: each field of TrainConfig (and of every architecture
family) reaches the CLI, the new-run form and the API schema, with what it was declared with."""

from __future__ import annotations

import argparse
import re
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from backend.architecture.description import FAMILIES
from backend.core.option_field import GROUPS
from backend.training.config import TrainConfig
from backend.training.options import Option, all_options, by_group, schema_has, set_path
from worker import flags


def declared_leaves(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf field, walked here independently of backend.training.options (so an option it skipped shows)."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        if prefix + name == "architecture":
            for family in get_args(info.annotation):
                out |= {f"architecture.{f}" for f in family.model_fields if f != "name"}
            continue
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out |= declared_leaves(info.annotation, prefix + name + ".")
        else:
            out.add(prefix + name)
    return out


LEAVES = sorted(declared_leaves(TrainConfig))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(allow_abbrev=False)
    flags.add_option_flags(p)
    return p


def test_every_declared_field_is_an_option() -> None:
    assert {o.name for o in all_options()} == set(LEAVES)
    assert "bn_bias_lr_scale" in LEAVES and "augment.cutout" in LEAVES and "architecture.stem" in LEAVES


@pytest.mark.parametrize("name", LEAVES)
def test_option_reaches_the_cli_the_form_and_the_api(name: str, client) -> None:
    option = next(o for o in all_options() if o.name == name)
    help_text = parser().format_help()
    assert option.flag in help_text, f"{name}: no {option.flag} flag"
    form = client.get("/runs/new").text
    assert f'data-field="config.{name}"' in form, f"{name}: not on the new-run form"
    schema = client.get("/openapi.json").json()
    assert schema_has({**schema["components"]["schemas"]["TrainConfig"], "$defs": schema["components"]["schemas"]},
                      name), f"{name}: not in the API schema"
    assert option.group in GROUPS and option.title


def test_the_form_renders_groups_and_folds_the_advanced_ones(client) -> None:
    page = client.get("/runs/new").text
    for group, _shown, advanced in by_group():
        assert f'id="g-{group}"' in page
        if advanced:
            summary = page.index(f"<summary>Advanced {group}</summary>")
            for o in advanced:  # inside the group's <details>, after its summary
                assert page.index(f'data-field="config.{o.name}"') > summary, o.name
    scale = re.search(r'<input type="number" id="bn_bias_lr_scale"[^>]*>', page)
    assert scale and 'min="0.0"' in scale.group(0) and 'max="64.0"' in scale.group(0)
    assert "Batch-norm learning-rate scale" in page  # its title is the label


def test_option_metadata_comes_from_the_declaration() -> None:
    by_name = {o.name: o for o in all_options()}
    scale = by_name["bn_bias_lr_scale"]
    assert (scale.kind, scale.default, scale.group, scale.advanced) == ("float", 1.0, "optimisation", True)
    assert (scale.minimum, scale.minimum_exclusive, scale.maximum, scale.maximum_exclusive) == (0.0, True, 64.0, False)
    assert scale.limits == "> 0 and <= 64"
    stem = by_name["architecture.stem"]
    assert stem.families == ("compact", "resnet") and stem.family_defaults == {"compact": 0, "resnet": 16}
    assert stem.minimum == 0  # the widest of the families' limits (resnet needs >= 1: checked by its model)
    assert by_name["architecture.hidden"].families == ("plain",)
    assert by_name["ema_epochs"].nullable and by_name["augment.alternate_flip"].requires == "augment.flip"
    assert by_name["architecture.family"].choices == tuple(FAMILIES)


def test_an_undeclared_field_is_refused_by_name() -> None:
    from pydantic import Field

    from backend.training.options import _leaves

    class Sloppy(BaseModel):
        knob: int = Field(3)

    with pytest.raises(TypeError, match="knob: declare it with option"):
        _leaves(Sloppy)


@pytest.mark.parametrize(("option", "text", "value"), [
    ("lr", "0.5", 0.5), ("epochs", "7", 7), ("ema_epochs", "none", None), ("tta", "yes", True),
    ("architecture.stages", "8,8 / 16", [[8, 8], [16]]), ("architecture.hidden", "220, 120", [220, 120]),
    ("optimizer", "adamw", "adamw"),
])
def test_typed_values_parse(option: str, text: str, value: Any) -> None:
    assert next(o for o in all_options() if o.name == option).parse(text) == value


def test_a_value_outside_the_choices_or_not_a_number_is_refused() -> None:
    by_name: dict[str, Option] = {o.name: o for o in all_options()}
    with pytest.raises(ValueError, match="not one of"):
        by_name["optimizer"].parse("rmsprop")
    with pytest.raises(ValueError):
        by_name["epochs"].parse("many")


def test_set_path_opens_a_preset_and_refuses_a_non_object() -> None:
    raw: dict[str, Any] = {"architecture": "compact"}
    set_path(raw, "architecture.stem", 24)
    set_path(raw, "augment.cutout", 8)
    assert raw["architecture"]["stem"] == 24 and raw["architecture"]["stages"] == [[32, 32], [64, 64], [112, 112]]
    assert raw["augment"] == {"cutout": 8}
    with pytest.raises(ValueError, match="epochs is not an object"):
        set_path({"epochs": 3}, "epochs.x", 1)
