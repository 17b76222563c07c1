"""The search page's figures wear the lab's look (backend/searches/figures.py): no grey background,
the dashboard's palette, accuracies on percent axes that stay inside 0-100% and never repeat a tick
label, sizes read 16.3M, and no figure at all before two trials have trained (the page shows a
placeholder with the note instead of blank boxes)."""

from __future__ import annotations

import json
import re

import pytest

from backend.searches.figures import MIN_TRIALS, PALETTE, percent_axis, size_axis, whole_axis
from tests.backend.searches.test_searches import TINY_BASE, create, queued, train
from tests.utils.services import ROOT

FIGURES = ("pareto_params", "pareto_macs", "history", "importances", "parallel", "intermediate")


def tick_labels(axis: dict) -> list[str]:
    """The labels a percent axis shows: every dtick from the range's start, written with its format."""
    lo, hi = axis["range"]
    digits = 1 if axis["tickformat"] == ".1%" else 0
    first = round(lo / axis["dtick"])
    out = []
    for i in range(first, first + 1000):
        v = i * axis["dtick"]
        if v > hi + 1e-9:
            break
        out.append(f"{100 * v:.{digits}f}%")
    return out


@pytest.mark.parametrize("values", [[], [0.5], [0.11, 0.112], [0.1, 0.9], [0.0, 1.0], [0.999, 1.0], [0.0, 0.001],
                                    [0.852, 0.861, 0.87], [0.2, 0.25, 0.3], [0.0, 0.86]])
def test_a_percent_axis_stays_inside_0_100_and_never_repeats_a_label(values) -> None:
    axis = percent_axis(values)
    lo, hi = axis["range"]
    assert 0.0 <= lo < hi <= 1.0
    assert all(lo <= v <= hi for v in values)
    labels = tick_labels(axis)
    assert 2 <= len(labels) <= 8, labels
    assert len(set(labels)) == len(labels), labels  # never "11%, 11%"
    assert percent_axis([], full=True)["range"] == [0.0, 1.0]


def test_sizes_read_in_si_units_and_whole_numbers_step_by_whole_numbers() -> None:
    axis = size_axis([16_258_143, 3_000_000])
    assert axis["tickformat"] == ".3~s" and axis["range"][0] == 0 and axis["range"][1] > 16_258_143
    assert whole_axis([0, 1])["dtick"] == 1 and whole_axis([0, 119])["dtick"] == 20
    assert whole_axis([3])["range"] == [2.5, 3.5]  # one trial: its number alone, no "3, 3, 4"


def test_the_palette_is_the_dashboards() -> None:
    common = (ROOT / "frontend" / "static" / "js" / "common.js").read_text()
    colours = re.search(r"colors: (\[[^\]]*\])", common)
    assert colours and json.loads(colours.group(1)) == PALETTE


def assert_looks_like_the_lab(name: str, fig: dict) -> None:
    layout = fig["layout"]
    assert layout["plot_bgcolor"] == "rgba(0,0,0,0)" and layout["paper_bgcolor"] == "rgba(0,0,0,0)", name
    template = layout.get("template") or {}
    assert "plot_bgcolor" not in (template.get("layout") or {}), name  # not plotly's grey #E5ECF6
    assert layout["colorway"] == PALETTE, name


def assert_percent(axis: dict, what: str) -> None:
    assert axis["tickformat"] in (".0%", ".1%"), what  # 15%, not 0.15
    lo, hi = axis["range"]
    assert 0.0 <= lo < hi <= 1.0, what
    labels = tick_labels(axis)
    assert len(set(labels)) == len(labels), (what, labels)


def test_no_figure_before_two_trials_then_every_figure_in_the_labs_look(client) -> None:
    search = create(client, n_trials=3, max_concurrent=3, seed=2, base_config={**TINY_BASE, "architecture": "compact"},
                    space={"architecture.width_mult": {"choice": [0.25, 0.5, 2.0]}, "lr": {"float": [0.01, 0.5]}})
    url = f"/api/searches/{search['id']}/figures"
    waiting = queued(client, search["id"])
    assert len(waiting) == 3
    for done in range(MIN_TRIALS):
        figures = client.get(url).json()
        assert not set(FIGURES) & set(figures), f"a figure after {done} trials: {set(FIGURES) & set(figures)}"
        for name in FIGURES:  # the note is what the page shows in the figure's place
            assert figures["notes"][name].startswith(f"Drawn once {MIN_TRIALS} trials"), figures["notes"][name]
        train(client, waiting[done]["run_id"], [0.31 + 0.2 * done, 0.42 + 0.2 * done])
    figures = client.get(url).json()
    assert set(FIGURES) <= set(figures), figures["notes"]
    for name in FIGURES:
        assert_looks_like_the_lab(name, figures[name])
    for name in ("pareto_params", "pareto_macs", "history", "intermediate"):
        assert_percent(figures[name]["layout"]["yaxis"], name)
    assert_percent(figures["importances"]["layout"]["xaxis"], "importances")
    for name in ("pareto_params", "pareto_macs"):
        assert figures[name]["layout"]["xaxis"]["tickformat"] == ".3~s", name  # 16.3M, never 16.258143M
        assert figures[name]["layout"]["xaxis"]["range"][0] == 0
    assert figures["pareto_params"]["layout"]["xaxis"]["range"][1] > 256_000  # the budget's line in view
    for name in ("history", "intermediate"):
        x = figures[name]["layout"]["xaxis"]
        assert x["tickformat"] == "d" and x["dtick"] >= 1, name  # whole trials and epochs
    parallel = figures["parallel"]["layout"]  # Optuna draws its axes' ticks as annotations
    assert parallel["xaxis"]["ticktext"] == ["validation accuracy", "width_mult", "lr"]  # whole, no "architecture."
    axis = parallel["xaxis"]["ticktext"].index("validation accuracy")
    ticks = [a["text"] for a in parallel["annotations"] if a["x"] == axis]
    assert ticks and all(t.endswith("%") for t in ticks) and len(set(ticks)) == len(ticks), ticks
    hover = [t["customdata"][axis][1] for t in figures["parallel"]["data"] if t.get("customdata")]
    assert hover and all(h.endswith("%") for h in hover), hover
    assert "Infeasible Trial" not in [t.get("name") for t in figures["history"]["data"]]  # no empty key
