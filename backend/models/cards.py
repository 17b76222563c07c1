"""A run's model card: what its classifier is, how it was trained and how well it does — JSON for
scripts, Markdown to ship beside the ONNX file."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from backend.architecture import parse_architecture, summarize
from backend.core.errors import ModelUnreadable
from backend.core.statuses import ModelStatus, SelectedOn
from backend.core.tables import Run, RunEvaluation, RunModel
from backend.models import prediction


def card(session: Session, run: Run) -> dict[str, Any]:
    arch = parse_architecture(run.config["architecture"])
    summary = summarize(arch)
    evaluation = session.get(RunEvaluation, run.id)
    model = session.get(RunModel, run.id)
    report = evaluation.report if evaluation else None
    normalisation = None
    if model is not None and model.status == ModelStatus.READY and model.path and Path(model.path).is_file():
        try:
            meta = prediction.session_for(run.id, Path(model.path)).metadata
        except ModelUnreadable as exc:  # the card still describes the run; it says why there are no numbers
            normalisation = {"mean": None, "std": None, "note": exc.message}
        else:
            normalisation = {"mean": json.loads(meta.get("cnnlab.mean", "null")),
                             "std": json.loads(meta.get("cnnlab.std", "null")),
                             "note": "per channel (R, G, B) on 0-255 pixel values, applied inside the graph"}
    return {
        "run_id": run.id, "name": run.name, "owner": run.owner.username, "status": run.status,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "architecture": arch.model_dump(mode="json"), "layers": summary.to_dict()["rows"],
        "params": summary.total_params, "macs": summary.total_macs,
        "test_accuracy": report["accuracy"] if report else run.test_acc_at_best_val,
        "selected_on": run.selected_on, "holdout": run.holdout, "validation_accuracy": run.best_val_acc,
        "chosen_epoch": run.best_epoch,
        "test_accuracy_views": report.get("views") if report else None,
        "per_class_accuracy": dict(zip(report["classes"], report["per_class_acc"], strict=True)) if report else None,
        "class_names": report["classes"] if report else None,
        "best_epoch": report["epoch"] if report else None,
        "dataset": run.config.get("data", {}), "seed": run.seed, "config": run.config,
        "input": "uint8 NHWC RGB, " f"{arch.input_size}x{arch.input_size}; the normalisation is inside the graph",
        "normalisation": normalisation,
        "model": None if model is None else {"status": model.status, "reason": model.reason, "bytes": model.size_bytes,
                                             "sha256": model.sha256, "epoch": model.epoch,
                                             "download": f"/api/runs/{run.id}/model.onnx"
                                             if model.status == ModelStatus.READY
                                             else None},
    }


def chosen_words(c: dict[str, Any]) -> str:
    """How the weights were chosen: "weights chosen on 5,000 held-out training images at epoch 27
    (validation accuracy 84.10%)", or on the test set (optimistic) for runs without a holdout."""
    epoch = f" at epoch {c['chosen_epoch']}" if c["chosen_epoch"] else ""
    if c["selected_on"] == SelectedOn.VAL:
        return (f"Weights chosen on {c['holdout']:,} held-out training images{epoch} (validation accuracy "
                f"{_pct(c['validation_accuracy'])}); the test set only reports")
    return f"Weights chosen on the test set{epoch} (no validation split): the test accuracy is optimistic"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


_MARKDOWN = re.compile(r"([\\`*_\[\]#|~])")


def _text(value: object) -> str:
    """A user's string as inert Markdown text inside a line: whitespace (newlines too) collapsed to
    single spaces, HTML's <, > and & as entities, and the characters Markdown gives a meaning
    mid-line (emphasis, code, links and images, headings, tables, strikethrough) backslash-escaped,
    so a run name or a class name cannot add a line, a figure or a comment to the card."""
    return _MARKDOWN.sub(r"\\\1", html.escape(" ".join(str(value).split()), quote=False))


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``, so the block cannot be closed early."""
    return "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))


def markdown(c: dict[str, Any]) -> str:
    """The card as Markdown; every string a user (or a worker) chose goes through ``_text``."""
    lines = [f"# Model card: run {c['run_id']} — {_text(c['name'])}", "",
             f"- Trained by **{_text(c['owner'])}**, status {_text(c['status'])}, finished {c['finished_at'] or '–'}",
             f"- Architecture **{_text(c['architecture']['name'])}** ({_text(c['architecture']['family'])}): "
             f"{c['params']:,} parameters, {c['macs']:,} MACs",
             f"- Test accuracy **{_pct(c['test_accuracy'])}**"
             + (f" ({_text(c['test_accuracy_views'])}, weights of epoch {c['best_epoch']})" if c["best_epoch"] else ""),
             f"- {chosen_words(c)}",
             f"- Dataset {_text(c['dataset'].get('source', 'cifar10'))}, seed {c['seed']}",
             f"- Input: {_text(c['input'])}"]
    if c["normalisation"]:
        norm = c["normalisation"]
        lines.append(f"- Normalisation: mean {_numbers(norm['mean'])}, std {_numbers(norm['std'])} (0-255 scale)"
                     if norm["mean"] is not None else f"- Normalisation: unknown — {_text(norm['note'])}")
    model = c["model"]
    lines.append(f"- ONNX model: {_text(model['status'])}"
                 + (f" — {_text(model['reason'])}" if model and model["reason"] else "")
                 if model else "- ONNX model: none exported")
    if c["per_class_accuracy"]:
        lines += ["", "## Test accuracy per class", "", "| class | accuracy |", "|---|---|"]
        lines += [f"| {_text(name)} | {_pct(acc)} |" for name, acc in c["per_class_accuracy"].items()]
    lines += ["", "## Layers", "", "| layer | output | params | MACs |", "|---|---|---|---|"]
    lines += [f"| {i}_{r['name']} | {r['output_shape']} | {r['params']:,} | {r['macs']:,} |"
              for i, r in enumerate(c["layers"])]
    config = json.dumps(c["config"], indent=2)
    lines += ["", "## Training config", "", _fence(config) + "json", config, _fence(config), ""]
    return "\n".join(lines)


def _numbers(values: object) -> str:
    """The model's normalisation as the numbers it must be (it comes from the model's metadata,
    which the worker wrote): anything else is shown as text, escaped."""
    if isinstance(values, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"
    return _text(str(values))
