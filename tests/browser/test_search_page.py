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


class HandWorker:
    """Plays runs to their end as a worker would (no worker process: nothing else claims them)."""

    def __init__(self, lab) -> None:
        import os

        import httpx

        self.http = httpx.Client(base_url=lab.url, timeout=30,
                                 headers={"Authorization": f"Bearer {os.environ['CNNLAB_WORKER_TOKEN']}"})

    def play(self, run_id: int, epochs: list[dict]) -> None:
        claim = self.http.post(f"/api/worker/runs/{run_id}/claim", json={"host": "hand", "device": "cpu"})
        assert claim.status_code == 200, claim.text
        lease, attempt = claim.json()["lease"], claim.json()["attempt"]
        headers = {"X-Run-Lease": lease}
        r = self.http.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": attempt, "metrics": epochs},
                           headers=headers)
        assert r.status_code == 204, r.text
        r = self.http.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": attempt, "status": "timed_out"},
                           headers=headers)
        assert r.status_code == 204, r.text


def test_train_the_winner_shows_both_sides_live_and_their_paired_verdict(page, lab) -> None:
    from tests.utils.factories import metric, trial_metric

    body = {"name": "to promote", "base_config": tiny_config(epochs=50), "n_trials": 1, "max_concurrent": 1,
            "space": {"lr": {"float": [0.02, 0.3], "log": True}}, "sampler": "random", "pruner": "diverged",
            "rungs_s": [20, 40], "promote_fraction": 0.5}
    r = lab.http.post("/api/searches", json=body)
    assert r.status_code == 201, r.text
    search_id = r.json()["id"]
    hand = HandWorker(lab)
    hand.play(r.json()["trials"][0]["run_id"], [trial_metric(1, 0.4), trial_metric(2, 0.6)])
    page.goto(f"/searches/{search_id}")
    page.wait_for_selector("#search-page[data-status='completed']")
    assert page.is_hidden("#winner") and page.is_visible("#winner-form")
    page.fill("#winner-seeds", "2")
    page.click("#train-winner")
    page.wait_for_selector("#winner:not([hidden])")
    rows = page.eval_on_selector_all("#winner-table tbody tr", "trs => trs.map(tr => tr.textContent)")
    assert len(rows) == 2 and rows[0].startswith("winner0 of 2") and rows[1].startswith("compact")
    assert "Waiting for both sides" in page.inner_text("#winner-sentence")
    w = lab.http.get(f"/api/searches/{search_id}").json()["winner"]
    assert "40" in page.inner_text("#winner-facts")  # the search's last rung
    # both sides played by hand: the winner's last epochs 0.70 and 0.72, compact's 0.66 and 0.69 (their
    # best epochs would say otherwise: the page compares last epochs)
    for run_id, last in zip(w["winner"]["run_ids"], (0.70, 0.72), strict=True):
        hand.play(run_id, [metric(1, 0.95, val_acc=None), metric(2, last, val_acc=None)])
    for run_id, last in zip(w["baseline_group"]["run_ids"], (0.66, 0.69), strict=True):
        hand.play(run_id, [metric(1, 0.50, val_acc=None), metric(2, last, val_acc=None)])
    # live (the stream follows the winner's runs): one pair first ("too few runs"), then both
    page.wait_for_function("[...document.querySelectorAll('#winner-table tbody tr')]"
                           ".every((tr) => tr.textContent.includes('2 of 2'))", timeout=30_000)
    sentence = page.inner_text("#winner-sentence")
    assert "with 2 paired seeds" in sentence and "= 3.50 pt" in sentence, sentence
    rows = page.eval_on_selector_all("#winner-table tbody tr", "trs => trs.map(tr => tr.textContent)")
    assert "2 of 2" in rows[0] and "71.00%" in rows[0] and "67.50%" in rows[1], rows
