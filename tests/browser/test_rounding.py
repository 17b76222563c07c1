"""The trainer's epoch line is the dashboard's: frontend/static/js/common.js's seedLine, run in
Chromium, against worker.trainer's EpochMetrics.seed_line (backend.core.formats) and the script
client's copy, on percentages and decimals that fall exactly halfway (where Python's round() and
format() go to the even neighbour and JavaScript goes up)."""

from __future__ import annotations

import pytest

from backend.core import formats
from cnnlab_client.watch import seed_line as client_seed_line
from tests.utils.services import ROOT

pytestmark = pytest.mark.integration

COMMON_JS = ROOT / "frontend" / "static" / "js" / "common.js"
HALVES = [0.125, 0.135, 0.145, 0.155, 0.285, 0.575, 0.985, 0.005, 0.5, 0.995, 0.015, 0.565, 0.045, 0.0, 1.0,
          0.0049999999999999996, 0.12499999999999999]
LOSSES = [0.0625, 0.1875, 1.0005, 0.2655, 2.5, 0.0]  # 0.0625 and 0.1875 are exact ties at three decimals
SECONDS = [0.125, 1.375, 27.215, 27.2201, 0.005, 63.0]  # 0.125: a tie at two decimals; 27.215 is just below one


@pytest.fixture(scope="module")
def dashboard(browser):
    """A blank page with common.js loaded: its formatters, without a lab."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(content=COMMON_JS.read_text())
    yield page
    context.close()


def metrics() -> list[dict[str, float | int]]:
    out: list[dict[str, float | int]] = []
    for i, train in enumerate(HALVES):
        test = HALVES[-1 - i]
        out.append({"epoch": i + 1, "train_loss": LOSSES[i % len(LOSSES)], "train_acc": train, "test_loss": 0.5,
                    "test_acc": test, "lr": 0.1, "seconds": SECONDS[i % len(SECONDS)]})
    return out


def test_the_trainers_line_is_the_dashboards_on_halves(dashboard) -> None:
    from worker.trainer import EpochMetrics

    rows = metrics()
    shown = dashboard.evaluate("(rows) => rows.map((m) => cnn.seedLine(m))", rows)
    printed = [EpochMetrics(**m).seed_line() for m in rows]
    assert printed == shown
    assert [client_seed_line(m) for m in rows] == shown
    assert shown[0] == "[epoch 1] train accuracy: 13% test accuracy: 12% loss: 0.063 duration: 0.13"


def test_the_percent_and_fixed_formatters_are_javascripts(dashboard) -> None:
    values = [*HALVES, *(i / 1000 for i in range(1001)), *(i / 200 for i in range(201)), -0.0, -0.005, 27.215]
    js = dashboard.evaluate("(xs) => xs.map((x) => [Math.round(x * 100), x.toFixed(0), x.toFixed(1), x.toFixed(2),"
                            " x.toFixed(3)])", values)
    python = [[formats.percent(x), *(formats.fixed(x, d) for d in range(4))] for x in values]
    assert python == js
