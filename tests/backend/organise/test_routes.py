"""Organise through the API: the owner or an admin renames, tags and annotates a run, sweep, study or
search (each edit in the audit); bad names, tags and notes are 422s naming the field and the limit;
any member stars any run, per member, idempotently; the runs list reads every run's stars at once."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from backend.organise.schemas import NAME_MAX, NOTE_MAX_BYTES, TAG_MAX, TAGS_MAX
from tests.utils.factories import tiny_config


def new_run(client, name: str = "organised") -> int:
    r = client.post("/api/runs", json={"name": name, "config": tiny_config()})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def audit(client, n: int = 1) -> list[dict]:
    """The newest edits in the audit (an admin's first call records the making of its token)."""
    events = client.as_user("root", "admin").get("/api/audit").json()["data"]
    return [e for e in events if e["action"].endswith(".edit")][:n]


def refused(r, field: str) -> str:
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert [d["field"] for d in detail] == [field], detail
    return str(detail[0]["message"])


def test_the_owner_renames_tags_and_annotates_a_run_and_the_audit_says_what_changed(client) -> None:
    run_id = new_run(client)
    r = client.patch(f"/api/runs/{run_id}", json={"name": "  baseline lr 0.05 ", "tags": ["Baseline", "cifar.10",
                                                                                         "baseline", "lr_sweep-1"],
                                                    "note": "# Why\n\n**bold** and `code`"})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["name"] == "baseline lr 0.05"
    assert run["tags"] == ["baseline", "cifar.10", "lr_sweep-1"]  # lower-cased, duplicates removed, sorted
    assert run["note"] == "# Why\n\n**bold** and `code`"
    assert run["note_html"] == "<h3>Why</h3>\n<p><strong>bold</strong> and <code>code</code></p>\n"
    assert client.get(f"/api/runs/{run_id}").json()["tags"] == run["tags"]
    listed = {r["id"]: r for r in client.get("/api/runs", params={"limit": 500}).json()["data"]}
    assert listed[run_id]["tags"] == run["tags"] and listed[run_id]["name"] == "baseline lr 0.05"
    event_ = audit(client)[0]
    assert (event_["action"], event_["actor"], event_["target_type"], event_["target_id"]) == (
        "run.edit", "alice", "run", run_id)
    assert "name 'organised' → 'baseline lr 0.05'" in event_["summary"]
    assert "tags +baseline +cifar.10 +lr_sweep-1" in event_["summary"] and "note written" in event_["summary"]

    # a field left out stays; tags are the full new list; an empty note clears it
    r = client.patch(f"/api/runs/{run_id}", json={"tags": ["baseline", "keep"], "note": "  "})
    assert r.json()["name"] == "baseline lr 0.05" and r.json()["tags"] == ["baseline", "keep"]
    assert r.json()["note"] is None and r.json()["note_html"] == ""
    summary = audit(client)[0]["summary"]
    assert "tags +keep -cifar.10 -lr_sweep-1" in summary and "note cleared" in summary and "name" not in summary
    before = audit(client, 1000)
    assert client.patch(f"/api/runs/{run_id}", json={"tags": ["keep", "baseline"]}).status_code == 200
    assert audit(client, 1000) == before  # nothing changed: nothing recorded
    assert client.patch(f"/api/runs/{run_id}", json={"tags": None}).json()["tags"] == []


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"tags": [f"t{i}" for i in range(TAGS_MAX + 1)]}, "tags", f"{TAGS_MAX + 1} tags is over the limit of {TAGS_MAX}"),
    ({"tags": ["ok", "no spaces"]}, "tags", f"tag 2 ('no spaces') must be 1 to {TAG_MAX} characters"),
    ({"tags": ["x" * (TAG_MAX + 1)]}, "tags", f"must be 1 to {TAG_MAX} characters"),
    ({"tags": ["<script>"]}, "tags", "a-z, 0-9"),
    ({"tags": [""]}, "tags", f"must be 1 to {TAG_MAX} characters"),
    ({"tags": ["ok", "abc\n"]}, "tags", f"tag 2 ('abc\\n') must be 1 to {TAG_MAX} characters"),  # not "abc" + "$"
    ({"name": "n" * (NAME_MAX + 1)}, "name", f"must be 1 to {NAME_MAX} characters (got {NAME_MAX + 1})"),
    ({"name": "   "}, "name", f"must be 1 to {NAME_MAX} characters"),
    ({"name": "two\nlines"}, "name", "control characters"),
    ({"name": None}, "name", "may not be null"),
    ({"note": "é" * (NOTE_MAX_BYTES // 2 + 1)}, "note",
     f"is {NOTE_MAX_BYTES + 2:,} bytes (UTF-8), over the limit of {NOTE_MAX_BYTES:,} bytes"),
    ({"note": "a\x00b"}, "note", "control characters"),
    ({"owner": "bob"}, "owner", "Extra inputs"),
])
def test_bad_names_tags_and_notes_are_422s_naming_the_field_and_the_limit(client, body, field, words) -> None:
    run_id = new_run(client)
    assert words in refused(client.patch(f"/api/runs/{run_id}", json=body), field)
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["name"] == "organised" and run["tags"] == [] and run["note"] is None  # nothing changed


def test_a_note_of_exactly_the_limit_is_kept(client) -> None:
    run_id = new_run(client)
    note = "é" * (NOTE_MAX_BYTES // 2)  # 2 bytes each: exactly the limit
    assert client.patch(f"/api/runs/{run_id}", json={"note": note}).json()["note"] == note


def test_another_member_may_not_edit_a_run_and_an_admin_may(client) -> None:
    run_id = new_run(client)
    r = client.as_user("bob").patch(f"/api/runs/{run_id}", json={"name": "mine now"})
    assert r.status_code == 403 and "belongs to alice" in r.json()["detail"]
    r = client.as_user("root", "admin").patch(f"/api/runs/{run_id}", json={"tags": ["checked"]})
    assert r.status_code == 200 and r.json()["tags"] == ["checked"]
    assert audit(client)[0]["actor"] == "root"
    assert client.patch("/api/runs/2147483647", json={"name": "x"}).status_code == 404


def test_stars_are_per_member_idempotent_and_counted(client) -> None:
    run_id = new_run(client)
    bob = client.as_user("bob")
    for _ in range(2):  # starring again changes nothing
        r = bob.put(f"/api/runs/{run_id}/star")
        assert r.status_code == 200 and (r.json()["stars"], r.json()["starred"]) == (1, True)
    r = client.put(f"/api/runs/{run_id}/star")
    assert (r.json()["stars"], r.json()["starred"]) == (2, True)
    mine = client.get(f"/api/runs/{run_id}").json()
    assert (mine["stars"], mine["starred"]) == (2, True)
    r = client.delete(f"/api/runs/{run_id}/star")
    assert (r.json()["stars"], r.json()["starred"]) == (1, False)
    assert client.delete(f"/api/runs/{run_id}/star").json()["stars"] == 1  # no star: nothing changes
    assert (bob.get(f"/api/runs/{run_id}").json()["starred"]) is True
    listed = {r["id"]: r for r in client.get("/api/runs", params={"limit": 500}).json()["data"]}
    assert (listed[run_id]["stars"], listed[run_id]["starred"]) == (1, False)
    assert client.put("/api/runs/2147483647/star").status_code == 404


def test_the_runs_list_reads_the_stars_of_all_its_runs_in_one_query(client) -> None:
    from backend.core.db import engine

    ids = [new_run(client, f"s{i}") for i in range(3)]
    for run_id in ids:
        client.put(f"/api/runs/{run_id}/star")
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = client.get("/api/runs", params={"limit": 50}).json()["data"]
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert all(r["starred"] for r in page if r["id"] in ids)
    assert sum("run_stars" in s for s in statements) == 1
    assert sum("run_tags" in s for s in statements) == 1


def test_sweeps_studies_and_searches_take_the_same_edits(client) -> None:
    sweep = client.post("/api/sweeps", json={"name": "sw", "base_config": tiny_config(), "grid": {"seed": [1]}}).json()
    study = client.post("/api/studies", json={"name": "st", "entries": [
        {"key": "a", "label": "A", "config": tiny_config()}]}).json()
    search = client.post("/api/searches", json={"name": "se", "base_config": tiny_config(), "n_trials": 2,
                                                "max_concurrent": 1, "space": {"lr": {"float": [0.01, 0.1]}}}).json()
    body = {"name": "renamed", "tags": ["Lab", "lab", "v2"], "note": "see <b>this</b> *now*"}
    for kind, thing, note in (("sweeps", sweep, "note"), ("studies", study, "note"), ("searches", search, "user_note")):
        r = client.patch(f"/api/{kind}/{thing['id']}", json=body)
        assert r.status_code == 200, r.text
        got = r.json()
        assert (got["name"], got["tags"], got[note]) == ("renamed", ["lab", "v2"], body["note"])
        assert got[note + "_html"] == "<p>see &lt;b&gt;this&lt;/b&gt; <em>now</em></p>\n"
        again = client.get(f"/api/{kind}/{thing['id']}").json()
        assert again["tags"] == ["lab", "v2"] and again[note] == body["note"]
        singular = {"sweeps": "sweep", "studies": "study", "searches": "search"}[kind]
        event_ = audit(client)[0]
        assert (event_["action"], event_["target_id"]) == (f"{singular}.edit", thing["id"])
        assert "tags +lab +v2" in event_["summary"]
        # the same bounds, the same words
        assert f"over the limit of {TAGS_MAX}" in refused(
            client.patch(f"/api/{kind}/{thing['id']}", json={"tags": [f"t{i}" for i in range(TAGS_MAX + 1)]}), "tags")
        r = client.as_user("bob").patch(f"/api/{kind}/{thing['id']}", json={"name": "bob's"})
        assert r.status_code == 403 and "belongs to alice" in r.json()["detail"]
        r = client.as_user("root", "admin").patch(f"/api/{kind}/{thing['id']}", json={"name": "by admin"})
        assert r.status_code == 200 and r.json()["name"] == "by admin"
    assert client.get(f"/api/searches/{search['id']}").json()["note"] != body["note"]  # the system's note stays apart
    listed = {s["id"]: s for s in client.get("/api/studies").json()["data"]}
    assert listed[study["id"]]["tags"] == ["lab", "v2"]
    client.post(f"/api/searches/{search['id']}/stop")


def test_a_shipped_study_is_tagged_by_an_admin_only_and_keeps_its_name(client) -> None:
    shipped = next(s for s in client.get("/api/studies").json()["data"] if s["slug"])
    admin = client.as_user("root", "admin")
    r = client.patch(f"/api/studies/{shipped['id']}", json={"tags": ["seed"]})
    assert r.status_code == 403 and "belongs to cnnlab" in r.json()["detail"]
    r = admin.patch(f"/api/studies/{shipped['id']}", json={"tags": ["seed"], "note": "read it first"})
    assert r.status_code == 200 and r.json()["tags"] == ["seed"] and r.json()["note"] == "read it first"
    r = admin.patch(f"/api/studies/{shipped['id']}", json={"name": "mine"})
    assert r.status_code == 409 and "ships with cnnlab" in r.json()["detail"]
    assert client.patch(f"/api/studies/{shipped['id']}", json={"name": "mine"}).status_code == 403
    assert admin.patch(f"/api/studies/{shipped['id']}", json={"name": shipped["name"], "tags": []}).status_code == 200
    assert client.patch("/api/sweeps/2147483647", json={"name": "x"}).status_code == 404


def test_the_run_sweep_study_and_search_pages_carry_the_edit_form_with_the_bounds(client) -> None:
    run_id = new_run(client)
    sweep = client.post("/api/sweeps", json={"name": "sw", "base_config": tiny_config(), "grid": {"seed": [1]}}).json()
    study = client.post("/api/studies", json={"name": "st", "entries": [
        {"key": "a", "label": "A", "config": tiny_config()}]}).json()
    search = client.post("/api/searches", json={"name": "se", "base_config": tiny_config(), "n_trials": 2,
                                                "max_concurrent": 1, "space": {"lr": {"float": [0.01, 0.1]}}}).json()
    for path, url, kind in ((f"/runs/{run_id}", f"/api/runs/{run_id}", "run"),
                            (f"/sweeps/{sweep['id']}", f"/api/sweeps/{sweep['id']}", "sweep"),
                            (f"/studies/{study['id']}", f"/api/studies/{study['id']}", "study"),
                            (f"/searches/{search['id']}", f"/api/searches/{search['id']}", "search")):
        r = client.get(path)
        assert r.status_code == 200, r.text
        assert f'data-kind="{kind}" data-url="{url}"' in r.text and "/static/js/organise.js" in r.text
        assert f'maxlength="{NAME_MAX}"' in r.text and f'data-max-bytes="{NOTE_MAX_BYTES}"' in r.text
        assert f"at most {TAGS_MAX}, each up to {TAG_MAX} characters" in r.text
    assert client.get("/compare").status_code == 200 and 'id="organise"' not in client.get("/compare").text
    client.post(f"/api/searches/{search['id']}/stop")


def test_only_the_organise_script_turns_html_into_nodes() -> None:
    """The pages build every node from text (common.js); the note, rendered by backend.core.markdown, is
    the one HTML a page inserts, through organise.js's allowlist."""
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[3] / "frontend" / "static" / "js"
    parsing = sorted(p.name for p in scripts.glob("*.js")
                     if any(word in p.read_text() for word in ("innerHTML", "outerHTML", "insertAdjacentHTML",
                                                               "DOMParser", "document.write")))
    assert parsing == ["organise.js"]
