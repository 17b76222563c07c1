"""One run, start to finish, on this worker: claim → (download last checkpoint) → train → finish.

Called by the Celery task with a run id; testable without Celery.
"""

from __future__ import annotations

import logging
import shutil
import socket
from pathlib import Path
from typing import Any

from backend.core.settings import settings
from backend.core.statuses import FINAL_STATUS, CheckpointKind, RunStatus, StopReason
from backend.training.config import TrainConfig
from worker import checkpoint
from worker import export as onnx_export
from worker.client import BackendClient, Superseded
from worker.data import ImageDataset, load_dataset, resolve_source, run_split
from worker.device import broken_by, device_label, pick_device
from worker.reporter import SUPERSEDED, Reporter
from worker.system_metrics import SystemSampler
from worker.trainer import COMPLETED, describe_stop, train
from worker.trust import inside_data_dir, without_paths

log = logging.getLogger("cnnlab.worker")


class DeviceLost(SystemExit):
    """Ends the worker process after its GPU failed (worker.serve starts a fresh one); the run that
    met the failure is recorded failed with the reason first, the other processes train on."""


def run_data(config: TrainConfig) -> ImageDataset:
    """The dataset a run's config names, as this worker may read it: 'cifar10', or a path inside
    the lab's data folder (the API checked it; the worker checks again, symlinks followed)."""
    source, may_download = resolve_source(config.data.source)
    root = None  # the lab's own CIFAR-10 copy may be a link anywhere the admin put it
    if config.data.source != "cifar10":
        source, root = str(inside_data_dir(config.data.source, settings.DATA_DIR)), settings.DATA_DIR
    data = load_dataset(source, download=may_download, cache_dir=settings.CACHE_DIR,
                        size=config.architecture.input_size, root=root)
    return run_split(data, config)


def checkpoint_interval(config: TrainConfig) -> float:
    """Seconds between a run's checkpoints: settings.CHECKPOINT_EVERY_S on a GPU, whose epochs take
    well under a second; every epoch (0) on the CPU."""
    return settings.CHECKPOINT_EVERY_S if pick_device(config.device).type == "cuda" else 0.0


def export_reported_weights(reporter: Reporter, config: TrainConfig, data: ImageDataset, workdir: Path, run_id: int,
                            evaluation: dict[str, Any] | None) -> None:
    """A succeeded run's reported weights (the best epoch's; the average with ema_epochs) as a
    checked ONNX model, sent before the final status; a failed export is recorded with its reason,
    and the run stays succeeded."""
    state = checkpoint.load(workdir / checkpoint.BEST)
    if state is None:
        reporter.model_failure("no best checkpoint to export")
        return
    try:
        accuracy = evaluation["accuracy"] if evaluation else checkpoint.headline_test_acc(state)
        blob, info = onnx_export.export_state(config, state, data, run_id, accuracy)
    except onnx_export.ExportFailed as exc:
        log.warning("run %s: model not exported: %s", run_id, exc)
        reporter.model_failure(str(exc))
        return
    log.info("run %s: model exported, %s bytes, within %.1e of torch", run_id, info["bytes"], info["max_abs_diff"])
    reporter.model(blob, int(state["epoch"]))


def export_finished(run_id: int, client: BackendClient) -> str:
    """An export asked for after the run ended: its best checkpoint, its dataset (for the
    normalisation and the parity check), the model checked and stored — or the reason it was not."""
    claim = client.claim_export(run_id)
    if claim is None:
        log.info("run %s has no export waiting; skipping this message", run_id)
        return "skipped"
    lease = claim["lease"]
    workdir = Path(settings.VAR_DIR) / "worker" / f"export_{run_id}"
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        config = TrainConfig.model_validate(claim["config"])
        if not client.download_checkpoint(run_id, lease, CheckpointKind.BEST, workdir / checkpoint.BEST):
            client.model_failure(run_id, lease, "the run's best checkpoint is gone")
            return "failed"
        state = checkpoint.load(workdir / checkpoint.BEST)
        assert state is not None  # just downloaded
        blob, info = onnx_export.export_state(config, state, run_data(config), run_id, claim.get("test_acc"))
        client.upload_model(run_id, lease, int(state["epoch"]), blob)
        log.info("run %s: exported on request, %s bytes, within %.1e of torch", run_id, info["bytes"],
                 info["max_abs_diff"])
        return "exported"
    except Superseded:
        return SUPERSEDED
    except Exception as exc:  # noqa: BLE001 - recorded as the export's reason; the run stays succeeded
        log.exception("run %s: export failed", run_id)
        client.model_failure(run_id, lease, without_paths(f"{type(exc).__name__}: {exc}"))
        return "failed"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def system_sampler(reporter: Reporter, config: TrainConfig, workdir: Path) -> SystemSampler:
    """The run's system metrics, sampled while it trains and sent with its heartbeats; a resumed
    attempt's go on from the training seconds its checkpoint had done."""
    try:
        resumed = checkpoint.load(workdir / checkpoint.LAST)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint: the trainer says why
        resumed = None
    try:
        device: str | None = str(pick_device(config.device))
    except RuntimeError:
        device = None  # the trainer says why
    return SystemSampler(reporter.system_sample, device=device, images_per_s=reporter.images_per_s,
                         origin_s=float(resumed.get("elapsed_s", 0.0)) if resumed else 0.0)


def execute(run_id: int, client: BackendClient) -> str:
    """Train run ``run_id``; returns what happened ('skipped', 'superseded' or the final status)."""
    claim = client.claim(run_id, socket.gethostname(), device_label("auto"))
    if claim is None:
        log.info("run %s is not queued any more; skipping this message", run_id)
        return "skipped"
    attempt, lease = claim["attempt"], claim["lease"]
    # one folder per attempt: an earlier attempt of this run still training on this machine (its
    # worker cut off or stalled, not dead) must not write its checkpoints where this one resumes
    workdir = Path(settings.VAR_DIR) / "worker" / f"run_{run_id}_attempt_{attempt}"
    shutil.rmtree(workdir, ignore_errors=True)
    reporter = Reporter(client, run_id, attempt, lease).start()
    try:
        config = TrainConfig.model_validate(claim["config"])
        if claim["resume_epoch"]:
            client.download_checkpoint(run_id, lease, CheckpointKind.LAST, workdir / checkpoint.LAST)
            client.download_checkpoint(run_id, lease, CheckpointKind.BEST, workdir / checkpoint.BEST)
        data = run_data(config)
        with system_sampler(reporter, config, workdir):
            result = train(config, data, checkpoint_dir=workdir, on_epoch=reporter.epoch,
                           on_checkpoint=reporter.checkpoint, should_stop=reporter.should_stop,
                           on_batch=reporter.batch, log=lambda line: log.info("run %s: %s", run_id, line),
                           checkpoint_every_s=checkpoint_interval(config))
        if result.stop_reason == SUPERSEDED:
            reporter.close()
            return SUPERSEDED
        if result.evaluation:
            reporter.evaluation(result.evaluation)
        status = FINAL_STATUS.get(StopReason(result.stop_reason), RunStatus.FAILED)
        if status == RunStatus.SUCCEEDED:
            export_reported_weights(reporter, config, data, workdir, run_id, result.evaluation)
        epochs = len(result.history)
        if result.stop_reason == COMPLETED:
            reason = f"completed {epochs} epochs"
        elif result.stop_reason == StopReason.CANCELLED:
            reason = f"cancelled on request after epoch {epochs}"
        elif result.stop_reason == StopReason.PRUNED:
            reason = f"pruned by its search after epoch {epochs}"
        else:
            reason = f"{describe_stop(result.stop_reason, config)}; stopped after epoch {epochs}"
        reporter.finish(status, reason, result.elapsed_s)
    except Superseded:
        reporter.close()
        return SUPERSEDED
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the run, with its reason
        log.exception("run %s failed", run_id)
        reporter.finish(RunStatus.FAILED, without_paths(f"{type(exc).__name__}: {exc}"), None)
        status = RunStatus.FAILED
        if broken_by(exc):  # the run is recorded failed; this process's GPU is not usable any more
            shutil.rmtree(workdir, ignore_errors=True)
            raise DeviceLost(str(exc)) from exc
    shutil.rmtree(workdir, ignore_errors=True)
    return status
