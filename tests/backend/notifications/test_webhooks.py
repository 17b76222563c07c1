"""Webhooks end to end against the app on a real socket in this process (its lifespan runs the
delivery loop), delivering to a local receiver on 127.0.0.1: once per event, signed, retried
after a failure, never following a redirect; refused for hosts off the allowlist; each member's
own. And the browser's notification stream (GET /api/me/events)."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
from sqlalchemy import select, update

from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.tables import Run, Webhook, WebhookDelivery
from tests.backend.notifications.receiver import DripReceiver, Receiver
from tests.utils.auth import WORKER_TOKEN, user_token
from tests.utils.factories import metric, tiny_config
from tests.utils.live_server import OpenStream, serving
from tests.utils.services import wait_for


@pytest.fixture(scope="module")
def server():
    from backend.cli.migrate import upgrade
    from backend.main import create_app

    upgrade()
    user_token("root", "admin")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings, "WEBHOOK_RETRY_BASE_S", 0.2)  # retries after 0.2 s, 1.2 s, 6 s, ...
        mp.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "127.0.0.1:*")
        mp.setattr(settings, "PUBLIC_URL", "http://lab.example")
        with serving(create_app()) as live:
            yield live


@pytest.fixture(autouse=True)
def allowlist(monkeypatch):
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "127.0.0.1:*")  # the receivers' ports


def member(server, username: str, role: str = "member") -> httpx.Client:
    """A client of ``username`` with none of their webhooks left from an earlier test."""
    with SessionLocal() as session:
        from backend.core.tables import User

        user = session.scalar(select(User).where(User.username == username))
        if user is not None:
            for hook in session.scalars(select(Webhook).where(Webhook.user_id == user.id)):
                session.delete(hook)
            session.commit()
    return server.client(user_token(username, role))


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def worker(server, run_id: int, path: str, lease: str | None = None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {WORKER_TOKEN}", **({"X-Run-Lease": lease} if lease else {})}
    with httpx.Client(base_url=server.url, timeout=30, headers=headers) as w:
        return w.post(f"/api/worker/runs/{run_id}/{path}", **kw)


def finished_run(server, client: httpx.Client, status: str = "succeeded", name: str = "hooked run") -> int:
    r = client.post("/api/runs", json={"name": name, "config": tiny_config()})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    lease = worker(server, run_id, "claim", json={"host": "h", "device": "cpu"}).json()["lease"]
    assert worker(server, run_id, "epochs", lease, json={"attempt": 1, "metrics": [metric(1, test_acc=0.625)]}
                  ).status_code == 204
    assert worker(server, run_id, "finish", lease, json={"attempt": 1, "status": status}).status_code == 204
    return run_id


def make_hook(client: httpx.Client, url: str, events: list[str] | None = None) -> dict:
    r = client.post("/api/webhooks", json={"url": url, "events": events or ["run.succeeded", "run.failed"]})
    assert r.status_code == 201, r.text
    return r.json()


def deliveries(client: httpx.Client, hook_id: int) -> list[dict]:
    r = client.get(f"/api/webhooks/{hook_id}/deliveries")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def settled(client: httpx.Client, hook_id: int, count: int = 1) -> list[dict]:
    """The webhook's deliveries once ``count`` of them are no longer pending."""
    return wait_for(lambda: (lambda d: d if sum(x["status"] != "pending" for x in d) >= count else None)(
        deliveries(client, hook_id)), 60, f"{count} deliveries settled")


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (the README's example)."""
    mac = hmac.new(secret.encode(), headers["X-Cnnlab-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + mac, headers["X-Cnnlab-Signature"])


def test_a_finished_run_is_delivered_once_signed_with_the_webhooks_secret(server, receiver) -> None:
    ada = member(server, "hook-ada")
    made = make_hook(ada, receiver.url())
    secret = made["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    listed = ada.get("/api/webhooks").json()
    assert listed["allowed_hosts"] == ["127.0.0.1:*"] and listed["limit"] == settings.MAX_WEBHOOKS_PER_USER
    [shown] = listed["data"]
    assert "secret" not in shown and secret.startswith(shown["secret_prefix"].rstrip("…"))
    assert secret not in json.dumps(listed)  # shown once, at creation

    run_id = finished_run(server, ada, name="ada's net")
    [delivery] = settled(ada, made["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1 and delivery["last_status_code"] == 200
    assert delivery["event"] == "run.succeeded" and delivery["delivered_at"] is not None
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got.method == "POST" and got.path == "/hook"
    assert got.headers["X-Cnnlab-Event"] == "run.succeeded"
    assert got.headers["X-Cnnlab-Delivery"] == str(delivery["id"])
    assert got.headers["Content-Type"] == "application/json"
    assert verify(secret, got.headers, got.body)
    assert not verify(secret, got.headers, got.body.replace(b"0.625", b"0.925"))  # a changed body fails
    assert not verify("whsec_another", got.headers, got.body)
    body = json.loads(got.body)
    assert body["event"] == "run.succeeded" and body["delivery_id"] == delivery["id"]
    assert body["timestamp"] == int(got.headers["X-Cnnlab-Timestamp"])
    assert (body["run_id"], body["name"], body["status"]) == (run_id, "ada's net", "succeeded")
    assert body["accuracy"] == pytest.approx(0.625)
    assert body["url"] == f"http://lab.example/runs/{run_id}"

    # a cancelled run is no event this webhook asked for; a later poll never sends the first again
    queued = ada.post("/api/runs", json={"config": tiny_config()}).json()["id"]
    assert ada.post(f"/api/runs/{queued}/cancel").status_code == 200
    ping = ada.post(f"/api/webhooks/{made['id']}/test").json()  # a marker: sent after anything before it
    settled(ada, made["id"], 2)
    assert [json.loads(r.body)["event"] for r in receiver.requests] == ["run.succeeded", "ping"]
    assert ping["event"] == "ping"


def test_a_receiver_answering_500_twice_gets_it_on_the_third_attempt(server, receiver) -> None:
    bea = member(server, "hook-bea")
    receiver.answers[:] = [(500, {}), (500, {})]
    hook = make_hook(bea, receiver.url("/flaky"), ["run.failed"])
    run_id = finished_run(server, bea, status="failed")
    [delivery] = settled(bea, hook["id"])
    assert delivery["status"] == "delivered", delivery
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200 and delivery["event"] == "run.failed"
    assert len(receiver.requests) == 3
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert {b["delivery_id"] for b in bodies} == {delivery["id"]} and {b["run_id"] for b in bodies} == {run_id}
    assert all(verify(hook["secret"], r.headers, r.body) for r in receiver.requests)  # each attempt signed anew


def test_the_last_attempt_failing_fails_the_delivery(server, receiver, monkeypatch) -> None:
    monkeypatch.setattr(settings, "WEBHOOK_MAX_ATTEMPTS", 2)
    cal = member(server, "hook-cal")
    receiver.answers[:] = [(503, {}), (500, {}), (200, {})]
    hook = make_hook(cal, receiver.url())
    cal.post(f"/api/webhooks/{hook['id']}/test")
    [delivery] = settled(cal, hook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 2, 500)
    assert delivery["last_error"] == "answered 500: 'ok'"  # the answer's first characters
    assert len(receiver.requests) == 2


def test_a_redirect_is_a_failed_attempt_never_followed(server, receiver, monkeypatch) -> None:
    monkeypatch.setattr(settings, "WEBHOOK_MAX_ATTEMPTS", 2)
    elsewhere = Receiver()
    try:
        dan = member(server, "hook-dan")
        target = f"http://localhost:{elsewhere.port}/stolen"
        receiver.answers[:] = [(302, {"Location": target}), (307, {"Location": target})]
        hook = make_hook(dan, receiver.url())
        finished_run(server, dan)
        [delivery] = settled(dan, hook["id"])
        assert delivery["status"] == "failed" and delivery["attempts"] == 2
        assert delivery["last_status_code"] == 307 and "never followed" in delivery["last_error"]
        assert target in delivery["last_error"]
        assert len(receiver.requests) == 2 and elsewhere.requests == []
    finally:
        elsewhere.close()


def test_the_url_is_checked_again_at_delivery(server, receiver, monkeypatch) -> None:
    eve = member(server, "hook-eve")
    hook = make_hook(eve, receiver.url())
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "hooks.example.com")  # the admin took it off
    monkeypatch.setattr(settings, "WEBHOOK_MAX_ATTEMPTS", 1)
    eve.post(f"/api/webhooks/{hook['id']}/test")
    [delivery] = settled(eve, hook["id"])
    assert delivery["status"] == "failed" and delivery["last_status_code"] is None
    assert "not on the lab's allowlist" in delivery["last_error"]
    assert receiver.requests == []


@pytest.mark.parametrize(("url", "allow", "why"), [
    ("http://localhost:9/hook", "127.0.0.1", "is not on the lab's allowlist"),
    ("https://hooks.example.com/x", "127.0.0.1", "is not on the lab's allowlist"),
    ("ftp://127.0.0.1/hook", "127.0.0.1", "must start with http:// or https://"),
    ("gopher://127.0.0.1:70/", "*", "must start with http:// or https://"),
    ("http://me:pw@127.0.0.1:9/hook", "127.0.0.1", "user name or password"),
    ("http://127.0.0.1:9/hook", "*:*", "a loopback address"),  # private, and named by no entry
    ("http://127.0.0.1:5432/hook", "127.0.0.1", "'127.0.0.1:5432' is not on the lab's allowlist"),  # port 80 only
    ("http://10.20.30.40/hook", "*", "a private address"),
    ("http://169.254.169.254/latest/meta-data/", "*", "a link-local address"),
    ("http://127.0.0.1:9/hook", "", "webhooks are off in this lab: an admin must allow the host"),
])
def test_a_webhook_url_refused_is_a_422_naming_url(server, monkeypatch, url, allow, why) -> None:
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", allow)
    fay = member(server, "hook-fay")
    r = fay.post("/api/webhooks", json={"url": url, "events": ["run.succeeded"]})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["field"] == "url" and why in error["message"], error
    assert fay.get("/api/webhooks").json()["data"] == []


@pytest.mark.parametrize(("body", "field", "why"), [
    ({"url": "http://127.0.0.1:9/" + "a" * 2000, "events": ["run.failed"]}, "url", "at most 2000 characters"),
    ({"url": "http://127.0.0.1:9/", "events": []}, "events", "at least 1"),
    ({"url": "http://127.0.0.1:9/", "events": ["run.exploded"]}, "events[0]", "run.succeeded"),
    ({"url": "http://127.0.0.1:9/", "events": ["ping"]}, "events", "test delivery"),
    ({"url": "http://127.0.0.1:9/", "events": ["run.failed", "run.failed"]}, "events", "twice"),
    ({"url": "http://127.0.0.1:9/", "events": ["run.failed"], "secret": "mine"}, "secret", "Extra inputs"),
])
def test_a_webhook_body_out_of_bounds_is_a_422_naming_the_field(server, body, field, why) -> None:
    r = member(server, "hook-fay").post("/api/webhooks", json=body)
    assert r.status_code == 422, r.text
    assert any(e["field"] == field and why in e["message"] for e in r.json()["detail"]), r.json()


def test_at_most_ten_webhooks_per_user(server) -> None:
    gus = member(server, "hook-gus")
    for i in range(settings.MAX_WEBHOOKS_PER_USER):
        make_hook(gus, f"http://127.0.0.1:9/{i}")
    r = gus.post("/api/webhooks", json={"url": "http://127.0.0.1:9/one-more", "events": ["run.failed"]})
    assert r.status_code == 429, r.text
    [error] = r.json()["detail"]
    assert error["field"] == "quota.webhooks" and error["limit"] == 10 and error["current"] == 10
    assert "CNNLAB_MAX_WEBHOOKS_PER_USER" in error["message"]
    hook_id = gus.get("/api/webhooks").json()["data"][0]["id"]
    assert gus.delete(f"/api/webhooks/{hook_id}").status_code == 204
    make_hook(gus, "http://127.0.0.1:9/now-it-fits")


def test_webhooks_are_their_owners_own_admins_included(server, receiver) -> None:
    hal, ivy, root = member(server, "hook-hal"), member(server, "hook-ivy"), member(server, "hook-admin", "admin")
    hook = make_hook(hal, receiver.url())
    for other in (ivy, root):
        assert other.get("/api/webhooks").json()["data"] == []
        assert other.get(f"/api/webhooks/{hook['id']}/deliveries").status_code == 404
        assert other.post(f"/api/webhooks/{hook['id']}/test").status_code == 404
        assert other.delete(f"/api/webhooks/{hook['id']}").status_code == 404
    assert [h["id"] for h in hal.get("/api/webhooks").json()["data"]] == [hook["id"]]
    assert receiver.requests == []  # no ping was queued by the others
    # another member's run tells only its own owner's webhooks
    finished_run(server, ivy)
    assert hal.post(f"/api/webhooks/{hook['id']}/test").status_code == 202
    [ping] = settled(hal, hook["id"])
    assert ping["event"] == "ping" and [json.loads(r.body)["event"] for r in receiver.requests] == ["ping"]
    assert hal.delete(f"/api/webhooks/{hook['id']}").status_code == 204
    assert hal.get(f"/api/webhooks/{hook['id']}/deliveries").status_code == 404
    with SessionLocal() as session:  # its deliveries went with it
        assert session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook["id"])).all() == []


def test_a_lost_run_failed_by_the_reaper_and_a_cancelled_queued_run_are_delivered(server, receiver) -> None:
    from backend.runs import service as run_service

    jon = member(server, "hook-jon")
    hook = make_hook(jon, receiver.url(), ["run.failed", "run.cancelled"])
    queued = jon.post("/api/runs", json={"config": tiny_config()}).json()["id"]
    assert jon.post(f"/api/runs/{queued}/cancel").status_code == 200
    lost = jon.post("/api/runs", json={"config": tiny_config()}).json()["id"]
    worker(server, lost, "claim", json={"host": "h", "device": "cpu"})
    with SessionLocal() as session:
        session.execute(update(Run).where(Run.id == lost).values(attempt=settings.MAX_ATTEMPTS))
        session.commit()
        run = session.get_one(Run, lost)
        assert run_service.requeue_lost(session, run, settings.MAX_ATTEMPTS) is False  # failed, not queued again
    got = settled(jon, hook["id"], 2)
    assert sorted(d["event"] for d in got) == ["run.cancelled", "run.failed"]
    assert sorted((json.loads(r.body)["run_id"], json.loads(r.body)["status"]) for r in receiver.requests) == [
        (queued, "cancelled"), (lost, "failed")]


def test_a_stopped_search_is_delivered(server, receiver) -> None:
    kim = member(server, "hook-kim")
    hook = make_hook(kim, receiver.url(), ["search.stopped", "search.completed"])
    r = kim.post("/api/searches", json={"name": "kim's search", "base_config": tiny_config(), "n_trials": 2,
                                        "max_concurrent": 1, "space": {"lr": {"float": [0.01, 0.1]}}})
    assert r.status_code == 201, r.text
    search_id = r.json()["id"]
    assert kim.post(f"/api/searches/{search_id}/stop").status_code == 200
    [delivery] = settled(kim, hook["id"])
    assert delivery["event"] == "search.stopped" and delivery["status"] == "delivered"
    body = json.loads(receiver.requests[0].body)
    assert (body["search_id"], body["name"], body["status"]) == (search_id, "kim's search", "stopped")
    assert body["url"] == f"http://lab.example/searches/{search_id}"


def test_the_notification_stream_tells_each_end_once(server) -> None:
    """GET /api/me/events: a notice when a run of the caller's ends, none for another member's run;
    a reconnect with Last-Event-ID (or ``since``) gets what ended meanwhile."""
    lea, max_ = member(server, "hook-lea"), member(server, "hook-max")
    stream = OpenStream(lea, "/api/me/events")
    try:
        assert stream.status_code == 200
        stream.until("event: hello")
        hello = json.loads(stream.until("data:")[-1].removeprefix("data:").strip())
        finished_run(server, max_)  # not lea's: the first notice is lea's run
        run_id = finished_run(server, lea, status="failed", name="lea's run")
        stream.until("event: notice")
        data = json.loads(stream.until("data:")[-1].removeprefix("data:").strip())
        assert hello["since"] <= data["at"].replace("Z", "+00:00")
        assert data["id"] == f"run:{run_id}:failed" and data["event"] == "run.failed"
        assert (data["name"], data["status"], data["url"]) == ("lea's run", "failed", f"/runs/{run_id}")
        assert data["accuracy"] == pytest.approx(0.625)
    finally:
        stream.close()
    again = OpenStream(lea, f"/api/me/events?since={data['at'].replace('+', '%2B')}")
    try:
        again.until("event: notice")
        assert json.loads(again.until("data:")[-1].removeprefix("data:").strip())["id"] == data["id"]
    finally:
        again.close()


def test_the_notification_stream_is_for_members(server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        assert anonymous.get("/api/me/events").status_code == 401
    with httpx.Client(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {WORKER_TOKEN}"}) as w:
        assert w.get("/api/me/events").status_code == 403
    for since in ("yesterday", "0.5", "2026-02-30T00:00:00Z"):  # not a moment; seconds are not one either
        r = member(server, "hook-lea").get(f"/api/me/events?since={since}")
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "since", (since, r.text)


def test_deliveries_list_the_last_twenty_newest_first(server) -> None:
    ned = member(server, "hook-ned")
    hook = make_hook(ned, "http://127.0.0.1:9/unreachable")
    with SessionLocal() as session:  # 25 old deliveries, not due
        for i in range(25):
            session.add(WebhookDelivery(webhook_id=hook["id"], event="run.failed", payload={"i": i}, status="failed",
                                        attempts=5, last_error="ConnectError", next_attempt_at=None))
        session.commit()
        ids = sorted(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == hook["id"])))
    shown = deliveries(ned, hook["id"])
    assert [d["id"] for d in shown] == ids[::-1][:20]


def test_a_slow_receiver_holds_back_no_other_delivery(server, receiver, monkeypatch) -> None:
    """A receiver answering a byte every 0.2 s, forever: another webhook is delivered while its
    attempt is in flight, and the attempt ends at WEBHOOK_TIMEOUT_S however many bytes come."""
    monkeypatch.setattr(settings, "WEBHOOK_TIMEOUT_S", 15.0)
    monkeypatch.setattr(settings, "WEBHOOK_MAX_ATTEMPTS", 1)
    slow = DripReceiver()
    try:
        ola = member(server, "hook-ola")
        slow_hook, fast_hook = make_hook(ola, slow.url()), make_hook(ola, receiver.url())
        assert ola.post(f"/api/webhooks/{slow_hook['id']}/test").status_code == 202
        wait_for(lambda: slow.requests, 60, "the slow receiver's request")  # its attempt is in flight
        assert ola.post(f"/api/webhooks/{fast_hook['id']}/test").status_code == 202
        [fast] = settled(ola, fast_hook["id"])
        assert fast["status"] == "delivered" and len(receiver.requests) == 1
        [meanwhile] = deliveries(ola, slow_hook["id"])
        assert meanwhile["status"] == "pending" and not slow.hung_up.is_set()  # still dripping
        [late] = settled(ola, slow_hook["id"])
        assert late["status"] == "failed" and late["last_error"] == "no whole answer within 15 s (WEBHOOK_TIMEOUT_S)"
        assert wait_for(slow.hung_up.is_set, 30, "the sender hung up")
    finally:
        slow.close()


def test_test_pings_pending_are_bounded(server) -> None:
    from backend.notifications.service import PINGS_PENDING_MAX

    pat = member(server, "hook-pat")
    hook = make_hook(pat, "http://127.0.0.1:9/unreachable")  # each ping fails and waits for its retries
    for _ in range(PINGS_PENDING_MAX):
        assert pat.post(f"/api/webhooks/{hook['id']}/test").status_code == 202
    r = pat.post(f"/api/webhooks/{hook['id']}/test")
    assert r.status_code == 429, r.text
    [error] = r.json()["detail"]
    assert error["field"] == "quota.pings" and error["limit"] == PINGS_PENDING_MAX, error
    assert f"the limit is {PINGS_PENDING_MAX}" in error["message"]
    assert len(deliveries(pat, hook["id"])) == PINGS_PENDING_MAX
    assert pat.delete(f"/api/webhooks/{hook['id']}").status_code == 204


def test_the_notification_stream_ignores_a_foreign_last_event_id_and_refuses_a_since_out_of_range(server) -> None:
    lea = member(server, "hook-lea")
    with lea.stream("GET", "/api/me/events", headers={"Last-Event-ID": "999999999999999"}) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert any(line == "event: hello" for line in lines)
    for since in ("0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-01:00"):
        r = lea.get(f"/api/me/events?since={since}")
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == "since"
