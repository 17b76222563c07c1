"""An address that leads nowhere: the pages answer the lab's 404 page (with the way home), the API
keeps its JSON 404s; the favicon is served; a run's detail says which artefacts its page may ask for;
the runs page carries its first steps."""

from __future__ import annotations

import pytest

from tests.utils.factories import metric, tiny_config


@pytest.mark.parametrize("path", ["/runs/999999", "/sweeps/999999", "/studies/999999", "/searches/999999",
                                  "/runs/abc", "/runs/0", "/runs/99999999999999999999", "/no/such/page"])
def test_a_page_that_is_not_there_is_the_404_page(client, path) -> None:
    r = client.get(path)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), (path, r.text[:200])
    assert 'id="not-found"' in r.text and 'id="home" class="button" href="/"' in r.text
    assert "<title>Not found · cnnlab</title>" in r.text and 'rel="icon"' in r.text


def test_the_404_page_says_what_is_missing_and_who_is_signed_in(client) -> None:
    r = client.get("/runs/999999")
    assert "There is no run 999999" in r.text and 'data-me="alice"' in r.text
    assert "&lt;b&gt;" in client.get("/<b>nowhere").text  # the address is text, never HTML


@pytest.mark.parametrize("path", ["/api/runs/999999", "/api/no-such-route", "/api/runs/999999/evaluation"])
def test_the_apis_404s_stay_json(client, path) -> None:
    r = client.get(path)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json" and "detail" in r.json()


def test_a_page_id_out_of_range_in_the_api_stays_a_422(client) -> None:
    assert client.get("/api/runs/0").status_code == 422


def test_the_favicon_is_served_where_browsers_ask_for_it(client) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml") and b"<svg" in r.content
    assert client.get("/static/favicon.svg").status_code == 200


def test_a_runs_detail_names_the_artefacts_it_has(client) -> None:
    run_id = client.post("/api/runs", json={"config": tiny_config(epochs=2)}).json()["id"]
    detail = client.get(f"/api/runs/{run_id}").json()
    assert (detail["has_evaluation"], detail["kept_checkpoints"]) == (False, [])
    assert client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    base = f"/api/worker/runs/{run_id}"
    assert client.post(f"{base}/epochs", json={"attempt": 1, "metrics": [metric(1)]}).status_code == 204
    assert client.put(f"{base}/checkpoints/last?attempt=1&epoch=1", content=b"w").status_code == 204
    detail = client.get(f"/api/runs/{run_id}").json()
    assert (detail["has_evaluation"], detail["kept_checkpoints"]) == (False, ["last"])
    report = {"epoch": 1, "classes": ["a", "b"], "accuracy": 0.5, "per_class_acc": [1.0, 0.0],
              "confusion": [[1, 0], [1, 0]], "misclassified": []}
    assert client.put(f"{base}/evaluation", json={"attempt": 1, "report": report}).status_code == 204
    assert client.put(f"{base}/checkpoints/best?attempt=1&epoch=1", content=b"w").status_code == 204
    detail = client.get(f"/api/runs/{run_id}").json()
    assert (detail["has_evaluation"], detail["kept_checkpoints"]) == (True, ["best", "last"])
    listed = client.get("/api/runs").json()["data"][0]
    assert "has_evaluation" not in listed  # the list stays one query: only the detail says


def test_the_runs_page_shows_first_steps_when_the_lab_has_no_runs(client) -> None:
    page = client.get("/").text  # runs.js shows #empty when the list is empty and unfiltered
    assert 'id="empty"' in page and 'href="/runs/new"' in page
    assert 'href="/runs/new?recipe=pilot_15min"' in page and 'id="no-match"' in page
