"""The runs list's query, chosen columns and sort through the API, and saved views (each user's own):
refusals name the field (and a query's token and position), a view round-trips through its link."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.utils.factories import tiny_config


@pytest.fixture(scope="module")
def runs(client) -> dict[str, int]:
    """Three queued runs of alice's with a word of this module in their names."""
    made = {}
    for key, config in (("vw7-slow", tiny_config(lr=0.01)), ("vw7-fast", tiny_config(lr=0.3, batch_size=32)),
                        ("vw7-cut", tiny_config(lr=0.1, augment={"cutout": 4}))):
        r = client.post("/api/runs", json={"name": key, "config": config})
        assert r.status_code == 201, r.text
        made[key] = r.json()["id"]
    return made


def listed(client, **params) -> dict:
    r = client.get("/api/runs", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_list_takes_a_query_and_a_plain_word_is_still_the_text_search(client, runs) -> None:
    assert {r["id"] for r in listed(client, q="vw7")["data"]} == set(runs.values())
    assert {r["id"] for r in listed(client, q="VW7-FAST")["data"]} == {runs["vw7-fast"]}
    assert [r["id"] for r in listed(client, q="vw7 lr>0.05 -augment.cutout>0")["data"]] == [runs["vw7-fast"]]
    got = listed(client, q="vw7 (batch_size:32 OR augment.cutout:4)", status="queued", owner="alice")
    assert {r["id"] for r in got["data"]} == {runs["vw7-fast"], runs["vw7-cut"]} and got["count"] == 2


@pytest.mark.parametrize(("q", "token", "position"), [
    ("vw7 lr>>1", ">1", 7), ("vw7 colour:red", "colour", 4), ('name:"x', '"x', 5), ("(vw7", "(", 0),
    ("test_acc>=85", "85", 10), ("best_test_acc>0.1", "best_test_acc", 0), ("vw7 id:3e9", "3e9", 7),
    ("params<1e15", "1e15", 7), ("sweep:3e9", "3e9", 6)])
def test_a_bad_query_is_a_422_naming_q_the_token_and_its_position(client, q: str, token: str, position: int) -> None:
    r = client.get("/api/runs", params={"q": q})
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["field"] == "q" and detail["token"] == token and detail["position"] == position
    assert detail["expected"] and f"position {position}" in detail["message"]


def test_injection_and_overlong_queries_are_a_literal_match_or_a_422_never_a_500(client, runs) -> None:
    for q in ("name:\"x' OR 1=1 --\"", "'; DROP TABLE runs; --", "lr>0;DROP TABLE runs", "☃" * 300,
              "\\", '"\\"', "((((((((((((a))))))))))))", "a " * 60, "x" * 1001, "owner:%", "tag:'"):
        r = client.get("/api/runs", params={"q": q})
        assert r.status_code in (200, 422), (q, r.status_code, r.text)
        if r.status_code == 200:
            assert r.json()["count"] == 0, q
        else:
            assert r.json()["detail"][0]["field"] == "q", r.text
    assert listed(client, q="vw7")["count"] == 3  # the runs are all still there


def test_chosen_columns_come_with_each_run_and_are_bounded(client, runs) -> None:
    got = listed(client, q="vw7", columns="lr,augment.cutout,batch_size,test_acc,architecture.family")
    values = {r["id"]: r["values"] for r in got["data"]}
    assert values[runs["vw7-cut"]] == {"lr": 0.1, "augment.cutout": 4, "batch_size": 16, "test_acc": None,
                                       "architecture.family": "compact"}
    assert values[runs["vw7-fast"]]["batch_size"] == 32
    assert all(r["values"] is None for r in listed(client, q="vw7")["data"])  # none asked: none sent
    for columns, says in (("lr,colour", "unknown column 'colour'"), (",".join(["lr"] * 21), "over the limit of 20"),
                          ("best_test_acc", "chosen on the test set")):
        r = client.get("/api/runs", params={"columns": columns})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "columns", r.text
        assert says in r.json()["detail"][0]["message"]


def test_the_list_sorts_by_a_run_option(client, runs) -> None:
    assert [r["id"] for r in listed(client, q="vw7", sort="-lr")["data"]] == [
        runs["vw7-fast"], runs["vw7-cut"], runs["vw7-slow"]]
    assert [r["id"] for r in listed(client, q="vw7", sort="lr")["data"]][0] == runs["vw7-slow"]
    for sort in ("-colour", "best_test_acc", "architecture.stages", "--lr"):
        r = client.get("/api/runs", params={"sort": sort})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "sort", (sort, r.text)


def test_a_sweeps_runs_carry_their_origin_and_are_found_by_it(client) -> None:
    r = client.post("/api/sweeps", json={"name": "vw7 origin", "base_config": tiny_config(), "grid": {"seed": [1, 2]}})
    assert r.status_code == 201, r.text
    sweep = r.json()["id"]
    got = listed(client, q=f"sweep:{sweep}")
    assert got["count"] == 2
    assert all(r["origin"] == {"kind": "sweep", "id": sweep, "name": "vw7 origin"} for r in got["data"])
    assert all(r["origin"] is None for r in listed(client, q="vw7 sweep:none")["data"])


# --- saved views ------------------------------------------------------------------------------------

def test_a_view_is_saved_listed_replaced_and_deleted_by_its_owner_only(client) -> None:
    bob = client.as_user("bob")
    r = client.post("/api/views", json={"name": "  fast ones ", "query": "vw7 lr>0.2", "columns": ["lr", "val_acc"],
                                        "sort": "-lr"})
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["name"] == "fast ones" and view["columns"] == ["lr", "val_acc"]
    assert [v["id"] for v in client.get("/api/views").json()["data"]] == [view["id"]]
    assert all(v["id"] != view["id"] for v in bob.get("/api/views").json()["data"])  # not bob's
    body = {"name": "mine now", "query": "", "columns": [], "sort": "-created_at"}
    assert bob.put(f"/api/views/{view['id']}", json=body).status_code == 404
    assert bob.delete(f"/api/views/{view['id']}").status_code == 404
    admin = client.as_user("root", "admin")
    assert admin.put(f"/api/views/{view['id']}", json=body).status_code == 404  # a view is its user's alone
    r = client.put(f"/api/views/{view['id']}", json={**body, "name": "renamed", "query": "tag:x"})
    assert r.status_code == 200 and r.json()["name"] == "renamed" and r.json()["query"] == "tag:x"
    assert r.json()["url"] == "/?q=tag%3Ax"
    assert client.delete(f"/api/views/{view['id']}").status_code == 204
    assert client.delete(f"/api/views/{view['id']}").status_code == 404


def test_a_duplicate_name_is_409_per_user(client) -> None:
    body = {"name": "dup view", "query": "vw7"}
    first = client.post("/api/views", json=body)
    assert first.status_code == 201, first.text
    r = client.post("/api/views", json=body)
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "name"
    assert client.as_user("bob").post("/api/views", json=body).status_code == 201  # bob's own name space
    other = client.post("/api/views", json={"name": "dup two"}).json()
    r = client.put(f"/api/views/{other['id']}", json={"name": "dup view"})
    assert r.status_code == 409
    assert client.put(f"/api/views/{first.json()['id']}", json={"name": "dup view", "query": "x"}).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 81}, "name"), ({"name": "a\nb"}, "name"),
    ({"name": "v", "query": "lr>>1"}, "query"), ({"name": "v", "query": "colour:red"}, "query"),
    ({"name": "v", "query": "x" * 1001}, "query"), ({"name": "v", "query": "epochs>5e9"}, "query"),
    ({"name": "v", "query": "params<1e15"}, "query"), ({"name": "v", "columns": ["colour"]}, "columns"),
    ({"name": "v", "columns": ["lr"] * 21}, "columns"), ({"name": "v", "sort": "best_test_acc"}, "sort"),
    ({"name": "v", "sort": "-colour"}, "sort"), ({"name": "v", "extra": 1}, "extra"),
    ({"name": "v", "columns": "lr"}, "columns")])
def test_a_view_never_holds_what_the_list_would_refuse(client, body: dict, field: str) -> None:
    r = client.post("/api/views", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field, r.text
    if field == "query" and "x" * 1001 != body.get("query"):
        assert "position" in r.json()["detail"][0]


def test_a_view_round_trips_through_its_link(client, runs) -> None:
    r = client.post("/api/views", json={"name": "round trip", "query": 'vw7 lr>=0.1 name:"vw7"',
                                        "columns": ["augment.cutout", "test_acc_at_best_val"], "sort": "lr"})
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["columns"] == ["augment.cutout", "test_acc"]  # an alias saved as the query's own name
    link = urlsplit(view["url"])
    assert link.path == "/"
    params = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert params == {"q": 'vw7 lr>=0.1 name:"vw7"', "columns": "augment.cutout,test_acc", "sort": "lr"}
    got = listed(client, **params)  # the page sends the link's parameters to the API as they are
    assert [x["id"] for x in got["data"]] == [runs["vw7-cut"], runs["vw7-fast"]]
    assert got["data"][0]["values"] == {"augment.cutout": 4, "test_acc": None}
