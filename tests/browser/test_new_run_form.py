"""The new-run form as rendered from the options' declaration: groups side by side at 1280 px, the
size of the network in view while the architecture is edited, Advanced folded, recipes filling it."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


def box(page, selector: str) -> dict:
    return page.evaluate(f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect(); "
                         "return {x: r.x, y: r.y, top: r.top, bottom: r.bottom}; })()")


def test_groups_sit_side_by_side_and_the_size_stays_in_view(page) -> None:
    page.goto("/runs/new")
    page.wait_for_selector("body[data-ready='1']")
    groups = [box(page, f"#g-{g}") for g in ("optimisation", "augmentation", "evaluation", "budget")]
    assert len({round(g["y"]) for g in groups}) == 1  # one row
    assert [g["x"] for g in groups] == sorted(g["x"] for g in groups) and groups[0]["x"] < groups[-1]["x"]
    page.locator("#dropout").scroll_into_view_if_needed()  # the last architecture input, far down
    page.fill("#dropout", "0.1")
    height = page.viewport_size["height"]
    meter, layers = box(page, "#param-meter"), box(page, "#layers")
    assert 0 <= meter["top"] < height and 0 <= layers["top"] < height, (meter, layers)
    assert box(page, "#dropout")["top"] < height


def test_advanced_options_are_folded_and_recipes_fill_the_form(page, lab) -> None:
    page.goto("/runs/new")
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#recipe") == "modern" and page.input_value("#cutout") == "8"
    assert not page.is_visible("#bn_bias_lr_scale") and not page.is_visible("#momentum")
    page.select_option("#recipe", "seed")
    chosen = (page.input_value("#batch_size"), page.input_value("#lr"), page.input_value("#epochs"))
    assert chosen == ("16", "0.001", "120")
    assert not page.is_checked("#crop") and not page.is_checked("#tta")
    assert "120 epochs at batch 16" in page.inner_text("#recipe-help")
    page.select_option("#family", "plain")
    assert page.is_visible("#hidden") and not page.is_visible("#stem") and not page.is_visible("#pool_at")
    page.select_option("#family", "resnet")  # by way of plain, which has neither: resnet's own defaults
    assert (page.input_value("#stem"), page.input_value("#activation")) == ("16", "relu")
    page.select_option("#preset", "compact")
    page.fill("#stages", "8 / 16")
    page.click("summary:has-text('Advanced optimisation')")
    assert page.is_visible("#bn_bias_lr_scale") and page.input_value("#bn_bias_lr_scale") == "1"
    page.fill("#bn_bias_lr_scale", "2")
    page.fill("#epochs", "1")
    page.fill("#name", "advanced option")
    page.wait_for_function("!document.getElementById('submit').disabled")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/runs/\d+$"))
    run_id = page.url.rsplit("/", 1)[1]
    config = lab.http.get(f"/api/runs/{run_id}").json()["config"]
    assert (config["bn_bias_lr_scale"], config["batch_size"], config["lr"]) == (2.0, 16, 0.001)
    lab.http.post(f"/api/runs/{run_id}/cancel")


def test_a_refused_option_is_named_beside_its_input(page) -> None:
    page.goto("/runs/new")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#preset", "compact")
    page.fill("#stages", "8 / 16")
    page.click("summary:has-text('Advanced optimisation')")
    page.fill("#bn_bias_lr_scale", "65")
    page.wait_for_function("!document.getElementById('submit').disabled")
    page.click("#submit")
    page.wait_for_selector("[data-error-for='config.bn_bias_lr_scale']")
    assert page.get_attribute("#bn_bias_lr_scale", "aria-invalid") == "true"
    assert "less than or equal to 64" in page.inner_text("[data-error-for='config.bn_bias_lr_scale']")
    assert page.url.endswith("/runs/new")
