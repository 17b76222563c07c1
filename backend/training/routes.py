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
from backend.training.schemas import ArchitectureSummary, PresetsPublic, RecipePublic, RecipesPublic


class ArchitectureSummaryRequest(BaseModel):
    architecture: Any = Field(description="a preset name or a description")


router = APIRouter(prefix="/api", tags=["architectures"], responses=AUTH_RESPONSES)


def summary_body(arch: AnyArchitecture) -> ArchitectureSummary:
    summary = summarize(arch)
    return ArchitectureSummary.model_validate({"description": arch.model_dump(mode="json"), **summary.to_dict(),
                                               "budget": summary.verdict(settings.PARAM_BUDGET)})


@router.get("/presets", response_model=PresetsPublic)
def read_presets(_identity: Member) -> PresetsPublic:
    return PresetsPublic(data=[summary_body(arch) for arch in PRESETS.values()], param_budget=settings.PARAM_BUDGET,
                         time_budget_s=settings.TIME_BUDGET_S)


@router.post("/architectures/summary", response_model=ArchitectureSummary)
def summarize_architecture(body: ArchitectureSummaryRequest, _identity: Member) -> ArchitectureSummary:
    """A description (or preset name) → the per-layer table, totals and the budget verdict."""
    try:
        arch = parse_architecture(body.architecture)
    except ArchitectureError as exc:
        raise field_error(f"architecture.{exc.field}", exc.message) from None
    return summary_body(arch)


@router.get("/recipes", response_model=RecipesPublic)
def read_recipes(_identity: Member) -> RecipesPublic:
    """The named recipes (backend.training.recipes), each with every setting it gives a run but the network."""
    return RecipesPublic(data=[RecipePublic(key=r.key, title=r.title, description=r.description, config=r.full())
                               for r in RECIPES.values()])
