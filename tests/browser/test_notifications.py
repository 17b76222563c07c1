"""Browser notifications and webhooks on the Account page: turned on there, a run that ends is shown
as a Notification by an open page (once, tagged with the event's id); a webhook added there to a
local receiver delivers its test ping and shows it delivered. window.Notification is a recorder
(an init script) in a context that was granted the notifications permission."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from tests.backend.notifications.receiver import Receiver
from tests.utils.factories import metric, tiny_config

pytestmark = pytest.mark.integration

RECORDER = """
(() => {
  const calls = [];
  window.__notes = calls;
  class RecordedNotification {
    constructor(title, options) {
      this.title = title;
      this.options = options || {};
      calls.push({ title, body: this.options.body || "", tag: this.options.tag || "" });
    }
    close() {}
    static get permission() { return "granted"; }
    static requestPermission() { return Promise.resolve("granted"); }
  }
  window.Notification = RecordedNotification;
})();
"""


def finish_run(lab, name: str, status: str = "succeeded", test_acc: float = 0.5) -> int:
    """A run of the lab's admin (the signed-in page's user), played to its end as a worker would."""
    run_id = lab.submit(tiny_config(epochs=1), name=name)["id"]
    with httpx.Client(base_url=lab.url, timeout=30,
                      headers={"Authorization": f"Bearer {os.environ['CNNLAB_WORKER_TOKEN']}"}) as w:
        claim = w.post(f"/api/worker/runs/{run_id}/claim", json={"host": "notify", "device": "cpu"})
        assert claim.status_code == 200, claim.text
        w.headers["X-Run-Lease"] = claim.json()["lease"]
        attempt = claim.json()["attempt"]
        r = w.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": attempt, "metrics": [metric(1, test_acc)]})
        assert r.status_code == 204, r.text
        r = w.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": attempt, "status": status})
        assert r.status_code == 204, r.text
    return run_id


def notes(page) -> list[dict]:
    return page.evaluate("window.__notes.slice()")


def test_a_finished_run_is_shown_as_a_notification_once_turned_on(page, lab) -> None:
    page.context.grant_permissions(["notifications"], origin=lab.url)
    page.context.add_init_script(RECORDER)
    page.goto("/account")
    page.wait_for_selector("body[data-ready='1']")
    assert not page.is_checked("#notify-toggle")
    page.check("#notify-toggle")
    page.wait_for_function("document.getElementById('notify-state').textContent.startsWith('On')")
    assert page.evaluate("localStorage.getItem('cnnlab.notify')") == "on"
    page.wait_for_function("localStorage.getItem('cnnlab.notify.since') !== null")  # the stream's hello: it follows

    run_id = finish_run(lab, "notified net", "succeeded", test_acc=0.625)
    page.wait_for_function("window.__notes.length >= 1", timeout=30_000)
    [note] = notes(page)
    assert note == {"title": "notified net: succeeded", "body": f"Run {run_id} · test accuracy 62.5%",
                    "tag": f"run:{run_id}:succeeded"}

    # any page follows it, and a page opened later does not show again what another already showed
    page.goto("/tokens")
    page.wait_for_selector("body[data-ready='1']")
    failed_id = finish_run(lab, "broken net", "failed")
    page.wait_for_function("window.__notes.length >= 1", timeout=30_000)
    assert [(n["title"], n["tag"]) for n in notes(page)] == [("broken net: failed", f"run:{failed_id}:failed")]

    # turned off: the page follows nothing
    page.goto("/account")
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_checked("#notify-toggle")
    page.uncheck("#notify-toggle")
    assert page.evaluate("localStorage.getItem('cnnlab.notify')") is None
    assert page.evaluate("cnn.notify.stream") is None


def test_a_webhook_added_on_the_account_page_shows_its_test_delivery(page, lab, artifacts) -> None:
    receiver = Receiver()
    try:
        page.goto("/account")
        page.wait_for_selector("body[data-ready='1']")
        assert "127.0.0.1" in page.inner_text("#webhook-hosts")
        page.fill("#webhook-url", "http://10.9.8.7/hook")  # off the allowlist: refused, naming the field
        page.click("#make-webhook")
        page.wait_for_selector("[data-error-for='url']")
        assert "not on the lab's allowlist" in page.inner_text("#new-webhook")
        page.fill("#webhook-url", receiver.url("/from-the-page"))
        page.click("#make-webhook")
        page.wait_for_selector("#new-webhook-secret:not([hidden])")
        secret = page.inner_text("#webhook-secret")
        assert secret.startswith("whsec_")
        row = page.locator("#webhooks tbody tr[data-webhook-id]").filter(has_text="/from-the-page")
        row.wait_for()
        assert secret[:12] in row.inner_text() and secret not in row.inner_text()
        row.locator("button.test-webhook").click()
        page.wait_for_selector("tr.webhook-deliveries:not([hidden]) .delivery-delivered", timeout=30_000)
        assert [json.loads(r.body)["event"] for r in receiver.requests] == ["ping"]
        page.screenshot(path=str(artifacts / "account_webhooks.png"), full_page=True)
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button.delete-webhook").click()
        page.wait_for_function("!document.querySelector('#webhooks tbody').textContent.includes('/from-the-page')")
    finally:
        receiver.close()
