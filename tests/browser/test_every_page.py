"""Every page of the dashboard, walked in Debian's Chromium at a desktop's size (1280 x 900) and a
phone's (390 x 844), signed in, with a queued, a running, a finished and a cancelled run in the lab
(plus a sweep, a search and a study), each page under its Content-Security-Policy. A page fails on:

- a script error, an error in the console, or a request that failed (status >= 400), none expected;
- being wider than the viewport (document.documentElement.scrollWidth > innerWidth);
- a chart with no data and no placeholder saying so (charts.js's .chart-placeholder);
- a refusal that names an option by its path ("config.epochs", "stages[0][1]") instead of its label.

The runs are driven through the worker API by this module (a fake worker: claims, epochs,
heartbeats, a class report), so nothing trains. The page list is read from backend.pages' routes,
so a new page is walked without editing this file (a path parameter it cannot fill fails it).

Screenshots of the walk (the first screen of each page, JPEG) go to $CNNLAB_SCREENSHOTS when it is
set (e.g. benchmarks/screenshots/after), else to test-artifacts/every-page/.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.utils.browser import sign_in
from tests.utils.factories import TINY_HOLDOUT, metric, tiny_config

pytestmark = pytest.mark.integration

VIEWPORTS = {"1280": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}
RAW_PATH = re.compile(r"config\.[a-z_]+|\[\d+\]\[\d+\]")
LONG_NAME = "finished run with a rather long name that goes on " + "and-on-without-a-single-space-" * 3
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
CLASSES = [f"class {i}" for i in range(10)]

# What every page is checked for once it is ready (evaluated in the page, not under its policy).
INSPECT = """() => {
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const out = { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
                wide: [], empty: [], errors: [] };
  const sticksOut = (el) => el.getBoundingClientRect().right > out.innerWidth + 1;
  if (out.scrollWidth > out.innerWidth) { // the outermost elements that stick out, to name the culprit
    for (const el of document.querySelectorAll("body *")) {
      if (sticksOut(el) && shown(el) && !(el.parentElement && sticksOut(el.parentElement))) {
        out.wide.push(`${name(el)} (right edge ${Math.round(el.getBoundingClientRect().right)} px)`);
      }
    }
    out.wide = out.wide.slice(0, 6);
  }
  const points = (t) => ["x", "y", "z", "values", "dimensions", "r", "lat", "cells"]
    .some((k) => Array.isArray(t[k]) && t[k].length > 0);
  for (const el of document.querySelectorAll(".chart, .mini, .js-plotly-plot")) {
    if (!shown(el)) continue;
    const data = Array.isArray(el.data) && el.data.some(points);
    const placeholder = [...el.children]
      .some((c) => c.classList.contains("chart-placeholder") && shown(c) && c.textContent.trim());
    if (!data && !placeholder) out.empty.push(name(el));
  }
  for (const el of document.querySelectorAll(".error, [role=alert]")) {
    if (shown(el) && el.textContent.trim()) out.errors.push(el.textContent.trim());
  }
  return out;
}"""


def shots_dir(artifacts: Path) -> Path:
    folder = Path(os.environ.get("CNNLAB_SCREENSHOTS") or artifacts / "every-page")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class FakeWorker:
    """Runs reported through /api/worker/* as a worker would, with the lab's worker credential; a
    running run keeps its heartbeat until stop()."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30,
                                 headers={"Authorization": f"Bearer {os.environ['CNNLAB_WORKER_TOKEN']}"})
        self.leases: dict[int, tuple[int, str]] = {}
        self.beating: set[int] = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()

    def call(self, method: str, run_id: int, what: str, body: dict) -> httpx.Response:
        headers = {"X-Run-Lease": self.leases[run_id][1]} if run_id in self.leases else {}
        r = self.http.request(method, f"/api/worker/runs/{run_id}/{what}", json=body, headers=headers)
        assert r.status_code < 300, f"{what} of run {run_id}: {r.status_code} {r.text}"
        return r

    def claim(self, run_id: int) -> None:
        r = self.call("POST", run_id, "claim", {"host": "walk", "device": "cpu"}).json()
        self.leases[run_id] = (r["attempt"], r["lease"])

    def epochs(self, run_id: int, accs: list[float]) -> None:
        metrics = [metric(i + 1, test_acc=a, train_acc=min(1.0, a + 0.08)) for i, a in enumerate(accs)]
        self.call("POST", run_id, "epochs", {"attempt": self.leases[run_id][0], "metrics": metrics})

    def report(self, run_id: int, epoch: int) -> None:
        confusion = [[8 if i == j else (2 if j == (i + 1) % 10 else 0) for j in range(10)] for i in range(10)]
        report = {"epoch": epoch, "classes": CLASSES, "accuracy": 0.8, "per_class_acc": [0.8] * 10,
                  "confusion": confusion,
                  "misclassified": [{"index": i, "true": i, "pred": (i + 1) % 10, "png": PNG_1PX} for i in range(4)]}
        self.call("PUT", run_id, "evaluation", {"attempt": self.leases[run_id][0], "report": report})

    def finish(self, run_id: int, status: str) -> None:
        self.beating.discard(run_id)
        self.call("POST", run_id, "finish", {"attempt": self.leases[run_id][0], "status": status, "elapsed_s": 12.5})

    def _beat(self) -> None:
        while not self.stopping.wait(0.5):
            for run_id in list(self.beating):
                try:
                    self.call("POST", run_id, "heartbeat", {"attempt": self.leases[run_id][0]})
                except (AssertionError, httpx.HTTPError):
                    pass  # the next beat tries again; the walk's checks say what went wrong

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.http.close()


@contextmanager
def seeded(lab):
    """The lab with one run in each state, a sweep, a search and a study; the ids of what the pages
    show. Afterwards nothing it queued is left for another module's worker to train."""
    worker = FakeWorker(lab.url)
    made: dict[str, int] = {}
    try:
        finished = lab.submit(tiny_config(epochs=4), name=LONG_NAME)["id"]
        worker.claim(finished)
        worker.epochs(finished, [0.31, 0.45, 0.52, 0.55])
        worker.report(finished, 4)
        worker.finish(finished, "succeeded")
        running = lab.submit(tiny_config(epochs=40), name="running run")["id"]
        worker.claim(running)
        worker.epochs(running, [0.25, 0.38, 0.41])
        worker.beating.add(running)
        queued = lab.submit(tiny_config(epochs=5), name="queued run")["id"]
        cancelled = lab.submit(tiny_config(epochs=5), name="cancelled run")["id"]
        assert lab.http.post(f"/api/runs/{cancelled}/cancel").status_code < 300
        lab.wait_status(finished, {"succeeded"}, timeout=10)
        lab.wait_status(cancelled, {"cancelled"}, timeout=10)
        sweep = lab.http.post("/api/sweeps", json={"name": "walk sweep", "base_config": tiny_config(epochs=2),
                                                   "grid": {"batch_size": [8, 16]}})
        assert sweep.status_code == 201, sweep.text
        search = lab.http.post("/api/searches", json={
            "name": "walk search", "base_config": tiny_config(epochs=2), "n_trials": 2, "max_concurrent": 1,
            "space": {"lr": {"float": [0.01, 0.5], "log": True}}, "sampler": "random", "pruner": "none"})
        assert search.status_code == 201, search.text
        studies = lab.http.get("/api/studies").json()["data"]
        if studies:
            study = studies[0]["id"]
        else:
            r = lab.http.post("/api/studies", json={"name": "walk study", "entries": [
                {"key": "a", "label": "a", "config": tiny_config(epochs=2)}]})
            assert r.status_code == 201, r.text
            study = r.json()["id"]
        made = {"finished": finished, "running": running, "queued": queued, "cancelled": cancelled,
                "sweep": sweep.json()["id"], "search": search.json()["id"], "study": study}
        yield made
    finally:
        if "running" in made:
            worker.finish(made["running"], "cancelled")
        worker.stop()
        if "search" in made:
            lab.http.post(f"/api/searches/{made['search']}/stop")
        for run in lab.http.get("/api/runs", params={"status": "queued", "limit": 200}).json().get("data", []):
            lab.http.post(f"/api/runs/{run['id']}/cancel")


@pytest.fixture(scope="module")
def walk_lab(lab):
    with seeded(lab) as ids:
        yield ids


def pages(ids: dict[str, int]) -> list[tuple[str, str]]:
    """(label, address) of every page of backend.pages (a run's page once per state), and a few
    addresses that show a page's other faces (a comparison, the page of nothing)."""
    from fastapi.responses import HTMLResponse
    from fastapi.routing import APIRoute

    from backend.pages import router

    fill = {"run_id": ["finished", "running", "queued", "cancelled"], "sweep_id": ["sweep"],
            "search_id": ["search"], "study_id": ["study"]}
    out: list[tuple[str, str]] = []
    for route in router.routes:
        if not (isinstance(route, APIRoute) and "GET" in route.methods and route.response_class is HTMLResponse):
            continue
        params = re.findall(r"{(\w+)}", route.path)
        unknown = [p for p in params if p not in fill]
        assert not unknown, f"the walk does not know what to put in {route.path}: teach pages() {unknown}"
        base = route.path.strip("/").replace("/", "-") or "runs"
        if not params:
            out.append((base, route.path))
            continue
        (param,) = params
        for what in fill[param]:
            out.append((base.replace("{" + param + "}", what), route.path.replace("{" + param + "}", str(ids[what]))))
    out.append(("compare-two", f"/compare?ids={ids['finished']},{ids['running']}"))
    return out


EXPECTED_STATUS = {"/runs/999999": 404}  # the page of a run that does not exist says so, with a 404
READY = "body[data-ready='1'], body[data-loaded='1']"
NO_READY_MARK = {"/login", "/docs", "/runs/999999"}


def visit(context, label: str, path: str, width: str, folder: Path) -> list[str]:
    """One page opened, waited for and checked; its problems in words."""
    page = context.new_page()
    problems: list[str] = []
    expected = EXPECTED_STATUS.get(path)
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and not (expected and f"status of {expected}" in msg.text) else None)

    def answered(response) -> None:
        own = response.url.split("://", 1)[-1].split("/", 1)[-1]
        if response.status >= 400 and not (expected and "/" + own == path and response.status == expected):
            problems.append(f"{response.request.method} {response.url} answered {response.status}")

    page.on("response", answered)
    page.on("requestfailed", lambda req: problems.append(f"{req.method} {req.url} failed: {req.failure}")
            if req.failure and "ERR_ABORTED" not in req.failure else None)
    page.goto(path)
    if path not in NO_READY_MARK:
        try:
            page.wait_for_selector(READY, state="attached", timeout=20_000)
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError, said in words
            problems.append("never became ready (no data-ready or data-loaded on its body in 20 s)")
    page.wait_for_timeout(600)  # charts drawn after the data arrived, placeholders set
    found = page.evaluate(INSPECT)
    if found["scrollWidth"] > found["innerWidth"]:
        problems.append(f"{found['scrollWidth']} px wide in a {found['innerWidth']} px viewport: "
                        + ", ".join(found["wide"]))
    problems += [f"a chart with no data and no placeholder: {c}" for c in found["empty"]]
    problems += [f"an error names an option by its path: {e!r}" for e in found["errors"] if RAW_PATH.search(e)]
    page.screenshot(path=str(folder / f"{width}-{label}.jpg"), type="jpeg", quality=55)
    page.close()
    return [f"{width} {label} ({path}): {p}" for p in problems]


def signed_in(browser, lab, width: str, **options):
    """A context of this viewport, signed in as the lab's admin, under the pages' policy."""
    context = browser.new_context(viewport=VIEWPORTS[width], base_url=lab.url, **options)
    page = context.new_page()
    sign_in(page, "tester", lab.admin_password)
    page.close()
    return context


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_every_page_works_and_fits(browser, lab, walk_lab, artifacts, width) -> None:
    folder = shots_dir(artifacts)
    context = signed_in(browser, lab, width)
    problems: list[str] = []
    try:
        for label, path in [*pages(walk_lab), ("not-found", "/runs/999999")]:
            problems += visit(context, label, path, width, folder)
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


def test_the_pages_follow_the_dark_mode_of_the_system(browser, lab, walk_lab, artifacts) -> None:
    """Dark mode redefines the colours' custom properties; the charts read them."""
    folder = shots_dir(artifacts)
    context = signed_in(browser, lab, "1280", color_scheme="dark")
    problems: list[str] = []
    try:
        for label, path in [("runs", "/"), ("runs-finished", f"/runs/{walk_lab['finished']}"),
                            ("runs-new", "/runs/new")]:
            problems += visit(context, label, path, "dark", folder)
        page = context.new_page()
        page.goto(f"/runs/{walk_lab['finished']}")
        page.wait_for_selector(READY, state="attached")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


REFUSALS = [  # (page, what to do to be refused, the fields that must be named by their label)
    ("/runs/new", [("fill", "#stages", "8, x / 16")], ["config.architecture.stages[0][1]"]),
    ("/runs/new", [("fill", "#stages", "8, 0 / 16")], ["config.architecture.stages[0][1]"]),
    ("/runs/new", [("fill", "#epochs", "0"), ("fill", "#holdout", str(TINY_HOLDOUT)), ("click", "#submit", "")],
     ["config.epochs"]),
    ("/searches", [("fill", "#search-trials", "0"), ("click", "#search-start", "")], ["n_trials"]),
    ("/studies", [("fill", "#study-name", "refused"),
                  ("fill", "#study-entries", '[{"key": "a", "label": "a", "config": {"architecture": '
                                             '{"family": "compact", "stages": [[8, 0]]}, "epochs": 0}}]'),
                  ("click", "#study-form button[type=submit]", "")], []),
]  # the tokens' and users' forms check their bounds in the browser first (the same limits, from the schema)


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_refusals_are_shown_beside_their_field_in_the_words_of_the_form(browser, lab, walk_lab, artifacts,
                                                                       width) -> None:
    """The API names a refused field by its path; the page says the option's label ("Epochs: …",
    "Stage 1, layer 2 width: …") beside its input, and a network that does not parse leaves no
    stale size on screen."""
    folder = shots_dir(artifacts)
    context = signed_in(browser, lab, width)
    problems: list[str] = []
    try:
        for n, (path, steps, fields) in enumerate(REFUSALS):
            page = context.new_page()
            page.on("pageerror", lambda exc, path=path, sink=problems: sink.append(f"{path}: script error: {exc}"))
            page.goto(path)
            page.wait_for_selector(READY, state="attached", timeout=20_000)
            for action, selector, value in steps:
                page.locator(selector).scroll_into_view_if_needed()
                if action == "fill":
                    page.fill(selector, value)
                else:
                    page.click(selector)
            page.wait_for_selector(".error:not(:empty)", timeout=10_000)
            page.wait_for_timeout(400)
            for field in fields:
                error = page.locator(f"[data-error-for='{field}']")
                if not error.count() or not error.first.is_visible():
                    problems.append(f"{path}: no visible error beside {field}")
            shown = [t.strip() for t in page.locator(".error").all_inner_texts() if t.strip()]
            problems += [f"{path}: an error names an option by its path: {t!r}" for t in shown if RAW_PATH.search(t)]
            if path == "/runs/new" and "config.architecture.stages[0][1]" in fields:
                if page.locator("#layers tbody tr").count() or page.inner_text("#param-text") != "–":
                    problems.append(f"{path}: a network that does not build still shows a size")
                stage = page.locator("[data-error-for='config.architecture.stages[0][1]']").first.inner_text()
                if not stage.startswith("Stage 1, layer 2 width: "):
                    problems.append(f"{path}: the refused width is not named by its place: {stage!r}")
            page.screenshot(path=str(folder / f"{width}-refused-{n}-{path.strip('/').replace('/', '-')}.jpg"),
                            type="jpeg", quality=55)
            page.close()
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


def test_an_over_budget_network_turns_the_meter_red(browser, lab, walk_lab) -> None:
    context = signed_in(browser, lab, "1280")
    try:
        page = context.new_page()
        page.goto("/runs/new")
        page.wait_for_selector(READY, state="attached")
        page.fill("#stages", "128,128 / 256,256 / 256")
        page.wait_for_selector("#param-meter.over")
        assert "over" in (page.get_attribute("#param-text", "class") or "")
        color = page.evaluate("getComputedStyle(document.getElementById('param-text')).color")
        bad = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--bad').trim()")
        assert bad and color != page.evaluate("getComputedStyle(document.body).color"), (color, bad)
        helps = page.locator(".run-form small.help")
        for i in range(helps.count()):  # every help text shown whole, never cut short
            box = helps.nth(i)
            if box.is_visible():
                assert box.evaluate("e => e.scrollHeight <= e.clientHeight + 1"), box.inner_text()
    finally:
        context.close()


def test_the_navigation_folds_into_a_menu_on_a_phone(browser, lab, walk_lab, artifacts) -> None:
    folder = shots_dir(artifacts)
    for width in VIEWPORTS:
        context = signed_in(browser, lab, width)
        try:
            page = context.new_page()
            page.goto("/")
            page.wait_for_selector(READY, state="attached")
            links = page.locator("header nav a")
            if width == "1280":  # a row: every link and the sign-out in view, no Menu button
                assert not page.is_visible(".menu-button") and links.first.is_visible() and page.is_visible("#sign-out")
                continue
            assert page.is_visible(".menu-button") and not links.first.is_visible() and not page.is_visible("#sign-out")
            page.click(".menu-button")
            assert all(links.nth(i).is_visible() for i in range(links.count())) and page.is_visible("#sign-out")
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
            page.screenshot(path=str(folder / f"{width}-menu-open.jpg"), type="jpeg", quality=55)
            page.click(".menu-button")
            assert not links.first.is_visible()
        finally:
            context.close()
