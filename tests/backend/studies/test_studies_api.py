"""Studies over the REST API in-process on SQLite, the worker's calls made by hand: the shipped
studies, launches (scaled, repeated), reports (conclusions, differences, CSV, the HTML export) and
studies made from runs. What studies refuse: test_study_refusals.py."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from backend.core import queue
from tests.backend.studies.helpers import PNG, finish, shipped
from tests.utils.factories import tiny_config


def test_the_seed_report_ships_with_the_seed_settings(client) -> None:
    study = shipped(client, "seed-report")
    entries = {e["key"]: e for e in study["entries"]}
    assert list(entries) == ["wide", "deep", "wide_deep", "wide_deep_aug", "wide_deep_bn", "wide_deep_dropout",
                             "dropout_bs4", "dropout_bs8", "dropout_bs32"]
    presets = {k: e["config"]["architecture"] for k, e in entries.items()}
    assert presets == {"wide": "wide", "deep": "deep", "wide_deep": "wide_deep", "wide_deep_aug": "wide_deep",
                       "wide_deep_bn": "wide_deep_bn", "wide_deep_dropout": "wide_deep_dropout",
                       "dropout_bs4": "wide_deep_dropout", "dropout_bs8": "wide_deep_dropout",
                       "dropout_bs32": "wide_deep_dropout"}
    assert all(e["config"]["epochs"] == 120 for e in entries.values())
    assert {k: e["config"]["batch_size"] for k, e in entries.items() if k.startswith("dropout_bs")} == \
        {"dropout_bs4": 4, "dropout_bs8": 8, "dropout_bs32": 32}
    assert all(e["config"]["batch_size"] == 16 for k, e in entries.items() if not k.startswith("dropout_bs"))
    augmented = {k for k, e in entries.items() if e["config"].get("augment", {}).get("crop")}
    assert augmented == set(entries) - {"wide", "deep", "wide_deep"}
    assert entries["wide_deep_aug"]["reference"]["test_acc"] == 0.85
    assert {k: e["repeats"] for k, e in entries.items() if e["repeats"] > 1} == {"wide_deep": 3, "wide_deep_aug": 3}
    assert shipped(client, "beyond-the-seed")["entries"][0]["config"]["architecture"] == "compact"


def test_launch_scales_epochs_and_the_report_sets_our_sizes_beside_the_seeds(client) -> None:
    study = shipped(client, "seed-report")
    before = queue.queued_message_count()
    r = client.post(f"/api/studies/{study['id']}/launches", json={"epochs_scale": 0.05, "data": {"train_limit": 500}})
    assert r.status_code == 201, r.text
    launch = r.json()
    assert set(launch["runs"]) == {e["key"] for e in study["entries"]} and launch["finished"] == 0
    assert queue.queued_message_count() == before + 13  # 9 entries, the two headline ones 3 times each
    run = client.get(f"/api/runs/{launch['runs']['dropout_bs4']}").json()
    assert run["epochs"] == 6 and run["config"]["batch_size"] == 4 and run["config"]["data"]["train_limit"] == 500
    report = client.get(f"/api/studies/{study['id']}/report").json()
    assert report["launch"]["id"] == launch["id"] and report["finished"] is False
    for row in report["table"]:  # the presets' sizes are the seed's, to the unit
        assert row["params"] == row["ref_params"] and row["macs"] == row["ref_macs"], row
    assert {c["verdict"] for c in report["claims"]} == {"untested"}  # no epoch recorded yet
    assert report["quick_version"].startswith("Quick version: epochs × 0.05 (120 → 6 epochs); 500 training images")
    assert report["protocol"].startswith("This study keeps holdout 0, the seed's own protocol")
    assert {row["holdout"] for row in report["table"]} == {0}
    html = client.get(f"/api/studies/{study['id']}/report.html").text  # the export carries the banner
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1)
    assert json.loads(embedded)["quick_version"] == report["quick_version"] and 'class="quick-version"' in html


def test_report_computes_conclusions_and_differences_from_the_runs(client) -> None:
    entries = [
        {"key": "plain", "label": "plain", "config": tiny_config(epochs=4),
         "reference": {"train_acc": 0.99, "test_acc": 0.74, "minutes": 45}},
        {"key": "aug", "label": "augmented", "baseline": "plain",
         "config": tiny_config(epochs=4, augment={"crop": True}),
         "reference": {"train_acc": 0.91, "test_acc": 0.85, "minutes": 54.6}},
    ]
    claims = [{"kind": "raises", "keys": ["aug", "plain"], "text": "augmentation helps"},
              {"kind": "narrows_gap", "keys": ["aug", "plain"], "text": "augmentation narrows the gap"}]
    tester = client.as_user("study-tester")
    r = tester.post("/api/studies",
                    json={"name": "aug study", "owner": "study-tester", "entries": entries, "claims": claims})
    assert r.status_code == 201, r.text
    study = r.json()
    launch = tester.post(f"/api/studies/{study['id']}/launches", json={"owner": "study-tester"}).json()
    # validation chooses epoch 4 (test 61%); the test set's best, 62% at epoch 3, chooses nothing
    finish(client, launch["runs"]["plain"], [0.50, 0.60, 0.62, 0.61], [0.6, 0.8, 0.9, 0.97],
           vals=[0.52, 0.58, 0.60, 0.64])
    partial = client.get(f"/api/studies/{study['id']}/report").json()
    assert [c["verdict"] for c in partial["claims"]] == ["untested", "untested"] and partial["runs_finished"] == 1
    finish(client, launch["runs"]["aug"], [0.50, 0.65, 0.70, 0.72], [0.5, 0.66, 0.72, 0.75])
    report = client.get(f"/api/studies/{study['id']}/report").json()
    assert report["finished"] is True
    assert [c["verdict"] for c in report["claims"]] == ["holds", "holds"]
    assert ("test accuracy (epoch chosen on validation) 61.0% (plain) → 72.0% (augmented): +11.0 pt"
            in report["claims"][0]["detail"])
    plain, aug = report["table"]
    assert plain["test_acc"] == 0.61 and plain["best_test_acc"] == 0.62 and plain["best_epoch"] == 3
    assert (plain["best_val_acc"], plain["test_acc_at_best_val"], plain["val_epoch"]) == (0.64, 0.61, 4)
    assert report["quick_version"] is None and "every choice (best epoch, ranking) is made on validation" in \
        report["protocol"]
    assert {"best test (chosen on test)", "best epoch (chosen on test)", "test acc at best val"} <= \
        {c["title"] for c in report["columns"]}
    assert aug["diff_test_acc"] == pytest.approx(0.72 - 0.85) and aug["diff_train_acc"] == pytest.approx(0.75 - 0.91)
    assert aug["minutes"] == pytest.approx(2.0) and aug["minutes_per_120"] == pytest.approx(60.0)
    assert report["entries"][0]["evaluation"]["misclassified"][0]["png"] == PNG
    assert client.get(f"/api/studies/{study['id']}/report?images=false").json()["entries"][0]["evaluation"] is None
    assert any(f.startswith("augmented raises test accuracy (epoch chosen on validation) against plain")
               for f in report["findings"])

    text = client.get(f"/api/studies/{study['id']}/report.csv")
    assert text.headers["content-type"].startswith("text/csv")
    assert f'filename="study-{study["id"]}-launch-{launch["id"]}.csv"' in text.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert [r["entry"] for r in rows] == ["plain", "augmented"]
    assert rows[1]["test acc"] == "0.72" and rows[1]["ref test acc"] == "0.85" and rows[1]["test acc diff"] == "-0.13"
    assert rows[1]["minutes per 120 epochs diff"] == "5.4"  # 60 min per 120 epochs against 54.6

    page = client.get(f"/api/studies/{study['id']}/report.html")
    assert page.status_code == 200 and "attachment" in page.headers["content-disposition"]
    html = page.text
    assert not re.search(r"<script[^>]*\bsrc=", html) and not re.search(r"<link\b", html)  # nothing fetched
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1)
    assert json.loads(embedded)["table"][1]["test_acc"] == 0.72


def test_the_study_list_counts_finished_runs_in_a_fixed_number_of_queries(client) -> None:
    from sqlalchemy import event

    from backend.core.db import engine

    def make_study(i: int) -> dict:
        entries = [{"key": "a", "label": "A", "config": tiny_config(epochs=2)},
                   {"key": "b", "label": "B", "config": tiny_config(epochs=3)}]
        lister = client.as_user("lister")
        study = lister.post("/api/studies", json={"name": f"list {i}", "owner": "lister", "entries": entries}).json()
        return lister.post(f"/api/studies/{study['id']}/launches", json={"owner": "lister"}).json()

    def listed() -> tuple[dict, int]:
        statements: list[str] = []
        # (conn, cursor, statement, ...); the caller's token lookup is not the listing's work
        record = lambda *args: None if "api_tokens" in args[2] else statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", record)
        try:
            body = client.get("/api/studies").json()
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return {launch["id"]: launch["finished"] for s in body["data"] for launch in s["launches"]}, len(statements)

    first = make_study(0)
    finish(client, first["runs"]["a"], [0.5, 0.6], [0.5, 0.6])
    finished, queries = listed()
    assert finished[first["id"]] == 1
    more = [make_study(i) for i in range(1, 5)]
    for launch in more:
        finish(client, launch["runs"]["a"], [0.5, 0.6], [0.5, 0.6])
        finish(client, launch["runs"]["b"], [0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    finished_after, queries_after = listed()
    assert finished_after[first["id"]] == 1 and all(finished_after[launch["id"]] == 2 for launch in more)
    assert queries_after == queries  # four more studies, four more launches: not one query more


def test_a_study_made_from_runs_reports_those_runs_at_once_and_launches_again(client) -> None:
    a = client.post("/api/runs", json={"name": "run a", "config": tiny_config(epochs=2)}).json()
    b = client.post("/api/runs", json={"name": "run b", "config": tiny_config(epochs=2, lr=0.02)}).json()
    finish(client, a["id"], [0.3, 0.4], [0.3, 0.5], report=False)
    r = client.post("/api/studies", json={"name": "from runs", "run_ids": [a["id"], b["id"]]})
    assert r.status_code == 201, r.text
    study = r.json()
    assert [e["label"] for e in study["entries"]] == ["run a", "run b"]
    assert study["entries"][1]["config"]["lr"] == 0.02
    assert study["launches"][0]["runs"] == {f"run{a['id']}": a["id"], f"run{b['id']}": b["id"]}
    report = client.get(f"/api/studies/{study['id']}/report").json()
    assert [row["run_id"] for row in report["table"]] == [a["id"], b["id"]] and report["runs_finished"] == 1
    again = client.post(f"/api/studies/{study['id']}/launches", json={"epochs_scale": 0.5}).json()
    assert set(again["runs"].values()).isdisjoint({a["id"], b["id"]})
    again_a = again["runs"][f"run{a['id']}"]
    assert client.get(f"/api/runs/{again_a}").json()["epochs"] == 1
    older = client.get(f"/api/studies/{study['id']}/report?launch={study['launches'][0]['id']}").json()
    assert older["launch"]["id"] == study["launches"][0]["id"]
    assert client.delete(f"/api/studies/{study['id']}").status_code == 204
    assert client.get(f"/api/studies/{study['id']}").status_code == 404
    assert client.get(f"/api/runs/{a['id']}").status_code == 200  # the runs stay


def test_quick_launch_scales_the_epoch_counts_and_a_lab_with_less_time_caps_the_budget(client, monkeypatch) -> None:
    from backend.core.settings import settings

    config = tiny_config(epochs=40, schedule="step", step_epochs=20, early_stopping_patience=10, time_budget_s=3600)
    study = client.post("/api/studies",
                        json={"name": "scaled", "entries": [{"key": "a", "label": "A", "config": config}]}).json()
    monkeypatch.setattr(settings, "TIME_BUDGET_S", 600.0)
    launch = client.post(f"/api/studies/{study['id']}/launches", json={"epochs_scale": 0.1})
    assert launch.status_code == 201, launch.text
    run = client.get(f"/api/runs/{launch.json()['runs']['a']}").json()
    assert (run["epochs"], run["config"]["step_epochs"], run["config"]["early_stopping_patience"]) == (4, 2, 1)
    assert run["config"]["time_budget_s"] == 600.0  # planned by epochs: its budget is the lab's, not scaled


def test_beyond_the_seed_launches_within_the_budget(client) -> None:
    study = shipped(client, "beyond-the-seed")
    launch = client.post(f"/api/studies/{study['id']}/launches", json={"epochs_scale": 0.05}).json()
    report = client.get(f"/api/studies/{study['id']}/report?launch={launch['id']}").json()
    rows = {row["entry"]: row for row in report["table"]}
    assert len(rows) == 3 and all(row["params"] <= 256_000 for row in rows.values())
    compact = client.get(f"/api/runs/{launch['runs']['compact']}").json()
    assert compact["params"] == 244_746 and compact["config"]["tta"] is True
    # the modern recipe plans by its hour (1000 epochs, a ceiling): the quick version scales both
    assert (compact["epochs"], compact["config"]["time_budget_s"]) == (50, 180.0)
    assert "the time budgets of the entries planned by time × 0.05 (3600 s → 180 s)" in report["quick_version"]


def test_a_failed_or_deleted_run_is_reported_as_such_and_the_launch_still_ends(client) -> None:
    entries = [{"key": "base", "label": "base", "config": tiny_config(epochs=4)},
               {"key": "var", "label": "variant", "baseline": "base", "config": tiny_config(epochs=4, lr=0.02)}]
    claims = [{"kind": "raises", "keys": ["var", "base"], "text": "the variant helps"}]
    study = client.post("/api/studies", json={"name": "fragile", "entries": entries, "claims": claims}).json()
    launch = client.post(f"/api/studies/{study['id']}/launches", json={}).json()
    finish(client, launch["runs"]["base"], [0.5, 0.6, 0.62, 0.61], [0.6, 0.8, 0.9, 0.97], report=False)
    var_id = launch["runs"]["var"]
    attempt = client.post(f"/api/worker/runs/{var_id}/claim", json={"host": "h", "device": "cpu"}).json()["attempt"]
    metrics = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0, "test_acc": 0.7, "lr": 0.1,
                "seconds": 1.0, "val_acc": 0.7, "val_loss": 1.0}]
    assert client.post(f"/api/worker/runs/{var_id}/epochs",
                       json={"attempt": attempt, "metrics": metrics}).status_code == 204
    client.post(f"/api/worker/runs/{var_id}/finish", json={"attempt": attempt, "status": "failed", "reason": "boom"})
    report = client.get(f"/api/studies/{study['id']}/report").json()
    assert report["finished"] is True
    assert report["claims"][0]["verdict"] == "untested"
    assert report["claims"][0]["detail"] == "var failed after 1 of 4 epochs"
    assert not any("variant" in f for f in report["findings"])  # a crashed run is no finding
    assert client.delete(f"/api/runs/{var_id}").status_code == 204
    report = client.get(f"/api/studies/{study['id']}/report").json()
    assert report["finished"] is True and report["table"][1]["status"] == "deleted"
    assert report["claims"][0]["detail"] == "no run for var"
    assert client.get(f"/api/studies/{study['id']}").json()["launches"][0]["runs"]["var"] is None


def test_an_old_launch_keeps_the_entries_and_claims_it_was_launched_with(client) -> None:
    from backend.core.db import SessionLocal
    from backend.core.tables import Study

    entries = [{"key": "a", "label": "first label", "config": tiny_config(epochs=2)}]
    study = client.post("/api/studies", json={"name": "edited", "entries": entries}).json()
    launch = client.post(f"/api/studies/{study['id']}/launches", json={}).json()
    with SessionLocal() as session:  # as a new definition of a shipped study would
        row = session.get(Study, study["id"])
        row.entries = [{**row.entries[0], "label": "new label"}]
        session.commit()
    old = client.get(f"/api/studies/{study['id']}/report?launch={launch['id']}").json()
    assert old["table"][0]["entry"] == "first label"


def test_csv_cells_are_never_spreadsheet_formulas() -> None:
    from backend.studies.report import table_csv, table_row

    row = table_row({"label": "=HYPERLINK(\"http://x\")"}, None, {}, None)
    text = table_csv({"table": [row]})
    assert next(csv.DictReader(io.StringIO(text)))["entry"] == "'=HYPERLINK(\"http://x\")"


def test_the_seed_study_says_it_keeps_holdout_0_before_it_is_launched(client) -> None:
    study = shipped(client, "seed-report")
    assert all(e["config"]["data"]["holdout"] == 0 for e in study["entries"])
    report = client.get(f"/api/studies/{study['id']}/report").json()
    if report["launch"] is None:
        assert report["quick_version"] is None
    assert "holdout 0, the seed's own protocol" in report["protocol"]
    assert "chosen on the test set" in report["protocol"]


def test_an_entry_with_repeats_launches_one_run_per_seed_in_one_group(client) -> None:
    entries = [{"key": "rep", "label": "repeated", "config": tiny_config(epochs=3, seed=7), "repeats": 3},
               {"key": "one", "label": "single", "config": tiny_config(epochs=3)}]
    study = client.post("/api/studies", json={"name": "repeats", "entries": entries})
    assert study.status_code == 201, study.text
    study = study.json()
    assert [e["repeats"] for e in study["entries"]] == [3, 1]
    runs_before = client.get("/api/runs").json()["count"]
    before = queue.queued_message_count()
    r = client.post(f"/api/studies/{study['id']}/launches", json={})
    assert r.status_code == 201, r.text
    launch = r.json()
    assert client.get("/api/runs").json()["count"] == runs_before + 4
    assert queue.queued_message_count() == before + 4
    ids = launch["run_ids"]["rep"]
    assert len(ids) == 3 and launch["runs"]["rep"] == ids[0] and launch["run_ids"]["one"] == [launch["runs"]["one"]]
    runs = [client.get(f"/api/runs/{i}").json() for i in ids]
    assert [run["config"]["seed"] for run in runs] == [7, 8, 9]
    assert [run["name"] for run in runs] == [f"repeats · repeated · seed {s}" for s in (7, 8, 9)]
    group = {run["group_id"] for run in runs}
    assert len(group) == 1 and None not in group  # one run group
    strip = lambda c: {k: v for k, v in c.items() if k != "seed"}  # noqa: E731
    assert strip(runs[0]["config"]) == strip(runs[1]["config"]) == strip(runs[2]["config"])
    single = client.get(f"/api/runs/{launch['runs']['one']}").json()
    assert single["group_id"] is None or single["group_id"] not in group

    # the report: every run in the table, the entry's spread over its seeds, the claim on the CI
    for run_id, final in zip(ids, (0.70, 0.72, 0.71), strict=True):
        finish(client, run_id, [0.40, 0.60, final], [0.5, 0.7, 0.8], report=False)
    report = client.get(f"/api/studies/{study['id']}/report").json()
    assert [(row["entry"], row["seed"], row["repeat"]) for row in report["table"]] == [
        ("repeated", 7, 0), ("repeated", 8, 1), ("repeated", 9, 2), ("single", 0, 0)]
    (group_row,) = report["groups"]
    assert (group_row["key"], group_row["n"], group_row["repeats"], group_row["seeds"]) == ("rep", 3, 3, [7, 8, 9])
    assert group_row["headline"]["mean"] == pytest.approx(0.71) and group_row["headline"]["std"] == pytest.approx(0.01)
    assert group_row["headline"]["ci_low"] < 0.71 < group_row["headline"]["ci_high"]
    assert any(f.startswith("repeated over 3 seeds: test accuracy (epoch chosen on validation) 71.0% ± 1.0 pt")
               for f in report["findings"])
    assert [e["seed"] for e in report["entries"]] == [7, 8, 9, 0]
    text = client.get(f"/api/studies/{study['id']}/report.csv").text
    assert [r["seed"] for r in csv.DictReader(io.StringIO(text))] == ["7", "8", "9", "0"]


def test_the_run_noise_study_launches_five_seeds_of_one_recipe(client) -> None:
    study = shipped(client, "run-noise")
    (entry,) = study["entries"]
    assert entry["repeats"] == 5 and entry["config"]["data"]["holdout"] == 5000
    launch = client.post(f"/api/studies/{study['id']}/launches", json={"epochs_scale": 0.5})
    assert launch.status_code == 201, launch.text
    ids = launch.json()["run_ids"][entry["key"]]
    runs = [client.get(f"/api/runs/{i}").json() for i in ids]
    assert [run["config"]["seed"] for run in runs] == [0, 1, 2, 3, 4]
    assert len({run["group_id"] for run in runs}) == 1 and all(run["epochs"] == 4 for run in runs)
    report = client.get(f"/api/studies/{study['id']}/report?launch={launch.json()['id']}").json()
    assert report["groups"][0]["n"] == 0 and report["groups"][0]["repeats"] == 5
    assert report["quick_version"].startswith("Quick version: epochs × 0.5 (8 → 4 epochs)")
