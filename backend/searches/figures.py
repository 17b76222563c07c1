"""The search page's figures as Plotly JSON: Optuna's own (optimisation history, parameter
importances, parallel coordinates, and its Pareto front for two objectives), drawn over the trials
that trained (samples over the budget never trained: counting them at accuracy 0 would bend every
figure), and the Pareto fronts of best test accuracy against parameters and against MACs, with
the parameter budget's line and the infeasible samples marked.

Every figure wears the lab's look (``style``): no template (no grey background), transparent
backgrounds, the dashboard's palette, accuracies on percent axes whose range and step come from the
values shown (``percent_axis``, the rule of frontend/static/js/charts.js's pctAxis), sizes read 16.3M
and 245k, whole trial numbers and epochs. The page (cnn.charts.figure) adds its colours and font. A
figure is drawn once two trials have trained (``MIN_TRIALS``); before, ``notes`` says what it waits
for and the page shows that in the figure's place."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from backend.core.statuses import TrialState
from backend.searches.engine import directions
from backend.searches.registries import OBJECTIVES, counted
from backend.searches.schemas import SearchDetail
from backend.searches.views import objective, pareto

ACCURACY = "validation accuracy"  # the objective: held-out training images
# common.js's cnn.colors, the dashboard's palette (tests/backend/searches/test_figures.py holds them together)
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]
BAD = "#b3261e"  # app.css's --bad: the budget
MUTED = "#9aa4b2"  # pruned trials
MIN_TRIALS = 2  # a figure is drawn once this many trials have trained: one point tells nothing

PCT_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
INT_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000)


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def percent_axis(values: Iterable[Any], *, full: bool = False, min_span: float = 0.04, pad: float = 0.05,
                 ticks: int = 6) -> dict[str, Any]:
    """A percent axis over fractions: padded, at least ``min_span`` wide, never outside 0-100%, its
    step chosen from the range so no two ticks read the same (charts.js's pctAxis, the same rule)."""
    ys = _finite(values)
    lo, hi = 0.0, 1.0
    if not full and ys:
        lo, hi = min(ys), max(ys)
        grow = max(0.0, min_span - (hi - lo)) / 2 + pad * max(hi - lo, min_span)
        lo, hi = lo - grow, hi + grow
    dtick = next((s for s in PCT_STEPS if (hi - lo) / s <= ticks + 1e-9), 0.2)
    lo = max(0.0, math.floor(lo / dtick + 1e-9) * dtick)
    hi = min(1.0, math.ceil(hi / dtick - 1e-9) * dtick)
    return {"range": [round(lo, 6), round(hi, 6)], "autorange": False, "tick0": 0, "dtick": dtick,
            "tickformat": ".1%" if dtick < 0.01 else ".0%", "hoverformat": ".1%"}


def whole_axis(values: Iterable[Any], ticks: int = 10) -> dict[str, Any]:
    """Whole numbers (trial numbers, epochs): a step of 1, 2, 5, 10… that never repeats a label."""
    xs = _finite(values) or [0.0]
    lo, hi = min(xs), max(xs)
    span = hi - lo
    dtick = next((s for s in INT_STEPS if span / s <= ticks), math.ceil(span / ticks))
    pad = max(0.5, 0.02 * span)
    return {"range": [lo - pad, hi + pad], "autorange": False, "tick0": 0, "dtick": dtick, "tickformat": "d",
            "hoverformat": "d"}


def size_axis(values: Iterable[Any]) -> dict[str, Any]:
    """A count (parameters, MACs) from 0 to a little past the largest: 0, 5M, 10M (never 16.258143M)."""
    xs = _finite(values)
    top = max(xs) if xs else 1.0
    return {"range": [0, top * 1.08 if top > 0 else 1], "autorange": False, "tickformat": ".3~s",
            "hoverformat": ",d", "rangemode": "tozero"}


def _values(fig: go.Figure, axis: str) -> list[Any]:
    """Every value the traces of ``fig`` put on its first x or y axis."""
    out: list[Any] = []
    for trace in fig.data:
        if trace.type in ("scatter", "bar", "scattergl"):
            out.extend(getattr(trace, axis) or ())
    return out


def style(fig: go.Figure, *, title: str | None = None, pct: str = "", size: str = "", whole: str = "") -> go.Figure:
    """The lab's look (see the module's docstring); ``pct``, ``size`` and ``whole`` name the axes
    ("x", "y", "xy") that hold accuracies, counts and whole numbers."""
    fig.update_layout(template="none", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", colorway=PALETTE)
    if title is not None:
        fig.update_layout(title={"text": title})
    for axis in ("x", "y"):
        values = _values(fig, axis)
        spec = (percent_axis(values) if axis in pct else size_axis(values) if axis in size
                else whole_axis(values) if axis in whole else None)
        if spec is not None:
            fig.update_layout({f"{axis}axis": spec})
    return fig


def _figure(fig: go.Figure) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(fig.to_json())
    return out


def trained_study(trials: list[FrozenTrial], directions: list[StudyDirection]) -> optuna.Study:
    """An in-memory study of the trials that trained (complete or pruned), for Optuna's plots."""
    study = optuna.create_study(directions=directions)
    study.add_trials([t for t in trials if counted(t) and t.state in (OptunaState.COMPLETE, OptunaState.PRUNED)])
    return study


def size_front(detail: SearchDetail, size_key: str, budget: int | None) -> dict[str, Any]:
    label = "parameters" if size_key == "net_params" else "MACs"
    colours = {TrialState.COMPLETED: PALETTE[0], TrialState.PRUNED: MUTED, TrialState.RUNNING: PALETTE[4],
               TrialState.FAILED: PALETTE[1]}
    trained = [t for t in detail.trials if objective(t) is not None and t.state in colours]
    fig = go.Figure()
    for state, colour in colours.items():
        group = [t for t in trained if t.state == state]
        if group:
            fig.add_trace(go.Scatter(
                x=[getattr(t, size_key) for t in group], y=[objective(t) for t in group], mode="markers",
                name=str(state), marker={"color": colour, "size": 9},
                text=[f"trial {t.number}" for t in group], hovertemplate="%{text}<br>%{x:,} " + label
                + "<br>%{y:.2%}<extra></extra>"))
    completed = [t for t in trained if t.state == TrialState.COMPLETED]
    on_front = set(pareto([(t.number, objective(t) or 0.0, float(getattr(t, size_key) or 0)) for t in completed]))
    front = sorted((t for t in completed if t.number in on_front), key=lambda t: getattr(t, size_key) or 0)
    if front:
        fig.add_trace(go.Scatter(x=[getattr(t, size_key) for t in front], y=[objective(t) for t in front],
                                 mode="lines", line={"shape": "hv", "color": PALETTE[0]}, name="Pareto front"))
    over = [t for t in detail.trials if t.state == TrialState.INFEASIBLE and getattr(t, size_key)]
    if over:
        fig.add_trace(go.Scatter(x=[getattr(t, size_key) for t in over], y=[0.0] * len(over), mode="markers",
                                 name=f"over the budget ({len(over)}, never trained)",
                                 marker={"symbol": "x", "color": BAD, "size": 8}))
    if budget is not None:
        fig.add_vline(x=budget, line={"dash": "dash", "color": BAD},
                      annotation_text=f"budget {budget:,}", annotation_position="top left",
                      annotation_font_color=BAD)
    fig.update_layout(xaxis_title=label, yaxis_title="validation accuracy")
    style(fig, title=f"Validation accuracy (the objective) against {label}", pct="y", size="x")
    if budget is not None:  # the budget's line stays in view
        fig.update_layout(xaxis=size_axis([*_values(fig, "x"), budget]))
    return _figure(fig)


def importances(study: optuna.Study) -> go.Figure:
    """Optuna's parameter importances for the best test accuracy. Its evaluator (PED-ANOVA) looks
    for low target values: one objective goes by the study's direction; with two, the accuracy is
    handed over negated."""
    if len(study.directions) == 1:
        return optuna.visualization.plot_param_importances(study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "computes the importances … to achieve low target values"
        return optuna.visualization.plot_param_importances(study, target=lambda t: -float(t.values[0]),
                                                           target_name=ACCURACY)


def _waiting(have: int, what: str) -> str:
    so_far = "none yet" if have == 0 else f"{have} so far"
    return f"Drawn once {MIN_TRIALS} trials have {what} ({so_far})."


def _percents(values: list[float]) -> list[str]:
    """Fractions as percentages with the fewest decimals that keep them apart (never "85%, 85%")."""
    for digits in range(3):
        out = [f"{100 * v:.{digits}f}%" for v in values]
        if len(set(out)) == len(set(values)):
            return out
    return out


def _parallel(fig: go.Figure, params: list[str]) -> go.Figure:
    """Optuna's parallel coordinates (scatter lines over axes drawn with shapes and annotations):
    the accuracy axis and its hover in percent, lines and colour bar from grey (worst) to the
    palette's blue (best), its feasible/infeasible key (the lab has no constraints) left out, the
    axes named by their parameters without "architecture." (Optuna cuts long names short)."""
    ticktext = list(fig.layout.xaxis.ticktext or ())
    axis = ticktext.index(ACCURACY) if ACCURACY in ticktext else 0
    if len(ticktext) == len(params) + 1 and axis == 0:  # the objective, then the parameters sorted by name
        ticktext = [ACCURACY, *(p.removeprefix("architecture.") for p in sorted(params))]
    fig.update_layout(xaxis={"ticktext": ticktext})
    ticks = [a for a in fig.layout.annotations if a.x == axis and _finite([_number(a.text)])]
    for a, text in zip(ticks, _percents([_number(a.text) for a in ticks]), strict=True):
        a.update(text=text)
    for a in fig.layout.annotations:
        a.update(font={"color": None})  # the page's colour
    lines = [t for t in fig.data if t.mode == "lines" and t.customdata is not None]
    scores = [_number(t.customdata[axis][1]) for t in lines]
    lo, hi = min(scores, default=0.0), max(scores, default=1.0)
    for trace, score in zip(lines, scores, strict=True):
        share = (score - lo) / (hi - lo) if hi > lo else 1.0
        data = [list(row) for row in trace.customdata]
        data[axis][1] = f"{score:.1%}"
        trace.update(line={"color": _mix(MUTED, PALETTE[0], share)}, customdata=data, opacity=0.4 + 0.5 * share)
    fig.data = tuple(t for t in fig.data if t.name not in ("Feasible", "Infeasible"))
    for trace in fig.data:
        if trace.mode == "markers" and trace.marker.colorbar is not None:
            trace.update(marker={"colorscale": [[0, MUTED], [1, PALETTE[0]]], "reversescale": False,
                                 "colorbar": {"tickformat": ".0%", "title": {"text": ""}}})
    return fig


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _mix(a: str, b: str, share: float) -> str:
    """The colour ``share`` of the way from hex ``a`` to hex ``b``."""
    pa, pb = (tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (a, b))
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(pa, pb, strict=True))


def _restyle(name: str, fig: go.Figure, size_label: str, params: list[str]) -> go.Figure:
    """Optuna's figure ``name`` in the lab's look and words."""
    if name == "history":
        for trace in fig.data:  # Optuna's "Best Value" line over its points, named by the target
            if trace.name == "Best Value":
                trace.update(line={"color": PALETTE[1]}, name="best so far")
            elif trace.name == ACCURACY and trace.mode == "markers":
                trace.update(marker={"color": PALETTE[0], "size": 8}, name="a trial")
        fig.data = tuple(t for t in fig.data if t.name != "Infeasible Trial" or len(t.x or ()))
        fig.update_layout(xaxis_title="trial", yaxis_title=ACCURACY)
        return style(fig, title="Validation accuracy by trial", pct="y", whole="x")
    if name == "intermediate":
        fig.update_layout(xaxis_title="epoch", yaxis_title=ACCURACY)
        return style(fig, title="Validation accuracy per epoch, every trial", pct="y", whole="x")
    if name == "importances":
        for trace in fig.data:
            trace.update(marker={"color": PALETTE[0]})
            if trace.x is not None:
                trace.update(text=[f"{v:.0%}" if v >= 0.005 else "<1%" for v in trace.x], texttemplate=None,
                             hovertemplate="%{y}: %{x:.1%} of the importance<extra></extra>")
        fig.update_layout(xaxis_title=f"share of the importance for {ACCURACY}", yaxis_title="", showlegend=False)
        style(fig, title="Which parameters mattered")
        return fig.update_layout(xaxis=percent_axis([0.0, *_values(fig, "x")]))
    if name == "parallel":
        return style(_parallel(fig, params), title="Every completed trial's parameters, by validation accuracy")
    if name == "pareto_optuna":
        fig.update_layout(xaxis_title=ACCURACY, yaxis_title=size_label)
        return style(fig, title="Optuna's Pareto front", pct="x", size="y")
    return style(fig)


def figures(detail: SearchDetail, trials: list[FrozenTrial]) -> dict[str, Any]:
    """Every figure of the page, by name; a figure that cannot be drawn yet (fewer than
    ``MIN_TRIALS`` trials trained, or completed where Optuna needs them complete) is left out and
    ``notes`` says why, in words the page shows in its place."""
    out: dict[str, Any] = {"notes": {}}
    scored = sum(1 for t in detail.trials if objective(t) is not None)
    for name, key, budget in (("pareto_params", "net_params", detail.param_budget), ("pareto_macs", "macs", None)):
        if scored >= MIN_TRIALS:
            out[name] = size_front(detail, key, budget)
        else:
            out["notes"][name] = _waiting(scored, "a validation accuracy")
    try:
        study = trained_study(trials, directions(detail.objectives))
    except ValueError as exc:  # a trial Optuna itself would not take back (its values off its space)
        out["notes"]["optuna"] = f"Optuna's figures cannot be drawn: {exc}"
        return out

    def target(t: FrozenTrial) -> float:
        return float(t.values[0]) if t.values else float(max(t.intermediate_values.values(), default=0.0))

    complete = [t for t in study.trials if t.state == OptunaState.COMPLETE]
    params = sorted({p for t in complete for p in t.params})
    size_label = OBJECTIVES[detail.objectives[1]].column if len(detail.objectives) == 2 else ""
    draw = {
        "history": lambda: optuna.visualization.plot_optimization_history(study, target=target, target_name=ACCURACY),
        "importances": lambda: importances(study),
        "parallel": lambda: optuna.visualization.plot_parallel_coordinate(
            study, target=lambda t: float(t.values[0]), target_name=ACCURACY),
        "intermediate": lambda: optuna.visualization.plot_intermediate_values(study),
    }
    if len(detail.objectives) == 2:
        draw["pareto_optuna"] = lambda: optuna.visualization.plot_pareto_front(
            study, target_names=[ACCURACY, size_label])
    for name, make in draw.items():
        if name in ("importances", "parallel", "pareto_optuna") and len(complete) < MIN_TRIALS:
            out["notes"][name] = _waiting(len(complete), "completed")
            continue
        if len(study.trials) < MIN_TRIALS:
            out["notes"][name] = _waiting(len(study.trials), "trained")
            continue
        try:
            made = make()  # type: ignore[no-untyped-call]  # optuna's plot_* return plotly's untyped Figure
            out[name] = _figure(_restyle(name, made, size_label, params))
        except (ValueError, RuntimeError) as exc:
            out["notes"][name] = str(exc)
    return out
