"""Concepts declared once: run statuses and stop reasons (backend.core.statuses), claim kinds
(backend.studies.conclusions.CLAIM_KINDS) — what reads them agrees with the declaration."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import text

from backend.core.db import engine
from backend.core.statuses import (
    FINAL_STATUS,
    FINISHED_STATUSES,
    CheckpointKind,
    ModelStatus,
    Role,
    RunStatus,
    StopReason,
    sql_in,
    vocabulary,
)
from backend.studies.conclusions import CLAIM_KINDS, claim_problem


def test_the_database_check_is_the_enum(client) -> None:
    with engine.connect() as conn:
        ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'runs'")).scalar_one()
    assert sql_in("status", RunStatus) in ddl  # the migration wrote what the enum says
    assert sql_in("status", RunStatus) == ("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', "
                                           "'timed_out', 'pruned')")


def test_the_api_schema_and_the_pages_read_the_enums(client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["RunPublic"]["properties"]["status"]["$ref"].endswith("/RunStatus")
    assert schemas["RunStatus"]["enum"] == list(RunStatus)
    assert schemas["FinishRequest"]["properties"]["status"]["enum"] == list(FINISHED_STATUSES)
    assert schemas["Claim"]["properties"]["kind"]["enum"] == list(CLAIM_KINDS)
    page = client.get("/").text
    handed = json.loads(html.unescape(re.search(r"data-vocabulary='([^']*)'", page).group(1)))
    assert handed == vocabulary() and handed["run_statuses"] == list(RunStatus)
    assert handed["finished_run_statuses"] == list(FINISHED_STATUSES)
    options = re.findall(r"<option>(\w+)</option>", page)
    assert options == list(RunStatus)  # the runs list's status filter


def test_every_stop_reason_but_superseded_ends_in_a_final_status() -> None:
    assert set(FINAL_STATUS) == set(StopReason) - {StopReason.SUPERSEDED}
    assert set(FINAL_STATUS.values()) <= set(FINISHED_STATUSES)


@pytest.mark.parametrize(("kind", "keys", "expected", "problem"), [
    ("raises", 1, None, ("keys", "raises compares two entries [variant, baseline], got 1")),
    ("slower", 3, None, ("keys", "slower compares two entries [slower, faster], got 3")),
    ("degrades", 2, None, ("keys", "degrades reads one entry, got 2")),
    ("beats", 0, 0.9, ("keys", "beats needs at least one entry")),
    ("beats", 1, 1.5, ("expected", "beats needs an accuracy between 0 and 1")),
    ("overfits_by", 2, True, ("expected", "overfits_by needs an epoch of 120 between 1 and 1000")),
    ("best_in_group", 0, None, ("expected", "best_in_group needs the group value expected to win")),
    ("raises", 2, None, None), ("best_in_group", 0, 16, None), ("overfits_by", 3, 20, None),
])
def test_claim_kinds_say_what_they_read(kind: str, keys: int, expected: object, problem: object) -> None:
    assert claim_problem(kind, keys, expected) == problem


def test_an_unknown_claim_kind_is_refused_naming_the_kinds(client) -> None:
    r = client.post("/api/studies", json={"name": "x", "entries": [{"key": "a", "label": "a", "config": {
        "architecture": "compact"}}], "claims": [{"kind": "wins", "text": "t", "keys": ["a"]}]})
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["field"] == "claims[0].kind" and "'raises'" in err["message"] and "'beats'" in err["message"]


@pytest.mark.parametrize(("table", "check"), [
    ("users", "role IN ('admin', 'member')"),  # the words of migrations 0004, 0005 and 0007, unchanged
    ("checkpoints", "kind IN ('best', 'last')"),
    ("run_models", "status IN ('exporting', 'ready', 'failed')"),
])
def test_the_checks_built_from_the_enums_are_the_migrations(client, table: str, check: str) -> None:
    built = {"users": sql_in("role", Role), "checkpoints": sql_in("kind", CheckpointKind),
             "run_models": sql_in("status", ModelStatus)}[table]
    assert built == check
    with engine.connect() as conn:
        ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}).scalar_one()
    assert check in ddl


def test_the_vocabulary_route_hands_every_word_to_scripts(client) -> None:
    r = client.get("/api/vocabulary")
    assert r.status_code == 200 and r.json() == vocabulary()
    assert "pruned" in r.json()["finished_run_statuses"] and r.json()["trial_states"][2] == "completed"
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["Vocabulary"]["properties"]["finished_run_statuses"]["items"]["$ref"].endswith("/RunStatus")
    assert schemas["TrialPublic"]["properties"]["state"]["$ref"].endswith("/TrialState")
    assert schemas["UserPublic"]["properties"]["role"]["$ref"].endswith("/Role")
