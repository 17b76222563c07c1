"""The one chart module (frontend/static/js/charts.js) in Chromium: placeholders where a chart has
nothing to draw (never empty axes from -100% to 400%), percent axes inside 0-100% whose tick labels
never repeat, markers on series of few points, sizes read 16.3M, legends that leave the plot its
room, point labels inside the chart, narrow screens and dark mode; then the pages that use it: a
queued run, a compare of runs without epochs, a run of one epoch."""

from __future__ import annotations

import re
from pathlib import Path

import plotly
import pytest

from backend.searches.figures import percent_axis
from tests.utils.factories import tiny_config
from tests.utils.services import ROOT

pytestmark = pytest.mark.integration

JS = ROOT / "frontend" / "static" / "js"
PLOTLY = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"  # as the pages get it
DARK = "@media (prefers-color-scheme: dark) { :root { --fg: #eeeeee; --bg: #111111; --line: #444444; } }"
RANGE_OK = "(r) => Array.isArray(r) && r[0] >= 0 && r[1] <= 1 && r[0] < r[1]"
RECT = "(n) => { const r = n.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; }"


@pytest.fixture(scope="module")
def charts(browser):
    """A blank page with Plotly, common.js and charts.js: the module alone, without a lab."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_content(f"<!doctype html><html><head><style>{DARK} body {{ font-family: sans-serif; }}"
                     " .chart { min-height: 320px; position: relative; }</style></head><body></body></html>")
    page.add_script_tag(path=str(PLOTLY))
    page.add_script_tag(path=str(JS / "common.js"))
    page.add_script_tag(path=str(JS / "charts.js"))
    yield page
    context.close()
    assert errors == [], errors


def fresh(page, width: int = 700) -> None:
    """An empty chart box #c, width px wide."""
    page.evaluate("""(w) => { document.body.replaceChildren();
      const d = document.createElement('div'); d.id = 'c'; d.className = 'chart'; d.style.width = w + 'px';
      document.body.append(d); }""", width)


def ticks(page, axis: str) -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll('#c .{axis}tick text'), (t) => t.textContent)")


def test_pct_axis_is_the_servers_percent_axis(charts) -> None:
    cases = [[], [0.5], [0.11, 0.112], [0.1, 0.9], [0.0, 1.0], [0.999, 1.0], [0.0, 0.001], [0.852, 0.861, 0.87],
             [0.2, 0.25, 0.3], [0.0, 0.86], [0.4, 0.7, 0.55, 0.61]]
    js = charts.evaluate("(cases) => cases.map((v) => cnn.charts.pctAxis(v))", cases)
    for values, axis in zip(cases, js, strict=True):
        py = percent_axis(values)
        keys = ("range", "dtick", "tickformat")
        assert [axis[k] for k in keys] == [py[k] for k in keys], values


def test_sizes_read_as_people_read_them(charts) -> None:
    shown = charts.evaluate("[16258143, 245000, 1774, 999600, 950, 0, 256000, 12509136].map(cnn.charts.si)")
    assert shown == ["16.3M", "245k", "1.77k", "1M", "950", "0", "256k", "12.5M"]


def test_a_chart_without_data_shows_a_placeholder_and_sane_axes(charts) -> None:
    fresh(charts)
    charts.evaluate("cnn.charts.lines('c', [{x: [], y: [], name: 'test'}], {title: 'Accuracy', pct: true, epochs: 30})")
    assert charts.inner_text("#c .chart-placeholder") == "Waiting for the first epoch…"
    assert charts.evaluate(f"({RANGE_OK})(document.getElementById('c').layout.yaxis.range)")
    assert charts.evaluate(f"({RANGE_OK})(document.getElementById('c')._fullLayout.yaxis.range)")
    assert all(not t.startswith(("-", "−")) for t in ticks(charts, "y")), ticks(charts, "y")
    charts.evaluate("cnn.charts.lines('c', [{x: [1, 2], y: [0.3, 0.4], name: 'test'}], {pct: true})")
    assert charts.locator("#c .chart-placeholder").count() == 0  # the first epoch replaces it
    fresh(charts)
    charts.evaluate("cnn.charts.scatter('c', [], {pct: true, si: true, empty: 'No run has finished yet.'})")
    assert charts.inner_text("#c .chart-placeholder") == "No run has finished yet."
    assert charts.evaluate(f"({RANGE_OK})(document.getElementById('c')._fullLayout.yaxis.range)")
    assert ticks(charts, "x") == [] or all(not t.startswith(("-", "−")) for t in ticks(charts, "x"))


def test_one_epoch_is_a_marker_and_no_tick_label_repeats(charts) -> None:
    fresh(charts)
    charts.evaluate("cnn.charts.lines('c', [{x: [1], y: [0.112], name: 'test'}, {x: [1], y: [0.11], name: 'train',"
                    " line: {dash: 'dash'}}], {pct: true})")
    modes = charts.evaluate("document.getElementById('c').data.map((t) => t.mode)")
    assert all("markers" in m for m in modes), modes
    for axis in ("x", "y"):
        labels = ticks(charts, axis)
        assert labels and len(set(labels)) == len(labels), (axis, labels)  # never "11%, 11%" nor "1, 1, 2"
    assert ticks(charts, "x") == ["1"]
    many = [{"x": list(range(1, 41)), "y": [0.1 + i / 50 for i in range(40)]}]
    charts.evaluate("(t) => cnn.charts.lines('c', t, {pct: true})", many)
    assert charts.evaluate("document.getElementById('c').data[0].mode") == "lines"  # 40 points: a line
    for values in ([0.5, 0.52], [0.851, 0.853], [0.0, 1.0], [0.97, 0.999]):
        charts.evaluate("(v) => cnn.charts.lines('c', [{x: v.map((_, i) => i + 1), y: v}], {pct: true})", values)
        labels = ticks(charts, "y")
        assert len(labels) >= 2 and len(set(labels)) == len(labels), (values, labels)


def test_sizes_on_an_axis_read_in_si_units(charts) -> None:
    fresh(charts)
    charts.evaluate("cnn.charts.scatter('c', [{x: [16258143], y: [0.5], mode: 'markers'}], {pct: true, si: true})")
    labels = ticks(charts, "x")
    assert labels and all(re.fullmatch(r"\d{1,3}(\.\d{1,2})?[kMG]?", t) for t in labels), labels
    assert len(set(labels)) == len(labels)


def test_a_long_legend_leaves_the_plot_its_room_and_labels_stay_inside(charts) -> None:
    fresh(charts, 700)
    traces = [{"x": [1, 2, 3, 4], "y": [0.2, 0.3, 0.35, 0.4 + i / 100],
               "name": f"a rather long run name number {i} (#{i})"} for i in range(10)]
    draw = "([t, legend]) => cnn.charts.lines('c', t, {title: 'Accuracy', subtitle: 'train dashed', pct: true, legend})"
    plot_height = "document.getElementById('c')._fullLayout._size.h"
    charts.evaluate(draw, [traces, False])
    alone = charts.evaluate(plot_height)
    charts.evaluate(draw, [traces, None])
    assert charts.evaluate(plot_height) >= alone - 12  # the chart grows by its legend: the plot keeps its height
    box = f"(s) => ({RECT})(document.querySelector(s))"
    legend, xtitle = charts.evaluate(box, "#c .legend"), charts.evaluate(box, "#c .xtitle")
    assert legend[0] >= xtitle[1] - 1, (legend, xtitle)  # below the axis title, not over it
    names = charts.evaluate("document.getElementById('c').data.map((t) => t.name)")
    assert all(len(n) <= 32 for n in names), names
    fresh(charts, 600)
    points = {"x": [1000, 120000, 250000], "y": [0.2, 0.999, 1.0], "mode": "markers+text", "textposition": "top center",
              "text": ["a", "a point label", "another point label"]}
    charts.evaluate("(p) => cnn.charts.scatter('c', [p], {pct: true, si: true})", points)
    top, bottom, left, right = charts.evaluate(box, "#c")
    labels = charts.evaluate(f"Array.from(document.querySelectorAll('#c .textpoint text'), {RECT})")
    assert len(labels) == 3
    for label in labels:  # inside the chart: never cut by its edge
        assert top <= label[0] and label[1] <= bottom and left <= label[2] and label[3] <= right, (label, top, left)
    sweep = {"x": [516256] * 4, "y": [0.28, 0.30, 0.30, 0.31], "mode": "markers+text",  # one size, four runs
             "text": [f"browser sweep batch_size={b} (#{i})" for i, b in enumerate((4, 8, 16, 32))]}
    charts.evaluate("(p) => cnn.charts.scatter('c', [p], {pct: true, si: true})", sweep)
    texts = charts.evaluate("Array.from(document.querySelectorAll('#c .textpoint text'), (t) => t.textContent)")
    assert len([t for t in texts if t]) == 3 and all(len(t) <= 24 for t in texts), texts  # one label a spot
    for label in charts.evaluate(f"Array.from(document.querySelectorAll('#c .textpoint text'), {RECT})"):
        assert left <= label[2] and label[3] <= right, (label, left, right)


def test_a_narrow_screen_gets_a_chart_that_fits(charts) -> None:
    fresh(charts, 320)
    points = {"x": [1000, 2000], "y": [0.5, 0.6], "mode": "markers+text", "text": ["a", "b"]}
    charts.evaluate("(p) => cnn.charts.scatter('c', [p], {pct: true, si: true, title: 'Accuracy vs size'})", points)
    assert charts.evaluate("document.querySelector('#c .main-svg').getBoundingClientRect().width") <= 320
    assert charts.evaluate("document.getElementById('c').data[0].mode") == "markers"  # no labels to collide


def test_charts_follow_dark_mode(charts) -> None:
    charts.emulate_media(color_scheme="light")
    fresh(charts)
    charts.evaluate("cnn.charts.lines('c', [{x: [1, 2], y: [0.3, 0.4]}], {pct: true})")
    light = charts.evaluate("document.getElementById('c')._fullLayout.font.color")
    charts.emulate_media(color_scheme="dark")  # redrawn by itself
    charts.wait_for_function("document.getElementById('c')._fullLayout.font.color !== " + repr(light))
    assert charts.evaluate("document.getElementById('c')._fullLayout.font.color") == "#eeeeee"
    assert charts.evaluate("document.getElementById('c')._fullLayout.plot_bgcolor").replace(' ', '') == "rgba(0,0,0,0)"
    charts.emulate_media(color_scheme="light")


def in_range(page, chart: str) -> bool:
    return page.evaluate(f"({RANGE_OK})(document.getElementById('{chart}')._fullLayout.yaxis.range)")


def test_a_queued_run_and_a_compare_of_runs_without_epochs_show_placeholders(page, lab) -> None:
    runs = [lab.submit(tiny_config(), name=f"waiting {i}") for i in range(2)]  # no worker: they stay queued
    try:
        page.goto(f"/runs/{runs[0]['id']}")
        page.wait_for_selector("body[data-ready='1']")
        assert "queued" in page.inner_text("#acc-chart .chart-placeholder")
        assert page.locator("#loss-chart .chart-placeholder").count() == 1
        assert page.evaluate(f"({RANGE_OK})(document.getElementById('acc-chart').layout.yaxis.range)")
        assert in_range(page, "acc-chart")
        page.goto(f"/compare?ids={runs[0]['id']},{runs[1]['id']}")
        page.wait_for_selector("body[data-ready='1']")
        for chart in ("cmp-acc", "cmp-loss", "cmp-macs", "cmp-params"):
            assert page.locator(f"#{chart} .chart-placeholder").count() == 1, chart
        for chart in ("cmp-acc", "cmp-macs", "cmp-params"):
            assert in_range(page, chart), chart
        assert page.evaluate("document.getElementById('cmp-params').layout.shapes[0].x0") == 256000  # the budget
    finally:
        for run in runs:
            lab.http.post(f"/api/runs/{run['id']}/cancel")
    page.goto(f"/runs/{runs[0]['id']}")
    page.wait_for_selector("body[data-ready='1']")
    assert "cancelled" in page.inner_text("#acc-chart .chart-placeholder")


def test_a_run_of_one_epoch_draws_markers_on_every_page(page, lab, worker) -> None:
    run = lab.submit(tiny_config(epochs=1), name="one epoch")
    lab.wait_status(run["id"], {"succeeded"})
    page.goto(f"/runs/{run['id']}")
    page.wait_for_selector("#run[data-classes='1']")
    modes = page.evaluate("document.getElementById('acc-chart').data.map((t) => t.mode)")
    assert modes and all("markers" in m for m in modes), modes
    assert page.locator("#acc-chart .chart-placeholder").count() == 0
    page.goto(f"/compare?ids={run['id']}")
    page.wait_for_selector("body[data-ready='1']")
    modes = page.evaluate("document.getElementById('cmp-acc').data.map((t) => t.mode)")
    assert modes and all("markers" in m for m in modes), modes
    assert in_range(page, "cmp-acc") and in_range(page, "cmp-params")
    labels = page.evaluate("Array.from(document.querySelectorAll('#cmp-acc .ytick text'), (t) => t.textContent)")
    assert len(set(labels)) == len(labels), labels
    assert page.evaluate("Array.from(document.querySelectorAll('#cmp-acc .xtick text'), (t) => t.textContent)") == ["1"]
