"""What studies refuse over the REST API, in-process on SQLite: invalid studies and launches by
field (creating and queueing nothing), runs or studies that are gone, non-finite numbers, deleting a
shipped study, and a launch over the quota."""

from __future__ import annotations

import pytest

from tests.backend.studies.helpers import shipped
from tests.utils.factories import tiny_config

ENTRY_A = {"key": "a", "label": "A", "config": {"architecture": "wide"}}
ENTRY_B = {"key": "b", "label": "B", "config": {"architecture": "deep"}}


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ({"name": "x"}, "entries", "either entries"),
        ({"name": "x", "entries": []}, "entries", "at least one entry"),
        ({"name": "", "entries": [{"key": "a", "label": "A", "config": {"architecture": "wide"}}]},
         "name", "at least 1 character"),
        ({"name": "x", "entries": [{"key": "a b", "label": "A", "config": {"architecture": "wide"}}]},
         "entries[0].key", "pattern"),
        ({"name": "x", "entries": [{"key": "a", "label": "A", "config": {"architecture": "wide", "epochs": 0}}]},
         "entries[0].config.epochs", "greater than or equal to 1"),
        ({"name": "x", "entries": [{"key": "a", "label": "A", "config": {"architecture": {"stages": [[600]]}}}]},
         "entries[0].config.architecture", "over the budget of 256,000"),
        ({"name": "x", "entries": [{"key": "a", "label": "A", "config": {"architecture": "wide",
                                                                         "test_each_epoch": False}}]},
         "entries[0].config.test_each_epoch", "judges its runs' test curves epoch by epoch"),
        ({"name": "x", "entries": [{"key": "a", "label": "A", "config": {"architecture": "wide"}},
                                   {"key": "a", "label": "B", "config": {"architecture": "deep"}}]},
         "entries[1].key", "duplicate"),
        ({"name": "x", "entries": [{"key": "a", "label": "A", "config": {"architecture": "wide"}, "baseline": "a"}]},
         "entries[0].baseline", "not the key of another entry"),
        ({"name": "x", "entries": [{"key": "a", "label": "A", "config": {"architecture": "wide"}}],
          "claims": [{"kind": "raises", "text": "t", "keys": ["a", "zz"]}]}, "claims[0].keys", "'zz'"),
        ({"name": "x", "entries": [{"key": "a", "label": "A", "config": {"architecture": "wide"}}],
          "claims": [{"kind": "guess", "text": "t"}]}, "claims[0].kind", "raises"),
        ({"name": "x", "entries": [ENTRY_A, ENTRY_B], "claims": [{"kind": "raises", "text": "t", "keys": ["a"]}]},
         "claims[0].keys", "compares two entries"),
        ({"name": "x", "entries": [ENTRY_A, ENTRY_B], "claims": [{"kind": "raises", "text": "t", "keys": ["a", "a"]}]},
         "claims[0].keys", "twice"),
        ({"name": "x", "entries": [ENTRY_A, ENTRY_B],
          "claims": [{"kind": "degrades", "text": "t", "keys": ["a", "b"]}]},
         "claims[0].keys", "one entry"),
        ({"name": "x", "entries": [ENTRY_A, ENTRY_B],
          "claims": [{"kind": "beats", "text": "t", "keys": ["a"], "expected": "abc"}]},
         "claims[0].expected", "accuracy between 0 and 1"),
        ({"name": "x", "entries": [ENTRY_A, ENTRY_B], "claims": [{"kind": "overfits_by", "text": "t", "keys": ["a"]}]},
         "claims[0].expected", "epoch of 120"),
        ({"name": "x", "entries": [ENTRY_A, ENTRY_B],
          "claims": [{"kind": "best_in_group", "text": "t", "expected": 4}]},
         "claims[0].group", "not the group of any entry"),
        ({"name": "   ", "entries": [ENTRY_A]}, "name", "at least 1 character"),
        ({"name": "x", "entries": [{**ENTRY_A, "label": "y" * 201}]}, "entries[0].label", "at most 200"),
        ({"name": "x", "entries": [ENTRY_A, {**ENTRY_B, "repeats": 17}]}, "entries[1].repeats",
         "less than or equal to 16"),
        ({"name": "x", "entries": [{**ENTRY_A, "repeats": 0}]}, "entries[0].repeats", "greater than or equal to 1"),
    ],
)
def test_invalid_study_is_refused_by_field_and_creates_nothing(client, body, field, needle) -> None:
    before = len(client.get("/api/studies").json()["data"])
    r = client.post("/api/studies", json=body)
    assert r.status_code == 422, r.text
    err = r.json()["detail"][0]
    assert err["field"] == field and needle in err["message"], err
    assert len(client.get("/api/studies").json()["data"]) == before


def test_a_study_of_runs_that_are_gone_gives_404_naming_the_id(client) -> None:
    r = client.post("/api/studies", json={"name": "x", "run_ids": [10**6]})
    assert r.status_code == 404
    assert r.json()["detail"][0] == {"field": "run_ids[0]", "message": "no run with id 1000000"}


def test_non_finite_numbers_are_refused(client) -> None:
    body = ('{"name": "x", "entries": [{"key": "a", "label": "A", "config": {"architecture": "wide"}, '
            '"reference": {"minutes": NaN}}]}')
    r = client.post("/api/studies", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "entries[0].reference.minutes"


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ({"epochs_scale": 0}, "epochs_scale", "greater than 0"),
        ({"epochs_scale": 1.5}, "epochs_scale", "less than or equal to 1"),
        ({"data": {"train_limit": 0}}, "data.train_limit", "greater than or equal to 1"),
        ({"data": {"source": "/etc"}}, "data.source", "inside the lab's data folder"),
        ({"data": {"colour": 1}}, "data.colour", "Extra inputs"),
        ({"owner": ""}, "owner", "at least 1 character"),
    ],
)
def test_invalid_launch_is_refused_by_field_and_queues_nothing(client, body, field, needle) -> None:
    study = shipped(client, "beyond-the-seed")
    runs_before = client.get("/api/runs").json()["count"]
    r = client.post(f"/api/studies/{study['id']}/launches", json=body)
    assert r.status_code == 422, r.text
    err = r.json()["detail"][0]
    assert err["field"] == field and needle in err["message"], err
    assert client.get("/api/runs").json()["count"] == runs_before
    assert len(client.get(f"/api/studies/{study['id']}").json()["launches"]) == len(study["launches"])


def test_unknown_study_or_launch_404_and_shipped_studies_cannot_be_deleted(client) -> None:
    study = shipped(client, "seed-report")
    assert client.get("/api/studies/999999").status_code == 404
    assert client.post("/api/studies/999999/launches", json={}).status_code == 404
    r = client.get(f"/api/studies/{study['id']}/report?launch=999999")
    assert r.status_code == 404 and r.json()["detail"][0]["field"] == "launch"
    assert client.delete(f"/api/studies/{study['id']}").status_code == 409


def test_a_launch_over_the_quota_counts_every_repeat_and_makes_nothing(client, monkeypatch) -> None:
    from backend.core.settings import settings

    entries = [{"key": "a", "label": "A", "config": tiny_config(), "repeats": 4}]
    study = client.post("/api/studies", json={"name": "quota repeats", "entries": entries}).json()
    monkeypatch.setattr(settings, "MAX_RUNS_PER_REQUEST", 3)
    runs_before = client.get("/api/runs").json()["count"]
    r = client.post(f"/api/studies/{study['id']}/launches", json={})
    assert r.status_code == 429, r.text
    err = r.json()["detail"][0]
    assert err["field"] == "quota.runs_per_request" and err["current"] == 4
    assert client.get("/api/runs").json()["count"] == runs_before
    assert client.get(f"/api/studies/{study['id']}").json()["launches"] == []
