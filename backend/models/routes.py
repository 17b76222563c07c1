"""A run as a classifier: its exported ONNX model, its model card, and classifying images with it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from backend.api.deps import get_run_or_404
from backend.core.db import SessionDep, SessionLocal
from backend.core.errors import ErrorBody, field_error
from backend.core.limits import RunId, classifications
from backend.core.settings import settings
from backend.core.statuses import ModelStatus, RunStatus
from backend.core.tables import Run, RunModel
from backend.identity.rules import AUTH_RESPONSES, CONFLICT, BriefMember, Member, Message, require_owner
from backend.models import cards as model_cards
from backend.models import exports, prediction
from backend.models.schemas import ExportRequested, ModelCard, Predictions

router = APIRouter(prefix="/api/runs", tags=["models"], responses=AUTH_RESPONSES)
NO_MODEL: dict[int | str, dict[str, Any]] = {
    409: {"model": Message, "description": "The run has no exported model: why, and how to export it"}}


def ready_model(run: Run, session: SessionDep) -> RunModel:
    """The run's kept model, or 409 saying why there is none and how to make one."""
    row = session.get(RunModel, run.id)
    if row is not None and row.status == ModelStatus.READY and row.path and Path(row.path).is_file():
        return row
    why = (f"its export failed: {row.reason}" if row is not None and row.status == ModelStatus.FAILED
           else "it is being exported; try again in a moment" if row is not None and row.status == ModelStatus.EXPORTING
           else f"it is {run.status}: runs are exported when they succeed" if run.status != RunStatus.SUCCEEDED
           else "it finished before cnnlab exported models")
    raise HTTPException(409, f"Run {run.id} has no exported model ({why}). Export it with the Export button "
                             f"of its page (POST /api/runs/{run.id}/export), or its best weights yourself with "
                             f"`python -m worker.export {run.id} --onnx model.onnx`.")


@router.get("/{run_id:int}/model.onnx", response_class=FileResponse, responses={
    200: {"content": {"application/octet-stream": {}}, "description": "The ONNX model"}, **NO_MODEL})
def download_model(run_id: RunId, session: SessionDep, _identity: Member) -> FileResponse:
    """The run's classifier: uint8 NHWC RGB images in, logits out; normalisation and class names inside."""
    run = get_run_or_404(session, run_id)
    row = ready_model(run, session)
    assert row.path is not None  # ready_model checked it
    return FileResponse(row.path, media_type="application/octet-stream", filename=f"cnnlab-run-{run_id}.onnx")


@router.post("/{run_id:int}/export", status_code=202, response_model=ExportRequested, responses=CONFLICT)
def export_model(run_id: RunId, session: SessionDep, identity: Member) -> ExportRequested:
    """The run's owner (or an admin) asks a worker to export a succeeded run that has no model yet
    (one that finished before exports, or whose export failed): 202, then its model card says
    exporting, then ready or failed with the reason. Each change of the export's status is a change
    of the run (its event stream's topic ``run:{id}``)."""
    run = get_run_or_404(session, run_id)
    require_owner(identity, run.owner, f"run {run_id}", "export")
    row = exports.request(session, run)
    return ExportRequested(status=ModelStatus(row.status))


@router.get("/{run_id:int}/model-card", response_model=ModelCard)
def read_model_card(run_id: RunId, session: SessionDep, _identity: Member) -> ModelCard:
    """What the model is: architecture and layer table, params, MACs, test accuracy overall and per
    class, the training config, normalisation, class names, dataset, seed, who ran it, the export."""
    return ModelCard.model_validate(model_cards.card(session, get_run_or_404(session, run_id)))


@router.get("/{run_id:int}/model-card.md", response_class=Response,
            responses={200: {"content": {"text/markdown": {}}, "description": "The model card, as Markdown"}})
def read_model_card_markdown(run_id: RunId, session: SessionDep, _identity: Member) -> Response:
    card = model_cards.card(session, get_run_or_404(session, run_id))
    return Response(model_cards.markdown(card), media_type="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="cnnlab-run-{run_id}-model-card.md"'})


def model_path(run_id: int) -> Path:
    """The run's ready model (404 or 409 otherwise), read with a short session of its own."""
    with SessionLocal() as session:
        row = ready_model(get_run_or_404(session, run_id), session)
        assert row.path is not None  # ready_model checked it
        return Path(row.path)


@router.post("/{run_id:int}/predict", response_model=Predictions, responses={
    413: {"model": ErrorBody, "description": "Too many files (CNNLAB_PREDICT_MAX_FILES) or bytes "
                                             "(CNNLAB_PREDICT_MAX_BYTES)"},
    429: {"model": ErrorBody, "description": "Too many classify requests in flight (CNNLAB_PREDICT_MAX_PER_USER, "
                                             "CNNLAB_PREDICT_MAX_IN_FLIGHT)"}, **NO_MODEL})
async def predict(
    run_id: RunId, identity: BriefMember,
    files: Annotated[list[UploadFile], File(description="images of any common format and size")],
    k: int = Query(5, ge=1, le=1000, description="classes to return per image, most likely first"),
) -> Predictions:
    """Classify images with the run's exported model (onnxruntime in the backend). Each is prepared
    as the training data loader prepares a dataset's images: RGB, resized (bilinear) to the
    network's input size. Decoding and inference run in a pool of their own (CNNLAB_PREDICT_WORKERS),
    never on the event loop, with at most CNNLAB_PREDICT_MAX_PER_USER requests of a user at once."""
    if len(files) > settings.PREDICT_MAX_FILES:
        raise field_error("files", f"{len(files)} files is over the limit of {settings.PREDICT_MAX_FILES} "
                                   "(CNNLAB_PREDICT_MAX_FILES)", status=413)
    assert identity.user is not None  # Member: a signed-in user
    release = classifications.take(identity.user.id)
    try:
        path = await run_in_threadpool(model_path, run_id)
        uploads = [(await upload.read(), upload.filename or f"file {i}") for i, upload in enumerate(files)]
        loaded, results = await prediction.run_off_loop(run_id, path, uploads, k)  # NotAnImage: 422 naming it
    finally:
        release()
    data = [{"file": f.filename, **r} for f, r in zip(files, results, strict=True)]
    return Predictions.model_validate({"run_id": run_id, "k": min(k, len(loaded.classes) or k), "data": data})
