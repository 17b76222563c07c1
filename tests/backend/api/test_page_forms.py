"""The pages render every limit, default, choice and enumerated word from its one declaration (a
request body's schema, a run option, the settings, backend.core.statuses), and their scripts copy
none of them: no limit, no status word compared as a literal, no polling timer, one ``$``, one
event-stream helper, one error display."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from backend.core.settings import settings
from backend.core.statuses import vocabulary
from backend.identity.schemas import TokenCreate
from backend.searches.schemas import SearchCreate, WinnerCreate
from tests.utils.factories import tiny_config

JS = Path(__file__).resolve().parents[3] / "frontend" / "static" / "js"
TEMPLATES = JS.parents[1] / "templates"


def element(page: str, selector_attr: str) -> str:
    """The opening tag holding ``selector_attr`` (e.g. 'data-field="n_trials"')."""
    match = re.search(r"<(input|select|textarea|fieldset)\b[^>]*" + re.escape(selector_attr) + r"[^>]*>", page)
    assert match, selector_attr
    return match.group(0)


def attr(tag: str, name: str) -> str | None:
    match = re.search(rf"""\s{name}=(["'])(.*?)\1""", tag)
    return html.unescape(match.group(2)) if match else None


def test_every_page_carries_the_vocabulary(client) -> None:
    page = client.get("/").text
    match = re.search(r"data-vocabulary='([^']*)'", page)
    assert match and json.loads(html.unescape(match.group(1))) == vocabulary()


def test_the_search_form_is_the_search_body_schema(client) -> None:
    schema = SearchCreate.model_json_schema()
    page = client.get("/searches").text
    for name, prop in schema["properties"].items():
        tag = element(page, f'data-field="{name}"')
        assert attr(tag, "data-kind"), name
        if "default" in prop:
            assert json.loads(attr(tag, "data-default") or "null") == prop["default"], name
        if "maximum" in prop:
            assert attr(tag, "max") == str(prop["maximum"]) and attr(tag, "min") == str(prop["minimum"]), name
        if "maxLength" in prop:
            assert attr(tag, "maxlength") == str(prop["maxLength"]), name
        if "enum" in prop:
            select = page[page.index(tag):page.index("</select>", page.index(tag))]
            assert re.findall(r'<option value="([^"]*)"', select) == prop["enum"], name
    assert "owner" not in schema["properties"] and 'data-field="owner"' not in page  # an admin's, not the form's


def test_limits_come_from_their_declarations(client) -> None:
    days = TokenCreate.model_json_schema()["properties"]["expires_days"]["anyOf"][0]["maximum"]
    assert attr(element(client.get("/tokens").text, 'data-field="expires_days"'), "max") == str(days)
    run_id = client.post("/api/runs", json={"config": tiny_config()}).json()["id"]  # a missing run: the 404 page
    run_page = client.get(f"/runs/{run_id}").text
    assert f'data-predict-max-files="{settings.PREDICT_MAX_FILES}"' in run_page
    budget = element(client.get("/runs/new").text, 'data-field="config.time_budget_s"')
    assert float(attr(budget, "max") or 0) == settings.TIME_BUDGET_S  # the lab's cap, as the API's contract says
    seeds = WinnerCreate.model_json_schema()["properties"]["seeds"]  # "Train the winner"
    search_id = client.post("/api/searches", json={"name": "forms", "base_config": tiny_config(),
                                                   "space": {"lr": {"float": [0.01, 0.5]}}, "n_trials": 1}).json()["id"]
    tag = element(client.get(f"/searches/{search_id}").text, 'data-field="seeds"')
    assert (attr(tag, "min"), attr(tag, "max"), attr(tag, "value")) == \
        (str(seeds["minimum"]), str(seeds["maximum"]), str(seeds["default"]))
    for template in TEMPLATES.glob("*.html"):  # no input of any form copies a bound
        inputs = re.findall(r"<(?:input|textarea)\b[^>]*>", template.read_text())
        copied = [a for tag in inputs for a in re.findall(r'\b(?:min|max|maxlength|minlength)="\d+"', tag)]
        assert copied == [], (template.name, copied)


def scripts() -> dict[str, str]:
    return {p.name: p.read_text() for p in JS.glob("*.js")}


def test_the_scripts_share_one_dollar_one_stream_helper_and_one_error_display() -> None:
    js = scripts()
    dollars = [name for name, text in js.items() for _ in re.finditer(r"\bconst \$ =", text)]
    assert dollars == ["common.js"]
    assert [name for name, text in js.items() if "new EventSource" in text] == ["common.js"]
    for name, text in js.items():
        if name != "common.js":
            assert "errorList(" not in text and "alert(" not in text, name  # errors go through cnn.showApiErrors


def test_compare_study_and_try_it_follow_streams_instead_of_polling() -> None:
    js = scripts()
    for name in ("compare.js", "study.js", "try_it.js"):
        assert not re.search(r"\bset(Timeout|Interval)\(", js[name]), name
        assert "cnn.follow(" in js[name], name
    assert "slice(0, 16)" not in js["try_it.js"]  # the server's PREDICT_MAX_FILES, handed over by the page


def test_no_script_compares_with_an_enumerated_word_of_its_own() -> None:
    words = {w for ws in vocabulary().values() for w in ws}
    for name, text in scripts().items():
        compared = {m.group(2) for m in re.finditer(r'[!=]==\s*(["\'])(\w+)\1', text)} & words
        assert compared == set(), (name, compared)
