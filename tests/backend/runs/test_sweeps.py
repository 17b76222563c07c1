"""Sweeps through the API: a grid over several options makes every combination (× repeats), counted
against MAX_SWEEP_POINTS before a point is built; the estimate prices exactly the points a launch
would make (each run: epochs × a measured epoch time, capped by its time budget, else the budget)
and stores nothing; the list of sweeps pages, newest first, with each sweep's runs by status."""

from __future__ import annotations

import html
import itertools
import json
import re

import pytest

from backend.runs.schemas import MAX_REPEATS, MAX_SWEEP_POINTS
from backend.training.recipes import RECIPES
from tests.utils.factories import TINY_ARCH, metric, tiny_config


def counts(client) -> tuple[int, int]:
    return client.get("/api/runs").json()["count"], client.get("/api/sweeps").json()["count"]


def test_a_grid_over_two_options_makes_every_combination(client) -> None:
    grid = {"lr": [0.01, 0.05, 0.1], "augment.flip": [False, True]}
    r = client.post("/api/sweeps", json={"name": "two", "base_config": tiny_config(), "grid": grid, "repeats": 2})
    assert r.status_code == 201, r.text
    runs = r.json()["runs"]
    assert len(runs) == 3 * 2 * 2
    made = {(run["config"]["lr"], run["config"]["augment"]["flip"])
            for run in (client.get(f"/api/runs/{x['id']}").json() for x in runs)}
    assert made == set(itertools.product(grid["lr"], grid["augment.flip"]))
    assert [run["name"] for run in runs[:2]] == ["two lr=0.01 flip=False"] * 2  # a point's repeats: one group
    assert runs[0]["group_id"] is not None and runs[0]["group_id"] == runs[1]["group_id"] != runs[2]["group_id"]


def test_over_the_limit_is_a_422_naming_it_and_nothing_is_made(client) -> None:
    before = counts(client)
    side = int(MAX_SWEEP_POINTS ** 0.5) + 1  # two options whose product passes the limit
    grid = {"lr": [0.01 * (i + 1) for i in range(side)], "seed": list(range(side))}
    for path in ("/api/sweeps", "/api/sweeps/estimate"):
        r = client.post(path, json={"name": "big", "base_config": tiny_config(), "grid": grid})
        assert r.status_code == 422 and r.json()["detail"] == [
            {"field": "grid", "message": f"{side * side:,} points is over the limit of {MAX_SWEEP_POINTS}"}]
        points = MAX_SWEEP_POINTS // MAX_REPEATS + 1  # within the limit, but not with every repeat
        r = client.post(path, json={"name": "big", "base_config": tiny_config(), "repeats": MAX_REPEATS,
                                    "grid": {"lr": [0.01 * (i + 1) for i in range(points)]}})
        detail = r.json()["detail"][0]
        assert r.status_code == 422 and detail["field"] == "repeats"
        assert f"limit of {MAX_SWEEP_POINTS}" in detail["message"]
        # a value out of its option's bounds: named as the option of the base config, at its grid point
        r = client.post(path, json={"name": "bad", "base_config": tiny_config(), "grid": {"lr": [0.1], "epochs": [0]}})
        detail = r.json()["detail"][0]
        assert r.status_code == 422 and detail["field"] == "base_config.epochs" and "grid point" in detail["message"]
    assert counts(client) == before


def test_the_estimate_is_the_sum_of_the_points_time_budgets_when_nothing_is_measured(client) -> None:
    before = counts(client)
    arch = {**TINY_ARCH, "stages": [[8], [24]], "name": "never-trained"}  # no run of this network yet
    body = {"name": "cost", "base_config": tiny_config(architecture=arch, epochs=5, time_budget_s=600),
            "grid": {"time_budget_s": [60, 120.5], "batch_size": [8, 16, 32]}, "repeats": 2}
    r = client.post("/api/sweeps/estimate", json=body)
    assert r.status_code == 200, r.text
    e = r.json()
    assert e["runs"] == 2 * 3 * 2 and e["max_runs"] == MAX_SWEEP_POINTS
    assert [p["point"] for p in e["points"]] == [{"time_budget_s": t, "batch_size": b}
                                                 for t, b in itertools.product([60, 120.5], [8, 16, 32])]
    assert all(p["basis"] == "time_budget" and p["epoch_s"] is None and p["run_s"] == p["time_budget_s"]
               and p["seconds"] == 2 * p["time_budget_s"] for p in e["points"])
    assert e["seconds"] == pytest.approx(2 * 3 * (60 + 120.5)) and e["hours"] == pytest.approx(e["seconds"] / 3600)
    assert e["summary"] == "12 runs, about 0.30 GPU-hours (18 min) at most"
    assert "time budget" in e["points"][0]["note"]
    assert counts(client) == before  # nothing stored or queued
    r = client.get("/api/sweeps/estimate")  # not a sweep's id: only POST is there
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_the_estimate_uses_the_measured_epoch_time_of_the_same_network_and_batch(client) -> None:
    arch = {**TINY_ARCH, "stages": [[8], [20]], "name": "measured"}
    config = tiny_config(architecture=arch, batch_size=24, epochs=4)
    run = client.post("/api/runs", json={"config": config}).json()
    assert client.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    r = client.post(f"/api/worker/runs/{run['id']}/epochs", json={"attempt": 1, "metrics": [metric(1), metric(2)]})
    assert r.status_code == 204, r.text  # 1.5 s an epoch (tests.utils.factories.metric)
    body = {"name": "cost", "base_config": {**config, "time_budget_s": 10},
            "grid": {"epochs": [4, 20], "batch_size": [24, 48]}}
    e = client.post("/api/sweeps/estimate", json=body).json()
    by_point = {(p["point"]["epochs"], p["point"]["batch_size"]): p for p in e["points"]}
    four, twenty = by_point[(4, 24)], by_point[(20, 24)]
    assert four["basis"] == "measured" and four["epoch_s"] == 1.5 and four["measured_runs"] == 1
    assert four["run_s"] == 4 * 1.5  # epochs × the measured epoch
    assert twenty["run_s"] == 10 and "capped by the time budget" in twenty["note"]  # 30 s measured, 10 s budget
    assert by_point[(4, 48)]["basis"] == "time_budget" and by_point[(4, 48)]["run_s"] == 10  # another batch size
    assert e["seconds"] == pytest.approx(sum(p["seconds"] for p in e["points"])) == pytest.approx(6 + 10 + 10 + 10)


def test_the_list_of_sweeps_pages_newest_first_with_runs_by_status(client) -> None:
    lister = client.as_user("sweep-lister")
    made = []
    for i in range(3):
        r = lister.post("/api/sweeps", json={"name": f"list {i}", "base_config": tiny_config(),
                                             "grid": {"lr": [0.01, 0.02], "seed": [1, 2, 3][: i + 1]}})
        assert r.status_code == 201, r.text
        made.append(r.json())
    assert lister.post(f"/api/runs/{made[2]['runs'][0]['id']}/cancel").status_code == 200
    first = client.get("/api/sweeps", params={"owner": "sweep-lister", "limit": 2}).json()
    assert first["count"] == 3 and [s["name"] for s in first["data"]] == ["list 2", "list 1"]
    newest = first["data"][0]
    assert newest["owner"] == "sweep-lister" and newest["points"] == 6 and newest["runs"] == 6
    assert newest["statuses"] == {"cancelled": 1, "queued": 5}
    assert newest["grid"] == {"lr": [0.01, 0.02], "seed": [1, 2, 3]}
    rest = client.get("/api/sweeps", params={"owner": "sweep-lister", "limit": 2, "offset": 2}).json()
    assert rest["count"] == 3 and [s["id"] for s in rest["data"]] == [made[0]["id"]]
    everyone = client.get("/api/sweeps").json()
    assert everyone["count"] >= 3 and [s["id"] for s in everyone["data"]] == sorted((s["id"] for s in everyone["data"]),
                                                                                   reverse=True)


@pytest.mark.parametrize(("query", "field", "limit"), [
    ("limit=0", "limit", "1"), ("limit=501", "limit", "500"), ("offset=-1", "offset", "0"),
    ("offset=2147483648", "offset", "2147483647"), ("owner=" + "a" * 101, "owner", "100")])
def test_the_list_is_bounded_naming_the_field_and_the_limit(client, query: str, field: str, limit: str) -> None:
    r = client.get(f"/api/sweeps?{query}")
    detail = r.json()["detail"][0]
    assert r.status_code == 422 and detail["field"] == field and re.search(rf"\b{limit}\b", detail["message"]), detail


def test_the_sweep_form_starts_small_and_renders_its_limit_and_options_from_their_declarations(client) -> None:
    page = client.get("/sweeps/new").text
    form = re.search(r'<form id="sweep-form"[^>]*>', page)
    assert form
    tag = form.group(0)

    def attr(name: str) -> str:
        found = re.search(rf"""\s{name}=(["'])(.*?)\1""", tag, re.S)
        assert found, name
        return html.unescape(found.group(2))

    assert int(attr("data-max-runs")) == MAX_SWEEP_POINTS
    options = {o["name"]: o for o in json.loads(attr("data-options"))}
    assert options["lr"]["minimum"] == 0 and options["lr"]["minimum_exclusive"] is True
    assert "architecture.family" not in options and options["architecture"]["kind"] == "choice"
    grid, recipe = json.loads(attr("data-start-grid")), RECIPES[attr("data-recipe")]
    assert set(grid) <= set(options) and 2 <= len(list(itertools.product(*grid.values()))) <= 3
    full = recipe.full()
    # a short recipe: planned by its 15 minutes (its epochs only a ceiling), or few epochs
    assert (full["schedule_by"] == "time_budget" or full["epochs"] < 120) and full["batch_size"] > 4
    assert full["time_budget_s"] <= 900
    start = client.post("/api/sweeps/estimate", json={"name": "start", "grid": grid,
                                                      "base_config": recipe.config(attr("data-preset"))}).json()
    assert start["runs"] <= 3 and start["hours"] <= 0.75, start  # at most 45 minutes of training in all
    assert 'data-field="config.lr"' in page and 'id="preset"' in page  # the run form's inputs, the same partials
    assert 'href="/sweeps"' in page  # the navigation's Sweeps
    assert client.get("/sweeps").status_code == 200
