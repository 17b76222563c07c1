"""Groups of repeats: read one or several with their spread, and compare two with their
uncertainty (paired by seed when they share seeds, else Welch). Every signed-in member reads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import SessionDep
from backend.core.errors import NoCommonSeeds, field_error
from backend.core.limits import INT_MAX
from backend.core.statuses import SelectedOn
from backend.core.tables import Run, RunGroup
from backend.identity.rules import AUTH_RESPONSES, Member
from backend.runs import groups as group_service
from backend.runs.schemas import (
    MAX_COMPARE,
    ComparisonPublic,
    GroupComparison,
    GroupPublic,
    GroupsPublic,
    GroupSummary,
)

router = APIRouter(prefix="/api/groups", tags=["groups"], responses=AUTH_RESPONSES)

GroupIdQuery = Annotated[int, Query(ge=1, le=INT_MAX, description="a group's id")]
GroupIds = Annotated[str | None, Query(max_length=1100, description="comma-separated group ids, at most 100",
                                       json_schema_extra={"pattern": r"^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8}){0,99}$"})]


def parse_group_ids(ids: str, field: str = "groups") -> list[int]:
    try:
        out = [int(part) for part in ids.split(",") if part.strip()]
    except ValueError:
        raise field_error(field, "must be comma-separated group ids, e.g. 1,2") from None
    if not out:
        raise field_error(field, "needs at least one group id")
    if any(not 1 <= i <= INT_MAX for i in out):
        raise field_error(field, f"group ids are 1 to {INT_MAX:,}")
    if len(out) > MAX_COMPARE:
        raise field_error(field, f"{len(out)} groups is over the limit of {MAX_COMPARE}")
    return list(dict.fromkeys(out))


def load_groups(session: Session, ids: Sequence[int], field: str = "groups") -> list[tuple[RunGroup, list[Run]]]:
    """The groups in the order asked, each with its runs (one query for all runs); 404 naming the first missing."""
    found = {g.id: g for g in session.scalars(select(RunGroup).where(RunGroup.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise field_error(field, f"no group with id {missing[0]}", status=404)
    runs: dict[int, list[Run]] = {i: [] for i in ids}
    for run in session.scalars(select(Run).where(Run.group_id.in_(ids)).order_by(Run.id)):
        assert run.group_id is not None  # selected by it
        runs[run.group_id].append(run)
    return [(found[i], runs[i]) for i in ids]


def group_public(group: RunGroup, runs: Sequence[Run]) -> GroupPublic:
    return GroupPublic(id=group.id, name=group.name, owner=group.owner_name, seeds=list(group.seeds),
                       created_at=group.created_at, summary=GroupSummary.model_validate(group_service.summary(runs)),
                       run_ids=[r.id for r in runs])


@router.get("", response_model=GroupsPublic, responses={404: {"description": "a group of ids does not exist"}})
def read_groups(session: SessionDep, _identity: Member, ids: GroupIds = None,
                limit: Annotated[int, Query(ge=1, le=MAX_COMPARE)] = 50) -> GroupsPublic:
    """Groups with their summaries: those of ``ids``, or the newest ``limit``."""
    if ids is not None:
        wanted = parse_group_ids(ids, "ids")
    else:
        wanted = list(session.scalars(select(RunGroup.id).order_by(RunGroup.id.desc()).limit(limit)))
    return GroupsPublic(data=[group_public(g, runs) for g, runs in load_groups(session, wanted, "ids")])


@router.get("/compare", response_model=GroupComparison,
            responses={404: {"description": "a group does not exist"}})
def compare_groups(session: SessionDep, _identity: Member, a: GroupIdQuery, b: GroupIdQuery,
                   method: Literal["auto", "paired", "welch"] = "auto") -> GroupComparison:
    """Group a against group b on the headline (test accuracy at the epoch chosen on validation):
    per shared seed, the mean difference with its 95% CI and a verdict in words. ``method``: auto
    pairs groups that share two seeds or more, else Welch's test (said so); paired insists (422
    when the groups share no seed); welch never pairs."""
    if a == b:
        raise field_error("b", "compare a group with another group, not with itself")
    (ga, runs_a), (gb, runs_b) = load_groups(session, [a, b], "a")
    label_a, label_b = f"{ga.name} (group {ga.id})", f"{gb.name} (group {gb.id})"
    for field, group, runs in (("a", ga, runs_a), ("b", gb, runs_b)):
        if not group_service.completed(runs):
            raise field_error(field, f"group {group.id} has no completed run yet ({len(runs)} runs); "
                                     "compare it once its runs have finished", status=409)
    try:
        headline = group_service.compare(runs_a, runs_b, label_a, label_b, method)
        validation = None
        if all(r.selected_on == SelectedOn.VAL for r in group_service.completed([*runs_a, *runs_b])):
            validation = group_service.compare(runs_a, runs_b, label_a, label_b, method, figure="best_val_acc")
    except NoCommonSeeds:
        raise field_error("method", f"paired needs seeds the groups share; group {a} has seeds "
                                    f"{sorted(group_service.by_seed(runs_a))}, group {b} "
                                    f"{sorted(group_service.by_seed(runs_b))} (method=welch compares them unpaired)"
                          ) from None
    return GroupComparison(
        a=group_public(ga, runs_a), b=group_public(gb, runs_b), figure=group_service.HEADLINE,
        comparison=ComparisonPublic.model_validate(headline.as_dict()),
        validation=ComparisonPublic.model_validate(validation.as_dict()) if validation else None,
    )
