from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from backend.core.db import SessionDep
from backend.core.errors import field_error
from backend.core.limits import INT_MAX
from backend.core.tables import Run
from backend.identity.rules import AUTH_RESPONSES, Member
from backend.runs import groups as group_service
from backend.runs import service as run_service
from backend.runs.configs import config_diff
from backend.runs.group_routes import GroupIds, group_public, load_groups, parse_group_ids
from backend.runs.schemas import MAX_COMPARE, CompareGroup, ComparePublic, CompareRun, GroupSeries, Series
from backend.runs.views import runs_public

router = APIRouter(prefix="/api/compare", tags=["compare"], responses=AUTH_RESPONSES)


def parse_ids(ids: str) -> list[int]:
    try:
        out = [int(part) for part in ids.split(",") if part.strip()]
    except ValueError:
        raise field_error("ids", "must be comma-separated run ids, e.g. ids=1,2,3") from None
    if not out:
        raise field_error("ids", "needs at least one run id")
    if any(not 1 <= i <= INT_MAX for i in out):
        raise field_error("ids", f"run ids are 1 to {INT_MAX:,}")
    if len(out) > MAX_COMPARE:
        raise field_error("ids", f"{len(out)} runs is over the limit of {MAX_COMPARE}")
    return list(dict.fromkeys(out))


# the schema tells clients the shape; parse_ids names what is wrong in its own words
IdList = Annotated[str, Query(max_length=1100, description="comma-separated run ids, at most 100",
                              json_schema_extra={"pattern": r"^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8}){0,99}$"})]


@router.get("", response_model=ComparePublic, responses={404: {"description": "A run of ids does not exist"}})
def compare_runs(session: SessionDep, identity: Member, ids: IdList | None = None,
                 groups: GroupIds = None) -> ComparePublic:
    """Summaries and full series of up to 100 runs, and of up to 100 groups of repeats (each with
    its spread and its curves' mean and std per epoch): a few indexed queries, no per-run round trips.
    Neither given: an empty comparison."""
    wanted = parse_ids(ids) if ids is not None else []
    runs = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(wanted)))}
    missing = [i for i in wanted if i not in runs]
    if missing:
        raise field_error("ids", f"no run with id {missing[0]}", status=404)
    loaded = load_groups(session, parse_group_ids(groups)) if groups is not None else []
    members = [r.id for _, group_runs in loaded for r in group_runs]
    series = run_service.series_of(session, list(dict.fromkeys([*wanted, *members])))
    out = []
    for group, group_runs in loaded:
        first = group_runs[0] if group_runs else None
        done = [series[r.id] for r in group_service.completed(group_runs)] or [series[r.id] for r in group_runs]
        out.append(CompareGroup(group=group_public(group, group_runs), architecture=first.architecture if first else "",
                                params=first.params if first else 0, macs=first.macs if first else 0,
                                series=GroupSeries(**group_service.mean_series(done))))
    assert identity.user is not None  # Member: a signed-in user
    summaries = runs_public(session, [runs[i] for i in wanted], identity.user.id)
    diff = config_diff(wanted, [runs[i].config for i in wanted]) if wanted else None
    return ComparePublic(data=[CompareRun(run=run, series=Series(**series[run.id])) for run in summaries],
                         groups=out, config_diff=diff)
