"""The run page's charts people expect (issue 30): the learning rate per epoch, a log-scale toggle for
the loss, a wall-clock x axis, the metrics as CSV, and the worker's system metrics (CPU, memory, GPU,
images/s) — on a run whose epochs and samples a worker played through the API reported."""

from __future__ import annotations

import csv
import io
import itertools
import os

import httpx
import pytest

from tests.utils.factories import metric, tiny_config

pytestmark = pytest.mark.integration

WORKER_TOKEN = os.environ["CNNLAB_WORKER_TOKEN"]  # tests/conftest.py; the lab's processes inherit it
LRS = [0.05, 0.1, 0.02, 0.004]
SECONDS = [12.5, 10.0, 11.0, 9.5]
CPU = [95.0, 180.5, 120.0]


def trained_run(lab, samples: bool = True) -> int:
    """A succeeded run of four epochs (their lr and seconds differ), with three system samples."""
    run = lab.submit(tiny_config(epochs=4), name="charts extra")
    worker = httpx.Client(base_url=lab.url, timeout=30, headers={"Authorization": f"Bearer {WORKER_TOKEN}"})
    base = f"/api/worker/runs/{run['id']}"
    claim = worker.post(f"{base}/claim", json={"host": "fake", "device": "cpu"}).json()
    worker.headers["X-Run-Lease"] = claim["lease"]
    epochs = [{**metric(e), "lr": LRS[e - 1], "seconds": SECONDS[e - 1]} for e in (1, 2, 3, 4)]
    assert worker.post(f"{base}/epochs", json={"attempt": claim["attempt"], "metrics": epochs}).status_code == 204
    if samples:
        system = [{"at_s": 2.0 * (i + 1), "cpu_percent": c, "rss_bytes": (600 + 10 * i) * 2**20, "gpu_util": None,
                   "gpu_mem_bytes": None, "images_per_s": 400.0 + i} for i, c in enumerate(CPU)]
        r = worker.post(f"{base}/heartbeat", json={"attempt": claim["attempt"], "system": system})
        assert r.status_code == 200 and r.json()["current"], r.text
    r = worker.post(f"{base}/finish", json={"attempt": claim["attempt"], "status": "succeeded", "reason": "done"})
    assert r.status_code == 204, r.text
    worker.close()
    return int(run["id"])


def chart(page, el: str, what: str):
    return page.evaluate(f"(() => {{ const c = document.getElementById('{el}'); return {what}; }})()")


def open_run(page, run_id: int) -> None:
    page.goto(f"/runs/{run_id}")
    page.wait_for_function("document.body.dataset.ready === '1'"
                           " && document.getElementById('run').dataset.systemPoints !== undefined")


def test_the_learning_rate_the_log_loss_and_the_wall_clock_axis(page, lab) -> None:
    run_id = trained_run(lab)
    open_run(page, run_id)
    # the learning rate, one point per epoch
    assert chart(page, "lr-chart", "c.classList.contains('chart-drawn') && !c.classList.contains('chart-empty')")
    assert chart(page, "lr-chart", "c.data[0].y") == LRS
    assert chart(page, "lr-chart", "c.data[0].x") == [1, 2, 3, 4]
    # the loss on a log scale, and back
    assert chart(page, "loss-chart", "c.layout.yaxis.type || 'linear'") == "linear"
    page.check("#loss-log")
    page.wait_for_function("document.getElementById('loss-chart').layout.yaxis.type === 'log'")
    assert chart(page, "loss-chart", "c._fullLayout.yaxis.type") == "log"
    assert chart(page, "acc-chart", "c.layout.yaxis.type || 'linear'") == "linear"  # accuracy keeps its percent axis
    page.uncheck("#loss-log")
    page.wait_for_function("(document.getElementById('loss-chart').layout.yaxis.type || 'linear') === 'linear'")
    # the wall-clock x axis: the epochs' seconds summed, on the accuracy, loss and learning-rate charts
    clock = list(itertools.accumulate(SECONDS))
    page.select_option("#chart-x", "time")
    page.wait_for_function("document.getElementById('run').dataset.chartX === 'time'")
    for el in ("acc-chart", "loss-chart", "lr-chart"):
        assert chart(page, el, "c.data[0].x") == clock, el
        assert chart(page, el, "c.layout.xaxis.title.text") == "training time (s)", el
    lo, hi = chart(page, "acc-chart", "c._fullLayout.xaxis.range")
    assert lo <= clock[0] and hi >= clock[-1]
    page.select_option("#chart-x", "epoch")
    page.wait_for_function("document.getElementById('run').dataset.chartX === 'epoch'")
    assert chart(page, "acc-chart", "c.data[0].x") == [1, 2, 3, 4]
    assert chart(page, "acc-chart", "c.layout.xaxis.title.text") == "epoch"


def test_the_csv_link_downloads_the_runs_metrics(page, lab) -> None:
    run_id = trained_run(lab, samples=False)
    open_run(page, run_id)
    with page.expect_download() as info:
        page.click("#metrics-csv")
    download = info.value
    assert download.suggested_filename == f"run{run_id}-metrics.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["lr"]) for r in rows] == LRS and [float(r["seconds"]) for r in rows] == SECONDS


def test_the_system_charts_draw_the_samples_and_say_when_there_are_none(page, lab) -> None:
    run_id = trained_run(lab)
    open_run(page, run_id)
    assert page.get_attribute("#run", "data-system-points") == "3"
    assert chart(page, "system-use", "c.classList.contains('chart-drawn') && !c.classList.contains('chart-empty')")
    assert chart(page, "system-use", "c.data.map((t) => t.name)") == ["CPU (worker process)"]  # no GPU: no GPU line
    assert chart(page, "system-use", "c.data[0].y") == CPU
    assert chart(page, "system-use", "c.data[0].x") == [2.0, 4.0, 6.0]
    assert chart(page, "system-mem", "c.data[0].y") == [600, 610, 620]  # MiB
    assert chart(page, "speed-chart", "c.data[0].y") == [400.0, 401.0, 402.0]
    assert "no GPU figures" in page.inner_text("#system-facts")
    # a run that recorded none says so in place of each chart
    bare = trained_run(lab, samples=False)
    open_run(page, bare)
    assert page.get_attribute("#run", "data-system-points") == "0"
    for el in ("system-use", "system-mem", "speed-chart"):
        assert page.inner_text(f"#{el} .chart-placeholder") == "No system metrics were recorded for this run."


def test_the_options_fit_a_narrow_screen_in_dark_mode(page, lab) -> None:
    run_id = trained_run(lab)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    open_run(page, run_id)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for el in ("#chart-options", "#lr-chart", "#system-use"):
        box = page.locator(el).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, el
    # the charts follow the dark theme: their text is the page's light foreground
    fg = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--fg').trim()")
    assert chart(page, "lr-chart", "c._fullLayout.font.color").lower() == fg.lower()
    page.check("#loss-log")
    page.wait_for_function("document.getElementById('loss-chart').layout.yaxis.type === 'log'")
