"""Architectures, presets and recipes: the size of a network before anything is queued, and the
named settings a run can start from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from backend.architecture import PRESETS, AnyArchitecture, ArchitectureError, parse_architecture, summarize
from backend.core.errors import field_error
from backend.core.settings import settings
from backend.identity.rules import AUTH_RESPONSES, Member
from backend.training.recipes import RECIPES


class ArchitectureSummaryRequest(BaseModel):
    architecture: Any = Field(description="a preset name or a description")


router = APIRouter(prefix="/api", tags=["architectures"], responses=AUTH_RESPONSES)


def summary_body(arch: AnyArchitecture) -> dict[str, Any]:
    summary = summarize(arch)
    return {"description": arch.model_dump(mode="json"), **summary.to_dict(),
            "budget": summary.verdict(settings.PARAM_BUDGET)}


@router.get("/presets")
def read_presets(_identity: Member) -> dict[str, Any]:
    return {"data": [summary_body(arch) for arch in PRESETS.values()], "param_budget": settings.PARAM_BUDGET,
            "time_budget_s": settings.TIME_BUDGET_S}


@router.post("/architectures/summary")
def summarize_architecture(body: ArchitectureSummaryRequest, _identity: Member) -> dict[str, Any]:
    """A description (or preset name) → the per-layer table, totals and the budget verdict."""
    try:
        arch = parse_architecture(body.architecture)
    except ArchitectureError as exc:
        raise field_error(f"architecture.{exc.field}", exc.message) from None
    return summary_body(arch)


@router.get("/recipes")
def read_recipes(_identity: Member) -> dict[str, Any]:
    """The named recipes (backend.training.recipes), each with every setting it gives a run but the network."""
    return {"data": [{"key": r.key, "title": r.title, "description": r.description, "config": r.full()}
                     for r in RECIPES.values()]}
