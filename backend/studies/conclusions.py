"""A study's conclusions, computed from its runs' metric series — never written by hand.

Two kinds of output:
- ``check_claim``: a statement someone made (the seed report's, or a user's) with a verdict
  computed from our runs: ``holds``, ``fails``, ``pending`` (a run it needs is still training) or
  ``untested`` (a run is missing, or too short to tell).
- ``findings``: what the runs say by themselves: each variant's effect against its baseline, the
  best of each group, where each run starts to overfit, the best run.

Accuracy "after training" is the last recorded epoch's, as the seed report gives it. Thresholds,
in accuracy points (1 pt = 0.01): a change "raises"/"lowers" when it moves test accuracy by at
least CHANGE_PT; two runs are "the same" within SAME_PT; a run "degrades" when it ends at least
DEGRADE_PT below its best epoch; a gap is wider/narrower when it moves by at least CHANGE_PT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from backend.analysis import overfit_epoch
from backend.statuses import FINISHED_STATUSES, RunStatus

CHANGE_PT = 0.005
SAME_PT = 0.01
DEGRADE_PT = 0.01
OVERFIT_WINDOW = 5
MIN_OVERFIT_EPOCHS = 2 * OVERFIT_WINDOW
SEED_EPOCHS = 120


@dataclass
class RunSeries:
    """One entry's run as the conclusions see it."""

    key: str
    label: str
    planned_epochs: int
    status: str = RunStatus.SUCCEEDED
    classes: int = 10
    epochs: list[int] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    baseline: str | None = None
    group: str | None = None
    group_value: Any = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def completed(self) -> bool:
        """Trained to its end: all its epochs, its time budget, or its early stop."""
        return self.status in (RunStatus.SUCCEEDED, RunStatus.TIMED_OUT)

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

    @cached_property
    def overfit(self) -> int | None:
        """The epoch where overfitting starts (backend.analysis), read once per report."""
        return overfit_epoch(self.epochs, self.train_acc, self.test_acc, window=OVERFIT_WINDOW)


@dataclass
class Verdict:
    text: str
    verdict: str  # holds | fails | pending | untested
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "verdict": self.verdict, "detail": self.detail}


def pt(x: float) -> str:
    return f"{100 * x:.1f}%"


def signed_pt(x: float) -> str:
    return f"{100 * x:+.1f} pt"


def _runs_for(keys: Sequence[str], runs: Mapping[str, RunSeries]) -> tuple[list[RunSeries], str | None]:
    """The runs a claim needs, or why it cannot be checked yet."""
    absent = [k for k in keys if k not in runs]
    if absent:
        return [], f"no run for {', '.join(absent)}"
    chosen = [runs[k] for k in keys]
    broken = [f"{r.key} {r.status} after {len(r.epochs)} of {r.planned_epochs} epochs"
              for r in chosen if r.finished and not r.completed]
    if broken:
        return [], "; ".join(broken)
    empty = [r.key for r in chosen if not r.epochs]
    if empty:
        return [], f"no recorded epoch yet for {', '.join(empty)}"
    unfinished = [r.key for r in chosen if not r.finished]
    if unfinished:
        return chosen, f"still training: {', '.join(unfinished)}"
    return chosen, None


def check_claim(claim: Mapping[str, Any], runs: Mapping[str, RunSeries]) -> Verdict:
    kind, text = claim["kind"], claim["text"]
    keys: list[str] = list(claim.get("keys") or [])
    if kind == "best_in_group":
        keys = [r.key for r in runs.values() if claim.get("group") and r.group == claim.get("group")]
        if not keys:
            return Verdict(text, "untested", f"no entry in group {claim.get('group')!r}")
    chosen, problem = _runs_for(keys, runs)
    if not chosen:
        return Verdict(text, "untested", problem or "no runs")
    try:
        if kind not in CLAIM_KINDS:
            return Verdict(text, "untested", f"unknown claim kind {kind!r}")
        verdict, detail = CLAIM_KINDS[kind].judge(claim, chosen)
    except (ValueError, TypeError) as exc:  # a claim stored before the checks of today
        return Verdict(text, "untested", f"cannot be checked: {exc}")
    if problem and verdict != "untested":
        return Verdict(text, "pending", f"{detail} ({problem})")
    return Verdict(text, verdict, detail)


# a judge: (the claim, its runs in order) → (verdict, what it read)
Judge = Callable[[Mapping[str, Any], list["RunSeries"]], tuple[str, str]]


def _change(kind: str) -> Judge:
    def judge(claim: Mapping[str, Any], chosen: list[RunSeries]) -> tuple[str, str]:
        variant, base = chosen
        delta = variant.final_test - base.final_test
        ok = {"raises": delta >= CHANGE_PT, "lowers": delta <= -CHANGE_PT, "same": abs(delta) < SAME_PT}[kind]
        return _v(ok), (f"test accuracy {pt(base.final_test)} ({base.label}) → {pt(variant.final_test)} "
                        f"({variant.label}): {signed_pt(delta)}")
    return judge


def _gap(kind: str) -> Judge:
    def judge(claim: Mapping[str, Any], chosen: list[RunSeries]) -> tuple[str, str]:
        variant, base = chosen
        delta = variant.gap - base.gap
        ok = delta >= CHANGE_PT if kind == "more_overfit" else delta <= -CHANGE_PT
        return _v(ok), (f"train−test gap {signed_pt(base.gap)} ({base.label}) → {signed_pt(variant.gap)} "
                        f"({variant.label}): {signed_pt(delta)}")
    return judge


def _judge_overfits_by(claim: Mapping[str, Any], chosen: list[RunSeries]) -> tuple[str, str]:
    expected = claim.get("expected")
    return _overfits_by(20.0 if expected is None else float(expected), chosen)


def _judge_best_in_group(claim: Mapping[str, Any], chosen: list[RunSeries]) -> tuple[str, str]:
    ranked = sorted(chosen, key=lambda r: r.final_test, reverse=True)
    listing = ", ".join(f"{r.group_value}: {pt(r.final_test)}" for r in ranked)
    winner = ranked[0]
    expected = claim.get("expected")
    ok = expected is not None and str(winner.group_value) == str(expected)
    return _v(ok), f"best {claim.get('group')} is {winner.group_value} ({listing})"


def _judge_degrades(claim: Mapping[str, Any], chosen: list[RunSeries]) -> tuple[str, str]:
    (run,) = chosen[:1]
    drop = run.best_test - run.final_test
    return _v(drop >= DEGRADE_PT), (f"{run.label}: best {pt(run.best_test)}, last epoch {pt(run.final_test)} "
                                    f"({signed_pt(-drop)} from its best)")


def _judge_slower(claim: Mapping[str, Any], chosen: list[RunSeries]) -> tuple[str, str]:
    slow, fast = chosen
    a, b = early_mean(slow), early_mean(fast)
    return _v(a < b - CHANGE_PT), (f"mean test accuracy over the first half of the epochs: {pt(a)} ({slow.label}) "
                                   f"vs {pt(b)} ({fast.label})")


def _judge_beats(claim: Mapping[str, Any], chosen: list[RunSeries]) -> tuple[str, str]:
    expected = float(claim.get("expected") or 0.0)  # validated numeric at creation
    best = max(chosen, key=lambda r: r.final_test)
    return _v(best.final_test > expected), f"{best.label}: {pt(best.final_test)} against {pt(expected)}"


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
    "more_overfit": ClaimKind("pair", _gap("more_overfit")),
    "narrows_gap": ClaimKind("pair", _gap("narrows_gap")),
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


def _v(ok: bool) -> str:
    return "holds" if ok else "fails"


def early_mean(run: RunSeries) -> float:
    half = max(1, len(run.test_acc) // 2)
    return sum(run.test_acc[:half]) / half


def _overfits_by(seed_epoch: float, chosen: list[RunSeries]) -> tuple[str, str]:
    """The seed's "overfits after about N of 120 epochs", scaled to each run's planned epochs:
    holds when every run starts to overfit at or before twice the scaled epoch. A run of fewer
    than MIN_OVERFIT_EPOCHS epochs (a quick version) cannot tell: the onset test looks
    OVERFIT_WINDOW epochs ahead, and such a run has barely left its first epochs."""
    parts, verdicts = [], []
    for run in chosen:
        if len(run.epochs) < MIN_OVERFIT_EPOCHS:
            parts.append(f"{run.label}: {len(run.epochs)} epochs, too few to tell (needs {MIN_OVERFIT_EPOCHS})")
            verdicts.append("untested")
            continue
        limit = 2 * seed_epoch * run.planned_epochs / SEED_EPOCHS
        onset = run.overfit
        if onset is None:
            parts.append(f"{run.label}: no onset in {len(run.epochs)} epochs")
            verdicts.append("fails")
        else:
            parts.append(f"{run.label}: from epoch {onset} of {run.planned_epochs}")
            verdicts.append("holds" if onset <= limit else "fails")
    verdict = "untested" if "untested" in verdicts else "fails" if "fails" in verdicts else "holds"
    return verdict, "; ".join(parts)


def findings(runs: Sequence[RunSeries]) -> list[str]:
    """What the runs say without anyone's claim: effects against baselines, group winners,
    overfitting onsets, the best run. Only runs trained to their end are read."""
    have = {r.key: r for r in runs if r.epochs and r.completed}
    out: list[str] = []
    if not have:
        return out
    best = max(have.values(), key=lambda r: r.final_test)
    out.append(f"Best test accuracy after training: {pt(best.final_test)} ({best.label}).")
    for run in have.values():
        base = have.get(run.baseline or "")
        if base is not None:
            delta = run.final_test - base.final_test
            word = "raises" if delta >= CHANGE_PT else "lowers" if delta <= -CHANGE_PT else "leaves"
            out.append(f"{run.label} {word} test accuracy against {base.label}: "
                       f"{pt(base.final_test)} → {pt(run.final_test)} ({signed_pt(delta)}); "
                       f"train−test gap {signed_pt(base.gap)} → {signed_pt(run.gap)}.")
    groups: dict[str, list[RunSeries]] = {}
    for run in have.values():
        if run.group:
            groups.setdefault(run.group, []).append(run)
    for name, members in groups.items():
        ranked = sorted(members, key=lambda r: r.final_test, reverse=True)
        listing = ", ".join(f"{r.group_value} ({pt(r.final_test)})" for r in ranked)
        out.append(f"Best {name}: {ranked[0].group_value} — ranked {listing}.")
    for run in have.values():
        if run.best_test <= 1 / run.classes + CHANGE_PT:
            out.append(f"{run.label} never rose above chance ({pt(run.best_test)} at best, {run.classes} classes): "
                       f"it did not learn with these settings.")
    for run in have.values():
        if len(run.epochs) <= OVERFIT_WINDOW:
            continue
        onset = run.overfit
        out.append(f"{run.label}: overfitting starts after epoch {onset} (test accuracy stops rising while train "
                   f"accuracy keeps rising)." if onset else
                   f"{run.label}: no overfitting onset in {len(run.epochs)} epochs.")
    return out
