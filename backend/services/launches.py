"""Launching a study: one run per entry, the caller's, admitted together (backend.services.admission)."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backend.models import Run, Study, StudyLaunch, StudyLaunchRun, User
from backend.services import admission
from backend.settings import settings
from backend.training_config import DataConfig, TrainConfig
from backend.validation import describe_errors


def scaled_config(config: TrainConfig, scale: float) -> TrainConfig:
    """The quick version of a config: its epochs, and the epoch counts that go with them (step
    schedule period, early-stopping patience), times ``scale``, each at least 1."""
    def scaled(n: int) -> int:
        return max(1, round(n * scale))

    update: dict[str, Any] = {"epochs": scaled(config.epochs), "step_epochs": scaled(config.step_epochs)}
    if config.early_stopping_patience is not None:
        update["early_stopping_patience"] = scaled(config.early_stopping_patience)
    return config.model_copy(update=update)


def launch(session: Session, owner: User, study: Study, epochs_scale: float,
           data: dict[str, Any] | None) -> StudyLaunch:
    """The launch and its runs, every entry's config checked first; ``data`` overrides each entry's
    dataset (a smaller subset, say). A study written for an hour runs within a lab that grants less."""
    if data is not None:
        try:
            checked = DataConfig.model_validate({"source": "cifar10", **data})
        except ValidationError as exc:
            err = describe_errors(exc)[0]
            raise admission.Refused(f"data.{err['field']}", err["message"]) from None
        admission.check_data_source(checked.source, "data.source")
    planned, keys = [], []
    for i, entry in enumerate(study.entries):
        raw = copy.deepcopy(entry["config"])
        if data:
            raw["data"] = {**(raw.get("data") or {}), **data}
        raw["time_budget_s"] = min(float(raw.get("time_budget_s", settings.TIME_BUDGET_S)), settings.TIME_BUDGET_S)
        config = scaled_config(admission.checked_config(raw, f"entries[{i}].config"), epochs_scale)
        planned.append(admission.Planned(config, f"{study.name} · {entry['label']}"[:200]))
        keys.append(entry["key"])

    def link(launch: StudyLaunch, runs: list[Run]) -> None:
        session.add_all([StudyLaunchRun(launch_id=launch.id, entry_key=key, run_id=run.id)
                         for key, run in zip(keys, runs, strict=True)])

    new = StudyLaunch(study_id=study.id, owner=owner, epochs_scale=epochs_scale, data_override=data,
                      entries=study.entries, claims=study.claims)
    admission.admit(session, owner, planned, new, link)
    return new
