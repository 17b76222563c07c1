"""One way in for every run: POST /api/runs, sweeps, study launches (and searches) all admit their
runs here, so a run is checked the same way whoever asks for it.

``checked_config`` validates a config and applies the lab's rules (the parameter and time budgets,
the data folder); ``admit`` checks the owner's quotas, creates the runs (with the row that groups
them, if any), commits once and enqueues them. Refusals are :class:`Refused` (422 naming the
field) and :class:`~backend.core.errors.QuotaExceeded` (429), both in backend.core.errors, mapped
once in backend.main.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backend.architecture import summarize
from backend.core import events, queue
from backend.core.errors import Refused
from backend.core.settings import settings
from backend.core.tables import Run, RunGroup, User
from backend.core.validation import describe_errors
from backend.runs import service as run_service
from backend.training.config import TrainConfig

Group = TypeVar("Group")


def check_data_source(source: str, field: str = "config.data.source") -> None:
    """Runs sent to the workers read 'cifar10' or a dataset under the lab's data folder
    (CNNLAB_DATA_DIR), never any path of a worker machine."""
    if source == "cifar10":
        return
    path = PurePosixPath(source)
    if path.is_absolute() or ".." in path.parts or "\\" in source:
        # the setting's name, never its value: an absolute path of the server is not for every member
        raise Refused(field, "must be 'cifar10' or a path inside the lab's data folder (CNNLAB_DATA_DIR), "
                             f"without '..'; got {source!r}")


def check_budget(config: TrainConfig, field: str = "config") -> None:
    """The lab's budgets: parameters (PARAM_BUDGET) and seconds of training (TIME_BUDGET_S)."""
    verdict = summarize(config.architecture).verdict(settings.PARAM_BUDGET)
    if not verdict["within_budget"]:
        raise Refused(f"{field}.architecture", str(verdict["message"]))
    if config.time_budget_s > settings.TIME_BUDGET_S:
        raise Refused(f"{field}.time_budget_s",
                      f"{config.time_budget_s:g} s is over the lab's time budget of {settings.TIME_BUDGET_S:g} s")


CIFAR10_TRAIN_IMAGES, CIFAR10_CLASSES = 50_000, 10


def check_holdout(config: TrainConfig, field: str = "config") -> None:
    """The validation split must leave every class training images, and room for train_limit
    (known for the lab's CIFAR-10; another dataset's sizes are checked by the worker on loading)."""
    data = config.data
    if data.source != "cifar10" or not data.holdout:
        return
    most = CIFAR10_TRAIN_IMAGES - CIFAR10_CLASSES  # stratified: each class keeps at least one image
    if data.holdout > most:
        raise Refused(f"{field}.data.holdout", f"{data.holdout:,} held-out images leave a class of CIFAR-10 with no "
                                               f"training image; at most {most:,}")
    if data.train_limit is not None and data.holdout + data.train_limit > CIFAR10_TRAIN_IMAGES:
        raise Refused(f"{field}.data.holdout",
                      f"{data.holdout:,} held-out images and train_limit {data.train_limit:,} need "
                      f"{data.holdout + data.train_limit:,} training images; CIFAR-10 has {CIFAR10_TRAIN_IMAGES:,}, "
                      f"so with this train_limit at most {CIFAR10_TRAIN_IMAGES - data.train_limit:,}")


def checked_config(raw: dict[str, Any] | TrainConfig, field: str = "config", note: str = "") -> TrainConfig:
    """A config as the lab admits it: valid, within the budgets, reading the lab's data. Errors are
    named from ``field``; ``note`` ends a validation message (which grid point, say)."""
    if isinstance(raw, TrainConfig):
        config = raw
    else:
        try:
            config = TrainConfig.model_validate(raw)
        except ValidationError as exc:
            err = describe_errors(exc)[0]
            raise Refused(f"{field}.{err['field']}" if err["field"] else field, err["message"] + note) from None
    check_budget(config, field)
    check_data_source(config.data.source, f"{field}.data.source")
    check_holdout(config, field)
    check_no_nul(config.model_dump(mode="json"), field)
    return config


def check_no_nul(value: Any, field: str) -> None:
    """Every string of a run's config (or its name) free of NUL, which PostgreSQL's text cannot
    hold: refused here, naming the field, on every database alike."""
    if isinstance(value, str) and "\x00" in value:
        raise Refused(field, "holds a NUL character (\\x00), which the lab cannot store")
    if isinstance(value, dict):
        for key, item in value.items():
            check_no_nul(item, f"{field}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_no_nul(item, f"{field}[{i}]")


@dataclass(frozen=True)
class Planned:
    """A run to admit: its checked config and its name (the network's when None). Runs planned
    together with the same ``repeat_key`` are one group of repeats (a RunGroup)."""

    config: TrainConfig
    name: str | None = None
    repeat_key: str | None = None


def repeated(config: TrainConfig, seeds: Sequence[int], name: str | None, key: str) -> list[Planned]:
    """The config once per seed, as one group of repeats."""
    return [Planned(config.model_copy(update={"seed": seed}), name, key) for seed in seeds]


def admit(
    session: Session,
    owner: User,
    planned: Sequence[Planned],
    group: Group | None = None,
    link: Callable[[Group, list[Run]], None] | None = None,
) -> tuple[Group | None, list[Run]]:
    """Admit the runs as one step: the owner's quotas, then ``group`` (the row that holds them: a
    sweep, a study launch) and the runs, tied to it by ``link`` — one commit; then each is queued
    (or left to the reaper if the broker is down) and announced. Nothing is created when a quota
    refuses."""
    for p in planned:
        check_no_nul(p.name, "name")
    with run_service.admission(session, owner, len(planned)):
        if group is not None:
            session.add(group)
            session.flush()
        groups: dict[str, RunGroup] = {}
        for p in planned:
            if p.repeat_key is not None and p.repeat_key not in groups:
                seeds = [q.config.seed for q in planned if q.repeat_key == p.repeat_key]
                if len(seeds) > 1:
                    groups[p.repeat_key] = RunGroup(name=(p.name or p.config.architecture.name)[:200], owner=owner,
                                                    seeds=seeds)
        session.add_all(groups.values())
        session.flush()
        runs = [run_service.new_run(session, p.config, p.name, owner,
                                    group_id=groups[p.repeat_key].id if p.repeat_key in groups else None)
                for p in planned]
        session.flush()
        if link is not None and group is not None:
            link(group, runs)
        session.commit()
    for run in runs:
        queue.send_or_leave_to_reaper(run.id)
        events.changed(run.id)
    return group, runs
