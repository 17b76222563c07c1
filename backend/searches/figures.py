"""The search page's figures as Plotly JSON: Optuna's own (optimisation history, parameter
importances, parallel coordinates, and its Pareto front for two objectives), drawn over the trials
that trained (samples over the budget never trained: counting them at accuracy 0 would bend every
figure), and the Pareto fronts of best test accuracy against parameters and against MACs, with
the parameter budget's line and the infeasible samples marked."""

from __future__ import annotations

import json
import warnings
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
    colours = {TrialState.COMPLETED: "#2a6fdb", TrialState.PRUNED: "#9aa4b2", TrialState.RUNNING: "#f0a020",
               TrialState.FAILED: "#c0392b"}
    trained = [t for t in detail.trials if objective(t) is not None and t.state in colours]
    fig = go.Figure()
    for state, colour in colours.items():
        group = [t for t in trained if t.state == state]
        if group:
            fig.add_trace(go.Scatter(
                x=[getattr(t, size_key) for t in group], y=[objective(t) for t in group], mode="markers",
                name=str(state), marker={"color": colour, "size": 9},
                text=[f"trial {t.number}" for t in group], hovertemplate="%{text}<br>%{x:,} " + label
                + "<br>%{y:.4f}<extra></extra>"))
    completed = [t for t in trained if t.state == TrialState.COMPLETED]
    on_front = set(pareto([(t.number, objective(t) or 0.0, float(getattr(t, size_key) or 0)) for t in completed]))
    front = sorted((t for t in completed if t.number in on_front), key=lambda t: getattr(t, size_key) or 0)
    if front:
        fig.add_trace(go.Scatter(x=[getattr(t, size_key) for t in front], y=[objective(t) for t in front],
                                 mode="lines", line={"shape": "hv", "color": "#2a6fdb"}, name="Pareto front"))
    over = [t for t in detail.trials if t.state == TrialState.INFEASIBLE and getattr(t, size_key)]
    if over:
        fig.add_trace(go.Scatter(x=[getattr(t, size_key) for t in over], y=[0.0] * len(over), mode="markers",
                                 name=f"over the budget ({len(over)}, never trained)",
                                 marker={"symbol": "x", "color": "#c0392b", "size": 8}))
    if budget is not None:
        fig.add_vline(x=budget, line={"dash": "dash", "color": "#c0392b"},
                      annotation_text=f"budget {budget:,}", annotation_position="top left")
    fig.update_layout(title=f"Validation accuracy (the objective) against {label}", xaxis_title=label,
                      yaxis_title="validation accuracy",
                      yaxis={"rangemode": "tozero"})
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


def figures(detail: SearchDetail, trials: list[FrozenTrial]) -> dict[str, Any]:
    """Every figure of the page, by name; a figure Optuna cannot draw yet (too few trials) is left
    out and ``notes`` says why."""
    out: dict[str, Any] = {"pareto_params": size_front(detail, "net_params", detail.param_budget),
                           "pareto_macs": size_front(detail, "macs", None), "notes": {}}
    try:
        study = trained_study(trials, directions(detail.objectives))
    except ValueError as exc:  # a trial Optuna itself would not take back (its values off its space)
        out["notes"]["optuna"] = f"Optuna's figures cannot be drawn: {exc}"
        return out

    def target(t: FrozenTrial) -> float:
        return float(t.values[0]) if t.values else float(max(t.intermediate_values.values(), default=0.0))

    complete = [t for t in study.trials if t.state == OptunaState.COMPLETE]
    draw = {
        "history": lambda: optuna.visualization.plot_optimization_history(study, target=target, target_name=ACCURACY),
        "importances": lambda: importances(study),
        "parallel": lambda: optuna.visualization.plot_parallel_coordinate(
            study, target=lambda t: float(t.values[0]), target_name=ACCURACY),
        "intermediate": lambda: optuna.visualization.plot_intermediate_values(study),
    }
    if len(detail.objectives) == 2:
        draw["pareto_optuna"] = lambda: optuna.visualization.plot_pareto_front(
            study, target_names=[ACCURACY, OBJECTIVES[detail.objectives[1]].column])
    for name, make in draw.items():
        if name in ("importances", "parallel") and len(complete) < 2:
            out["notes"][name] = "needs two completed trials"
            continue
        if not study.trials:
            out["notes"][name] = "no trial has trained yet"
            continue
        try:
            out[name] = _figure(make())  # type: ignore[no-untyped-call]  # optuna's plot_* return plotly's untyped Figure
        except (ValueError, RuntimeError) as exc:
            out["notes"][name] = str(exc)
    return out
