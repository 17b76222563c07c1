"""Text a member chooses stays text: a run name cannot spoof the model card, a search's % and _ are
no wildcards, a refusal shows no path of the server, and a NUL is refused before the database."""

from __future__ import annotations

import pytest

from backend.core.settings import settings
from tests.utils.factories import metric, tiny_config

SPOOF = "tiny\n- Test accuracy **99.99%** (independently verified)\n\n<!--"


def create(client, name: str, **overrides):
    return client.post("/api/runs", json={"name": name, "config": tiny_config(**overrides)})


def test_a_run_name_cannot_spoof_the_model_card(client) -> None:
    r = create(client, SPOOF)
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    attempt = client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"}).json()["attempt"]
    client.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": attempt, "metrics": [metric(1), metric(2)]})
    report = {"epoch": 2, "classes": ["cat | **100%**", "<!-- dog"], "accuracy": 0.75, "views": "image",
              "per_class_acc": [1.0, 0.5], "confusion": [[2, 0], [1, 1]], "misclassified": []}
    assert client.put(f"/api/worker/runs/{run_id}/evaluation",
                      json={"attempt": attempt, "report": report}).status_code == 204
    reason = "fine\n\n## Verified by the lab\n[ok](https://example.org) `x`"
    assert client.post(f"/api/worker/runs/{run_id}/model/failure", json={"reason": reason}).status_code == 204
    assert client.post(f"/api/worker/runs/{run_id}/finish",
                       json={"attempt": attempt, "status": "succeeded"}).status_code == 204

    md = client.get(f"/api/runs/{run_id}/model-card.md").text
    lines = md.splitlines()
    assert not [line for line in lines if line.startswith("- Test accuracy **99.99%")]
    assert "<!--" not in md and "**99.99%**" not in md and "[ok](" not in md and "## Verified" not in md
    assert [line for line in lines if line.startswith("- Test accuracy")] == [
        "- Test accuracy **75.00%** (image, weights of epoch 2)"]
    assert [line for line in lines if line.startswith("#")] == [
        lines[0], "## Test accuracy per class", "## Layers", "## Training config"]
    assert lines[0].startswith(f"# Model card: run {run_id} — tiny - Test accuracy \\*\\*99.99%\\*\\*")
    assert [line for line in lines if line.startswith("| ") and "%" in line and "|---" not in line][:2] == [
        "| cat \\| \\*\\*100%\\*\\* | 100.00% |", "| &lt;!-- dog | 50.00% |"]
    assert client.get(f"/api/runs/{run_id}/model-card").json()["name"] == SPOOF.strip()  # JSON keeps the name


def test_percent_and_underscore_in_q_match_only_themselves(client) -> None:
    ids = {}
    for name in ("qx7%pct", "qx7_under", "qx7-plain", "qx7zplain"):
        r = create(client, name)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]

    def found(q: str) -> list[dict]:
        r = client.get("/api/runs", params={"q": q, "limit": 500})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    assert {r["id"] for r in found("qx7%")} == {ids["qx7%pct"]}
    assert {r["id"] for r in found("qx7_")} == {ids["qx7_under"]}
    for wildcard in ("%", "_"):
        runs = found(wildcard)
        assert all(wildcard in f"{r['name']} {r['owner']} {r['architecture']}" for r in runs), wildcard
        assert ids["qx7%pct" if wildcard == "%" else "qx7_under"] in {r["id"] for r in runs}
        assert ids["qx7-plain"] not in {r["id"] for r in runs}


def test_a_refused_data_source_shows_no_path_of_the_server(client, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "lab-data")
    for source in ("/etc", "../elsewhere", "a/../../b"):
        r = create(client, "outside", data={"source": source})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == "config.data.source"
        assert str(settings.DATA_DIR.resolve()) not in r.text and str(tmp_path) not in r.text
        assert "CNNLAB_DATA_DIR" in r.json()["detail"][0]["message"]


@pytest.mark.parametrize(("name", "overrides", "field"), [
    ("nul-source", {"data": {"source": "tiny\x00x"}}, "config.data.source"),
    ("nul\x00name", {}, "name"),
    ("nul-arch", {"architecture": {"family": "compact", "stages": [[8], [16]], "name": "ti\x00ny"}},
     "config.architecture.name"),
])
def test_a_nul_character_is_refused_at_admission_naming_the_field(client, name, overrides, field) -> None:
    before = client.get("/api/runs", params={"limit": 1}).json()["count"]
    r = create(client, name, **overrides)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field and "NUL" in r.json()["detail"][0]["message"]
    assert client.get("/api/runs", params={"limit": 1}).json()["count"] == before  # nothing was created
