"""Groups of repeats: one config trained with several seeds, summarised with its spread and
compared with another group seed by seed (backend.runs.uncertainty does the statistics).

Only runs that trained to their end (succeeded or timed out) enter a summary or a comparison; a
running, failed or cancelled repeat is counted apart (``pending``, ``incomplete``), never averaged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from backend.core.statuses import ACTIVE_STATUSES, TRAINED_STATUSES, SelectedOn
from backend.core.tables import Run
from backend.runs import uncertainty

HEADLINE = "test_acc_at_best_val"
# the figures a group summarises: (run attribute, what it is)
FIGURES = (
    (HEADLINE, "test accuracy at the epoch chosen on validation"),
    ("best_val_acc", "validation accuracy of the chosen epoch"),
    ("final_test_acc", "test accuracy of the last epoch"),
    ("best_test_acc", "best test (chosen on test): optimistic, for reference only"),
    ("train_seconds", "seconds of training"),
)


def completed(runs: Sequence[Run]) -> list[Run]:
    return [r for r in runs if r.status in TRAINED_STATUSES and r.test_acc_at_best_val is not None]


def summary(runs: Sequence[Run]) -> dict[str, Any]:
    """n, the seeds, and mean ± std with the 95% CI (Student t) of each figure over the completed
    runs; ``selected_on`` is 'val' only when every completed run chose on validation (before any run
    completes: when every run will, as its holdout says)."""
    done = completed(runs)
    figures: dict[str, Any] = {}
    for name, _ in FIGURES:
        values = [float(v) for r in done if (v := getattr(r, name)) is not None]
        figures[name] = uncertainty.spread(values).as_dict()
    chosen = {r.selected_on for r in (done or runs)}
    return {
        "n": len(done),
        "runs": len(runs),
        "pending": sum(r.status in ACTIVE_STATUSES for r in runs),
        "incomplete": sum(r.status not in TRAINED_STATUSES and r.status not in ACTIVE_STATUSES for r in runs),
        "seeds": sorted(r.seed for r in done),
        "selected_on": SelectedOn.VAL if chosen == {SelectedOn.VAL} else SelectedOn.TEST,
        "figures": figures,
    }


def by_seed(runs: Sequence[Run], figure: str = HEADLINE) -> dict[int, float]:
    """{seed: figure} of the completed runs (a seed twice: the later run's)."""
    return {r.seed: float(getattr(r, figure)) for r in sorted(completed(runs), key=lambda r: r.id)
            if getattr(r, figure) is not None}


def compare(a: Sequence[Run], b: Sequence[Run], a_label: str, b_label: str, method: str = "auto",
            figure: str = HEADLINE) -> uncertainty.Comparison:
    """a against b on ``figure``: seed by seed when they share seeds (``method`` 'auto' needs two
    shared seeds to pair, 'paired' insists and raises NoCommonSeeds without any), else Welch."""
    sa, sb = by_seed(a, figure), by_seed(b, figure)
    if method == "paired":
        return uncertainty.paired(sa, sb, a_label, b_label)
    if method == "welch":
        return uncertainty.welch(list(sa.values()), list(sb.values()), a_label, b_label)
    return uncertainty.compare(sa, sb, a_label, b_label)


def mean_series(series: Sequence[Mapping[str, Sequence[Any]]],
                columns: Sequence[str] = ("train_acc", "test_acc", "val_acc")) -> dict[str, Any]:
    """Per epoch, over the runs that recorded it: n, and each column's mean and sample std (None
    with one run) — the line and band of a group's curves."""
    epochs = sorted({e for s in series for e in s["epoch"]})
    out: dict[str, Any] = {"epoch": epochs, "n": []}
    for c in columns:
        out[f"{c}_mean"], out[f"{c}_std"] = [], []
    at = [{e: i for i, e in enumerate(s["epoch"])} for s in series]
    for e in epochs:
        rows = [(s, idx[e]) for s, idx in zip(series, at, strict=True) if e in idx]
        out["n"].append(len(rows))
        for c in columns:
            values = [float(v) for s, i in rows if (v := s[c][i]) is not None]
            mean = math.fsum(values) / len(values) if values else None
            std = (math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
                   if mean is not None and len(values) > 1 else None)
            out[f"{c}_mean"].append(mean)
            out[f"{c}_std"].append(std)
    return out
