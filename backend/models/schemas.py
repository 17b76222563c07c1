"""What the model routes answer: an export asked for, a model card, classified images."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backend.core.statuses import ModelStatus, RunStatus, SelectedOn
from backend.training.schemas import LayerRowPublic


class ExportRequested(BaseModel):
    status: ModelStatus = Field(description="exporting: its model card says ready or failed (with why) next")


class Normalisation(BaseModel):
    mean: Any = Field(description="per channel (R, G, B), as the model's metadata holds it")
    std: Any
    note: str


class ModelFile(BaseModel):
    status: ModelStatus
    reason: str | None = Field(description="why the export failed")
    bytes: int | None
    sha256: str | None
    epoch: int | None = Field(description="the epoch whose weights it holds")
    download: str | None = Field(description="where to download it once ready")


class ModelCard(BaseModel):
    """What the model is: its network, how it was trained and chosen, how well it does, its export."""

    run_id: int
    name: str
    owner: str
    status: RunStatus
    created_at: str
    finished_at: str | None
    architecture: dict[str, Any] = Field(description="the network's description")
    layers: list[LayerRowPublic]
    params: int
    macs: int
    test_accuracy: float | None
    selected_on: SelectedOn
    holdout: int
    validation_accuracy: float | None
    chosen_epoch: int | None
    test_accuracy_views: str | None
    per_class_accuracy: dict[str, float | None] | None
    class_names: list[str] | None
    best_epoch: int | None
    dataset: dict[str, Any]
    seed: int
    config: dict[str, Any]
    input: str
    normalisation: Normalisation | None
    model: ModelFile | None


class ClassScore(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class", description="the class's name")
    index: int
    probability: float


class Classified(BaseModel):
    file: str | None = Field(description="the upload's file name")
    top: list[ClassScore] = Field(description="the k most likely classes, most likely first")
    ms: float = Field(description="milliseconds of inference, the batch's time per image")


class Predictions(BaseModel):
    run_id: int
    k: int = Field(description="classes returned per image")
    data: list[Classified]
