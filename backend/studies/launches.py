"""Launching a study: one run per entry and repeat, the caller's, admitted together
(backend.runs.admission). An entry with ``repeats`` n runs n times, seeds seed, seed+1, …
(``next_seeds``, as a run request's: past the largest seed, from 0 again), its configs otherwise the
same; its runs form one run group."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backend.core.errors import Refused
from backend.core.settings import settings
from backend.core.tables import Run, Study, StudyLaunch, StudyLaunchRun, User
from backend.core.validation import describe_errors
from backend.runs import admission
from backend.runs.schemas import next_seeds
from backend.training.config import DataConfig, TrainConfig


def scaled_config(config: TrainConfig, scale: float) -> TrainConfig:
    """The quick version of a config: its epochs, and the epoch counts that go with them (step
    schedule period, early-stopping patience), times ``scale``, each at least 1; a config planned by its
    time (``schedule_by`` time_budget, whose epochs are only a ceiling) also has its time budget scaled."""
    update: dict[str, Any] = {"epochs": scaled_epochs(config.epochs, scale),
                              "step_epochs": scaled_epochs(config.step_epochs, scale)}
    if config.schedule_by == "time_budget":
        update["time_budget_s"] = scaled_budget(config.time_budget_s, scale)
    if config.early_stopping_patience is not None:
        update["early_stopping_patience"] = scaled_epochs(config.early_stopping_patience, scale)
    return config.model_copy(update=update)


def scaled_epochs(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def scaled_budget(seconds: float, scale: float) -> float:
    return max(1.0, round(seconds * scale, 1))


def launch(session: Session, owner: User, study: Study, epochs_scale: float,
           data: dict[str, Any] | None) -> StudyLaunch:
    """The launch and its runs, every entry's config checked first; ``data`` overrides each entry's
    dataset (a smaller subset, say). A study written for an hour runs within a lab that grants less."""
    if data is not None:
        try:
            checked = DataConfig.model_validate({"source": "cifar10", **data})
        except ValidationError as exc:
            err = describe_errors(exc)[0]
            raise Refused(f"data.{err['field']}", err["message"]) from None
        admission.check_data_source(checked.source, "data.source")
    planned, keys = [], []
    for i, entry in enumerate(study.entries):
        raw = copy.deepcopy(entry["config"])
        if data:
            raw["data"] = {**(raw.get("data") or {}), **data}
        raw["time_budget_s"] = min(float(raw.get("time_budget_s", settings.TIME_BUDGET_S)), settings.TIME_BUDGET_S)
        config = scaled_config(admission.checked_config(raw, f"entries[{i}].config"), epochs_scale)
        repeats = int(entry.get("repeats") or 1)
        name = f"{study.name} · {entry['label']}"
        for repeat, seed in enumerate(next_seeds(config.seed, repeats)):
            seeded = config.model_copy(update={"seed": seed})  # the repeats differ only in seed
            planned.append(admission.Planned(seeded, (f"{name} · seed {seeded.seed}" if repeats > 1 else name)[:200],
                                             repeat_key=entry["key"] if repeats > 1 else None))
            keys.append((entry["key"], repeat))

    def link(launch: StudyLaunch, runs: list[Run]) -> None:
        session.add_all([StudyLaunchRun(launch_id=launch.id, entry_key=key, repeat=repeat, run_id=run.id)
                         for (key, repeat), run in zip(keys, runs, strict=True)])

    new = StudyLaunch(study_id=study.id, owner=owner, epochs_scale=epochs_scale, data_override=data,
                      entries=study.entries, claims=study.claims)
    admission.admit(session, owner, planned, new, link)
    return new
