"""What happens to studies in the database: listed (the shipped ones written first when missing),
made (from run configs, or adopting existing runs as their first launch), deleted, their launches
found and counted. The routes check the bodies and shape the answers; the reads and writes are here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from backend.core.errors import field_error
from backend.core.statuses import FINISHED_STATUSES
from backend.core.tables import Run, Study, StudyLaunch, StudyLaunchRun, User
from backend.identity.service import record
from backend.studies import launches
from backend.studies.catalog import SHIPPED, ensure_shipped


def finished_by_launch(session: Session, launch_ids: list[int]) -> dict[int, int]:
    """How many runs of each launch have ended — one grouped query for any number of launches."""
    if not launch_ids:
        return {}
    rows = session.execute(
        select(StudyLaunchRun.launch_id, func.count())
        .join(Run, Run.id == StudyLaunchRun.run_id)
        .where(StudyLaunchRun.launch_id.in_(launch_ids), Run.status.in_(FINISHED_STATUSES))
        .group_by(StudyLaunchRun.launch_id)
    )
    return dict(rows.all())  # the rows: dict() of the Result itself would index it by its keys() (the columns)


def all_studies(session: Session) -> list[Study]:
    """Shipped studies first (written now if any is missing), then users' studies, newest first;
    their launches and the launches' runs loaded with them."""
    shipped = session.scalar(select(func.count()).select_from(Study).where(Study.slug.is_not(None))) or 0
    if shipped < len(SHIPPED):
        ensure_shipped(session)
    return list(session.scalars(
        select(Study)
        .options(selectinload(Study.launches).selectinload(StudyLaunch.runs))
        .order_by(Study.slug.is_(None), Study.id.desc())
    ).all())


def runs_to_adopt(session: Session, run_ids: Sequence[int]) -> list[Run]:
    """The runs ``run_ids`` names, each once, in its order (404 naming ``run_ids[i]`` for one that
    does not exist)."""
    found = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(run_ids)))}
    for i, run_id in enumerate(run_ids):
        if run_id not in found:
            raise field_error(f"run_ids[{i}]", f"no run with id {run_id}", status=404)
    return [found[i] for i in dict.fromkeys(run_ids)]


def adopted_key(run: Run) -> str:
    """The entry key of a run a study was made of."""
    return f"run{run.id}"


def create_study(session: Session, owner: User | None, name: str, description: str, entries: list[dict[str, Any]],
                 claims: list[dict[str, Any]], adopted: Sequence[Run] = ()) -> Study:
    """A new study of ``owner`` with its checked entries and claims; the runs it was made of, if
    any, become its first launch (so its report is there at once). Committed."""
    study = Study(name=name, owner=owner, description=description, entries=entries, claims=claims)
    session.add(study)
    session.flush()
    if adopted:
        launch = StudyLaunch(study_id=study.id, owner=owner, epochs_scale=1.0, entries=study.entries,
                             claims=study.claims)
        session.add(launch)
        session.flush()
        session.add_all([StudyLaunchRun(launch_id=launch.id, entry_key=adopted_key(r), repeat=0, run_id=r.id)
                         for r in adopted])
    session.commit()
    session.refresh(study)
    return study


def delete_study(session: Session, study: Study, by: User | None) -> None:
    """The study and its launches go (the runs stay); recorded in the audit log. Committed."""
    record(session, by, "study.delete", "study", study.id, f"study {study.id} ({study.name}) deleted")
    session.delete(study)
    session.commit()


def launch_study(session: Session, owner: User, study: Study, epochs_scale: float,
                 data: dict[str, Any] | None) -> StudyLaunch:
    """Launch every entry of ``study`` for ``owner`` (backend.studies.launches: checked, admitted,
    queued), the launch read back with its runs."""
    launch = launches.launch(session, owner, study, epochs_scale, data)
    session.refresh(launch)
    return launch


def launch_of(session: Session, study: Study, launch_id: int | None) -> StudyLaunch | None:
    """The study's launch ``launch_id`` (404 naming ``launch`` when it has none such), or its latest
    when None (None: never launched)."""
    if launch_id is None:
        return study.launches[-1] if study.launches else None
    launch = session.get(StudyLaunch, launch_id)
    if launch is None or launch.study_id != study.id:
        raise field_error("launch", f"study {study.id} has no launch {launch_id}", status=404)
    return launch
