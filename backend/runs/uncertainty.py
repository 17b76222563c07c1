"""How sure a comparison of runs is: the spread of one config over seeds, and a against b.

Accuracies are fractions in [0, 1]; sentences speak in accuracy points (1 pt = 0.01). Two configs
trained on the same seeds are compared pairwise (a one-sample t-test on the per-seed differences,
which cancels the seed's own luck); otherwise Welch's unequal-variance t-test on all runs.

Degenerate spreads: when the differences (paired) or both groups (Welch) have zero variance, the
t statistic is undefined; this module takes the limit instead of returning NaN: the CI shrinks to the
mean difference, p is 0.0 (1.0 when the mean difference is 0 too) and Welch's df is n_a + n_b - 2.
``seeds_needed`` is then None: a zero observed spread says nothing about how many seeds would do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats  # type: ignore[import-untyped]  # scipy ships no py.typed marker

from backend.core.errors import NoCommonSeeds

CONFIDENCE = 0.95
RESOLUTION = 0.002
MAX_SEEDS = 1000

Method = Literal["paired", "welch"]
Verdict = Literal["a_better", "b_better", "no_difference", "too_few"]


@dataclass(frozen=True)
class Spread:
    n: int
    mean: float | None
    std: float | None
    sem: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """Group a against group b; every difference is a − b. For paired, n_a and n_b are the group
    sizes as given; only the common seeds (``seeds``) enter the test."""

    method: Method
    a_label: str
    b_label: str
    n_a: int
    n_b: int
    seeds: list[int]
    differences: list[float]
    mean_diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    df: float | None
    verdict: Verdict
    seeds_needed: int | None
    resolution: float
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(values: Sequence[float], what: str) -> list[float]:
    out: list[float] = []
    for v in values:
        if v is None or not math.isfinite(v):
            raise ValueError(f"{what}: every value must be a finite number, got {v!r}")
        out.append(float(v))
    return out


def _quantile(df: float | np.ndarray, confidence: float) -> Any:
    return stats.t.ppf(0.5 + confidence / 2, df)


def spread(values: Sequence[float], confidence: float = CONFIDENCE) -> Spread:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    xs = _finite(values, "spread")
    n = len(xs)
    if n == 0:
        return Spread(0, None, None, None, None, None)
    mean = float(np.mean(xs))
    if n == 1:
        return Spread(1, mean, None, None, None, None)
    std = float(np.std(xs, ddof=1))
    sem = std / math.sqrt(n)
    half = float(_quantile(n - 1, confidence)) * sem
    return Spread(n, mean, std, sem, mean - half, mean + half)


def _seeds_needed(var_a: float, var_b: float | None, resolution: float) -> int | None:
    """Smallest n >= 2 whose CI half-width would be <= resolution at the observed variance(s), capped
    at MAX_SEEDS. var_b None: paired, n pairs of variance var_a, df n - 1. Otherwise Welch with n runs
    per group and its Welch–Satterthwaite df."""
    if var_a + (var_b or 0.0) == 0:
        return None
    ns = np.arange(2, MAX_SEEDS + 1, dtype=float)
    if var_b is None:
        df, se = ns - 1, np.sqrt(var_a / ns)
    else:
        df = (ns - 1) * (var_a + var_b) ** 2 / (var_a**2 + var_b**2)
        se = np.sqrt((var_a + var_b) / ns)
    ok = np.nonzero(_quantile(df, CONFIDENCE) * se <= resolution)[0]
    return int(ns[ok[0]]) if ok.size else MAX_SEEDS


def _t_test(mean_diff: float, se: float, df: float) -> tuple[float, float, float]:
    """(ci_low, ci_high, two-sided p) of a t statistic mean_diff / se with df degrees of freedom."""
    if se == 0:
        return mean_diff, mean_diff, 1.0 if mean_diff == 0 else 0.0
    half = float(_quantile(df, CONFIDENCE)) * se
    p = float(2 * stats.t.sf(abs(mean_diff) / se, df))
    return mean_diff - half, mean_diff + half, p


def _verdict(ci_low: float | None, ci_high: float | None) -> Verdict:
    if ci_low is None or ci_high is None:
        return "too_few"
    if ci_low > 0:
        return "a_better"
    if ci_high < 0:
        return "b_better"
    return "no_difference"


def _pt(x: float) -> str:
    s = f"{x * 100:.2f}"
    return "0.00" if s == "-0.00" else s


def _sentence(
    method: Method,
    a_label: str,
    b_label: str,
    n_a: int,
    n_b: int,
    mean_diff: float,
    ci: tuple[float | None, float | None],
    seeds_needed: int | None,
    resolution: float,
    note: str,
) -> str:
    """The comparison in one sentence; a win names the better group first, with a positive difference.
    ``note`` says why Welch's test was used (no shared seeds, or only one)."""
    low, high = ci
    verdict = _verdict(low, high)
    paired_ = method == "paired"
    if low is None or high is None:
        need = "2 paired seeds" if paired_ else "2 runs in each group"
        return f"too few runs to compare {a_label} and {b_label}: a confidence interval needs at least {need}"
    if verdict == "no_difference":
        basis = f"{n_a} paired seeds" if paired_ else f"Welch's test on {n_a} and {n_b} runs, {note}"
        s = (
            f"no difference detected between {a_label} and {b_label} with {basis} "
            f"({a_label} − {b_label} = {_pt(mean_diff)} pt, 95% CI {_pt(low)} to {_pt(high)})"
        )
        if seeds_needed is not None:
            unit = "seeds" if paired_ else "runs per group"
            about = f"{MAX_SEEDS:,} or more" if seeds_needed >= MAX_SEEDS else f"about {seeds_needed}"
            s += f"; {about} {unit} would resolve {resolution * 100:g} pt"
        return s
    if verdict == "a_better":
        better, worse, n_better, n_worse, diff, lo, hi = a_label, b_label, n_a, n_b, mean_diff, low, high
    else:
        better, worse, n_better, n_worse, diff, lo, hi = b_label, a_label, n_b, n_a, -mean_diff, -high, -low
    basis = f"{n_a} paired seeds" if paired_ else f"Welch's test on {n_better} and {n_worse} runs ({note})"
    return f"{better} beats {worse} by {_pt(diff)} pt, 95% CI {_pt(lo)} to {_pt(hi)}, {basis}"


def _check_resolution(resolution: float) -> None:
    if not resolution > 0:
        raise ValueError(f"resolution must be positive, got {resolution}")


def paired(
    a: Mapping[int, float], b: Mapping[int, float], a_label: str, b_label: str, resolution: float = RESOLUTION
) -> Comparison:
    """a against b on their common seeds ({seed: accuracy}); raises NoCommonSeeds when there are none."""
    _check_resolution(resolution)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise NoCommonSeeds(f"{a_label} and {b_label} share no seed")
    xs, ys = _finite([a[s] for s in seeds], a_label), _finite([b[s] for s in seeds], b_label)
    diffs = [x - y for x, y in zip(xs, ys, strict=True)]
    n = len(diffs)
    mean_diff = float(np.mean(diffs))
    low: float | None = None
    high: float | None = None
    p: float | None = None
    df: float | None = None
    needed: int | None = None
    if n >= 2:
        var = float(np.var(diffs, ddof=1))
        df = float(n - 1)
        low, high, p = _t_test(mean_diff, math.sqrt(var / n), df)
        needed = _seeds_needed(var, None, resolution)
    sentence = _sentence("paired", a_label, b_label, n, n, mean_diff, (low, high), needed, resolution, "")
    return Comparison(
        "paired", a_label, b_label, len(a), len(b), seeds, diffs, mean_diff,
        low, high, p, df, _verdict(low, high), needed, resolution, sentence,
    )  # fmt: skip


def _welch(
    a: Sequence[float], b: Sequence[float], a_label: str, b_label: str, resolution: float, note: str
) -> Comparison:
    _check_resolution(resolution)
    xs, ys = _finite(a, a_label), _finite(b, b_label)
    if not xs or not ys:
        raise ValueError(f"cannot compare {a_label} and {b_label}: a group has no runs")
    n_a, n_b = len(xs), len(ys)
    mean_diff = float(np.mean(xs) - np.mean(ys))
    low: float | None = None
    high: float | None = None
    p: float | None = None
    df: float | None = None
    needed: int | None = None
    if n_a >= 2 and n_b >= 2:
        va, vb = float(np.var(xs, ddof=1)) / n_a, float(np.var(ys, ddof=1)) / n_b
        se2 = va + vb
        df = se2**2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1)) if se2 > 0 else float(n_a + n_b - 2)
        low, high, p = _t_test(mean_diff, math.sqrt(se2), df)
        needed = _seeds_needed(va * n_a, vb * n_b, resolution)
    sentence = _sentence("welch", a_label, b_label, n_a, n_b, mean_diff, (low, high), needed, resolution, note)
    return Comparison(
        "welch", a_label, b_label, n_a, n_b, [], [], mean_diff,
        low, high, p, df, _verdict(low, high), needed, resolution, sentence,
    )  # fmt: skip


def welch(
    a: Sequence[float], b: Sequence[float], a_label: str, b_label: str, resolution: float = RESOLUTION
) -> Comparison:
    """a against b as independent groups (Welch's unequal-variance t-test)."""
    return _welch(a, b, a_label, b_label, resolution, "no shared seeds")


def compare(
    a: Mapping[int, float], b: Mapping[int, float], a_label: str, b_label: str, resolution: float = RESOLUTION
) -> Comparison:
    """Paired when a and b share at least 2 seeds, else Welch on all their runs."""
    shared = len(set(a) & set(b))
    if shared >= 2:
        return paired(a, b, a_label, b_label, resolution)
    note = "no shared seeds" if shared == 0 else "only 1 shared seed"
    return _welch(list(a.values()), list(b.values()), a_label, b_label, resolution, note)
