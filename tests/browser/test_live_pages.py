"""Forms send what their body's schema says, and live pages follow event streams instead of polling:
the search form sends every field of POST /api/searches's body, and a new epoch of a compared run
reaches the compare page through the runs list's stream."""

from __future__ import annotations

import json

import pytest

from tests.utils.factories import tiny_config

pytestmark = pytest.mark.integration


def test_the_search_form_sends_every_field_of_the_body(page, lab) -> None:
    schema = lab.http.get("/openapi.json").json()["components"]["schemas"]["SearchCreate"]
    sent: list[dict] = []

    def answer(route) -> None:  # the POST is caught and refused here: nothing is started
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(route.request.post_data_json)
        route.fulfill(status=422, content_type="application/json",
                      body=json.dumps({"detail": [{"field": "n_trials", "message": "refused by the test"}]}))

    page.route(lambda url: url.endswith("/api/searches"), answer)
    page.goto("/searches")
    page.wait_for_selector("body[data-ready='1']")
    trials = schema["properties"]["n_trials"]
    assert float(page.get_attribute("#search-trials", "max")) == trials["maximum"]  # the schema's bounds
    assert page.locator("#search-sampler option").evaluate_all("os => os.map(o => o.value)") == \
        schema["properties"]["sampler"]["enum"]
    page.fill("#search-name", "every field")
    page.select_option("#search-objective-1", "minimize params")
    page.fill("#search-full-epochs", "12")
    page.click("#search-start")
    error = page.wait_for_selector("[data-error-for='n_trials']")  # the refusal beside its input
    assert "refused by the test" in error.inner_text()
    (body,) = sent
    assert set(body) == set(schema["properties"])  # every field of the body, none left to its default
    assert body["name"] == "every field" and body["objectives"] == ["maximize val_acc", "minimize params"]
    assert body["full_epochs"] == 12 and body["initial_points"] == []
    assert body["pruner_warmup_epochs"] == schema["properties"]["pruner_warmup_epochs"]["default"]
    assert body["pruner"] == "hyperband" and len(body["space"]) >= 10  # the shipped preset's


def test_a_new_epoch_reaches_the_compare_page_through_the_stream(page, lab, worker) -> None:
    run = lab.submit(tiny_config(epochs=12, batch_size=4), name="followed")
    page.goto(f"/compare?ids={run['id']}")
    page.wait_for_selector("body[data-ready='1']")
    root = "document.getElementById('compare-page').dataset"
    before = int(page.evaluate(f"Number({root}.points || 0)"))
    assert before < 12
    page.wait_for_function(f"Number({root}.points) > {before}", timeout=90_000)
    assert int(page.evaluate(f"Number({root}.updates || 0)")) >= 1  # read again because the stream said so
    lab.wait_status(run["id"], {"succeeded"}, timeout=180)
    page.wait_for_selector("#cmp-table .status.succeeded", timeout=30_000)
    assert int(page.evaluate(f"Number({root}.points)")) == 12
    page.wait_for_function("document.getElementById('live').textContent === ''")  # finished: the stream closed
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/" in r.url else None)
    page.wait_for_timeout(2000)
    assert asked == []  # no timer asks again
