"""A study launch's report: every run's series, the side-by-side table against the reference
figures, the computed conclusions and each run's class report — one dict for the page, the
self-contained HTML export and the CSV.

Reads are batched (runs, series, class reports: one query each), as in the compare endpoint.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.analysis import best_epoch
from backend.models import Run, RunEvaluation, Study, StudyLaunch
from backend.schemas import as_utc
from backend.services.runs import SERIES_COLUMNS, series_of
from backend.statuses import FINISHED_STATUSES
from backend.studies.conclusions import RunSeries, check_claim, findings

TABLE_COLUMNS = (
    ("entry", "entry"), ("run_id", "run"), ("status", "status"), ("architecture", "architecture"),
    ("params", "params"), ("ref_params", "ref params"), ("macs", "MACs"), ("ref_macs", "ref MACs"),
    ("epochs_done", "epochs"), ("ref_epochs", "ref epochs"),
    ("train_acc", "train acc"), ("ref_train_acc", "ref train acc"), ("diff_train_acc", "train acc diff"),
    ("test_acc", "test acc"), ("ref_test_acc", "ref test acc"), ("diff_test_acc", "test acc diff"),
    ("best_test_acc", "best test acc"), ("best_epoch", "best epoch"), ("overfit_epoch", "overfits from epoch"),
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
    row.update(run_id=run.id, status=run.status, architecture=run.architecture, params=run.params, macs=run.macs,
               epochs_done=len(epochs), overfit_epoch=overfit,
               train_acc=series["train_acc"][-1] if epochs else None,
               test_acc=series["test_acc"][-1] if epochs else None,
               best_test_acc=max(series["test_acc"]) if epochs else None,
               best_epoch=best_epoch(epochs, series["test_acc"]), minutes=minutes,
               minutes_per_120=minutes * 120 / len(epochs) if minutes is not None else None)  # None: no epochs
    row["diff_train_acc"] = _diff(row["train_acc"], row["ref_train_acc"])
    row["diff_test_acc"] = _diff(row["test_acc"], row["ref_test_acc"])
    # time set against time: ours per 120 epochs (the reference's epochs) against its minutes
    row["diff_minutes"] = _diff(row["minutes_per_120"], row["ref_minutes"])
    return row


def build_report(
    session: Session, study: Study, launch: StudyLaunch | None, class_reports: bool = True
) -> dict[str, Any]:
    """The report of ``launch`` (None: the study's entries, not launched yet), read against the
    entries and claims as they were when it was launched."""
    links = {link.entry_key: link.run_id for link in launch.runs} if launch else {}
    run_ids = [i for i in links.values() if i is not None]
    study_entries = launch.entries if launch else study.entries
    study_claims = launch.claims if launch else study.claims
    runs = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(run_ids)))} if run_ids else {}
    series = series_of(session, run_ids)
    evaluations = {e.run_id: e.report for e in
                   session.scalars(select(RunEvaluation).where(RunEvaluation.run_id.in_(run_ids)))} \
        if run_ids and class_reports else {}
    entries, table, seen = [], [], {}
    for entry in study_entries:
        run = runs.get(links.get(entry["key"]) or -1)
        s = series[run.id] if run else {c: [] for c in SERIES_COLUMNS}
        if run is not None:
            seen[entry["key"]] = RunSeries(
                key=entry["key"], label=entry["label"], status=run.status, planned_epochs=run.epochs,
                epochs=list(s["epoch"]), train_acc=list(s["train_acc"]), test_acc=list(s["test_acc"]),
                baseline=entry.get("baseline"), group=entry.get("group"), group_value=entry.get("group_value"),
                classes=run.config["architecture"]["num_classes"])
        overfit = seen[entry["key"]].overfit if run is not None else None
        row = table_row(entry, run, s, overfit)
        if entry["key"] in links and links[entry["key"]] is None:
            row["status"] = "deleted"
        table.append(row)
        entries.append({**entry, "run": _run_summary(run), "series": s, "overfit_epoch": overfit,
                        "best_epoch": row["best_epoch"], "evaluation": evaluations.get(run.id) if run else None})
    finished = sum(1 for r in runs.values() if r.status in FINISHED_STATUSES)
    return {
        "study": {"id": study.id, "slug": study.slug, "name": study.name, "owner": study.owner.username,
                  "description": study.description},
        "launch": None if launch is None else {
            "id": launch.id, "created_at": as_utc(launch.created_at).isoformat(), "owner": launch.owner.username,
            "epochs_scale": launch.epochs_scale, "data_override": launch.data_override},
        # every run of the launch has ended (a deleted run has too): nothing will change any more
        "finished": launch is not None and finished == len(runs),
        "runs_finished": finished,
        "runs_total": len(runs),
        "columns": [{"name": n, "title": t} for n, t in TABLE_COLUMNS],
        "table": table,
        "claims": [check_claim(c, seen).to_dict() for c in study_claims],
        "findings": findings(list(seen.values())),
        "entries": entries,
    }


def _run_summary(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"id": run.id, "name": run.name, "status": run.status, "architecture": run.architecture,
            "params": run.params, "macs": run.macs, "epochs": run.epochs, "epochs_done": run.epochs_done,
            "best_test_acc": run.best_test_acc, "reason": run.reason, "device": run.device}


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet would run it as a formula
    return value


def table_csv(report: dict[str, Any]) -> str:
    """The side-by-side table; accuracies as fractions (0.85), every float to 4 decimals."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([title for _, title in TABLE_COLUMNS])
    for row in report["table"]:
        writer.writerow([_csv_cell(row[n]) for n, _ in TABLE_COLUMNS])
    return buf.getvalue()
