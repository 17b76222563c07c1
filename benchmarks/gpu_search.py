"""The search's GPU variant (issue 33), a part of benchmarks/gpu_suite.py: the shipped GPU search
(``gpu_wide``) by time rungs, several trials packed on one GPU, for when a GPU is lent.

    python -m benchmarks.gpu_suite --part search --budget 540 --data var/device/cifar10.npz --out s.json

It decides as a lab's search does — the same space and sampler (TPE, multivariate, grouped,
constant liar, reseeded before each ask from the search's seed and the trial's number:
backend.searches.registries), the same trial configs (space.build_config, sized against the parameter
budget before anything trains; the lab's admission rules, which need its database, are not applied:
the preset's configs keep them), the same rung configs and promotion rule (backend.searches.rungs:
each promotion a fresh run annealed to its rung's budget, the best third of a rung's finished runs
promoted as they finish), the same ``diverged`` pruner (a run whose epoch's training loss is over
registries.DIVERGED_LOSS, or not a number, stops and is never promoted), Optuna told each trial's
first-rung validation accuracy — but with no backend: Optuna in memory, and ``slots`` child
processes sharing the GPU as worker.serve's children do (each its share of the GPU's memory and of
the cores), so what it measures is the packing a lab's lent GPU worker would give a search: runs
per GPU-hour at each rung, how busy the slots were, and the best configuration, chosen on the
validation split at the highest rung reached, with its test accuracy read once (trials read the
test set only at their end).

When ``cap_s`` is shorter than the preset's plan, the search keeps its shape and shrinks: as many
waves of trials as fit at the preset's rungs, else two waves with every rung's budget scaled by one
factor. The plan is an estimate (start-ups are not in it): a promotion that could not finish before
the cap is skipped and counted, so in the device check's small share the search may end before its
last rung — the result says how far it got. A run still training at the cap is left out of the
figures and its process ended.
"""

from __future__ import annotations

import copy
import math
import multiprocessing as mp
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import numpy as np
import torch

PRESET = "gpu_wide"  # backend/searches/presets.py
TINY_NET = {"family": "compact", "name": "tiny", "stages": [[8], [16]]}
FIRST_RUNG_WAVES = 2  # a shrunk search: this many waves of trials at the first rung
PLAN_SHARE = 0.75  # of the cap: the rest for the runs' start-up, final evaluations and stragglers
MAX_INFEASIBLE = 200  # samples over the budget before the search gives up asking

_child: dict[str, Any] = {}


def preset_body(tiny: bool) -> dict[str, Any]:
    """The shipped GPU search's POST body; with ``tiny``, one of its shape that trains in seconds."""
    from backend.searches.presets import SEARCH_PRESETS

    body = copy.deepcopy(SEARCH_PRESETS[PRESET].body)
    if not tiny:
        return body
    base = copy.deepcopy(body["base_config"])
    base.update(architecture=copy.deepcopy(TINY_NET), batch_size=32, ema_epochs=None,
                data={**base.get("data", {}), "holdout": 40})
    return {**body, "base_config": base, "n_trials": 6, "max_concurrent": 2, "rungs_s": [1.0, 2.0, 4.0],
            "promote_fraction": 0.5,
            "space": {"lr": {"float": [0.05, 0.5], "log": True}, "label_smoothing": {"float": [0.0, 0.3]},
                      "architecture.width_1": {"int": [8, 16], "step": 8}}}


def rung_sizes(n_trials: int, rungs: int, fraction: float) -> list[int]:
    """Runs at each rung when every trial trains: n, then ⌊n·fraction⌋ of the rung below, and so on."""
    out = [n_trials]
    for _ in range(rungs - 1):
        out.append(math.floor(out[-1] * fraction + 1e-9))
    return out


def plan_seconds(n_trials: int, rungs_s: list[float], fraction: float, slots: int) -> float:
    """The search's length if each rung's ⌊n·fraction⌋ promotions go in waves of ``slots`` after the
    rung below is done: an estimate (asynchronous halving may promote more, and sooner; start-ups are
    not counted)."""
    sizes = rung_sizes(n_trials, len(rungs_s), fraction)
    return sum(math.ceil(n / slots) * r for n, r in zip(sizes, rungs_s, strict=True) if n)


def fitted(body: dict[str, Any], cap_s: float, slots: int) -> tuple[int, list[float], float]:
    """(trials, rung budgets, scale): the most trials (whole waves, up to the preset's) whose plan at the
    preset's rungs fits ``PLAN_SHARE`` of the cap; else two waves and every rung scaled down by one factor."""
    n, rungs, fraction = body["n_trials"], [float(r) for r in body["rungs_s"]], body["promote_fraction"]
    room = PLAN_SHARE * cap_s
    low = min(n, FIRST_RUNG_WAVES * slots)
    for trials in (n, *reversed(range(low, n, slots))):  # the preset's, then whole waves down to two
        if plan_seconds(trials, rungs, fraction, slots) <= room:
            return trials, rungs, 1.0
    scale = min(1.0, room / plan_seconds(low, rungs, fraction, slots))
    return low, [round(r * scale, 2) for r in rungs], round(scale, 4)


def _start_child(data_file: str, slots: int) -> None:
    """A slot, as worker.serve starts a child: its share of the GPU's memory and of the cores; the data once."""
    from benchmarks.gpu_suite import share_device_as_child
    from benchmarks.stage_device import load_decoded

    share_device_as_child(slots)
    _child["data"] = load_decoded(data_file)


def _train_one(raw: dict[str, Any]) -> dict[str, Any]:
    """One run of a trial at a rung, in a slot: its validation accuracy (the objective; None when it
    diverged or was pruned), and the test accuracy of the same weights, read once at its end."""
    from backend.core.statuses import StopReason
    from backend.searches.registries import DIVERGED_LOSS
    from backend.training.config import TrainConfig
    from worker.data import run_split
    from worker.trainer import EpochMetrics, train

    started = time.perf_counter()
    diverged = {"epoch": None}

    def watch(m: EpochMetrics) -> None:  # the lab's ``diverged`` pruner: Optuna's ThresholdPruner on the loss
        if diverged["epoch"] is None and not m.train_loss <= DIVERGED_LOSS:
            diverged["epoch"] = m.epoch

    try:
        config = TrainConfig.model_validate(raw)
        on_gpu = config.device == "cuda" and torch.cuda.is_available()
        if on_gpu:
            torch.cuda.reset_peak_memory_stats()  # the slot's process trains run after run
        result = train(config, run_split(_child["data"], config), log=None, on_epoch=watch,
                       should_stop=lambda: StopReason.PRUNED if diverged["epoch"] is not None else None)
    except Exception as exc:  # noqa: BLE001 - a run that fails is a failed trial, not a failed search
        return {"error": f"{type(exc).__name__}: {exc}"[:300], "wall_s": round(time.perf_counter() - started, 1)}
    memory = torch.cuda.max_memory_reserved() if on_gpu else None
    ended = result.stop_reason in (StopReason.PRUNED, StopReason.DIVERGED)
    return {"val_acc": None if ended else result.best_val_acc, "pruned_at_epoch": diverged["epoch"],
            "test_acc": None if ended else result.test_acc_at_best, "best_test_acc": result.best_test_acc,
            "params": result.params, "epochs": len(result.history), "stop_reason": result.stop_reason,
            "train_s": round(result.elapsed_s, 1), "wall_s": round(time.perf_counter() - started, 1),
            "max_memory_reserved_gib": round(memory / 2**30, 2) if memory is not None else None}


def search(data_file: str, device: str, tiny: bool, cap_s: float) -> dict[str, Any]:
    """The packed search within ``cap_s`` seconds (``data_file``: stage_device.save_decoded's file of the dataset)."""
    import optuna

    from backend.searches.registries import SAMPLERS, SamplerArgs, trial_seed
    from backend.searches.rungs import Rung, promotions, rung_config
    from backend.searches.schemas import SearchCreate
    from backend.searches.space import build_config, parse_space, sample, size
    from backend.training.config import TrainConfig

    body = preset_body(tiny)
    body["base_config"] = {**body["base_config"], "device": device}
    spec = SearchCreate.model_validate(body)
    space = parse_space(spec.space, TrainConfig.model_validate(spec.base_config))
    slots = spec.max_concurrent
    n_trials, rungs_s, scale = fitted(body, cap_s, slots)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for point in spec.initial_points:
        study.enqueue_trial(point)
    t0 = time.perf_counter()
    deadline = t0 + cap_s
    runs: list[dict[str, Any]] = []  # every run, in the order they started
    configs: dict[int, dict[str, Any]] = {}  # trial number → its config (rung-free)
    pending: dict[Future[dict[str, Any]], dict[str, Any]] = {}
    counts = {"asked": 0, "infeasible": 0, "skipped": 0, "told": 0}
    busy = 0.0  # slot-seconds of training

    def start(pool: ProcessPoolExecutor, trial: int, rung: int) -> None:
        run = {"trial": trial, "rung": rung, "budget_s": rungs_s[rung], "started_s": round(time.perf_counter() - t0, 1)}
        runs.append(run)
        pending[pool.submit(_train_one, rung_config(configs[trial], rungs_s, rung))] = run

    def ask(pool: ProcessPoolExecutor) -> None:
        """A new trial at the first rung, or a sample over the budget told as infeasible (as the engine's _ask_one)."""
        number = len(study.get_trials(deepcopy=False))
        study.sampler = SAMPLERS[spec.sampler].make(SamplerArgs(seed=trial_seed(spec.seed, number),
                                                                search_seed=spec.seed, n_trials=n_trials, space=space))
        trial = study.ask()
        raw = build_config(space, sample(trial, space))
        if size(rung_config(raw, rungs_s, 0)).problem is not None:
            study.tell(trial, 0.0)
            counts["infeasible"] += 1
            return
        configs[trial.number] = {**raw, "test_each_epoch": False}
        counts["asked"] += 1
        start(pool, trial.number, 0)

    def tell(run: dict[str, Any]) -> None:
        """Optuna is told the first rung (every trial at one fidelity), as the engine's tell_finished."""
        if run["rung"] != 0:
            return
        if run.get("val_acc") is not None:
            study.tell(run["trial"], run["val_acc"], skip_if_finished=True)
        else:
            pruned = run.get("stop_reason") in ("pruned", "diverged")
            study.tell(run["trial"], state=optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.FAIL,
                       skip_if_finished=True)
        counts["told"] += 1

    pool = ProcessPoolExecutor(slots, mp_context=mp.get_context("spawn"), initializer=_start_child,
                               initargs=(data_file, slots))
    try:
        while True:
            while len(pending) < slots:
                left = deadline - time.perf_counter()
                active = {id(r) for r in pending.values()}
                view = [Rung(r["trial"], r["rung"], r.get("val_acc"), id(r) in active, r.get("params") or 0)
                        for r in runs]
                todo = promotions(view, len(rungs_s), spec.promote_fraction)
                if todo:
                    trial, rung = todo[0]
                    if rungs_s[rung] / PLAN_SHARE > left:  # it could not finish: no promotion is half-trained
                        counts["skipped"] += 1
                        runs.append({"trial": trial, "rung": rung, "skipped": "not enough time left"})
                        continue
                    start(pool, trial, rung)
                elif (counts["asked"] < n_trials and counts["infeasible"] < MAX_INFEASIBLE
                      and rungs_s[0] / PLAN_SHARE <= left):
                    ask(pool)
                else:
                    break
            if not pending:
                break
            done, _ = wait(pending, timeout=max(0.5, deadline - time.perf_counter()), return_when=FIRST_COMPLETED)
            if not done and time.perf_counter() >= deadline:  # the cap: what still trains is left out
                for run in pending.values():
                    run["late"] = "still training at the cap: left out, its process ended"
                break
            for future in done:
                run = pending.pop(future)
                try:
                    run.update(future.result())
                except Exception as exc:  # noqa: BLE001 - a slot that died (BrokenProcessPool) fails its run
                    run["error"] = f"{type(exc).__name__}: {exc}"[:300]
                run["ended_s"] = round(time.perf_counter() - t0, 1)
                busy += run.get("wall_s", 0.0)
                tell(run)
        wall = time.perf_counter() - t0
    finally:
        late = bool(pending)
        pool.shutdown(wait=not late, cancel_futures=True)
        if late:  # a run past the cap is not waited for
            for child in mp.active_children():
                child.terminate()
    trained = [r for r in runs if r.get("val_acc") is not None]
    top = max((r["rung"] for r in trained), default=None)
    best = max((r for r in trained if r["rung"] == top), key=lambda r: (r["val_acc"], -r["params"]), default=None)
    per_rung = []
    for rung, budget in enumerate(rungs_s):
        these = [r for r in runs if r["rung"] == rung and "skipped" not in r and "late" not in r]
        ok = [r for r in these if r.get("val_acc") is not None]
        per_rung.append({"rung": rung, "budget_s": budget, "runs": len(these), "trained": len(ok),
                         "failed": len(these) - len(ok),
                         "mean_epochs": round(float(np.mean([r["epochs"] for r in ok])), 2) if ok else None,
                         "best_val_acc": max((r["val_acc"] for r in ok), default=None)})
    memory = [r["max_memory_reserved_gib"] for r in trained if r.get("max_memory_reserved_gib") is not None]
    return {
        "preset": PRESET, "device": device, "slots": slots, "cap_s": round(cap_s, 1), "n_trials": n_trials,
        "preset_n_trials": body["n_trials"], "rungs_s": rungs_s, "preset_rungs_s": body["rungs_s"], "scale": scale,
        "promote_fraction": spec.promote_fraction, "asked": counts["asked"], "infeasible": counts["infeasible"],
        "told": counts["told"], "promotions_skipped": counts["skipped"], "wall_s": round(wall, 1), "rungs": per_rung,
        "runs_per_gpu_hour": round(len(trained) / wall * 3600, 1) if wall else None,
        "slot_busy_fraction": round(busy / (wall * slots), 3) if wall else None,
        "max_memory_reserved_gib": max(memory, default=None),
        "best": None if best is None else {
            "trial": best["trial"], "rung": best["rung"], "val_acc": best["val_acc"],
            "test_acc_read_once": best["test_acc"], "params": best["params"], "epochs": best["epochs"],
            "config": configs[best["trial"]], "chosen_on": "validation accuracy at the highest rung reached"},
        "runs": runs,
    }
