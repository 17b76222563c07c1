"""A study's runs as its conclusions read them: one run's metric series (``RunSeries``) and one
entry's runs over its seeds (``Arm``), with the figures a claim is judged on.

What is read, and on which split: a run with a holdout (validation split) is read at the epoch
chosen on validation (``headline``: the test accuracy of its best validation epoch) and ranked on
its best validation accuracy; a run without one (the seed's own protocol) is read, and ranked,
after its last epoch, as the seed report gives its figures. The test set never chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from backend.core.statuses import FINISHED_STATUSES, TRAINED_STATUSES, RunStatus
from backend.runs import uncertainty
from backend.runs.analysis import overfit_epoch

OVERFIT_WINDOW = 5


def val_choice(val_acc: Sequence[float | None]) -> int | None:
    """The index of the epoch chosen on validation: the first with the best validation accuracy;
    None without a holdout."""
    scored = [(v, -i) for i, v in enumerate(val_acc) if v is not None]
    return -max(scored)[1] if scored else None


def pt(x: float) -> str:
    return f"{100 * x:.1f}%"


def signed_pt(x: float) -> str:
    return f"{100 * x:+.1f} pt"


@dataclass
class RunSeries:
    """One run of an entry as the conclusions see it (one of its repeats: ``seed``)."""

    key: str
    label: str
    planned_epochs: int
    status: str = RunStatus.SUCCEEDED
    classes: int = 10
    epochs: list[int] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)  # empty or all None: no holdout
    baseline: str | None = None
    group: str | None = None
    group_value: Any = None
    seed: int = 0
    reference_epochs: int | None = None  # the epochs of the figures it is set beside (the seed's: 120)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def completed(self) -> bool:
        """Trained to its end: all its epochs, its time budget, or its early stop."""
        return self.status in TRAINED_STATUSES

    @property
    def trained_epochs(self) -> int:
        """The epochs it trains: those planned (a quick version plans fewer), or those it got to
        when its time budget stopped it. An early stop is the run's own choice and not counted."""
        return len(self.epochs) if self.status == RunStatus.TIMED_OUT else self.planned_epochs

    @property
    def final_test(self) -> float:
        return self.test_acc[-1]

    @property
    def final_train(self) -> float:
        return self.train_acc[-1]

    @property
    def gap(self) -> float:
        return self.final_train - self.final_test

    @property
    def best_test(self) -> float:
        return max(self.test_acc)

    @property
    def has_val(self) -> bool:
        return any(v is not None for v in self.val_acc)

    @cached_property
    def val_index(self) -> int | None:
        """The epoch (index) chosen on validation."""
        return val_choice(self.val_acc)

    @property
    def best_val(self) -> float | None:
        return None if self.val_index is None else self.val_acc[self.val_index]

    @property
    def headline(self) -> float:
        """Test accuracy of the epoch chosen on validation; without a holdout, after the last epoch."""
        return self.final_test if self.val_index is None else self.test_acc[self.val_index]

    @property
    def rank_score(self) -> float:
        """What ranks runs: best validation accuracy; without a holdout, the last epoch's test accuracy."""
        best = self.best_val
        return self.final_test if best is None else best

    @property
    def watched(self) -> list[float]:
        """The held-out curve read for its shape (peak, fall, overfitting onset): validation's where
        every epoch has one (backend.runs.analysis.choice_series), else the test set's."""
        if self.val_acc and len(self.val_acc) == len(self.test_acc) and all(v is not None for v in self.val_acc):
            return [float(v) for v in self.val_acc if v is not None]
        return self.test_acc

    @property
    def watched_name(self) -> str:
        return "validation accuracy" if self.watched is not self.test_acc else "test accuracy"

    @property
    def peak(self) -> float:
        return max(self.watched)

    @property
    def chance(self) -> float:
        return 1 / self.classes

    @cached_property
    def overfit(self) -> int | None:
        """The epoch where overfitting starts (backend.runs.analysis), read once per report."""
        return overfit_epoch(self.epochs, self.train_acc, self.watched, window=OVERFIT_WINDOW)


Metric = Callable[[RunSeries], float]


@dataclass
class Arm:
    """One entry's runs: one per repeat, each with its own seed; a single run without repeats."""

    runs: list[RunSeries]

    @property
    def key(self) -> str:
        return self.runs[0].key

    @property
    def label(self) -> str:
        return self.runs[0].label

    @property
    def repeated(self) -> bool:
        return len(self.runs) > 1

    @property
    def first(self) -> RunSeries:
        return self.runs[0]

    @property
    def has_val(self) -> bool:
        return all(r.has_val for r in self.runs)

    def values(self, metric: Metric) -> list[float]:
        return [metric(r) for r in self.runs]

    def mean(self, metric: Metric) -> float:
        values = self.values(metric)
        return sum(values) / len(values)

    def spread(self, metric: Metric) -> uncertainty.Spread:
        return uncertainty.spread(self.values(metric))

    def by_seed(self, metric: Metric) -> dict[int, float] | None:
        """{seed: value}; None when two of its runs share a seed (they cannot be paired)."""
        seeds = [r.seed for r in self.runs]
        return None if len(set(seeds)) != len(seeds) else {r.seed: metric(r) for r in self.runs}

    def name(self, of: RunSeries) -> str:
        return f"{of.key} (seed {of.seed})" if self.repeated else of.key


def compare_arms(a: Arm, b: Arm, metric: Metric) -> uncertainty.Comparison:
    """a − b over seeds: paired where they share at least two seeds, else Welch's test."""
    sa, sb = a.by_seed(metric), b.by_seed(metric)
    if sa is None or sb is None:
        return uncertainty.welch(a.values(metric), b.values(metric), a.label, b.label)
    return uncertainty.compare(sa, sb, a.label, b.label)


def how_compared(c: uncertainty.Comparison) -> str:
    if c.method == "paired":
        return f"paired on {len(c.seeds)} seeds"
    return f"Welch's test on {c.n_a} and {c.n_b} runs"


def arms_of(runs: Sequence[RunSeries]) -> dict[str, Arm]:
    """The runs by entry key, each entry's in its order."""
    out: dict[str, Arm] = {}
    for run in runs:
        out.setdefault(run.key, Arm([])).runs.append(run)
    return out


def spread_text(s: uncertainty.Spread, values: Sequence[float]) -> str:
    """"85.1% ± 0.3 pt (std), 95% CI 84.7–85.5%, range 84.6–85.6%"; a single value as itself."""
    if s.mean is None:
        return "–"
    if s.n < 2 or s.std is None or s.ci_low is None or s.ci_high is None:
        return pt(s.mean)
    return (f"{pt(s.mean)} ± {100 * s.std:.1f} pt (std), 95% CI {pt(s.ci_low)}–{pt(s.ci_high)}, "
            f"range {pt(min(values))}–{pt(max(values))}")
