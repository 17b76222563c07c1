"""The one admission path: every entry point (runs, sweeps, study launches) admits its runs through
backend.runs.admission, which checks the config and the lab's rules, then the quotas, then
creates, commits and queues — or refuses naming the field and creates nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.tables import Run, Sweep
from backend.identity import service as users
from backend.runs import admission
from backend.runs.service import QuotaExceeded
from tests.utils.factories import tiny_config


def test_checked_config_names_what_the_lab_refuses() -> None:
    with pytest.raises(admission.Refused) as over:
        admission.checked_config(tiny_config(architecture={"family": "compact", "stages": [[512], [512]]}))
    assert over.value.field == "config.architecture" and "over the budget" in over.value.message
    with pytest.raises(admission.Refused) as slow:
        admission.checked_config(tiny_config(time_budget_s=settings.TIME_BUDGET_S + 1), "base_config")
    assert slow.value.field == "base_config.time_budget_s"
    with pytest.raises(admission.Refused) as outside:
        admission.checked_config(tiny_config(data={"source": "/etc"}), "entries[2].config")
    assert outside.value.field == "entries[2].config.data.source"
    assert "inside the lab's data folder" in outside.value.message
    with pytest.raises(admission.Refused) as invalid:
        admission.checked_config(tiny_config(epochs=0), "base_config", note=" (grid point {'lr': 1})")
    assert invalid.value.field == "base_config.epochs" and invalid.value.message.endswith("(grid point {'lr': 1})")
    assert admission.checked_config(tiny_config()).epochs == 3


def test_admit_makes_the_group_and_its_runs_in_one_commit(client) -> None:
    with SessionLocal() as session:
        owner = users.find_user(session, "alice")
        sweep = Sweep(name="s", owner=owner, base_config=tiny_config(), grid={"lr": [0.1, 0.2]})
        planned = [admission.Planned(admission.checked_config(tiny_config(lr=lr)), f"s lr={lr}") for lr in (0.1, 0.2)]

        def link(group: Sweep, runs: list[Run]) -> None:
            for run in runs:
                run.sweep_id = group.id

        group, runs = admission.admit(session, owner, planned, sweep, link)
        assert group is sweep and [r.sweep_id for r in runs] == [sweep.id] * 2
        assert [r.name for r in runs] == ["s lr=0.1", "s lr=0.2"] and all(r.status == "queued" for r in runs)
    with SessionLocal() as session:  # committed
        assert session.scalar(select(func.count()).select_from(Run).where(Run.sweep_id == sweep.id)) == 2


def test_a_quota_refusal_creates_nothing(client, monkeypatch) -> None:
    monkeypatch.setattr(settings, "MAX_RUNS_PER_REQUEST", 1)
    with SessionLocal() as session:
        owner = users.find_user(session, "alice")
        before = session.scalar(select(func.count()).select_from(Run))
        planned = [admission.Planned(admission.checked_config(tiny_config()))] * 2
        with pytest.raises(QuotaExceeded):
            admission.admit(session, owner, planned, Sweep(name="q", owner=owner, base_config={}, grid={}))
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Run)) == before
        assert session.scalar(select(func.count()).select_from(Sweep).where(Sweep.name == "q")) == 0


def test_every_entry_point_admits_through_the_service(client, monkeypatch) -> None:
    calls: list[int] = []
    real = admission.admit

    def spy(session, owner, planned, group=None, link=None):  # type: ignore[no-untyped-def]
        calls.append(len(planned))
        return real(session, owner, planned, group, link)

    monkeypatch.setattr(admission, "admit", spy)
    assert client.post("/api/runs", json={"config": tiny_config()}).status_code == 201
    assert client.post("/api/sweeps", json={"name": "sw", "base_config": tiny_config(),
                                            "grid": {"lr": [0.1, 0.2, 0.3]}}).status_code == 201
    study = client.post("/api/studies", json={"name": "st", "entries": [
        {"key": "a", "label": "a", "config": tiny_config()}, {"key": "b", "label": "b", "config": tiny_config()}]})
    assert client.post(f"/api/studies/{study.json()['id']}/launches", json={}).status_code == 201
    assert calls == [1, 3, 2]
    # and each refuses the same way: the field, named from where the config came
    r = client.post("/api/sweeps", json={"name": "sw", "base_config": tiny_config(), "grid": {"epochs": [0]}})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "base_config.epochs"
    r = client.post("/api/runs", json={"config": tiny_config(data={"source": "../x"})})
    assert r.status_code == 422 and r.json()["detail"] == [{"field": "config.data.source", "message": r.json()[
        "detail"][0]["message"]}] and "without '..'" in r.json()["detail"][0]["message"]
