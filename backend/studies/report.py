"""A study launch's report: every run's series, the side-by-side table against the reference
figures, each repeated entry's spread over its seeds, the computed conclusions and each run's class
report — one dict for the page, the self-contained HTML export and the CSV.

Which figure is the headline is the run's protocol: with a holdout, the test accuracy at the epoch
chosen on validation; without one, the last epoch's (the best epoch is then chosen on the test set,
and labelled so). A quick version (fewer epochs, less data) says so in a banner.

Reads are batched (runs, series, class reports: one query each), as in the compare endpoint.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.fields import as_utc
from backend.core.statuses import FINISHED_STATUSES
from backend.core.tables import Run, RunEvaluation, Study, StudyLaunch
from backend.runs.analysis import best_epoch
from backend.runs.service import SERIES_COLUMNS, series_of
from backend.studies.catalog import SHIPPED_BY_SLUG
from backend.studies.conclusions import RunSeries, check_claim, findings
from backend.studies.launches import scaled_budget, scaled_epochs
from backend.studies.series import Arm, Metric, arms_of, val_choice
from backend.training.config import DEFAULT_HOLDOUT, TrainConfig

TABLE_COLUMNS = (
    ("entry", "entry"), ("run_id", "run"), ("status", "status"), ("seed", "seed"), ("holdout", "holdout"),
    ("architecture", "architecture"),
    ("params", "params"), ("ref_params", "ref params"), ("macs", "MACs"), ("ref_macs", "ref MACs"),
    ("epochs_done", "epochs"), ("ref_epochs", "ref epochs"),
    ("train_acc", "train acc"), ("ref_train_acc", "ref train acc"), ("diff_train_acc", "train acc diff"),
    ("test_acc", "test acc"), ("ref_test_acc", "ref test acc"), ("diff_test_acc", "test acc diff"),
    ("best_val_acc", "best val acc"), ("test_acc_at_best_val", "test acc at best val"),
    ("val_epoch", "epoch chosen on val"),
    ("best_test_acc", "best test (chosen on test)"), ("best_epoch", "best epoch (chosen on test)"),
    ("overfit_epoch", "overfits from epoch"),
    ("minutes", "minutes"), ("minutes_per_120", "minutes per 120 epochs"), ("ref_minutes", "ref minutes"),
    ("diff_minutes", "minutes per 120 epochs diff"),
)


def _diff(ours: float | None, ref: float | None) -> float | None:
    return None if ours is None or ref is None else ours - ref


def table_row(
    entry: dict[str, Any], run: Run | None, series: dict[str, list[Any]], overfit: int | None
) -> dict[str, Any]:
    ref = entry.get("reference") or {}
    row: dict[str, Any] = {name: None for name, _ in TABLE_COLUMNS}
    row.update(entry=entry["label"], ref_params=ref.get("params"), ref_macs=ref.get("macs"),
               ref_epochs=ref.get("epochs"), ref_train_acc=ref.get("train_acc"), ref_test_acc=ref.get("test_acc"),
               ref_minutes=ref.get("minutes"))
    if run is None:
        return row
    epochs = series["epoch"]
    minutes = sum(series["seconds"]) / 60 if epochs else None
    chosen = val_choice(series.get("val_acc") or [])
    row.update(run_id=run.id, status=run.status, seed=run.seed, holdout=run.holdout, architecture=run.architecture,
               params=run.params, macs=run.macs, epochs_done=len(epochs), overfit_epoch=overfit,
               train_acc=series["train_acc"][-1] if epochs else None,
               test_acc=series["test_acc"][-1] if epochs else None,
               best_test_acc=max(series["test_acc"]) if epochs else None,
               best_epoch=best_epoch(epochs, series["test_acc"]), minutes=minutes,
               minutes_per_120=minutes * 120 / len(epochs) if minutes is not None else None)  # None: no epochs
    if chosen is not None:
        row.update(best_val_acc=series["val_acc"][chosen], test_acc_at_best_val=series["test_acc"][chosen],
                   val_epoch=epochs[chosen])
    row["diff_train_acc"] = _diff(row["train_acc"], row["ref_train_acc"])
    row["diff_test_acc"] = _diff(row["test_acc"], row["ref_test_acc"])
    # time set against time: ours per 120 epochs (the reference's epochs) against its minutes
    row["diff_minutes"] = _diff(row["minutes_per_120"], row["ref_minutes"])
    return row


def _run_series(entry: dict[str, Any], run: Run, s: dict[str, list[Any]]) -> RunSeries:
    ref = entry.get("reference") or {}
    return RunSeries(
        key=entry["key"], label=entry["label"], status=run.status, planned_epochs=run.epochs,
        epochs=list(s["epoch"]), train_acc=list(s["train_acc"]), test_acc=list(s["test_acc"]),
        val_acc=list(s.get("val_acc") or []), baseline=entry.get("baseline"), group=entry.get("group"),
        group_value=entry.get("group_value"), classes=run.config["architecture"]["num_classes"], seed=run.seed,
        reference_epochs=ref.get("epochs"))


def _stats(arm: Arm, metric: Metric) -> dict[str, Any]:
    values = arm.values(metric)
    return {**arm.spread(metric).as_dict(), "min": min(values), "max": max(values)}


def group_row(entry: dict[str, Any], runs: list[RunSeries]) -> dict[str, Any]:
    """A repeated entry over its seeds: n, mean, std, 95% CI and min–max of its headline (the test
    accuracy at the epoch chosen on validation, or after the last epoch), best validation accuracy and
    last-epoch test accuracy; only runs trained to their end count."""
    done = [r for r in runs if r.completed and r.epochs]
    row: dict[str, Any] = {"key": entry["key"], "entry": entry["label"], "repeats": int(entry.get("repeats") or 1),
                           "n": len(done), "seeds": [r.seed for r in done], "selected_on": None,
                           "headline": None, "best_val_acc": None, "final_test_acc": None}
    if not done:
        return row
    arm = Arm(done)
    row.update(selected_on="val" if arm.has_val else "test", headline=_stats(arm, lambda r: r.headline),
               final_test_acc=_stats(arm, lambda r: r.final_test))
    if arm.has_val:
        row["best_val_acc"] = _stats(arm, lambda r: r.rank_score)
    return row


def quick_version(launch: StudyLaunch | None) -> str | None:
    """What a launch scaled down from its study (epochs, data), in words; None for the study itself."""
    if launch is None:
        return None
    parts = []
    if launch.epochs_scale < 1:
        default = TrainConfig.model_fields["epochs"].default
        planned = sorted({int(e["config"].get("epochs", default)) for e in launch.entries}, reverse=True)
        shown = ", ".join(f"{n} → {scaled_epochs(n, launch.epochs_scale)}" for n in planned)
        parts.append(f"epochs × {launch.epochs_scale:g} ({shown} epochs)")
        budget = TrainConfig.model_fields["time_budget_s"].default
        timed = sorted({float(e["config"].get("time_budget_s", budget)) for e in launch.entries
                        if e["config"].get("schedule_by") == "time_budget"}, reverse=True)
        if timed:  # planned by their time: their budgets shrink too
            shown = ", ".join(f"{s:g} s → {scaled_budget(s, launch.epochs_scale):g} s" for s in timed)
            parts.append(f"the time budgets of the entries planned by time × {launch.epochs_scale:g} ({shown})")
    for key, value in (launch.data_override or {}).items():
        if key == "train_limit" and value is not None:
            parts.append(f"{value:,} training images (train_limit) instead of all")
        elif key == "test_limit" and value is not None:
            parts.append(f"{value:,} test images (test_limit) instead of all")
        else:
            parts.append(f"data.{key} = {value!r} for every entry")
    if not parts:
        return None
    return ("Quick version: " + "; ".join(parts) + ". Its figures are not the study's: a claim that reads runs "
            "trained far fewer epochs than their reference is inconclusive.")


def protocol_note(study: Study, holdouts: list[int], overridden: bool = False) -> str | None:
    """On which split the runs' choices were made (their holdout), and a shipped study's own word on
    it (unless the launch overrode the holdout)."""
    spec = SHIPPED_BY_SLUG.get(study.slug or "")
    said: str | None = spec.get("protocol") if spec and not overridden else None
    distinct = sorted(set(holdouts))
    if distinct == [0]:
        note = ("Holdout 0: no validation split, so each run's best epoch is chosen on the test set (labelled "
                "“chosen on test”) and its figures are read after the last epoch.")
    elif distinct and 0 not in distinct:
        note = (f"Holdout {', '.join(f'{h:,}' for h in distinct)} training images: every choice (best epoch, "
                "ranking) is made on validation; the test set only reports, at the epoch chosen on validation.")
    elif distinct:
        note = ("Mixed protocols: runs with a holdout are read at the epoch chosen on validation, runs without "
                "one after the last epoch (their best epoch chosen on test).")
    else:
        note = None
    return " ".join(n for n in (said, note) if n) or None


def build_report(
    session: Session, study: Study, launch: StudyLaunch | None, class_reports: bool = True
) -> dict[str, Any]:
    """The report of ``launch`` (None: the study's entries, not launched yet), read against the
    entries and claims as they were when it was launched."""
    links: dict[str, list[int | None]] = {}
    for link in sorted(launch.runs if launch else [], key=lambda link: (link.entry_key, link.repeat)):
        links.setdefault(link.entry_key, []).append(link.run_id)
    run_ids = [i for ids in links.values() for i in ids if i is not None]
    study_entries = launch.entries if launch else study.entries
    study_claims = launch.claims if launch else study.claims
    runs = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(run_ids)))} if run_ids else {}
    series = series_of(session, run_ids)
    evaluations = {e.run_id: e.report for e in
                   session.scalars(select(RunEvaluation).where(RunEvaluation.run_id.in_(run_ids)))} \
        if run_ids and class_reports else {}
    entries, table, groups, seen = [], [], [], []
    for index, entry in enumerate(study_entries):
        mine: list[RunSeries] = []
        for repeat, run_id in enumerate(links.get(entry["key"]) or [None]):
            run = runs.get(run_id or -1)
            s = series[run.id] if run else {c: [] for c in SERIES_COLUMNS}
            one = _run_series(entry, run, s) if run is not None else None
            overfit = one.overfit if one is not None else None
            row = table_row(entry, run, s, overfit)
            if entry["key"] in links and run_id is None:
                row["status"] = "deleted"
            row["repeat"] = repeat
            table.append(row)
            entries.append({**entry, "entry_index": index, "repeat": repeat, "seed": run.seed if run else None,
                            "run": _run_summary(run), "series": s, "overfit_epoch": overfit,
                            "best_epoch": row["best_epoch"], "val_epoch": row["val_epoch"],
                            "evaluation": evaluations.get(run.id) if run else None})
            if one is not None:
                mine.append(one)
        seen.extend(mine)
        if int(entry.get("repeats") or 1) > 1:
            groups.append(group_row(entry, mine))
    finished = sum(1 for r in runs.values() if r.status in FINISHED_STATUSES)
    by_key = arms_of(seen)
    holdouts = [r.holdout for r in runs.values()] if runs else [
        int((e["config"].get("data") or {}).get("holdout", DEFAULT_HOLDOUT)) for e in study_entries]
    return {
        "study": {"id": study.id, "slug": study.slug, "name": study.name, "owner": study.owner.username,
                  "description": study.description},
        "launch": None if launch is None else {
            "id": launch.id, "created_at": as_utc(launch.created_at).isoformat(), "owner": launch.owner.username,
            "epochs_scale": launch.epochs_scale, "data_override": launch.data_override},
        "quick_version": quick_version(launch),
        "protocol": protocol_note(study, holdouts, "holdout" in ((launch.data_override if launch else None) or {})),
        # every run of the launch has ended (a deleted run has too): nothing will change any more
        "finished": launch is not None and finished == len(runs),
        "runs_finished": finished,
        "runs_total": len(runs),
        "columns": [{"name": n, "title": t} for n, t in TABLE_COLUMNS],
        "table": table,
        "groups": groups,
        "claims": [check_claim(c, {k: a.runs for k, a in by_key.items()}).to_dict() for c in study_claims],
        "findings": findings(seen),
        "entries": entries,
    }


def _run_summary(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"id": run.id, "name": run.name, "status": run.status, "architecture": run.architecture,
            "params": run.params, "macs": run.macs, "epochs": run.epochs, "epochs_done": run.epochs_done,
            "seed": run.seed, "holdout": run.holdout, "selected_on": run.selected_on, "group_id": run.group_id,
            "best_test_acc": run.best_test_acc, "test_acc_at_best_val": run.test_acc_at_best_val,
            "reason": run.reason, "device": run.device}


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet would run it as a formula
    return value


def table_csv(report: dict[str, Any]) -> str:
    """The side-by-side table, one row per run; accuracies as fractions (0.85), every float to 4
    decimals."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([title for _, title in TABLE_COLUMNS])
    for row in report["table"]:
        writer.writerow([_csv_cell(row[n]) for n, _ in TABLE_COLUMNS])
    return buf.getvalue()

