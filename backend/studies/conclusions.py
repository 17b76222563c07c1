"""A study's conclusions, computed from its runs' metric series — never written by hand.

Two kinds of output:
- ``check_claim``: a statement someone made (the seed report's, or a user's) with a verdict
  computed from our runs: ``holds``, ``fails``, ``inconclusive`` (the runs cannot tell: see below),
  ``pending`` (a run it needs is still training) or ``untested`` (a run is missing, or too short
  to tell).
- ``findings``: what the runs say by themselves: each variant's effect against its baseline, the
  best of each group, the spread of each repeated entry, where each run starts to overfit, the best
  run.

What a run is read at is ``backend.studies.series``'s: the epoch chosen on validation where the run
has a holdout, else the last epoch, as the seed report gives it; runs are ranked on validation (or
the last epoch), never on their best test accuracy. Thresholds, in accuracy points (1 pt = 0.01): a
change "raises"/"lowers" when it moves test accuracy by at least CHANGE_PT; two runs are "the same"
within SAME_PT; a run "degrades" when it ends at least DEGRADE_PT below its best epoch; a gap is
wider/narrower when it moves by at least CHANGE_PT.

A claim is ``inconclusive`` — never holds or fails — when
- a run it needs never rose more than NEAR_CHANCE_PT above chance (1 / classes): it did not learn;
- a run it needs trained fewer than SHORT_FRACTION of its reference's epochs (a quick version);
- an entry it reads was repeated over seeds and the 95% confidence interval of the figure it
  reads straddles the claim's threshold (it holds only when the whole interval is on the claim's
  side, fails only when the whole interval is on the other).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from backend.studies.series import (
    Arm,
    Metric,
    RunSeries,
    arms_of,
    compare_arms,
    how_compared,
    pt,
    signed_pt,
    spread_text,
)

__all__ = ["CLAIM_KINDS", "Arm", "RunSeries", "Verdict", "check_claim", "claim_problem", "findings"]

CHANGE_PT = 0.005
SAME_PT = 0.01
DEGRADE_PT = 0.01
NEAR_CHANCE_PT = 0.05
SHORT_FRACTION = 0.5
OVERFIT_WINDOW = 5
MIN_OVERFIT_EPOCHS = 2 * OVERFIT_WINDOW
SEED_EPOCHS = 120


@dataclass
class Verdict:
    text: str
    verdict: str  # holds | fails | inconclusive | pending | untested
    detail: str  # what it read
    reason: str | None = None  # why inconclusive

    def to_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "verdict": self.verdict, "detail": self.detail, "reason": self.reason}


class Judged(NamedTuple):
    verdict: str
    detail: str
    reason: str | None = None


@dataclass(frozen=True)
class Side:
    """Where a figure (a difference a − b, a drop) must lie for a claim to hold: low ≤ x ≤ high."""

    low: float | None = None
    high: float | None = None

    def holds(self, x: float) -> bool:
        return (self.low is None or x >= self.low) and (self.high is None or x <= self.high)

    def against(self, ci_low: float, ci_high: float) -> str:
        """holds when the whole interval is on the claim's side, fails when none of it is."""
        if self.holds(ci_low) and self.holds(ci_high):
            return "holds"
        if (self.low is not None and ci_high < self.low) or (self.high is not None and ci_low > self.high):
            return "fails"
        return "inconclusive"

    @property
    def text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{signed_pt(self.low)} to {signed_pt(self.high)}"
        return f"{signed_pt(self.low)} or more" if self.low is not None else f"{signed_pt(self.high or 0.0)} or less"


def _v(ok: bool) -> str:
    return "holds" if ok else "fails"


# --- which runs a claim reads, and whether they can tell ---------------------------------------


def _arms_for(keys: Sequence[str], arms: Mapping[str, Arm]) -> tuple[list[Arm], str | None, list[str]]:
    """The entries a claim needs (each its runs that trained to their end or are training), why it
    cannot be checked yet, and notes on repeats left out."""
    absent = [k for k in keys if k not in arms or not arms[k].runs]
    if absent:
        return [], f"no run for {', '.join(absent)}", []
    chosen, broken, notes = [], [], []
    for key in keys:
        arm = arms[key]
        ok = [r for r in arm.runs if not (r.finished and not r.completed)]
        bad = [f"{arm.name(r)} {r.status} after {len(r.epochs)} of {r.planned_epochs} epochs"
               for r in arm.runs if r.finished and not r.completed]
        if not ok:
            broken.extend(bad)
        elif bad:
            notes.append(f"left out: {'; '.join(bad)}")
        chosen.append(Arm(ok))
    if broken:
        return [], "; ".join(broken), []
    empty = [a.key for a in chosen if any(not r.epochs for r in a.runs)]
    if empty:
        return [], f"no recorded epoch yet for {', '.join(empty)}", []
    unfinished = [a.key for a in chosen if any(not r.finished for r in a.runs)]
    if unfinished:
        return chosen, f"still training: {', '.join(unfinished)}", notes
    return chosen, None, notes


def short_reason(chosen: Sequence[Arm]) -> str | None:
    """Runs that trained far fewer epochs than the figures they are set beside: a quick version."""
    short = sorted({(r.trained_epochs, r.reference_epochs) for a in chosen for r in a.runs
                    if r.reference_epochs and r.trained_epochs < SHORT_FRACTION * r.reference_epochs})
    if not short:
        return None
    return "; ".join(f"trained {n} epoch{'s' if n != 1 else ''} of the reference's {ref}" for n, ref in short)


def chance_reason(chosen: Sequence[Arm]) -> str | None:
    """Entries whose runs never rose clearly above chance: they did not learn."""
    near = [a for a in chosen if a.mean(lambda r: r.peak - r.chance) <= NEAR_CHANCE_PT]
    if not near:
        return None
    chance = {r.classes for a in near for r in a.runs}
    at = ", ".join(f"{a.label} {pt(a.mean(lambda r: r.final_test))}" for a in near)
    of = f"chance {pt(1 / next(iter(chance)))}" if len(chance) == 1 else "chance 1 / classes"
    return f"runs near chance ({at}; {of})"


def check_claim(claim: Mapping[str, Any], runs: Mapping[str, RunSeries | Sequence[RunSeries]]) -> Verdict:
    """The verdict on ``claim`` from ``runs``: entry key → its run, or its runs (one per repeat)."""
    kind, text = claim["kind"], claim["text"]
    arms = {k: Arm([v] if isinstance(v, RunSeries) else list(v)) for k, v in runs.items()}
    keys: list[str] = list(claim.get("keys") or [])
    if kind == "best_in_group":
        keys = [k for k, a in arms.items() if a.runs and claim.get("group") and a.first.group == claim.get("group")]
        if not keys:
            return Verdict(text, "untested", f"no entry in group {claim.get('group')!r}")
    chosen, problem, notes = _arms_for(keys, arms)
    if not chosen:
        return Verdict(text, "untested", problem or "no runs")
    try:
        if kind not in CLAIM_KINDS:
            return Verdict(text, "untested", f"unknown claim kind {kind!r}")
        judged = CLAIM_KINDS[kind].judge(claim, chosen)
    except (ValueError, TypeError) as exc:  # a claim stored before the checks of today
        return Verdict(text, "untested", f"cannot be checked: {exc}")
    detail = "; ".join([judged.detail, *notes])
    short = short_reason(chosen)  # known from the plan, before the runs end
    if problem:
        if short:
            return Verdict(text, "inconclusive", f"{detail} ({problem})", short)
        if judged.verdict != "untested":
            return Verdict(text, "pending", f"{detail} ({problem})")
        return Verdict(text, judged.verdict, detail, judged.reason)
    reasons = [r for r in (short, chance_reason(chosen)) if r]
    if reasons:
        return Verdict(text, "inconclusive", detail, "; ".join(reasons))
    return Verdict(text, judged.verdict, detail, judged.reason)


# --- the judges: (the claim, its entries in order) → verdict, what it read, why inconclusive ---

Judge = Callable[[Mapping[str, Any], list[Arm]], Judged]


def _headline_name(arms: Sequence[Arm]) -> str:
    return "test accuracy (epoch chosen on validation)" if all(a.has_val for a in arms) else "test accuracy"


def _headline(r: RunSeries) -> float:
    return r.headline


def _gap(r: RunSeries) -> float:
    return r.gap


def _rank(r: RunSeries) -> float:
    return r.rank_score


def _final(r: RunSeries) -> float:
    return r.final_test


def _drop(r: RunSeries) -> float:
    return r.peak - r.watched[-1]


def early_mean(run: RunSeries) -> float:
    half = max(1, len(run.test_acc) // 2)
    return sum(run.test_acc[:half]) / half


def _pair(variant: Arm, base: Arm, metric: Metric, side: Side, what: str,
          fmt: Callable[[float], str] = pt) -> Judged:
    """variant − base on ``metric``: read off the two runs, or, where an entry was repeated, off the
    95% confidence interval of the difference over seeds."""
    if not (variant.repeated or base.repeated):
        a, b = metric(variant.first), metric(base.first)
        return Judged(_v(side.holds(a - b)),
                      f"{what} {fmt(b)} ({base.label}) → {fmt(a)} ({variant.label}): {signed_pt(a - b)}")
    c = compare_arms(variant, base, metric)
    detail = (f"{what}, mean over seeds: {fmt(base.mean(metric))} ({base.label}, {len(base.runs)} runs) → "
              f"{fmt(variant.mean(metric))} ({variant.label}, {len(variant.runs)} runs): {signed_pt(c.mean_diff)}")
    if c.ci_low is None or c.ci_high is None:
        return Judged("inconclusive", detail, c.sentence)
    detail += f", 95% CI {signed_pt(c.ci_low)} to {signed_pt(c.ci_high)} ({how_compared(c)})"
    verdict = side.against(c.ci_low, c.ci_high)
    why = None if verdict != "inconclusive" else (
        f"95% CI {signed_pt(c.ci_low)} to {signed_pt(c.ci_high)} straddles the claim's threshold ({side.text})")
    return Judged(verdict, detail, why)


def _change(kind: str) -> Judge:
    side = {"raises": Side(low=CHANGE_PT), "lowers": Side(high=-CHANGE_PT), "same": Side(-SAME_PT, SAME_PT)}[kind]

    def judge(claim: Mapping[str, Any], chosen: list[Arm]) -> Judged:
        variant, base = chosen
        return _pair(variant, base, _headline, side, _headline_name(chosen))
    return judge


def _gap_kind(kind: str) -> Judge:
    side = Side(low=CHANGE_PT) if kind == "more_overfit" else Side(high=-CHANGE_PT)

    def judge(claim: Mapping[str, Any], chosen: list[Arm]) -> Judged:
        variant, base = chosen
        return _pair(variant, base, _gap, side, "train−test gap", fmt=signed_pt)
    return judge


def _judge_slower(claim: Mapping[str, Any], chosen: list[Arm]) -> Judged:
    slow, fast = chosen
    if slow.repeated or fast.repeated:
        return _pair(slow, fast, early_mean, Side(high=-CHANGE_PT), "mean test accuracy over the first half")
    a, b = early_mean(slow.first), early_mean(fast.first)
    return Judged(_v(a < b - CHANGE_PT), f"mean test accuracy over the first half of the epochs: {pt(a)} "
                                         f"({slow.label}) vs {pt(b)} ({fast.label})")


def _judge_degrades(claim: Mapping[str, Any], chosen: list[Arm]) -> Judged:
    arm = chosen[0]
    curve = arm.first.watched_name
    if not arm.repeated:
        run = arm.first
        drop = _drop(run)
        return Judged(_v(drop >= DEGRADE_PT), f"{run.label}: best {curve} {pt(run.peak)}, last epoch "
                                              f"{pt(run.watched[-1])} ({signed_pt(-drop)} from its best)")
    s = arm.spread(_drop)
    assert s.mean is not None
    detail = f"{arm.label}: {curve} falls from its best by {spread_text(s, arm.values(_drop))} over {s.n} seeds"
    if s.ci_low is None or s.ci_high is None:
        return Judged("inconclusive", detail, "too few runs for a 95% confidence interval")
    side = Side(low=DEGRADE_PT)
    verdict = side.against(s.ci_low, s.ci_high)
    return Judged(verdict, detail, None if verdict != "inconclusive" else
                  f"95% CI of the fall straddles the claim's threshold ({100 * DEGRADE_PT:.1f} pt)")


def _best_arm(chosen: Sequence[Arm]) -> Arm:
    """The best entry, ranked on validation (or the last epoch): the test set never ranks."""
    return max(chosen, key=lambda a: a.mean(_rank))


def _judge_beats(claim: Mapping[str, Any], chosen: list[Arm]) -> Judged:
    expected = float(claim.get("expected") or 0.0)  # validated numeric at creation
    best = _best_arm(chosen)
    if not best.repeated:
        value = best.first.headline
        return Judged(_v(value > expected), f"{best.label}: {pt(value)} against {pt(expected)}")
    s = best.spread(_headline)
    detail = f"{best.label}: {spread_text(s, best.values(_headline))} over {s.n} seeds against {pt(expected)}"
    if s.ci_low is None or s.ci_high is None:
        return Judged("inconclusive", detail, "too few runs for a 95% confidence interval")
    verdict = "holds" if s.ci_low > expected else "fails" if s.ci_high <= expected else "inconclusive"
    return Judged(verdict, detail, None if verdict != "inconclusive" else
                  f"95% CI {pt(s.ci_low)}–{pt(s.ci_high)} straddles {pt(expected)}")


def _judge_best_in_group(claim: Mapping[str, Any], chosen: list[Arm]) -> Judged:
    ranked = sorted(chosen, key=lambda a: a.mean(_rank), reverse=True)
    on_val = all(a.has_val for a in chosen)

    def figure(a: Arm) -> str:
        return f"val {pt(a.mean(_rank))}, test {pt(a.mean(_headline))}" if on_val else pt(a.mean(_rank))
    listing = ", ".join(f"{a.first.group_value}: {figure(a)}" for a in ranked)
    winner, expected = ranked[0], claim.get("expected")
    detail = f"best {claim.get('group')} is {winner.first.group_value} ({listing})"
    if on_val:
        detail += ", ranked on validation"
    mine = [a for a in chosen if expected is not None and str(a.first.group_value) == str(expected)]
    if not any(a.repeated for a in chosen) or not mine:
        return Judged(_v(bool(mine) and winner is mine[0]), detail)
    arm, lost, unsure = mine[0], [], []
    for other in chosen:
        if other is arm:
            continue
        c = compare_arms(arm, other, _rank)
        if c.ci_high is not None and c.ci_high < 0:
            lost.append(str(other.first.group_value))
        elif c.ci_low is None or c.ci_low <= 0:
            unsure.append(f"{expected} − {other.first.group_value}: "
                          + ("too few runs" if c.ci_low is None or c.ci_high is None else
                             f"95% CI {signed_pt(c.ci_low)} to {signed_pt(c.ci_high)}"))
    if lost:
        return Judged("fails", f"{detail}; clearly behind {', '.join(lost)}")
    if unsure:
        return Judged("inconclusive", detail, f"not clearly ahead of every other: {'; '.join(unsure)} straddle 0")
    return Judged("holds", detail + ", each lead's 95% CI above 0")


def _judge_overfits_by(claim: Mapping[str, Any], chosen: list[Arm]) -> Judged:
    """The seed's "overfits after about N of 120 epochs", scaled to each run's planned epochs:
    holds when every run starts to overfit at or before twice the scaled epoch. A run of fewer
    than MIN_OVERFIT_EPOCHS epochs (a quick version) cannot tell: the onset test looks
    OVERFIT_WINDOW epochs ahead, and such a run has barely left its first epochs. An entry
    repeated over seeds holds or fails when its seeds agree, and is inconclusive when they do not."""
    expected = claim.get("expected")
    seed_epoch = 20.0 if expected is None else float(expected)
    parts, verdicts = [], []
    for arm in chosen:
        mine = []
        for run in arm.runs:
            name = f"{run.label} (seed {run.seed})" if arm.repeated else run.label
            if len(run.epochs) < MIN_OVERFIT_EPOCHS:
                parts.append(f"{name}: {len(run.epochs)} epochs, too few to tell (needs {MIN_OVERFIT_EPOCHS})")
                mine.append("untested")
                continue
            limit = 2 * seed_epoch * run.planned_epochs / SEED_EPOCHS
            onset = run.overfit
            if onset is None:
                parts.append(f"{name}: no onset in {len(run.epochs)} epochs")
                mine.append("fails")
            else:
                parts.append(f"{name}: from epoch {onset} of {run.planned_epochs}")
                mine.append("holds" if onset <= limit else "fails")
        if "untested" in mine:
            verdicts.append("untested")
        elif len(set(mine)) > 1:
            verdicts.append("inconclusive")
        else:
            verdicts.append(mine[0])
    for verdict in ("untested", "fails", "inconclusive"):
        if verdict in verdicts:
            why = "the seeds of an entry disagree" if verdict == "inconclusive" else None
            return Judged(verdict, "; ".join(parts), why)
    return Judged("holds", "; ".join(parts))


@dataclass(frozen=True)
class ClaimKind:
    """What a claim of one kind reads and who judges it. ``keys``: "pair" (two entries, in the
    order ``order`` says), "one", "some" (one or more) or "group" (none: it names a group);
    ``expected``: the value it needs, checked by ``expected_ok`` (refused with ``expected_help``)."""

    keys: Literal["pair", "one", "some", "group"]
    judge: Judge
    order: str = "[variant, baseline]"
    expected_ok: Callable[[Any], bool] | None = None
    expected_help: str = ""


def _number_in(low: float, high: float) -> Callable[[Any], bool]:
    return lambda x: isinstance(x, int | float) and not isinstance(x, bool) and low <= x <= high


# The one table of claim kinds: the schema's enum, the route's checks and the judging read it.
CLAIM_KINDS: dict[str, ClaimKind] = {
    "raises": ClaimKind("pair", _change("raises")),
    "lowers": ClaimKind("pair", _change("lowers")),
    "same": ClaimKind("pair", _change("same")),
    "more_overfit": ClaimKind("pair", _gap_kind("more_overfit")),
    "narrows_gap": ClaimKind("pair", _gap_kind("narrows_gap")),
    "slower": ClaimKind("pair", _judge_slower, order="[slower, faster]"),
    "degrades": ClaimKind("one", _judge_degrades),
    "overfits_by": ClaimKind("some", _judge_overfits_by, expected_ok=_number_in(1, 1000),
                             expected_help="overfits_by needs an epoch of 120 between 1 and 1000"),
    "beats": ClaimKind("some", _judge_beats, expected_ok=_number_in(0, 1),
                       expected_help="beats needs an accuracy between 0 and 1"),
    "best_in_group": ClaimKind("group", _judge_best_in_group, expected_ok=lambda x: x is not None,
                               expected_help="best_in_group needs the group value expected to win"),
}


def claim_problem(kind: str, n_keys: int, expected: Any) -> tuple[str, str] | None:
    """(field, message) of what a claim of ``kind`` lacks, from the table; None when it is well-formed.
    Key names and groups are checked against the study by the caller."""
    spec = CLAIM_KINDS[kind]
    if spec.keys == "pair" and n_keys != 2:
        return "keys", f"{kind} compares two entries {spec.order}, got {n_keys}"
    if spec.keys == "one" and n_keys != 1:
        return "keys", f"{kind} reads one entry, got {n_keys}"
    if spec.keys == "some" and n_keys < 1:
        return "keys", f"{kind} needs at least one entry"
    if spec.expected_ok is not None and not spec.expected_ok(expected):
        return "expected", spec.expected_help
    return None


# --- findings -----------------------------------------------------------------------------------


def _figure(arm: Arm, metric: Metric) -> str:
    """One run's figure, or an entry's mean ± std over its seeds."""
    if not arm.repeated:
        return pt(metric(arm.first))
    s = arm.spread(metric)
    assert s.mean is not None and s.std is not None
    return f"{pt(s.mean)} ± {100 * s.std:.1f} pt (mean ± std of {s.n} seeds)"


def _best_finding(arms: Sequence[Arm]) -> str:
    best = _best_arm(arms)
    if best.has_val:
        return (f"Best on validation: {best.label}, validation accuracy {_figure(best, _rank)}; its test accuracy "
                f"at the epoch chosen on validation: {_figure(best, _headline)}.")
    return f"Best test accuracy after training: {_figure(best, _headline)} ({best.label})."


def _effect_finding(arm: Arm, base: Arm) -> str:
    if arm.repeated or base.repeated:
        c = compare_arms(arm, base, _headline)
        word = {"a_better": "raises", "b_better": "lowers"}.get(c.verdict, "leaves")
        ci = ("too few runs for a 95% CI" if c.ci_low is None or c.ci_high is None
              else f"95% CI {signed_pt(c.ci_low)} to {signed_pt(c.ci_high)}, {how_compared(c)}")
        return (f"{arm.label} {word} {_headline_name([arm, base])} against {base.label}: "
                f"{pt(base.mean(_headline))} → {pt(arm.mean(_headline))} ({signed_pt(c.mean_diff)}; {ci}); "
                f"train−test gap {signed_pt(base.mean(_gap))} → {signed_pt(arm.mean(_gap))}.")
    run, b = arm.first, base.first
    delta = run.headline - b.headline
    word = "raises" if delta >= CHANGE_PT else "lowers" if delta <= -CHANGE_PT else "leaves"
    return (f"{run.label} {word} {_headline_name([arm, base])} against {b.label}: {pt(b.headline)} → "
            f"{pt(run.headline)} ({signed_pt(delta)}); train−test gap {signed_pt(b.gap)} → {signed_pt(run.gap)}.")


def _spread_finding(arm: Arm) -> str:
    parts = [f"{_headline_name([arm])} {spread_text(arm.spread(_headline), arm.values(_headline))}"]
    if arm.has_val:
        parts.append(f"best validation accuracy {spread_text(arm.spread(_rank), arm.values(_rank))}")
    parts.append(f"after the last epoch {spread_text(arm.spread(_final), arm.values(_final))}")
    return f"{arm.label} over {len(arm.runs)} seeds: " + "; ".join(parts) + "."


def findings(runs: Sequence[RunSeries]) -> list[str]:
    """What the runs say without anyone's claim: effects against baselines, group winners, the
    spread over seeds, overfitting onsets, the best run. Only runs trained to their end are read."""
    have = arms_of([r for r in runs if r.epochs and r.completed])
    out: list[str] = []
    if not have:
        return out
    out.append(_best_finding(list(have.values())))
    for arm in have.values():
        base = have.get(arm.first.baseline or "")
        if base is not None:
            out.append(_effect_finding(arm, base))
    groups: dict[str, list[Arm]] = {}
    for arm in have.values():
        if arm.first.group:
            groups.setdefault(arm.first.group, []).append(arm)
    for name, members in groups.items():
        ranked = sorted(members, key=lambda a: a.mean(_rank), reverse=True)
        on_val = all(a.has_val for a in members)
        listing = ", ".join(f"{a.first.group_value} ({_figure(a, _rank)})" for a in ranked)
        out.append(f"Best {name}: {ranked[0].first.group_value} — ranked "
                   f"{'on validation accuracy ' if on_val else ''}{listing}.")
    for arm in have.values():
        if arm.repeated:
            out.append(_spread_finding(arm))
    for arm in have.values():
        for run in arm.runs:
            if run.peak <= run.chance + CHANGE_PT:
                out.append(f"{run.label}{f' (seed {run.seed})' if arm.repeated else ''} never rose above chance "
                           f"({pt(run.peak)} at best, {run.classes} classes): it did not learn with these settings.")
    for arm in have.values():
        for run in arm.runs:
            if len(run.epochs) <= OVERFIT_WINDOW:
                continue
            name = f"{run.label} (seed {run.seed})" if arm.repeated else run.label
            onset = run.overfit
            out.append(f"{name}: overfitting starts after epoch {onset} ({run.watched_name} stops rising while "
                       f"train accuracy keeps rising)." if onset else
                       f"{name}: no overfitting onset in {len(run.epochs)} epochs.")
    return out
