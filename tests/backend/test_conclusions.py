"""The study conclusions on hand-made metric series whose answers are known."""

from __future__ import annotations

import pytest

from backend.studies.catalog import BEYOND_THE_SEED, SEED_REPORT
from backend.studies.conclusions import RunSeries, check_claim, findings


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


@pytest.mark.parametrize("spec", [SEED_REPORT, BEYOND_THE_SEED])
def test_shipped_studies_pass_the_checks_a_users_study_gets(spec) -> None:
    from backend.api.routes.studies import check_entries
    from backend.schemas import StudyCreate

    body = StudyCreate.model_validate({k: spec[k] for k in ("name", "description", "entries", "claims")})
    stored = check_entries(body)  # every config valid and within the lab's budgets, every claim well-formed
    assert len(stored) == len(spec["entries"])
