"""Who may call what: every route of the app × anonymous / owner / another member / admin / the
worker credential, against the real backend on PostgreSQL, from one table.

The table must name every route the app serves (checked first), and every route declares exactly
one rule (backend.identity.rules). Things a call changes or destroys are made afresh for each caller.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.utils.auth import WORKER_TOKEN
from tests.utils.factories import metric, tiny_config

pytestmark = pytest.mark.integration

CALLERS = ("anonymous", "owner", "other", "admin", "worker")
PNG = "iVBORw0KGgo="


def statuses(anonymous: int, owner: int, other: int, admin: int, worker: int) -> dict[str, int]:
    return dict(zip(CALLERS, (anonymous, owner, other, admin, worker), strict=True))


READ = statuses(401, 200, 200, 200, 403)  # every signed-in user reads everything
MAKE = statuses(401, 201, 201, 201, 403)  # and makes things of their own
OWNED = lambda ok: statuses(401, ok, 403, ok, 403)  # noqa: E731 - the owner or an admin
ADMIN = lambda ok: statuses(401, 403, 403, ok, 403)  # noqa: E731
WORKER = lambda ok: statuses(401, 403, 403, 403, ok)  # noqa: E731
PUBLIC = lambda ok: statuses(ok, ok, ok, ok, ok)  # noqa: E731
PAGE = statuses(303, 200, 200, 200, 403)  # pages send the anonymous to the sign-in page


class World:
    """Things owned by 'owner', made through the API as a user and a worker would."""

    def __init__(self, lab, clients: dict[str, httpx.Client]) -> None:
        self.lab, self.c = lab, clients

    def worker_call(self, method: str, path: str, lease: str | None = None, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {WORKER_TOKEN}", **({"X-Run-Lease": lease} if lease else {})}
        return self.c["anonymous"].request(method, path, headers=headers, **kw)

    def queued_run(self) -> dict:
        r = self.c["owner"].post("/api/runs", json={"name": "perm", "config": tiny_config()})
        assert r.status_code == 201, r.text
        return {"run_id": r.json()["id"]}

    def claimed_run(self) -> dict:
        run = self.queued_run()
        claim = self.worker_call("POST", f"/api/worker/runs/{run['run_id']}/claim", json={"host": "h", "device": "cpu"})
        assert claim.status_code == 200, claim.text
        return {**run, "lease": claim.json()["lease"]}

    def finished_run(self) -> dict:
        run = self.claimed_run()
        base, lease = f"/api/worker/runs/{run['run_id']}", run["lease"]
        assert self.worker_call("POST", f"{base}/epochs", lease,
                                json={"attempt": 1, "metrics": [metric(1)]}).status_code == 204
        assert self.worker_call("PUT", f"{base}/checkpoints/best?attempt=1&epoch=1", lease,
                                content=b"w").status_code == 204
        report = {"epoch": 1, "classes": ["a", "b"], "accuracy": 0.5, "per_class_acc": [1.0, 0.0],
                  "confusion": [[1, 0], [1, 0]], "misclassified": [{"index": 1, "true": 1, "pred": 0, "png": PNG}]}
        assert self.worker_call("PUT", f"{base}/evaluation", lease,
                                json={"attempt": 1, "report": report}).status_code == 204
        assert self.worker_call("POST", f"{base}/finish", lease,
                                json={"attempt": 1, "status": "succeeded"}).status_code == 204
        return {"run_id": run["run_id"]}

    def groups(self) -> dict:
        """Two finished groups of repeats on the same two seeds: {"a": id, "b": id}."""
        made = []
        for _ in range(2):
            r = self.c["owner"].post("/api/runs", json={"name": "perm", "config": tiny_config(seed=1), "repeats": 2})
            assert r.status_code == 201, r.text
            for run_id in r.json()["run_ids"]:
                base = f"/api/worker/runs/{run_id}"
                lease = self.worker_call("POST", f"{base}/claim", json={"host": "h", "device": "cpu"}).json()["lease"]
                assert self.worker_call("POST", f"{base}/epochs", lease,
                                        json={"attempt": 1, "metrics": [metric(1)]}).status_code == 204
                assert self.worker_call("POST", f"{base}/finish", lease,
                                        json={"attempt": 1, "status": "succeeded"}).status_code == 204
            made.append(r.json()["group_id"])
        return {"a": made[0], "b": made[1]}

    def sweep(self) -> dict:
        r = self.c["owner"].post("/api/sweeps",
                                 json={"name": "perm", "base_config": tiny_config(), "grid": {"seed": [1]}})
        assert r.status_code == 201, r.text
        return {"sweep_id": r.json()["id"]}

    def study(self) -> dict:
        r = self.c["owner"].post("/api/studies", json={"name": "perm", "entries": [
            {"key": "a", "label": "A", "config": tiny_config()}]})
        assert r.status_code == 201, r.text
        return {"study_id": r.json()["id"]}

    def search(self) -> dict:
        r = self.c["owner"].post("/api/searches", json=SEARCH_BODY(None))
        assert r.status_code == 201, r.text
        return {"search_id": r.json()["id"]}

    def stopped_search(self) -> dict:
        made = self.search()
        assert self.c["owner"].post(f"/api/searches/{made['search_id']}/stop").status_code == 200
        return made

    def token(self) -> dict:
        return {"token_id": self.c["owner"].post("/api/tokens", json={"label": "perm"}).json()["id"]}

    def worker_token(self) -> dict:
        return {"token_id": self.c["admin"].post("/api/worker-tokens", json={"label": "perm"}).json()["id"]}

    def user(self) -> dict:
        users = self.c["admin"].get("/api/users").json()["data"]
        return {"user_id": next(u["id"] for u in users if u["username"] == "perm-owner")}

    def view(self) -> dict:
        r = self.c["owner"].post("/api/views", json={"name": f"perm {uuid.uuid4().hex[:8]}", "query": "tag:perm"})
        assert r.status_code == 201, r.text
        return {"view_id": r.json()["id"]}

    def webhook(self) -> dict:
        r = self.c["owner"].post("/api/webhooks", json={"url": "http://127.0.0.1:9/perm", "events": ["run.failed"]})
        assert r.status_code == 201, r.text
        return {"webhook_id": r.json()["id"]}

    def nothing(self) -> dict:
        return {}


@dataclass
class Case:
    method: str
    path: str  # the route's template, as the app declares it
    expected: dict[str, int]
    setup: str = "nothing"  # a World method: its values fill the template
    fresh: bool = False  # made again for each caller (the call changes or destroys it)
    body: Callable[[dict], object] | None = None
    lease: bool = False  # send the setup's lease (worker routes): the lease alone never suffices
    stream: bool = False  # an endless event stream: read the status, then hang up
    kw: dict = field(default_factory=dict)


RUN_BODY = lambda _v: {"config": tiny_config()}  # noqa: E731
SEARCH_BODY = lambda _v: {"name": "perm", "base_config": tiny_config(), "n_trials": 2, "max_concurrent": 1,  # noqa: E731
                          "space": {"lr": {"float": [0.01, 0.1]}}}
EPOCHS = lambda _v: {"attempt": 1, "metrics": [metric(1)]}  # noqa: E731

TABLE = [
    # runs
    Case("POST", "/api/runs", MAKE, body=RUN_BODY),
    Case("GET", "/api/runs", READ),
    Case("GET", "/api/runs/{run_id}", READ, "finished_run"),
    Case("GET", "/api/runs/{run_id}/metrics", READ, "finished_run"),
    Case("GET", "/api/runs/{run_id}/metrics.csv", READ, "finished_run"),
    Case("GET", "/api/runs/{run_id}/system", READ, "finished_run"),
    Case("GET", "/api/runs/{run_id}/analysis", READ, "finished_run"),
    Case("GET", "/api/runs/{run_id}/evaluation", READ, "finished_run"),
    Case("GET", "/api/runs/{run_id}/checkpoints/{kind}", READ, "finished_run", kw={"kind": "best"}),
    Case("GET", "/api/runs/{run_id}/events", READ, "finished_run"),
    Case("GET", "/api/runs/events", READ, stream=True),
    Case("POST", "/api/runs/{run_id}/cancel", OWNED(200), "queued_run", fresh=True),
    Case("DELETE", "/api/runs/{run_id}", OWNED(204), "finished_run", fresh=True),
    # organise: the owner or an admin renames, tags, annotates; every member stars (per member, idempotent)
    Case("PATCH", "/api/runs/{run_id}", OWNED(200), "finished_run", body=lambda _v: {"tags": ["perm"], "note": "*n*"}),
    Case("PUT", "/api/runs/{run_id}/star", READ, "finished_run"),
    Case("DELETE", "/api/runs/{run_id}/star", READ, "finished_run"),
    Case("PATCH", "/api/sweeps/{sweep_id}", OWNED(200), "sweep", body=lambda _v: {"name": f"perm {_v['n']}"}),
    Case("PATCH", "/api/studies/{study_id}", OWNED(200), "study", body=lambda _v: {"tags": ["perm"]}),
    Case("PATCH", "/api/searches/{search_id}", OWNED(200), "stopped_search", body=lambda _v: {"note": "perm"}),
    # the run as a classifier (this run has no exported model: a member is let in and told so, 409)
    Case("GET", "/api/runs/{run_id}/model.onnx", statuses(401, 409, 409, 409, 403), "finished_run"),
    Case("GET", "/api/runs/{run_id}/model-card", READ, "finished_run"),
    # the owner or an admin asks a worker to export the run (fresh: a second ask would be 409, already exporting)
    Case("POST", "/api/runs/{run_id}/export", OWNED(202), "finished_run", fresh=True),
    Case("GET", "/api/runs/{run_id}/model-card.md", READ, "finished_run"),
    Case("POST", "/api/runs/{run_id}/predict", statuses(401, 409, 409, 409, 403), "finished_run",
         kw={"files": [("files", ("a.png", b"\x89PNG", "image/png"))]}),
    # the worker's routes: the worker credential, then the lease
    Case("POST", "/api/worker/runs/{run_id}/claim", WORKER(200), "queued_run", fresh=True,
         body=lambda _v: {"host": "h", "device": "cpu"}),
    Case("POST", "/api/worker/runs/{run_id}/epochs", WORKER(204), "claimed_run", fresh=True, body=EPOCHS, lease=True),
    Case("POST", "/api/worker/runs/{run_id}/heartbeat", WORKER(200), "claimed_run", body=lambda _v: {"attempt": 1},
         lease=True),
    Case("PUT", "/api/worker/runs/{run_id}/checkpoints/{kind}", WORKER(204), "claimed_run", fresh=True, lease=True,
         kw={"kind": "last", "query": "?attempt=1&epoch=1", "content": b"weights"}),
    Case("GET", "/api/worker/runs/{run_id}/checkpoints/{kind}", WORKER(404), "claimed_run", lease=True,
         kw={"kind": "last"}),
    Case("PUT", "/api/worker/runs/{run_id}/evaluation", WORKER(204), "claimed_run", fresh=True, lease=True,
         body=lambda _v: {"attempt": 1, "report": {"epoch": 1, "classes": ["a"], "accuracy": 1.0,
                                                   "per_class_acc": [1.0], "confusion": [[1]], "misclassified": []}}),
    Case("PUT", "/api/worker/runs/{run_id}/model", WORKER(204), "claimed_run", fresh=True, lease=True,
         kw={"query": "?epoch=1", "content": b"onnx bytes"}),
    Case("POST", "/api/worker/runs/{run_id}/export/claim", WORKER(409), "finished_run"),  # no export waiting
    Case("POST", "/api/worker/runs/{run_id}/model/failure", WORKER(204), "claimed_run", fresh=True, lease=True,
         body=lambda _v: {"reason": "export failed"}),
    Case("POST", "/api/worker/runs/{run_id}/finish", WORKER(204), "claimed_run", fresh=True, lease=True,
         body=lambda _v: {"attempt": 1, "status": "succeeded"}),
    # workers say they are up (the worker credential only); members see who is up and what each trains
    Case("POST", "/api/worker/presence", WORKER(204),
         body=lambda _v: {"name": f"perm-{_v['n']}@host", "host": "host", "device": "cpu"}),
    Case("GET", "/api/workers", READ),
    # architectures
    Case("GET", "/api/presets", READ),
    Case("GET", "/api/recipes", READ),
    Case("POST", "/api/architectures/summary", READ, body=lambda _v: {"architecture": "wide"}),
    # sweeps and compare
    Case("POST", "/api/sweeps", MAKE,
         body=lambda _v: {"name": "s", "base_config": tiny_config(), "grid": {"seed": [1]}}),
    Case("GET", "/api/sweeps/{sweep_id}", READ, "sweep"),
    Case("GET", "/api/sweeps", READ),
    # the cost of a sweep before launching it: a member's question, nothing made (200, not 201)
    Case("POST", "/api/sweeps/estimate", statuses(401, 200, 200, 200, 403),
         body=lambda _v: {"name": "s", "base_config": tiny_config(), "grid": {"seed": [1, 2]}}),
    Case("GET", "/api/compare", READ, "finished_run", kw={"query": "?ids={run_id}"}),
    # groups of repeats: every member reads them and compares them
    Case("GET", "/api/groups", READ),
    Case("GET", "/api/groups/compare", READ, "groups", kw={"query": "?a={a}&b={b}"}),
    # searches: every member reads them and starts their own; the owner or an admin stops, resumes, deletes
    Case("POST", "/api/searches", MAKE, body=SEARCH_BODY),
    Case("GET", "/api/searches", READ),
    Case("GET", "/api/searches/presets", READ),
    Case("GET", "/api/searches/space-keys", READ),
    Case("GET", "/api/searches/{search_id}", READ, "search"),
    Case("GET", "/api/searches/{search_id}/figures", READ, "search"),
    Case("GET", "/api/searches/{search_id}/events", READ, "search", stream=True),
    Case("POST", "/api/searches/{search_id}/stop", OWNED(200), "search", fresh=True),
    Case("POST", "/api/searches/{search_id}/resume", OWNED(200), "stopped_search", fresh=True),
    Case("DELETE", "/api/searches/{search_id}", OWNED(204), "search", fresh=True),
    # "Train the winner": the owner or an admin; this search has no finished trial, so they reach its 409
    Case("POST", "/api/searches/{search_id}/winner", statuses(401, 409, 403, 409, 403), "search",
         body=lambda _v: {"seeds": 2}),
    # studies: anyone launches any study, only the owner or an admin deletes one
    Case("GET", "/api/studies", READ),
    Case("POST", "/api/studies", MAKE, body=lambda _v: {"name": "s", "entries": [{"key": "a", "label": "A",
                                                                                  "config": tiny_config()}]}),
    Case("GET", "/api/studies/{study_id}", READ, "study"),
    Case("DELETE", "/api/studies/{study_id}", OWNED(204), "study", fresh=True),
    Case("POST", "/api/studies/{study_id}/launches", MAKE, "study", body=lambda _v: {"epochs_scale": 0.5}),
    Case("GET", "/api/studies/{study_id}/report", READ, "study"),
    Case("GET", "/api/studies/{study_id}/report.csv", READ, "study"),
    Case("GET", "/api/studies/{study_id}/report.html", READ, "study"),
    # people and credentials
    Case("GET", "/api/me", READ),
    Case("POST", "/api/me/password", statuses(401, 403, 403, 403, 403),  # reached: a wrong current password
         body=lambda _v: {"current_password": "not mine", "new_password": "long enough"}),
    # notifications: each member's own webhooks (another's is a 404, for admins too) and stream
    Case("GET", "/api/webhooks", READ),
    Case("POST", "/api/webhooks", MAKE,
         body=lambda _v: {"url": f"http://127.0.0.1:9/{_v['n']}", "events": ["run.succeeded"]}),
    Case("DELETE", "/api/webhooks/{webhook_id}", statuses(401, 204, 404, 404, 403), "webhook", fresh=True),
    Case("GET", "/api/webhooks/{webhook_id}/deliveries", statuses(401, 200, 404, 404, 403), "webhook"),
    Case("POST", "/api/webhooks/{webhook_id}/test", statuses(401, 202, 404, 404, 403), "webhook"),
    Case("GET", "/api/me/events", READ, stream=True),
    Case("GET", "/api/tokens", READ),
    Case("POST", "/api/tokens", MAKE, body=lambda _v: {"label": "t"}),
    Case("DELETE", "/api/tokens/{token_id}", OWNED(204), "token", fresh=True),
    Case("GET", "/api/users", ADMIN(200)),
    Case("GET", "/api/users/{user_id}/tokens", ADMIN(200), "user"),
    Case("POST", "/api/users", ADMIN(201), body=lambda _v: {"username": f"made-{_v['n']}", "password": "a password!"}),
    Case("PATCH", "/api/users/{user_id}", ADMIN(200), "user", body=lambda _v: {"display_name": "Owner"}),
    Case("GET", "/api/worker-tokens", ADMIN(200)),
    Case("POST", "/api/worker-tokens", ADMIN(201), body=lambda _v: {"label": "w"}),
    Case("DELETE", "/api/worker-tokens/{token_id}", ADMIN(204), "worker_token", fresh=True),
    Case("GET", "/api/audit", ADMIN(200)),
    Case("GET", "/api/health", PUBLIC(200)),
    Case("GET", "/api/vocabulary", READ),
    # saved views of the runs list: each member's own (another's, even an admin's view of it, is 404)
    Case("GET", "/api/views", READ),
    Case("POST", "/api/views", MAKE, body=lambda v: {"name": f"view {v['n']}", "query": "lr>0.1"}),
    Case("PUT", "/api/views/{view_id}", statuses(401, 200, 404, 404, 403), "view",
         body=lambda v: {"name": f"view {v['n']}", "columns": ["lr"]}),
    Case("DELETE", "/api/views/{view_id}", statuses(401, 204, 404, 404, 403), "view", fresh=True),
    # storage: every member reads their own disk use (an admin every user's); an admin collects garbage now
    Case("GET", "/api/storage", READ),
    Case("POST", "/api/storage/gc", ADMIN(200)),
    # pages
    Case("GET", "/", PAGE),
    Case("GET", "/runs/new", PAGE),
    Case("GET", "/runs/{run_id}", PAGE, "finished_run"),
    Case("GET", "/compare", PAGE),
    Case("GET", "/studies", PAGE),
    Case("GET", "/studies/{study_id}", PAGE, "study"),
    Case("GET", "/sweeps", PAGE),
    Case("GET", "/sweeps/new", PAGE),
    Case("GET", "/sweeps/{sweep_id}", PAGE, "sweep"),
    Case("GET", "/searches", PAGE),
    Case("GET", "/searches/{search_id}", PAGE, "search"),
    Case("GET", "/workers", PAGE),
    Case("GET", "/tokens", PAGE),
    Case("GET", "/account", PAGE),
    Case("GET", "/users", statuses(303, 403, 403, 200, 403)),
    Case("GET", "/login", PUBLIC(200)),
    Case("POST", "/login", PUBLIC(401),  # a name of its own: perm-owner's wrong passwords above count too
         kw={"data": {"username": "perm-signin", "password": "wrong!"}}),
    Case("POST", "/logout", PUBLIC(303)),
    Case("GET", "/vendor/plotly.min.js", PUBLIC(200)),
    Case("GET", "/favicon.ico", PUBLIC(200)),
    Case("GET", "/openapi.json", PUBLIC(200)),
    Case("GET", "/docs", PUBLIC(200)),
    Case("GET", "/static/{path}", PUBLIC(200), kw={"path": "css/app.css"}),
    Case("GET", "/vendor/swagger/{path}", PUBLIC(200), kw={"path": "swagger-ui-bundle.js"}),
]


def app_routes() -> set[tuple[str, str]]:
    from backend.identity.routing import every_route
    from backend.main import create_app

    out = set()
    for route in every_route(create_app().routes):
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)  # /api/runs/{run_id:int} is /api/runs/{run_id}
        path += "/{path}" if route.path in ("/static", "/vendor/swagger") else ""
        for method in (getattr(route, "methods", None) or {"GET"}) - {"HEAD"}:
            out.add((method, path))
    return out


def test_the_table_names_every_route_and_each_declares_one_rule() -> None:
    from backend.identity.routing import every_route
    from backend.main import create_app

    table = {(c.method, c.path) for c in TABLE}
    assert len(table) == len(TABLE), "a route is in the table twice"
    assert app_routes() == table
    for route in (r for r in every_route(create_app().routes) if isinstance(r, APIRoute)):
        rules = [d.call.__rule__ for d in route.dependant.dependencies if hasattr(d.call, "__rule__")]
        assert len(rules) == 1, f"{route.methods} {route.path} declares {rules or 'no rule'}"


@pytest.fixture(scope="module")
def world(lab) -> World:
    owner, other = lab.member("perm-owner"), lab.member("perm-other")
    clients = {"anonymous": httpx.Client(base_url=lab.url, timeout=30), "owner": owner, "other": other,
               "admin": lab.http, "worker": httpx.Client(base_url=lab.url, timeout=30,
                                                         headers={"Authorization": f"Bearer {WORKER_TOKEN}"})}
    return World(lab, clients)


@pytest.mark.parametrize("case", TABLE, ids=[f"{c.method} {c.path}" for c in TABLE])
def test_permission_matrix(world: World, case: Case) -> None:
    shared = None if case.fresh else getattr(world, case.setup)()
    got = {}
    for n, caller in enumerate(CALLERS):
        values = {**(getattr(world, case.setup)() if case.fresh else shared), **case.kw,
                  "n": f"{n}{uuid.uuid4().hex[:8]}"}
        path = case.path.format(**values) + case.kw.get("query", "").format(**values)
        headers = {"X-Run-Lease": values["lease"]} if case.lease else {}
        extra = {k: case.kw[k] for k in ("content", "data", "files") if k in case.kw}
        if case.body is not None:
            extra["json"] = case.body(values)
        if case.stream:
            with world.c[caller].stream(case.method, path, headers=headers) as response:
                got[caller] = response.status_code
            continue
        response = world.c[caller].request(case.method, path, headers=headers, follow_redirects=False, **extra)
        got[caller] = response.status_code
        owned = case.setup != "nothing" and case.expected == OWNED(case.expected["owner"])
        if caller == "other" and response.status_code == 403 and owned:
            assert "belongs to perm-owner" in response.text  # the refusal names the owner
    assert got == case.expected
