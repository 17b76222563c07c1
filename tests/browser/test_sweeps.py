"""The new-sweep form and the list of sweeps in Debian's Chromium: the base config is the run form's
inputs, the grid varies two options, the page counts the points against the server's limit and
prices them (POST /api/sweeps/estimate) before launch; the launched sweep is in /sweeps."""

from __future__ import annotations

import re

import pytest

from backend.runs.schemas import MAX_SWEEP_POINTS
from tests.utils.factories import TINY_HOLDOUT

pytestmark = pytest.mark.integration


def text(page, selector: str) -> str:
    return page.inner_text(selector).strip()


def test_a_grid_over_two_options_is_counted_priced_launched_and_listed(page, lab, artifacts) -> None:
    page.goto("/sweeps/new")
    page.wait_for_selector("body[data-ready='1']")
    # it starts small: three points of a short recipe, priced
    assert text(page, "#point-count").startswith("3 points × 1 seed = 3 runs")
    assert re.match(r"3 runs, about [\d.,]+ GPU-hours .*at most", text(page, "#estimate")), text(page, "#estimate")
    assert page.input_value("#recipe") == "pilot_15min" and page.input_value("#batch_size") != "4"

    page.fill("#name", "browser grid")
    page.fill("#epochs", "1")
    page.fill("#holdout", str(TINY_HOLDOUT))  # the tests' tiny dataset
    page.fill("#grid-values-1", "0.1, 0.2")
    page.click("#grid-add")
    page.select_option("#grid-option-2", "batch_size")
    page.fill("#grid-values-2", "64, 0")  # out of the option's bounds: said at the row, nothing to launch
    page.wait_for_selector("[data-error-for='grid.batch_size']")
    assert "out of bounds" in text(page, "[data-error-for='grid.batch_size']") and page.is_disabled("#submit")
    page.fill("#grid-values-2", "64, 128")
    page.wait_for_function("document.getElementById('estimate').textContent.startsWith('4 runs')")
    assert text(page, "#point-count").startswith("4 points × 1 seed = 4 runs")
    assert not page.locator("[data-error-for='grid.batch_size']").count()
    # the estimate is the API's, point by point
    shown = page.locator("#estimate-points tbody tr")
    assert shown.count() == 4 and "lr=0.1 batch_size=64" in shown.nth(0).inner_text()

    page.fill("#grid-values-1", "0.1, 0.2, 0.3")
    page.fill("#repeats", str(MAX_SWEEP_POINTS // 6 + 1))  # 6 points × that: past the server's limit
    page.wait_for_function("document.getElementById('point-count').classList.contains('error')")
    assert f"over the limit of {MAX_SWEEP_POINTS}" in text(page, "#point-count") and page.is_disabled("#submit")
    page.fill("#grid-values-1", "0.1, 0.2")
    page.fill("#repeats", "1")
    page.wait_for_function("!document.getElementById('submit').disabled")
    page.wait_for_function("document.getElementById('estimate').textContent.startsWith('4 runs')")
    page.screenshot(path=str(artifacts / "test_sweeps_the_form_before_launch.png"), full_page=True)

    page.click("#submit")
    page.wait_for_url(re.compile(r".*/sweeps/\d+$"))
    sweep_id = int(page.url.rsplit("/", 1)[1])
    sweep = lab.http.get(f"/api/sweeps/{sweep_id}").json()
    assert sweep["grid"] == {"lr": [0.1, 0.2], "batch_size": [64, 128]} and len(sweep["runs"]) == 4
    assert sweep["base_config"]["epochs"] == 1 and sweep["base_config"]["data"]["holdout"] == TINY_HOLDOUT

    page.goto("/sweeps")
    page.wait_for_selector("body[data-ready='1']")
    row = page.locator(f"#sweeps tr[data-sweep-id='{sweep_id}']")
    assert "browser grid" in row.inner_text() and row.locator("a").get_attribute("href") == f"/sweeps/{sweep_id}"
    assert "4 queued" in row.inner_text()
    for run in sweep["runs"]:  # no worker here: leave nothing queued for the next tests' workers
        assert lab.http.post(f"/api/runs/{run['id']}/cancel").status_code == 200
    page.wait_for_function(f"document.querySelector(\"#sweeps tr[data-sweep-id='{sweep_id}']\")"
                           ".textContent.includes('4 cancelled')")  # the list follows the runs' stream
    page.click("nav[aria-label='Main'] a[href='/sweeps']")
    page.wait_for_selector(f"#sweeps tr[data-sweep-id='{sweep_id}']")
