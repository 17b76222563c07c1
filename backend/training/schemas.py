"""What the architecture and recipe routes answer: a network's size against the lab's budget, the
presets, the named recipes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class LayerRowPublic(BaseModel):
    """One layer of a network's size table (backend.architecture.summary)."""

    name: str
    kind: str = Field(description="conv | bn | pool | gpool | fc")
    kernel_shape: list[int] | None
    output_shape: list[int]
    params: int
    macs: int


class BudgetVerdict(BaseModel):
    budget: int = Field(description="the lab's parameter budget (CNNLAB_PARAM_BUDGET)")
    params: int
    within_budget: bool
    message: str


class ArchitectureSummary(BaseModel):
    """A network's description, its per-layer table, totals, and the budget's verdict."""

    description: dict[str, Any] = Field(description="the network's full description, defaults filled in")
    architecture: str = Field(description="the network's name")
    rows: list[LayerRowPublic]
    total_params: int
    trainable_params: int
    total_macs: int
    budget: BudgetVerdict


class PresetsPublic(BaseModel):
    data: list[ArchitectureSummary]
    param_budget: int
    time_budget_s: float


class RecipePublic(BaseModel):
    key: str
    title: str
    description: str
    config: dict[str, Any] = Field(description="every setting the recipe gives a run, the network aside")


class RecipesPublic(BaseModel):
    data: list[RecipePublic]
