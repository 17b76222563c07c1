"""backend.runs.uncertainty against numpy and scipy.stats, and its verdicts and sentences on crafted runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from backend.runs.uncertainty import NoCommonSeeds, compare, paired, spread, welch

A = {1: 0.812, 2: 0.806, 3: 0.821, 4: 0.809, 5: 0.815}
B = {1: 0.801, 2: 0.803, 3: 0.808, 4: 0.807, 5: 0.806}


def test_spread_matches_numpy_and_scipy() -> None:
    xs = [0.71, 0.735, 0.722, 0.698, 0.744, 0.731]
    s = spread(xs)
    assert s.n == 6
    assert s.mean == pytest.approx(np.mean(xs))
    assert s.std == pytest.approx(np.std(xs, ddof=1))
    assert s.sem == pytest.approx(stats.sem(xs))
    low, high = stats.t.interval(0.95, 5, loc=np.mean(xs), scale=stats.sem(xs))
    assert (s.ci_low, s.ci_high) == (pytest.approx(low), pytest.approx(high))
    low90, _ = stats.t.interval(0.90, 5, loc=np.mean(xs), scale=stats.sem(xs))
    assert spread(xs, confidence=0.90).ci_low == pytest.approx(low90)


def test_spread_by_hand() -> None:
    s = spread([0.80, 0.82, 0.84])
    assert s.mean == pytest.approx(0.82)
    assert s.std == pytest.approx(0.02)
    assert s.ci_high is not None and s.mean is not None
    assert s.ci_high - s.mean == pytest.approx(4.302653 * 0.02 / math.sqrt(3), abs=1e-6)
    assert s.ci_high - s.mean == pytest.approx(0.049683, abs=1e-6)


def test_spread_small_and_invalid() -> None:
    assert spread([]).as_dict() == {"n": 0, "mean": None, "std": None, "sem": None, "ci_low": None, "ci_high": None}
    one = spread([0.5])
    assert (one.n, one.mean, one.std, one.ci_low) == (1, 0.5, None, None)
    for bad in ([0.5, float("nan")], [0.5, None]):
        with pytest.raises(ValueError):
            spread(bad)  # type: ignore[arg-type]


def test_paired_matches_ttest_rel() -> None:
    c = paired(A, B, "a", "b")
    ref = stats.ttest_rel(list(A.values()), list(B.values()))
    ci = ref.confidence_interval(0.95)
    assert c.method == "paired" and c.seeds == [1, 2, 3, 4, 5]
    assert c.differences == pytest.approx([A[s] - B[s] for s in c.seeds])
    assert c.p_value == pytest.approx(ref.pvalue)
    assert c.df == ref.df
    assert (c.ci_low, c.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_welch_matches_ttest_ind() -> None:
    a, b = [0.71, 0.735, 0.722, 0.698], [0.69, 0.705, 0.712]
    c = welch(a, b, "a", "b")
    ref = stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert c.method == "welch" and (c.n_a, c.n_b, c.seeds, c.differences) == (4, 3, [], [])
    assert c.mean_diff == pytest.approx(np.mean(a) - np.mean(b))
    assert c.p_value == pytest.approx(ref.pvalue)
    assert c.df == pytest.approx(ref.df)
    assert (c.ci_low, c.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_clear_win_names_the_winner_first() -> None:
    b = {s: 0.80 + 0.01 * s for s in range(1, 6)}
    noise = [0.0002, -0.0001, 0.0001, -0.0002, 0.0]
    a = {s: b[s] + 0.004 + e for s, e in zip(b, noise, strict=True)}
    c = paired(a, b, "compact_pool_last", "compact")
    assert c.verdict == "a_better" and c.ci_low is not None and c.ci_low > 0
    assert c.sentence.startswith("compact_pool_last beats compact by 0.40 pt, 95% CI 0.")
    assert c.sentence.endswith(", 5 paired seeds")
    flipped = paired(b, a, "compact", "compact_pool_last")
    assert flipped.verdict == "b_better"
    assert flipped.sentence == c.sentence


def test_tie_gives_no_difference_and_seeds_needed() -> None:
    b = {1: 0.80, 2: 0.81, 3: 0.79, 4: 0.80}
    a = {1: 0.803, 2: 0.807, 3: 0.792, 4: 0.798}  # differences +0.3, -0.3, +0.2, -0.2 pt
    c = paired(a, b, "A", "B")
    assert c.verdict == "no_difference" and c.mean_diff == pytest.approx(0)
    assert c.seeds_needed is not None and c.seeds_needed > 4
    head = "no difference detected between A and B with 4 paired seeds (A − B = 0.00 pt, 95% CI -"
    assert c.sentence.startswith(head)
    assert c.sentence.endswith(f"; about {c.seeds_needed} seeds would resolve 0.2 pt")


def test_too_few() -> None:
    c = paired({1: 0.8, 2: 0.7}, {1: 0.79, 3: 0.7}, "A", "B")
    assert (c.verdict, c.seeds, c.ci_low, c.p_value, c.seeds_needed) == ("too_few", [1], None, None, None)
    assert c.sentence == "too few runs to compare A and B: a confidence interval needs at least 2 paired seeds"
    w = welch([0.8], [0.7, 0.72], "A", "B")
    assert w.verdict == "too_few" and w.sentence.endswith("needs at least 2 runs in each group")


def test_compare_falls_back_to_welch_and_paired_needs_seeds() -> None:
    a, b = {1: 0.71, 2: 0.735, 3: 0.722}, {7: 0.60, 8: 0.61, 9: 0.605}
    c = compare(a, b, "A", "B")
    assert c.method == "welch" and c.verdict == "a_better"
    assert c.sentence.endswith("Welch's test on 3 and 3 runs (no shared seeds)")
    assert compare(A, B, "a", "b").method == "paired"
    with pytest.raises(NoCommonSeeds):
        paired(a, b, "A", "B")
    assert isinstance(NoCommonSeeds("x"), ValueError)


def test_welch_no_difference_sentence() -> None:
    c = welch([0.70, 0.72, 0.71, 0.69], [0.71, 0.70, 0.705], "A", "B")
    assert c.verdict == "no_difference"
    assert c.sentence.startswith("no difference detected between A and B with Welch's test on 4 and 3 runs")
    assert c.sentence.endswith(" runs per group would resolve 0.2 pt")


def test_seeds_needed_monotone_and_defining_inequality() -> None:
    b = {1: 0.80, 2: 0.81, 3: 0.79, 4: 0.80}
    a = {1: 0.803, 2: 0.807, 3: 0.792, 4: 0.798}
    sd = float(np.std([a[s] - b[s] for s in a], ddof=1))
    previous = 1
    for resolution in (0.004, 0.002, 0.001, 0.0005):
        n = paired(a, b, "A", "B", resolution=resolution).seeds_needed
        assert n is not None and n >= previous
        previous = n
        assert stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) <= resolution
        assert n == 2 or stats.t.ppf(0.975, n - 2) * sd / math.sqrt(n - 1) > resolution
    capped = paired(a, b, "A", "B", resolution=1e-7)
    assert capped.seeds_needed == 1000 and "1,000 or more seeds would resolve" in capped.sentence


def test_zero_spread_is_a_limit_not_nan() -> None:
    c = paired({1: 0.75, 2: 0.5}, {1: 0.5, 2: 0.25}, "A", "B")  # exact binary fractions: differences all 0.25
    assert c.verdict == "a_better" and (c.ci_low, c.ci_high, c.p_value) == (0.25, 0.25, 0.0) and c.seeds_needed is None
    assert c.as_dict()["differences"] == c.differences
