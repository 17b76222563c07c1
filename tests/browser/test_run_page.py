"""The live run page between the last epoch and the end, what it asks the server for, the questions it
asks before Cancel and Delete, the 404 page, the favicon, the copy buttons of new tokens and a
completed search without "Resume". Runs are driven by a worker played through the API (the lab's
worker credential), so each moment can be held as long as the test looks at it."""

from __future__ import annotations

import os
import re
import threading

import httpx
import pytest

from tests.utils.factories import metric, tiny_config, trial_metric
from tests.utils.services import wait_for

pytestmark = pytest.mark.integration

WORKER_TOKEN = os.environ["CNNLAB_WORKER_TOKEN"]  # tests/conftest.py; the lab's processes inherit it
REPORT = {"epoch": 2, "classes": ["a", "b"], "accuracy": 0.5, "per_class_acc": [1.0, 0.0],
          "confusion": [[1, 0], [1, 0]], "misclassified": []}


class FakeWorker:
    """Claims a run and reports only what the test tells it to, heartbeating every 0.5 s meanwhile (with
    ``progress`` when set) so that the reaper leaves the run be."""

    def __init__(self, lab, run_id: int) -> None:
        self.url, self.base = lab.url, f"/api/worker/runs/{run_id}"
        self.http = self.client()
        r = self.http.post(f"{self.base}/claim", json={"host": "fake", "device": "cpu"})
        assert r.status_code == 200, r.text
        self.attempt, self.lease = r.json()["attempt"], r.json()["lease"]
        self.http.headers["X-Run-Lease"] = self.lease
        self.progress: dict | None = None
        self.done = threading.Event()
        self.beats = threading.Thread(target=self.heartbeats, daemon=True)
        self.beats.start()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {WORKER_TOKEN}"})

    def heartbeats(self) -> None:
        with self.client() as http:
            http.headers["X-Run-Lease"] = self.lease
            while not self.done.wait(0.5):
                body = {"attempt": self.attempt, **({"progress": self.progress} if self.progress else {})}
                try:
                    http.post(f"{self.base}/heartbeat", json=body)
                except httpx.HTTPError:
                    pass

    def call(self, method: str, path: str, **kw) -> None:
        r = self.http.request(method, self.base + path, **kw)
        assert r.status_code == 204, (path, r.status_code, r.text)

    def epoch(self, epoch: int, trial: bool = False) -> None:
        """An epoch; a search's trial's carries no test figure (it reads the test set once, at its end)."""
        m = trial_metric(epoch, 0.5) if trial else metric(epoch)
        self.call("POST", "/epochs", json={"attempt": self.attempt, "metrics": [m]})

    def finish(self, status: str, reason: str) -> None:
        self.call("POST", "/finish", json={"attempt": self.attempt, "status": status, "reason": reason})
        self.close()

    def close(self) -> None:
        if not self.done.is_set():
            self.done.set()
            self.beats.join(5)
            self.http.close()


def failed_requests(page) -> list[str]:
    """Every response of 400 or more the page gets from now on, as 'status url'."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return failed


def test_the_run_page_says_finishing_after_the_last_epoch_and_offers_try_it_without_a_reload(page, lab,
                                                                                             artifacts) -> None:
    run = lab.submit(tiny_config(epochs=2, batch_size=8), name="finishing")
    failed = failed_requests(page)
    page.goto(f"/runs/{run['id']}")
    page.wait_for_selector("body[data-ready='1']")
    worker = FakeWorker(lab, run["id"])
    try:
        worker.progress = {"epoch": 1, "batch": 3, "batches": 10, "images_per_s": 100.0}
        page.wait_for_selector("#run-status.running")
        page.wait_for_function("(document.getElementById('progress-text').textContent || '').includes('left')")
        worker.epoch(1)
        worker.progress = {"epoch": 2, "batch": 5, "batches": 10, "images_per_s": 100.0}
        page.wait_for_selector("#run[data-points='1']")
        assert page.get_attribute("#run", "data-phase") == "" and page.is_hidden("#phase")
        worker.epoch(2)  # the last planned epoch: the worker evaluates and exports, the run is still running
        worker.progress = {"epoch": 2, "batch": 10, "batches": 10, "images_per_s": 100.0}
        page.wait_for_selector("#run[data-phase='finishing']")
        page.wait_for_timeout(1500)  # a few heartbeats later: still finishing, no time left to count down
        assert page.get_attribute("#run", "data-phase") == "finishing"
        assert page.is_hidden("#progress-box")  # its "about 1s left" is gone
        assert page.inner_text("#phase").startswith("Finishing")
        page.screenshot(path=str(artifacts / "test_run_page_finishing.png"), full_page=True)
        assert page.locator("#run-status.running").count() == 1
        worker.call("PUT", "/model?epoch=2", content=b"an onnx model")  # the stream's `model` event: ready
        page.wait_for_selector("#run[data-try-ready='1']", timeout=15_000)
        assert page.is_visible("#try-tools") and page.inner_text("#try-none") == ""
        assert page.locator("#run-status.running").count() == 1  # no reload, no final status yet
        worker.call("PUT", f"/checkpoints/best?attempt={worker.attempt}&epoch=2", content=b"weights")
        worker.call("PUT", "/evaluation", json={"attempt": worker.attempt, "report": REPORT})
        worker.finish("succeeded", "completed 2 epochs")
        page.wait_for_selector("#run-status.succeeded")
        page.wait_for_selector("#run[data-classes='1']")
        page.wait_for_selector("#run[data-phase='']")
        assert page.is_hidden("#phase") and page.is_visible("#try-tools")
        assert page.is_visible("#ckpt-best") and page.is_hidden("#ckpt-last")  # only what the run keeps
    finally:
        worker.close()
    assert failed == []


def test_a_cancelled_runs_page_asks_for_nothing_it_does_not_have(page, lab) -> None:
    before = lab.submit(tiny_config(epochs=3), name="cancelled while queued")
    assert lab.http.post(f"/api/runs/{before['id']}/cancel").json()["status"] == "cancelled"
    during = lab.submit(tiny_config(epochs=3), name="cancelled after an epoch")
    worker = FakeWorker(lab, during["id"])
    try:
        worker.epoch(1)
        worker.call("PUT", f"/checkpoints/last?attempt={worker.attempt}&epoch=1", content=b"weights")
        assert lab.http.post(f"/api/runs/{during['id']}/cancel").json()["cancel_requested"] is True
        worker.finish("cancelled", "cancelled on request after epoch 1")  # no class report, no model
    finally:
        worker.close()
    failed = failed_requests(page)
    for run, kept in ((before, []), (during, ["last"])):
        page.goto(f"/runs/{run['id']}")
        page.wait_for_selector("#run-status.cancelled")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_load_state("networkidle")
        assert page.is_hidden("#classes") and page.get_attribute("#run", "data-try-ready") == "0"
        assert page.inner_text("#try-none").startswith("No model to try: this run is cancelled;")
        assert [k for k in ("best", "last") if page.is_visible(f"#ckpt-{k}")] == kept
        assert page.is_hidden("#cancel") or page.is_disabled("#cancel")
    assert failed == []


def test_cancel_and_delete_ask_first(page, lab) -> None:
    run = lab.submit(tiny_config(epochs=3), name="ask me first")  # no worker: it stays queued
    page.goto(f"/runs/{run['id']}")
    page.wait_for_selector("body[data-ready='1']")
    asked: list[str] = []

    def answer(accept: bool):
        def handle(dialog) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handle

    page.once("dialog", answer(False))
    page.click("#cancel")
    page.wait_for_timeout(500)
    assert lab.run(run["id"])["status"] == "queued" and asked[-1].startswith("Cancel this run?")
    page.once("dialog", answer(True))
    page.click("#cancel")
    page.wait_for_selector("#run-status.cancelled")
    page.wait_for_selector("#delete:not([hidden])")
    page.once("dialog", answer(False))
    page.click("#delete")
    page.wait_for_timeout(500)
    assert lab.http.get(f"/api/runs/{run['id']}").status_code == 200 and asked[-1].startswith("Delete this run")
    page.once("dialog", answer(True))
    page.click("#delete")
    page.wait_for_url(re.compile(r".*/$"))
    assert lab.http.get(f"/api/runs/{run['id']}").status_code == 404 and len(asked) == 4


def test_an_address_that_leads_nowhere_is_a_404_page_with_the_way_home(page, lab, artifacts) -> None:
    for path in ("/runs/999999", "/sweeps/999999", "/studies/999999", "/searches/999999", "/runs/abc",
                 "/no/such/page"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        assert page.is_visible("#not-found") and page.get_attribute("#home", "href") == "/", path
        assert page.title() == "Not found · cnnlab" and page.locator("#again").count() == 0  # no dead "Run again"
    page.goto("/runs/999999")
    assert "There is no run 999999" in page.inner_text("#not-found")
    page.screenshot(path=str(artifacts / "test_run_page_404.png"), full_page=True)
    page.click("#home")
    page.wait_for_selector("body[data-loaded='1']")
    for path in ("/api/runs/999999", "/api/no-such-route"):  # the API's 404s stay JSON
        r = lab.http.get(path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json" and "detail" in r.json()


def test_every_page_has_the_favicon_and_the_api_page_leads_back(page, lab) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    failed = failed_requests(page)
    for path, ready in (("/", "body[data-loaded='1']"), ("/runs/new", "body[data-ready='1']"),
                        ("/docs", ".swagger-ui .info")):
        page.goto(path)
        page.wait_for_selector(ready, timeout=60_000)
        page.wait_for_load_state("networkidle")
    icon = lab.http.get("/favicon.ico")  # what a page that names no icon makes the browser ask for
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then((r) => r.status)") == 200
    assert failed == [] and not [m for m in console if "404" in m], console
    page.click("#home")  # the API page's way back to the dashboard
    page.wait_for_selector("body[data-loaded='1']")


def test_a_new_token_has_a_copy_button(page, lab) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    page.goto("/tokens")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#token-label", "copied token")
    page.click("#make-token")
    page.wait_for_selector("#new-secret:not([hidden])")
    secret = page.inner_text("#secret")
    page.click("#copy-secret")
    page.wait_for_selector("#copy-secret[data-copied='1']")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.goto("/users")  # an admin's new worker token
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#worker-label", "copied worker")
    page.click("#make-worker-token")
    page.wait_for_selector("#new-worker-secret:not([hidden])")
    page.click("#copy-worker-secret")
    page.wait_for_selector("#copy-worker-secret[data-copied='1']")
    assert page.evaluate("navigator.clipboard.readText()") == page.inner_text("#worker-secret")


def test_a_completed_search_offers_no_resume(page, lab) -> None:
    r = lab.http.post("/api/searches", json={
        "name": "one trial", "base_config": tiny_config(epochs=1), "space": {"lr": {"float": [0.01, 0.5], "log": True}},
        "n_trials": 1, "max_concurrent": 1, "sampler": "random", "pruner": "none"})
    assert r.status_code == 201, r.text
    search_id = r.json()["id"]
    run_id = wait_for(lambda: next((t["run_id"] for t in lab.http.get(f"/api/searches/{search_id}").json()["trials"]
                                    if t["run_id"]), None), 30, "the trial's run")
    worker = FakeWorker(lab, run_id)
    try:
        worker.epoch(1, trial=True)
        worker.finish("succeeded", "completed 1 epochs")
    finally:
        worker.close()
    wait_for(lambda: lab.http.get(f"/api/searches/{search_id}").json()["status"] == "completed", 30,
             "the search to complete")
    page.goto(f"/searches/{search_id}")
    page.wait_for_selector("#search-page[data-status='completed']")
    assert page.is_hidden("#search-resume") and page.is_hidden("#search-stop")
    assert page.is_visible("#search-delete")
