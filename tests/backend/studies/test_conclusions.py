"""The study conclusions on hand-made metric series whose answers are known."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from backend.studies.catalog import BEYOND_THE_SEED, RUN_NOISE, SEED_REPORT
from backend.studies.conclusions import RunSeries, check_claim, findings
from backend.studies.report import group_row, protocol_note, quick_version


def series(key: str, test: list[float], train: list[float] | None = None, planned: int | None = None,
           **kw) -> RunSeries:
    train = train if train is not None else [t + 0.02 for t in test]
    return RunSeries(key=key, label=key, planned_epochs=planned or len(test),
                     epochs=list(range(1, len(test) + 1)), train_acc=train, test_acc=test, **kw)


def runs(*items: RunSeries) -> dict[str, RunSeries]:
    return {r.key: r for r in items}


def claim(kind: str, keys=(), **kw) -> dict:
    return {"kind": kind, "text": f"{kind} claim", "keys": list(keys), **kw}


def test_raises_lowers_and_same_follow_the_last_epochs_test_accuracy() -> None:
    base = series("base", [0.50, 0.70, 0.74])
    up = series("up", [0.55, 0.80, 0.85])
    down = series("down", [0.55, 0.72, 0.73])
    same = series("same", [0.60, 0.70, 0.745])
    rs = runs(base, up, down, same)
    v = check_claim(claim("raises", ["up", "base"]), rs)
    assert v.verdict == "holds" and "74.0% (base) → 85.0% (up): +11.0 pt" in v.detail
    assert check_claim(claim("raises", ["down", "base"]), rs).verdict == "fails"
    assert check_claim(claim("lowers", ["down", "base"]), rs).verdict == "holds"
    assert check_claim(claim("lowers", ["same", "base"]), rs).verdict == "fails"  # +0.5 pt is no fall
    assert check_claim(claim("same", ["same", "base"]), rs).verdict == "holds"
    assert check_claim(claim("same", ["up", "base"]), rs).verdict == "fails"


def test_gap_claims_read_train_minus_test_after_the_last_epoch() -> None:
    base = series("base", [0.70, 0.85], train=[0.80, 0.91])  # gap 6 pt
    wider = series("wider", [0.70, 0.85], train=[0.85, 0.93])  # gap 8 pt
    narrower = series("narrower", [0.70, 0.84], train=[0.75, 0.87])  # gap 3 pt
    rs = runs(base, wider, narrower)
    assert check_claim(claim("more_overfit", ["wider", "base"]), rs).verdict == "holds"
    assert check_claim(claim("more_overfit", ["narrower", "base"]), rs).verdict == "fails"
    v = check_claim(claim("narrows_gap", ["narrower", "base"]), rs)
    assert v.verdict == "holds" and "−3.0 pt" in v.detail.replace("-", "−")


def test_overfitting_onset_is_found_where_test_stalls_and_train_keeps_rising() -> None:
    # test accuracy peaks at epoch 4 and stays; train keeps climbing: onset at epoch 4
    test = [0.40, 0.55, 0.62, 0.66, 0.66, 0.65, 0.66, 0.64, 0.65, 0.65]
    train = [0.40, 0.58, 0.70, 0.78, 0.84, 0.89, 0.93, 0.96, 0.98, 0.99]
    early = series("early", test, train, planned=10)
    healthy = series("healthy", [0.4 + 0.05 * i for i in range(10)], [0.42 + 0.05 * i for i in range(10)], planned=10)
    rs = runs(early, healthy)
    assert early.overfit == 4 and healthy.overfit is None
    # the seed: "after about 20 of 120 epochs" → within 2 x 20/120 x 10 = 3.3 epochs of a 10-epoch run
    assert check_claim(claim("overfits_by", ["early"], expected=20), rs).verdict == "fails"
    assert check_claim(claim("overfits_by", ["early"], expected=30), rs).verdict == "holds"  # limit 5
    v = check_claim(claim("overfits_by", ["early", "healthy"], expected=30), rs)
    assert v.verdict == "fails" and "healthy: no onset in 10 epochs" in v.detail
    short = runs(series("short", test[:9], train[:9], planned=9))  # a quick version: too short to tell
    v = check_claim(claim("overfits_by", ["short"], expected=20), short)
    assert v.verdict == "untested" and "9 epochs, too few to tell (needs 10)" in v.detail


def test_best_in_group_degrades_and_slower() -> None:
    bs = {4: [0.50, 0.60, 0.58, 0.52], 8: [0.55, 0.65, 0.70, 0.72], 16: [0.50, 0.66, 0.72, 0.74],
          32: [0.40, 0.55, 0.68, 0.73]}
    rs = runs(*(series(f"bs{b}", t, group="batch size", group_value=b) for b, t in bs.items()))
    v = check_claim(claim("best_in_group", group="batch size", expected=16), rs)
    assert v.verdict == "holds" and v.detail.startswith("best batch size is 16 (16: 74.0%, 32: 73.0%")
    assert check_claim(claim("best_in_group", group="batch size", expected=8), rs).verdict == "fails"
    assert check_claim(claim("degrades", ["bs4"]), rs).verdict == "holds"  # 60% → 52%
    assert check_claim(claim("degrades", ["bs16"]), rs).verdict == "fails"
    assert check_claim(claim("slower", ["bs32", "bs16"]), rs).verdict == "holds"  # 47.5% vs 58% early
    assert check_claim(claim("slower", ["bs8", "bs16"]), rs).verdict == "fails"
    assert check_claim(claim("best_in_group", group="nothing"), rs).verdict == "untested"


def test_unfinished_or_missing_runs_make_a_verdict_pending_or_untested() -> None:
    base = series("base", [0.5, 0.6])
    live = series("live", [0.7], status="running")
    rs = runs(base, live)
    v = check_claim(claim("raises", ["live", "base"]), rs)
    assert v.verdict == "pending" and "still training: live" in v.detail
    assert check_claim(claim("raises", ["gone", "base"]), rs).verdict == "untested"
    empty = RunSeries(key="empty", label="empty", planned_epochs=3)
    assert check_claim(claim("raises", ["empty", "base"]), runs(base, empty)).verdict == "untested"


def test_beats_compares_the_best_of_its_runs_with_the_expected_accuracy() -> None:
    rs = runs(series("a", [0.80, 0.86]), series("b", [0.80, 0.84]))
    assert check_claim(claim("beats", ["a", "b"], expected=0.85), rs).verdict == "holds"
    assert check_claim(claim("beats", ["b"], expected=0.85), rs).verdict == "fails"


def test_findings_state_effects_group_winners_onsets_and_the_best_run() -> None:
    test = [0.40, 0.55, 0.62, 0.66, 0.66, 0.65, 0.66, 0.64, 0.65, 0.65]
    train = [0.40, 0.58, 0.70, 0.78, 0.84, 0.89, 0.93, 0.96, 0.98, 0.99]
    base = series("plain", test, train)
    aug = series("aug", [t + 0.1 for t in test], [t + 0.1 for t in test], baseline="plain")
    out = findings([base, aug, RunSeries(key="none", label="none", planned_epochs=3, status="running")])
    assert out[0] == "Best test accuracy after training: 75.0% (aug)."
    assert "aug raises test accuracy against plain: 65.0% → 75.0% (+10.0 pt); train−test gap +34.0 pt → +0.0 pt." in out
    assert ("plain: overfitting starts after epoch 4 (test accuracy stops rising while train accuracy keeps rising)."
            in out)
    assert "aug: no overfitting onset in 10 epochs." in out
    assert findings([]) == []
    dead = series("dead", [0.10, 0.098, 0.10], classes=10)
    assert ("dead never rose above chance (10.0% at best, 10 classes): it did not learn with these settings."
            in findings([dead]))


def test_a_run_that_failed_or_was_cancelled_tests_nothing_and_finds_nothing() -> None:
    base = series("base", [0.5, 0.6])
    crashed = series("crashed", [0.7], status="failed", planned=4)
    stopped = series("stopped", [0.7, 0.8], status="cancelled", planned=4)
    timed = series("timed", [0.7, 0.8], status="timed_out", planned=4)  # a time budget is a normal end
    rs = runs(base, crashed, stopped, timed)
    v = check_claim(claim("raises", ["crashed", "base"]), rs)
    assert (v.verdict, v.detail) == ("untested", "crashed failed after 1 of 4 epochs")
    assert check_claim(claim("raises", ["stopped", "base"]), rs).verdict == "untested"
    assert check_claim(claim("raises", ["timed", "base"]), rs).verdict == "holds"
    assert all("crashed" not in f and "stopped" not in f for f in findings(list(rs.values())))
    assert check_claim(claim("best_in_group"), rs).verdict == "untested"  # no group named


@pytest.mark.parametrize("spec", [SEED_REPORT, BEYOND_THE_SEED, RUN_NOISE])
def test_shipped_studies_pass_the_checks_a_users_study_gets(spec) -> None:
    from backend.studies.routes import check_entries
    from backend.studies.schemas import StudyCreate

    body = StudyCreate.model_validate({k: spec[k] for k in ("name", "description", "entries", "claims")})
    stored = check_entries(body)  # every config valid and within the lab's budgets, every claim well-formed
    assert len(stored) == len(spec["entries"])


def seeds(key: str, finals: list[float], **kw) -> list[RunSeries]:
    """One entry repeated over seeds 0, 1, …: each run climbs to its final test accuracy."""
    return [series(key, [f - 0.2, f - 0.05, f], seed=i, **kw) for i, f in enumerate(finals)]


def test_a_claim_on_runs_near_chance_is_inconclusive_never_holds_or_fails() -> None:
    # the case: "augmentation raises test accuracy" read on runs that all ended at chance
    rs = runs(series("aug", [0.10, 0.108, 0.113]), series("plain", [0.10, 0.11, 0.105]))
    for kind in ("raises", "lowers", "same"):
        v = check_claim(claim(kind, ["aug", "plain"]), rs)
        assert v.verdict == "inconclusive", (kind, v)
        assert v.reason == "runs near chance (aug 11.3%, plain 10.5%; chance 10.0%)"
        assert "10.5% (plain) → 11.3% (aug)" in v.detail  # what it read is still shown
    rs = runs(*(series(f"bs{b}", [0.1, 0.11, t], group="batch size", group_value=b)
                for b, t in ((4, 0.10), (16, 0.113), (32, 0.109))))
    v = check_claim(claim("best_in_group", group="batch size", expected=16), rs)
    assert v.verdict == "inconclusive" and v.reason.startswith("runs near chance")
    # a run that learned and then fell back is no run near chance: its fall is what "degrades" reads
    fell = runs(series("bs4", [0.30, 0.45, 0.14]))
    assert check_claim(claim("degrades", ["bs4"]), fell).verdict == "holds"


def test_a_claim_on_runs_far_shorter_than_the_reference_is_inconclusive() -> None:
    # the quick version: epochs x 0.02 of the seed's 120
    base = series("base", [0.40, 0.50], planned=2, reference_epochs=120)
    aug = series("aug", [0.45, 0.60], planned=2, reference_epochs=120)
    v = check_claim(claim("raises", ["aug", "base"]), runs(aug, base))
    assert (v.verdict, v.reason) == ("inconclusive", "trained 2 epochs of the reference's 120")
    # known from the plan: a quick version is inconclusive before its runs end, not merely pending
    live = series("aug", [0.45], planned=2, reference_epochs=120, status="running")
    assert check_claim(claim("raises", ["aug", "base"]), runs(live, base)).verdict == "inconclusive"
    # half the reference or more is a fair read; and a run cut by its time budget counts what it trained
    assert check_claim(claim("raises", ["aug", "base"]), runs(
        series("aug", [0.45, 0.60], planned=60, reference_epochs=120),
        series("base", [0.40, 0.50], planned=60, reference_epochs=120))).verdict == "holds"
    cut = series("aug", [0.45, 0.60], planned=120, reference_epochs=120, status="timed_out")
    v = check_claim(claim("raises", ["aug", "base"]), runs(cut, series("base", [0.4, 0.5], planned=120)))
    assert (v.verdict, v.reason) == ("inconclusive", "trained 2 epochs of the reference's 120")
    # the overfitting onset of a quick version: inconclusive rather than merely too short to tell
    v = check_claim(claim("overfits_by", ["base"], expected=20), runs(base))
    assert v.verdict == "inconclusive" and "too few to tell" in v.detail


def test_repeated_entries_are_judged_on_the_confidence_interval_of_their_difference() -> None:
    base = seeds("base", [0.700, 0.710, 0.690])
    clear = seeds("clear", [0.800, 0.820, 0.795])  # +10 pt on every seed
    worse = seeds("worse", [0.650, 0.655, 0.640])  # −5 pt on every seed
    noisy = seeds("noisy", [0.705, 0.725, 0.690])  # +0.5, +1.5, 0 pt: 95% CI about −1.2 to +2.6 pt
    rs = {"base": base, "clear": clear, "worse": worse, "noisy": noisy}
    v = check_claim(claim("raises", ["clear", "base"]), rs)
    assert v.verdict == "holds" and v.reason is None
    assert "mean over seeds: 70.0% (base, 3 runs) → 80.5% (clear, 3 runs): +10.5 pt, 95% CI" in v.detail
    assert "(paired on 3 seeds)" in v.detail
    v = check_claim(claim("raises", ["worse", "base"]), rs)
    assert v.verdict == "fails"  # the whole interval below the claim's +0.5 pt
    assert check_claim(claim("lowers", ["worse", "base"]), rs).verdict == "holds"
    v = check_claim(claim("raises", ["noisy", "base"]), rs)
    assert v.verdict == "inconclusive"
    assert v.reason.startswith("95% CI −1.") or v.reason.startswith("95% CI -1."), v.reason
    assert v.reason.endswith("straddles the claim's threshold (+0.5 pt or more)")
    # the same single runs, read without repeats, would have "held": one seed is no evidence
    assert check_claim(claim("raises", ["noisy", "base"]), {"noisy": noisy[1], "base": base[1]}).verdict == "holds"
    # one repeated side against a single run: no interval can be drawn
    v = check_claim(claim("raises", ["clear", "base"]), {"clear": clear, "base": base[0]})
    assert v.verdict == "inconclusive" and "too few runs" in v.reason


def test_a_repeat_that_failed_is_left_out_and_said_so() -> None:
    base = seeds("base", [0.700, 0.710, 0.690])
    clear = seeds("clear", [0.800, 0.820, 0.795])
    clear[2] = series("clear", [0.6], planned=3, seed=2, status="failed")
    v = check_claim(claim("raises", ["clear", "base"]), {"clear": clear, "base": base})
    assert v.verdict == "holds" and "left out: clear (seed 2) failed after 1 of 3 epochs" in v.detail


def test_best_in_group_ranks_on_validation_and_with_repeats_needs_a_clear_lead() -> None:
    # on the test set bs8 peaks highest (75%), but validation chooses, and ranks, bs16
    bs8 = series("bs8", [0.70, 0.75, 0.71], val_acc=[0.69, 0.70, 0.72], group="batch size", group_value=8)
    bs16 = series("bs16", [0.70, 0.73, 0.72], val_acc=[0.70, 0.74, 0.73], group="batch size", group_value=16)
    v = check_claim(claim("best_in_group", group="batch size", expected=16), runs(bs8, bs16))
    assert v.verdict == "holds" and v.detail == ("best batch size is 16 (16: val 74.0%, test 73.0%, 8: val 72.0%, "
                                                 "test 71.0%), ranked on validation")
    assert "Best batch size: 16 — ranked on validation accuracy 16 (74.0%), 8 (72.0%)." in findings([bs8, bs16])
    group = {"bs16": seeds("bs16", [0.74, 0.75, 0.73], group="batch size", group_value=16),
             "bs8": seeds("bs8", [0.735, 0.76, 0.72], group="batch size", group_value=8),
             "bs4": seeds("bs4", [0.60, 0.61, 0.62], group="batch size", group_value=4)}
    v = check_claim(claim("best_in_group", group="batch size", expected=16), group)
    assert v.verdict == "inconclusive" and "16 − 8: 95% CI" in v.reason
    assert check_claim(claim("best_in_group", group="batch size", expected=4), group).verdict == "fails"
    del group["bs8"]
    assert check_claim(claim("best_in_group", group="batch size", expected=16), group).verdict == "holds"


def test_a_repeated_entry_reports_its_spread_over_seeds() -> None:
    noise = [series("n", [0.5, t], val_acc=[0.49, v], seed=i)
             for i, (t, v) in enumerate([(0.80, 0.79), (0.81, 0.80), (0.79, 0.785), (0.82, 0.81), (0.80, 0.80)])]
    out = findings(noise)
    spread = next(f for f in out if f.startswith("n over 5 seeds: "))
    assert spread.startswith("n over 5 seeds: test accuracy (epoch chosen on validation) 80.4% ± 1.1 pt (std), "
                             "95% CI 79.0%–81.8%, range 79.0%–82.0%; best validation accuracy 79.7%")
    assert out[0].startswith("Best on validation: n, validation accuracy 79.7% ± ")
    row = group_row({"key": "n", "label": "n", "repeats": 5}, noise)
    assert (row["n"], row["repeats"], row["seeds"], row["selected_on"]) == (5, 5, [0, 1, 2, 3, 4], "val")
    assert row["headline"]["mean"] == pytest.approx(0.804) and row["headline"]["min"] == 0.79
    assert row["headline"]["ci_low"] < 0.804 < row["headline"]["ci_high"] and row["best_val_acc"]["n"] == 5


def test_the_quick_version_banner_says_what_was_scaled_down() -> None:
    launch = SimpleNamespace(epochs_scale=0.02, data_override={"train_limit": 2000},
                             entries=[{"config": {"epochs": 120}}, {"config": {"epochs": 120}}])
    assert quick_version(launch) == (
        "Quick version: epochs × 0.02 (120 → 2 epochs); 2,000 training images (train_limit) instead of all. Its "
        "figures are not the study's: a claim that reads runs trained far fewer epochs than their reference is "
        "inconclusive.")
    assert quick_version(SimpleNamespace(epochs_scale=1.0, data_override=None, entries=[])) is None
    timed = SimpleNamespace(epochs_scale=0.1, data_override=None, entries=[
        {"config": {"epochs": 1000, "schedule_by": "time_budget", "time_budget_s": 900}},
        {"config": {"epochs": 30}}])
    assert quick_version(timed).startswith(
        "Quick version: epochs × 0.1 (1000 → 100, 30 → 3 epochs); the time budgets of the entries planned by time × "
        "0.1 (900 s → 90 s). ")
    assert quick_version(None) is None


def test_the_seed_study_keeps_holdout_0_and_its_report_says_so() -> None:
    assert all(e["config"]["data"]["holdout"] == 0 for e in SEED_REPORT["entries"])
    note = protocol_note(SimpleNamespace(slug="seed-report"), [0] * 9)
    assert note.startswith("This study keeps holdout 0, the seed's own protocol")
    assert "best epoch is chosen on the test set" in note
    assert not protocol_note(SimpleNamespace(slug="seed-report"), [0], overridden=True).startswith("This study")
    assert "made on validation" in protocol_note(SimpleNamespace(slug=None), [5000])


def test_the_run_noise_study_is_one_short_recipe_over_five_seeds() -> None:
    (entry,) = RUN_NOISE["entries"]
    assert entry["repeats"] == 5 and entry["config"]["architecture"] == "compact"
    assert entry["config"]["data"]["holdout"] == 5000 and entry["config"]["epochs"] <= 10
