"""The dashboard in Debian's Chromium, driven by Playwright, against the real backend and worker.

Each test saves a screenshot of its page under test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.utils.browser import sign_in, watch_errors
from tests.utils.factories import TINY_ARCH, TINY_HOLDOUT, tiny_config

pytestmark = pytest.mark.integration

def run_count(lab) -> int:
    return lab.http.get("/api/runs").json()["count"]


def submit_run(page, lab, name: str, epochs: int, batch_size: int) -> dict:
    """Name the run, set its length, submit the form; the config the API stored for it. The
    validation split is the tiny dataset's (the default 5,000 is more than its 400 images)."""
    page.fill("#name", name)
    page.fill("#epochs", str(epochs))
    page.fill("#batch_size", str(batch_size))
    page.fill("#holdout", str(TINY_HOLDOUT))
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/runs/\d+$"))
    return lab.http.get(f"/api/runs/{page.url.rsplit('/', 1)[1]}").json()["config"]


def test_create_a_quick_run_through_the_form_and_watch_its_chart_grow(page, lab, worker) -> None:
    page.goto("/runs/new")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#preset", "compact")
    page.fill("#stages", "8 / 16")
    page.wait_for_function("document.getElementById('param-text').textContent.startsWith('1,')")
    assert page.locator("#layers tbody tr").count() == 8  # (conv, pool, bn) x2, global pool, fc
    page.fill("#stem", "4")  # a full-resolution conv0 + bn0 before the stages: 3*4*9 + 2*4 + (4-3)*8*9 more
    page.wait_for_function("document.querySelectorAll('#layers tbody tr').length === 10")
    assert page.inner_text("#param-text").startswith("1,774 ")
    page.select_option("#activation", "gelu_tanh")
    page.select_option("#pool_at", "last")  # one conv per stage: the same table, but the choice is sent
    page.fill("#cutout", "4")
    page.fill("#tta_shift", "1")
    page.check("#whiten_init")
    page.click("summary:has-text('Advanced evaluation')")  # rarely used options are folded
    page.uncheck("#tta_each_epoch")  # epochs on the image alone, the views in the final evaluation
    page.check("#alternate_flip")
    page.uncheck("#flip")  # alternating is a way to flip: without the flip it is cleared and not offered
    assert page.is_disabled("#alternate_flip") and not page.is_checked("#alternate_flip")
    page.check("#flip")
    page.check("#alternate_flip")
    page.fill("#ema_epochs", "0.5")
    page.fill("#lr", "0.05")
    config = submit_run(page, lab, "form run", epochs=4, batch_size=8)
    assert (config["augment"]["flip"], config["augment"]["alternate_flip"], config["ema_epochs"]) == (True, True, 0.5)
    assert (config["architecture"]["stem"], config["architecture"]["activation"]) == (4, "gelu_tanh")
    assert config["architecture"]["pool_at"] == "last"
    assert (config["augment"]["cutout"], config["tta_shift"], config["whiten_init"]) == (4, 1, True)
    assert (config["tta"], config["tta_each_epoch"]) == (True, False)
    page.wait_for_function("Number(document.getElementById('run').dataset.points || 0) >= 1", timeout=90_000)
    first = page.evaluate("document.getElementById('acc-chart').data[1].x.length")
    page.wait_for_function(f"document.getElementById('acc-chart').data[1].x.length > {first}", timeout=90_000)
    page.wait_for_selector("#run-status.succeeded", timeout=90_000)
    assert page.evaluate("document.getElementById('acc-chart').data[1].x.length") == 4
    assert page.evaluate("document.getElementById('acc-chart').data[2].name") == "validation"
    assert config["data"]["holdout"] == TINY_HOLDOUT
    headline = page.inner_text("#headline")  # the test figure of the epoch validation chose, best test beside it
    assert re.search(r"^Test \d+\.\d% at epoch \d, chosen on 50 held-out images", headline), headline
    assert "best test (chosen on test)" in headline
    assert "chosen on validation" in page.inner_text("#markers")
    assert "[epoch 4] train accuracy:" in page.inner_text("#log")
    page.wait_for_selector("#run[data-classes='1']")  # the class report of the best weights
    assert page.evaluate("document.getElementById('confusion').data[0].z.flat().reduce((a, b) => a + b, 0)") == 100
    assert page.locator("#gallery figure").count() > 0
    assert "test-time views: image + mirror + 1-px shifts" in page.inner_text("#eval-epoch")

    page.goto(f"/runs/new?from={page.url.rsplit('/', 1)[1]}")  # "Run again": the form holds the run's choices
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#name") == "form run (again)"
    assert (page.input_value("#ema_epochs"), page.input_value("#tta_shift"),
            page.input_value("#cutout")) == ("0.5", "1", "4")
    assert (page.is_checked("#alternate_flip") and page.is_checked("#whiten_init")
            and not page.is_checked("#tta_each_epoch"))


def test_a_resnet_from_the_form_shows_its_blocks_and_trains(page, lab, worker) -> None:
    page.goto("/runs/new")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#preset", "resnet20")
    page.wait_for_function("document.getElementById('param-text').textContent.startsWith('248,778 ')")
    assert page.is_visible("#stem") and page.is_visible("#activation")
    assert not page.is_visible("#pool_at") and not page.is_visible("#residual") and not page.is_visible("#hidden")
    page.fill("#stages", "8 / 16,16")  # a block is two convs: an odd stage is named
    error = page.wait_for_selector("[data-error-for='config.architecture.stages[0]']:has-text('even number')")
    assert "got 1" in error.inner_text()
    page.select_option("#preset", "compact")  # stem 0 = none there; switching the family offers resnet's 16
    page.select_option("#family", "resnet")
    assert page.input_value("#stem") == "16" and not page.is_visible("#pool_at")
    page.fill("#stages", "8,8 / 16,16")
    page.fill("#stem", "8")
    # conv0 216 + bn0 16, block 1: 2 x 576 + 2 x 16, block 2: 1,152 + 2,304 + 2 x 32 and its 1x1
    # shortcut 128 + 32, fc 170
    page.wait_for_function("document.getElementById('param-text').textContent.startsWith('5,266 ')")
    names = page.locator("#layers tbody tr td:first-child").all_inner_texts()
    assert [n.split("_", 1)[1] for n in names] == ["conv0", "bn0", "conv1", "bn1", "conv2", "bn2", "conv3", "bn3",
                                                    "conv4", "bn4", "short3", "shortbn3", "avgpool", "fc"]
    config = submit_run(page, lab, "form resnet", epochs=2, batch_size=8)
    assert config["architecture"]["family"] == "resnet"
    assert (config["architecture"]["stages"], config["architecture"]["stem"]) == ([[8, 8], [16, 16]], 8)
    assert config["architecture"]["global_pool"] == "avg"
    page.wait_for_selector("#run-status.succeeded", timeout=90_000)
    assert page.evaluate("document.getElementById('acc-chart').data[1].x.length") == 2


def test_over_budget_architecture_shows_the_error_and_queues_nothing(page, lab) -> None:
    before = run_count(lab)
    page.goto("/runs/new")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#preset", "wide_deep")
    page.fill("#stages", "128,128 / 256,256 / 256")
    page.wait_for_selector("#budget-msg.over")
    assert "over the budget of 256,000" in page.inner_text("#budget-msg")
    assert page.is_disabled("#submit")
    page.focus("#epochs")
    page.keyboard.press("Enter")  # a keyboard submit is refused too
    page.wait_for_timeout(500)
    assert page.url.endswith("/runs/new") and run_count(lab) == before


def test_field_errors_appear_next_to_their_field(page, lab) -> None:
    before = run_count(lab)
    page.goto("/runs/new")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#epochs", "0")
    page.click("#submit")
    error = page.wait_for_selector("[data-error-for='config.epochs']")
    assert "greater than or equal to 1" in error.inner_text()
    assert page.get_attribute("#epochs", "aria-invalid") == "true"
    page.fill("#stages", "8, 0")
    page.wait_for_selector("[data-error-for='config.architecture.stages[0][1]']")
    assert run_count(lab) == before


def test_cancel_a_running_run_from_its_page(page, lab, worker) -> None:
    run = lab.submit(tiny_config(epochs=200, batch_size=4), name="to cancel")
    page.goto(f"/runs/{run['id']}")
    page.wait_for_selector("#run-status.running", timeout=60_000)
    page.wait_for_function("Number(document.getElementById('run').dataset.points || 0) >= 1", timeout=60_000)
    page.once("dialog", lambda dialog: dialog.accept())  # Cancel asks first
    page.click("#cancel")
    page.wait_for_selector("#run-status.cancelled", timeout=30_000)
    assert "cancelled on request" in page.inner_text("#run-reason")
    assert lab.run(run["id"])["status"] == "cancelled"


def test_tick_two_runs_and_compare(page, lab, worker) -> None:
    a = lab.submit(tiny_config(epochs=2), name="compare-a")
    b = lab.submit(tiny_config(epochs=3, lr=0.02), name="compare-b")
    lab.wait_status(b["id"], {"succeeded"})
    page.goto("/?q=compare-")
    page.wait_for_selector("body[data-loaded='1']")
    page.check(f"tr[data-run-id='{a['id']}'] input[type=checkbox]")
    page.check(f"tr[data-run-id='{b['id']}'] input[type=checkbox]")
    page.click("#compare")
    page.wait_for_selector("body[data-ready='1']")
    assert "ids=" in page.url and str(a["id"]) in page.url and str(b["id"]) in page.url
    assert page.locator("#cmp-table tbody tr").count() == 2
    assert page.evaluate("document.getElementById('cmp-acc').data.length") == 6  # train, test, validation per run
    dashes = page.evaluate("document.getElementById('cmp-acc').data.map(t => t.line.dash || 'solid')")
    assert dashes == ["dash", "solid", "dot", "dash", "solid", "dot"]
    head = page.locator(f"#cmp-table tr[data-run-id='{a['id']}'] td.headline").inner_text()
    assert head == f"{lab.run(a['id'])['test_acc_at_best_val'] * 100:.1f}% (ep {lab.run(a['id'])['best_epoch']})"
    assert page.evaluate("document.getElementById('cmp-params').layout.shapes[0].x0") == 256000


def test_launch_three_repeats_from_the_form_and_compare_two_groups(page, lab, worker, artifacts) -> None:
    page.goto("/runs/new")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#preset", "compact")
    page.fill("#stages", "8 / 16")
    page.fill("#repeats", "17")  # over the limit: refused beside the input, nothing queued
    before = run_count(lab)
    page.fill("#name", "repeat-a")
    page.fill("#epochs", "2")
    page.fill("#batch_size", "16")
    page.fill("#holdout", str(TINY_HOLDOUT))
    page.wait_for_function("!document.getElementById('submit').disabled")
    page.click("#submit")
    error = page.wait_for_selector("[data-error-for='repeats']")
    assert "less than or equal to 16" in error.inner_text() and page.get_attribute("#repeats", "aria-invalid") == "true"
    assert page.url.endswith("/runs/new") and run_count(lab) == before
    page.fill("#repeats", "3")
    assert page.inner_text("#submit") == "Start 3 runs"
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/\?group=\d+$"))  # the group's row in the runs list, not one run's page
    group_a = int(page.url.rsplit("=", 1)[1])
    page.wait_for_selector("body[data-loaded='1']")
    row = page.locator(f"tr.group-row[data-group-id='{group_a}']")
    assert "3 runs" in row.inner_text() and "n=" in row.inner_text()
    assert page.locator(f"tr[data-member-of='{group_a}']").count() == 3
    assert not page.is_visible(f"tr[data-member-of='{group_a}']")  # folded
    row.locator("button.fold-toggle").click()
    assert page.locator(f"tr[data-member-of='{group_a}']:visible").count() == 3
    runs_a = lab.http.get(f"/api/runs?group={group_a}").json()["data"]
    assert sorted(r["seed"] for r in runs_a) == [0, 1, 2]
    made = lab.http.post("/api/runs", json={"name": "repeat-b", "config": tiny_config(epochs=2, lr=0.02), "repeats": 3})
    assert made.status_code == 201, made.text
    group_b = made.json()["group_id"]
    for run_id in [r["id"] for r in runs_a] + made.json()["run_ids"]:
        lab.wait_status(run_id, {"succeeded"}, timeout=180)

    page.goto("/?q=repeat-")
    page.wait_for_selector("body[data-loaded='1']")
    # the list may draw its group rows a moment after the page's first load (CI saw 0 once)
    page.wait_for_selector(f"#runs tr.group-row[data-group-id='{group_b}']")
    assert page.locator("#runs tr.group-row").count() == 2
    headers = page.locator("#runs thead th").all_inner_texts()
    assert "Test at chosen epoch" in headers and "Best test (chosen on test)" in headers
    assert page.locator("#runs thead button.sort[data-sort='best_test_acc']").count() == 0  # never a ranking
    mean = page.inner_text(f"tr.group-row[data-group-id='{group_a}'] .group-mean")
    assert re.fullmatch(r"\d+\.\d% ± \d+\.\d", mean), mean
    page.screenshot(path=str(artifacts / "test_groups_in_the_runs_list.png"), full_page=True)
    page.check(f"tr.group-row[data-group-id='{group_a}'] input[type=checkbox]")
    page.check(f"tr.group-row[data-group-id='{group_b}'] input[type=checkbox]")
    page.click("#compare")
    page.wait_for_url(re.compile(rf".*/compare\?groups={group_a},{group_b}$"))
    page.wait_for_selector("#verdict[data-verdict]:not([data-verdict=''])")
    acc = "document.getElementById('cmp-acc').data"
    assert page.evaluate(f"{acc}.filter(t => t.fill === 'tonexty').length") == 2  # a ±1 std band per group
    bars = page.evaluate("document.getElementById('cmp-params').data.find(t => t.error_y).error_y")
    assert len(bars["array"]) == 2 and len(bars["arrayminus"]) == 2  # each group's 95% CI
    rows = page.locator("#cmp-table tr.group-row")
    assert rows.count() == 2
    for i in range(2):
        assert rows.nth(i).locator("td").nth(4).inner_text() == "3"  # n
        assert re.fullmatch(r"\d+\.\d% – \d+\.\d%", rows.nth(i).locator("td.ci").inner_text())
    answer = lab.http.get(f"/api/groups/compare?a={group_a}&b={group_b}").json()["comparison"]
    assert answer["method"] == "paired" and answer["seeds"] == [0, 1, 2]
    assert page.inner_text("#verdict-sentence") == answer["sentence"]
    assert page.locator("#verdict-seeds tbody tr").count() == 3  # the per-seed differences
    if os.environ.get("CNNLAB_SCREENSHOTS") == "1":
        shot = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_groups.png"
        page.screenshot(path=str(shot), full_page=True)

    page.goto("/?q=repeat-")  # a group's own link compares it alone: its band, no verdict
    page.wait_for_selector("body[data-loaded='1']")
    page.click(f"tr.group-row[data-group-id='{group_b}'] a.group-compare")
    page.wait_for_url(re.compile(rf".*/compare\?groups={group_b}$"))
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate(f"{acc}.filter(t => t.fill === 'tonexty').length") == 1
    assert page.is_hidden("#verdict")


def test_launch_a_four_point_sweep(page, lab, worker) -> None:
    page.goto("/sweeps/new")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#name", "browser sweep")
    page.select_option("#preset", "compact")  # the base config: the run form's inputs
    page.fill("#stages", "8 / 16")
    page.fill("#epochs", "2")
    page.fill("#holdout", str(TINY_HOLDOUT))
    page.select_option("#grid-option-1", "batch_size")
    page.fill("#grid-values-1", "4, 8, 16, 32")
    page.wait_for_function("document.getElementById('estimate').textContent.startsWith('4 runs')")
    page.click("#sweep-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/sweeps/\d+$"))
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#cmp-table tbody tr").count() == 4
    page.wait_for_function(
        "[...document.querySelectorAll('#cmp-table .status')].filter(s => s.textContent === 'succeeded').length === 4",
        timeout=180_000)
    assert page.evaluate("document.getElementById('cmp-acc').data.length") == 12  # train, test, validation per run


def test_user_text_is_never_rendered_as_html(page, lab) -> None:
    evil = "<img src=x onerror=\"window.__pwned=1\">"
    run = lab.submit(tiny_config(), name=evil)
    lab.http.post(f"/api/runs/{run['id']}/cancel")
    page.goto("/?q=img")
    page.wait_for_selector("body[data-loaded='1']")
    assert evil in page.inner_text("#runs tbody")
    page.goto(f"/runs/{run['id']}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#run-name") == evil
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0


def test_pages_load_offline_with_plotly_from_the_package(page, lab) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto("/compare?ids=1")
    page.wait_for_function("typeof Plotly !== 'undefined'")
    assert all(url.startswith(lab.url) for url in requested), requested


def test_run_chart_recovers_by_itself_after_the_backend_restarts(page, lab, worker) -> None:
    run = lab.submit(tiny_config(epochs=25, batch_size=4), name="reconnect")
    page.goto(f"/runs/{run['id']}")
    page.wait_for_function("Number(document.getElementById('run').dataset.points || 0) >= 1", timeout=60_000)
    lab.stop_backend()  # the event stream drops
    page.wait_for_timeout(1500)
    before = int(page.evaluate("document.getElementById('run').dataset.points"))
    lab.start_backend()
    page.wait_for_function(f"Number(document.getElementById('run').dataset.points) >= {before + 2}", timeout=90_000)
    page.wait_for_selector("#run-status.succeeded", timeout=120_000)
    points = page.evaluate("document.getElementById('acc-chart').data[1].x")
    assert points == list(range(1, 26))  # every epoch once, in order


def test_a_study_of_two_tiny_runs_goes_from_launch_to_a_finished_report(page, lab, worker, tmp_path) -> None:
    page.goto("/studies")
    page.wait_for_selector("body[data-ready='1']")
    # seed report, beyond the seed, how noisy is one run
    assert page.locator("#studies tbody tr", has_text="shipped").count() == 3
    spec = {
        "entries": [
            {"key": "plain", "label": "tiny plain", "config": tiny_config(epochs=3),
             "reference": {"train_acc": 0.99, "test_acc": 0.74, "minutes": 45, "epochs": 120}},
            {"key": "aug", "label": "tiny + flip", "baseline": "plain",
             "config": tiny_config(epochs=3, augment={"flip": True}),
             "reference": {"train_acc": 0.91, "test_acc": 0.85, "minutes": 54.6, "epochs": 120}},
        ],
        "claims": [{"kind": "raises", "keys": ["aug", "plain"], "text": "flipping raises test accuracy"}],
    }
    page.fill("#study-name", "browser study")
    page.fill("#study-entries", json.dumps(spec))
    page.click("#study-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/studies/\d+$"))
    page.wait_for_selector("body[data-ready='1']")
    assert "Not launched yet" in page.inner_text(".report-launch")
    page.fill("#epochs-scale", "1")
    page.click("#launch")
    page.wait_for_selector("#report[data-finished='1']", timeout=180_000)
    rows = page.locator(".report-table tbody tr")
    assert rows.count() == 2 and rows.nth(0).locator(".status").inner_text() == "succeeded"
    assert page.locator(".report-table td.diff.down").count() >= 2  # tiny runs are far below the seed's figures
    verdict = page.get_attribute(".claims li", "data-verdict")
    # computed from two finished runs: 3 epochs against the reference's 120 can tell nothing
    assert verdict == "inconclusive" and "trained 3 epochs of the reference's 120" in page.inner_text(".claims li")
    assert "tiny + flip" in page.inner_text(".findings")
    assert page.evaluate("document.querySelector('.report-acc').data.length") == 4  # train + test per run
    assert page.locator(".minis .mini").count() == 2
    page.click(".class-report summary >> nth=0")
    page.wait_for_function("document.querySelector('.class-report[open] .js-plotly-plot') !== null")
    assert page.locator(".class-report[open] .gallery figure").count() > 0

    csv_text = lab.http.get(page.get_attribute("#export-csv", "href")).text
    assert csv_text.splitlines()[0].startswith("entry,run,status") and "tiny + flip" in csv_text
    with page.expect_download() as info:
        page.click("#export-html")
    exported = tmp_path / "report.html"
    info.value.save_as(exported)
    offline = page.context.new_page()
    requested: list[str] = []
    offline.on("request", lambda r: requested.append(r.url))
    offline.goto(exported.as_uri())
    offline.wait_for_selector("body[data-ready='1']")
    assert offline.locator(".report-table tbody tr").count() == 2
    assert offline.evaluate("document.querySelector('.report-acc').data.length") == 4
    assert offline.get_attribute(".claims li", "data-verdict") == verdict
    assert [u for u in requested if not u.startswith(("file:", "data:"))] == []  # self-contained
    offline.close()


def test_ticked_runs_are_saved_as_a_study_with_their_report(page, lab, worker) -> None:
    a = lab.submit(tiny_config(epochs=2), name="study-pick-a")
    b = lab.submit(tiny_config(epochs=2, lr=0.02), name="study-pick-b")
    lab.wait_status(b["id"], {"succeeded"})
    lab.wait_status(a["id"], {"succeeded"})
    page.goto("/?q=study-pick")
    page.wait_for_selector("body[data-loaded='1']")
    page.check(f"tr[data-run-id='{a['id']}'] input[type=checkbox]")
    page.check(f"tr[data-run-id='{b['id']}'] input[type=checkbox]")
    page.fill("#study-name", "picked runs")
    page.click("#save-study")
    page.wait_for_url(re.compile(r".*/studies/\d+$"))
    page.wait_for_selector("#report[data-finished='1']")
    assert page.inner_text("#study-name") == "picked runs"
    names = page.locator(".report-table tbody th").all_inner_texts()
    assert names == ["study-pick-a", "study-pick-b"]
    assert page.locator("#entries tbody tr").count() == 2


def test_study_text_is_never_rendered_as_html_live_or_exported(page, lab, tmp_path) -> None:
    evil = "</script><img src=x onerror=\"window.__pwned=1\"><!--"
    body = {"name": evil, "description": evil,
            "entries": [{"key": "a", "label": evil, "config": tiny_config()},
                        {"key": "b", "label": "plain", "baseline": "a", "config": tiny_config(lr=0.02)}],
            "claims": [{"kind": "raises", "keys": ["b", "a"], "text": evil}]}
    study = lab.http.post("/api/studies", json=body).json()
    page.goto("/studies")
    page.wait_for_selector("body[data-ready='1']")
    assert evil in page.inner_text("#studies tbody")
    page.goto(f"/studies/{study['id']}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#study-name") == evil and page.inner_text("#study-description") == evil
    assert page.locator(".report-table tbody th").first.inner_text() == evil
    assert page.inner_text(".claims li span:nth-child(2)") == evil
    exported = tmp_path / "evil.html"
    exported.write_text(lab.http.get(f"/api/studies/{study['id']}/report.html").text)
    offline = page.context.new_page()
    offline.goto(exported.as_uri())
    offline.wait_for_selector("body[data-ready='1']")
    assert offline.inner_text("#study-name") == evil
    assert offline.locator(".report-table tbody th").first.inner_text() == evil
    for p in (page, offline):
        assert p.evaluate("window.__pwned") is None
        assert p.locator("img[src=x]").count() == 0
    offline.close()


def test_people_sign_in_launch_runs_and_change_only_their_own(page, browser, lab, artifacts) -> None:
    # an admin makes a user on the Users page
    page.goto("/users")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#new-username", "bea")
    page.fill("#new-display", "Bea <b>B</b>")
    page.fill("#new-password", "bea's password")
    page.click("#make-user")
    page.wait_for_selector("#users tr[data-username='bea']")
    assert "Bea <b>B</b>" in page.inner_text("#users tr[data-username='bea']")  # user text as text
    page.wait_for_function("document.querySelector('#audit tbody').textContent.includes('made bea')")
    # another member's run, made by their script
    otto = lab.member("otto")
    theirs = otto.post("/api/runs", json={"name": "otto's run", "config": tiny_config()}).json()

    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=lab.url)
    bea = context.new_page()
    errors = watch_errors(bea)
    sign_in(bea, "bea", "bea's password", "/runs/new")
    assert "Bea <b>B</b>" in bea.inner_text("#me")
    bea.wait_for_selector("body[data-ready='1']")
    bea.select_option("#preset", "compact")
    bea.fill("#stages", "8 / 16")
    config = submit_run(bea, lab, "bea's run", epochs=2, batch_size=16)
    assert config["epochs"] == 2
    mine = lab.http.get(f"/api/runs/{bea.url.rsplit('/', 1)[1]}").json()
    assert mine["owner"] == "bea"
    bea.wait_for_selector("body[data-ready='1']")
    assert bea.is_visible("#cancel")  # her own run
    bea.goto(f"/runs/{theirs['id']}")
    bea.wait_for_selector("body[data-ready='1']")
    assert "owner otto" in bea.inner_text("#run-facts")
    assert not bea.is_visible("#cancel") and not bea.is_visible("#delete")
    assert bea.evaluate(f"cnn.api('POST', '/api/runs/{theirs['id']}/cancel').then(r => r.status)") == 403
    assert not bea.is_visible("a[href='/users']")  # a member has no Users page
    bea.goto("/users")
    assert "only an admin" in bea.content()
    bea.goto("/")
    bea.click("#sign-out")
    bea.wait_for_url(re.compile(r".*/login$"))
    bea.goto("/runs/new")
    bea.wait_for_url(re.compile(r".*/login\?next=/runs/new$"))
    bea.screenshot(path=str(artifacts / "test_people_bea.png"), full_page=True)
    context.close()
    assert errors == [], errors
    lab.http.post(f"/api/runs/{theirs['id']}/cancel")
    lab.http.post(f"/api/runs/{mine['id']}/cancel")


def test_the_tokens_page_shows_a_new_token_once(page, lab) -> None:
    page.goto("/tokens")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#token-label", "browser token")
    page.fill("#token-days", "30")
    page.click("#make-token")
    page.wait_for_selector("#new-secret:not([hidden])")
    secret = page.inner_text("#secret")
    assert secret.startswith("cnl_")
    page.wait_for_selector("#tokens tbody tr:has-text('browser token')")
    import httpx

    me = httpx.get(f"{lab.url}/api/me", headers={"Authorization": f"Bearer {secret}"}).json()
    assert me["username"] == "tester" and me["via"] == "token"
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_hidden("#new-secret") and secret not in page.content()
    row = page.locator("#tokens tbody tr:has-text('browser token')")
    assert secret[:10] in row.inner_text() and "active" in row.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.revoke").click()
    page.wait_for_selector("#tokens tbody tr:has-text('revoked')")
    assert httpx.get(f"{lab.url}/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_every_page_works_under_its_content_security_policy(browser, lab, artifacts, worker) -> None:
    """The pages as served, policy enforced: each one finishes loading (its scripts ran) and the
    browser reports no refused script, style or image."""
    run = lab.submit(tiny_config(epochs=2), name="csp run")
    lab.wait_status(run["id"], {"succeeded"})
    study = lab.http.post("/api/studies", json={"name": "csp study", "run_ids": [run["id"]]}).json()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=lab.url)
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, "tester", lab.admin_password)
    for path, ready in (("/", "body[data-loaded='1']"), ("/runs/new", "body[data-ready='1']"),
                        (f"/runs/{run['id']}", "#run[data-classes='1']"),
                        (f"/compare?ids={run['id']}", "body[data-ready='1']"),
                        ("/studies", "body[data-ready='1']"), (f"/studies/{study['id']}", "body[data-ready='1']"),
                        ("/sweeps/new", "body[data-ready='1']"), ("/tokens", "body[data-ready='1']"),
                        ("/users", "body[data-ready='1']"), ("/account", "body[data-ready='1']")):
        page.goto(path)
        page.wait_for_selector(ready, timeout=60_000)
    page.goto("/docs")  # Swagger UI from the installed package, under the same policy
    page.wait_for_selector(".swagger-ui .info", timeout=60_000)
    assert page.locator(".opblock").count() > 40  # every operation is listed
    page.goto(f"/runs/{run['id']}")
    page.wait_for_selector("#acc-chart .main-svg", timeout=60_000)  # Plotly drew under the policy
    page.screenshot(path=str(artifacts / "test_csp_run_page.png"), full_page=True)
    context.close()
    assert errors == [], errors


def test_progress_moves_inside_an_epoch_on_the_run_page_and_the_list(page, lab, worker) -> None:
    # 400 batches an epoch, of a net wide enough that an epoch outlasts several heartbeats on a fast CPU
    wide = {**TINY_ARCH, "stages": [[64, 64], [96, 96]], "name": "wider"}
    # 20 epochs: on a fast CPU three ended before the cancel below reached the worker (then it succeeded)
    run = lab.submit(tiny_config(architecture=wide, epochs=20, batch_size=1), name="progress")
    page.goto(f"/runs/{run['id']}")
    page.wait_for_selector("#run[data-progress]", timeout=60_000)
    # two reports of one epoch, the later further on (a fast CPU may end an epoch between two
    # heartbeats: then the next epoch's reports are compared, never two epochs' with each other)
    page.wait_for_function(
        "(() => { const p = document.getElementById('run').dataset.progress.split(':');"
        " const last = window.lastProgress; window.lastProgress = p;"
        " return !!last && p[0] === last[0] && Number(p[1]) > Number(last[1]); })()", timeout=30_000)
    assert page.is_visible("#epoch-progress")
    text = page.inner_text("#progress-text")
    assert re.search(r"epoch \d+ of 20: batch", text) and "images/s" in text and "left in this epoch" in text
    page.goto("/?q=progress")
    page.wait_for_selector("body[data-loaded='1']")
    page.wait_for_selector(f"tr[data-run-id='{run['id']}'] progress.row-progress", timeout=30_000)
    before = int(page.evaluate("Number(document.body.dataset.updates || 0)"))
    # pushed, not polled
    page.wait_for_function(f"Number(document.body.dataset.updates || 0) > {before}", timeout=30_000)
    lab.http.post(f"/api/runs/{run['id']}/cancel")
    page.wait_for_selector(f"tr[data-run-id='{run['id']}'] .status.cancelled", timeout=60_000)
    assert page.locator(f"tr[data-run-id='{run['id']}'] progress").count() == 0
