"""A search started from the form (the shipped preset's space, edited), followed live to its
Pareto front; trials trained by the real worker."""

from __future__ import annotations

import json

import pytest

from tests.utils.factories import tiny_config

pytestmark = pytest.mark.integration


def test_a_search_started_from_the_form_is_followed_to_its_pareto_front(page, lab, worker) -> None:
    page.goto("/searches")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#space tbody tr").count() >= 10  # the preset's space, filled in
    assert page.input_value("#search-pruner") == "hyperband"
    page.fill("#search-name", "from the form")
    page.fill("#search-base", json.dumps(tiny_config(epochs=3)))
    rows = page.locator("#space tbody tr")
    while rows.count():
        rows.first.locator("button").click()
    page.click("#space-add")
    row = page.locator("#space tbody tr").first
    row.locator(".space-key").fill("lr")
    row.locator(".space-low").fill("0.02")
    row.locator(".space-high").fill("0.3")
    row.locator(".space-log").check()
    page.click("#space-add")
    row = page.locator("#space tbody tr").nth(1)
    row.locator(".space-key").fill("architecture.width_1")
    row.locator(".space-kind").select_option("choice")
    row.locator(".space-choices").fill("8, 12")
    page.fill("#search-trials", "3")
    page.select_option("#search-pruner", "none")
    page.click("#search-start")
    page.wait_for_url("**/searches/*")
    page.wait_for_selector("#search-page[data-status='completed']", timeout=180_000)
    page.wait_for_function("document.querySelectorAll('#trials tbody tr').length === 3")
    assert page.locator("#trials tbody tr[data-state='completed']").count() == 3
    # the Pareto front of accuracy against parameters, with the budget line, drawn by Plotly
    page.wait_for_selector("#pareto-params .main-svg", timeout=30_000)
    names = page.evaluate("Array.from(document.getElementById('pareto-params').data, (t) => t.name)")
    assert "Pareto front" in names and "completed" in names
    assert "256,000" in page.inner_text("#pareto-params")
    for figure in ("history", "importances", "parallel"):
        assert page.locator(f"#{figure} .main-svg").count() >= 1, figure
    assert "trial" in page.inner_text("#best-facts")
    page.click("#run-full")
    page.wait_for_selector("#run-full-result a")
    run_id = int(page.get_attribute("#run-full-result a", "href").rsplit("/", 1)[1])
    run = lab.run(run_id)
    assert run["epochs"] == 30 and run["config"]["data"]["train_limit"] is None
    assert page.locator("nav a[href='/searches']").inner_text() == "Search"


def test_a_search_by_time_rungs_shows_its_rungs_in_order_with_their_counts(page, lab, worker) -> None:
    body = {"name": "by rungs", "base_config": tiny_config(epochs=2), "n_trials": 2, "max_concurrent": 1,
            "space": {"lr": {"float": [0.02, 0.3], "log": True}}, "sampler": "random", "pruner": "diverged",
            "rungs_s": [20, 40], "promote_fraction": 0.5}
    r = lab.http.post("/api/searches", json=body)
    assert r.status_code == 201, r.text
    search_id = r.json()["id"]
    page.goto(f"/searches/{search_id}")
    page.wait_for_selector("#search-page[data-status='completed']", timeout=240_000)
    page.wait_for_function("document.querySelectorAll('#rung-list li[data-finished]').length === 2")
    rungs = page.eval_on_selector_all("#rung-list li", "lis => lis.map(li => [li.dataset.rung, li.textContent])")
    # first to last, with their budgets and counts: both trials at rung 1, the better half (1) at rung 2
    assert [rung for rung, _ in rungs] == ["0", "1"]
    assert rungs[0][1].startswith("rung 1 · 20 s: 2 finished") and rungs[1][1].startswith("rung 2 · 40 s: 1 finished")
    assert page.is_visible("#trials th.rung-col")
    cells = page.eval_on_selector_all("#trials td.rungs", "tds => tds.map(td => [td.dataset.rung, td.textContent])")
    assert sorted(rung for rung, _ in cells) == ["0", "1"]
    promoted = next(text for rung, text in cells if rung == "1")
    assert promoted.startswith("20 s ") and " → 40 s " in promoted
    assert "at rung 2 (40 s)" in page.inner_text("#best-facts")
