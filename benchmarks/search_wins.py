"""Does the search beat our best preset? A rank check of the time rungs, the shipped CPU search, a
paired side-by-side, and the lab's records (issue 33).

    python -m benchmarks.search_wins                      # every part, resuming benchmarks/results/search_wins.json
    python -m benchmarks.search_wins --part rank          # or search, sides, records (in that order)
    python -m benchmarks.search_wins --tiny --out /tmp/search_wins.json   # seconds: generated data, tiny nets

1. ``rank``: RANK_CONFIGS configurations — the shipped CPU search's warm-start points (``compact``
   with the 15-minute recipe, ``compact_pool_last`` with whitening) and random draws from its space
   (Optuna's RandomSampler, seeded; draws over the parameter budget are skipped) — each trained at
   150 and 450 s and at the full 900 s (RANK_RUNGS_S), annealed to its budget, on the training
   split with 5,000 images held out, and by the old proxy (4 epochs of 5,000 images, scheduled by
   epochs). Each is scored as the search scores a trial: validation accuracy of the epoch chosen on
   validation (for a run annealed to its budget, normally the last). Reported: Spearman's ρ and
   Kendall's τ of each fidelity against the 900-s result (scipy), and the regret of each fidelity's
   top pick (the 900-s score of the best config minus that of the fidelity's pick).
2. ``search``: the shipped search ``cpu_15min`` in a private lab (its own SQLite database, embedded
   broker and checkpoints under var/search_wins, two worker slots of one thread each), stopped after
   ``--search-minutes`` (60) if it has not completed; its best (chosen on validation at the highest
   rung reached) is recorded with every trial. Not resumable: an interrupted search starts again.
3. ``sides``: the search's best, ``compact``, and ``compact`` with the search's recipe (the best
   config's settings on compact's network: it separates the architecture's gain from the recipe's),
   900 s each, annealed to it, on the full training split (no holdout) — each config as the search
   page's "Train the winner" trains it (backend.searches.winner.arm_config) — SIDE_SEEDS paired seeds, two
   runs at a time on one core each. The headline is the last epoch's test accuracy: no epoch is
   chosen, so the test set chooses nothing (it is still evaluated every epoch, for the curves).
   **The claim holds** when the search's best beats ``compact`` by >= 0.5 pt in mean test accuracy
   with the 95% CI of the paired difference above zero (backend.runs.uncertainty.paired).
4. ``records``: the search's best (its own pick, on validation — the sides' test accuracies choose
   nothing) on the full training split, one run at a time on both cores, 15 minutes and 1 hour,
   RECORD_SEEDS seeds each: the lab's best figures.

Runs are child processes; the JSON is rewritten (atomically) after every run and a run's epochs
are checkpointed, so a restart skips what is recorded and resumes an interrupted run. Every run is
time-budgeted: run it on a quiet machine, never beside the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import multiprocessing as mp
import shutil
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import torch

from backend.runs.uncertainty import paired, spread
from backend.searches.winner import BASELINE_PRESET, arm_config
from backend.training.config import TrainConfig
from backend.training.recipes import PILOT_15MIN
from benchmarks.common import cifar10_path, machine, write_report
from worker.data import ImageDataset, load_dataset, run_split
from worker.trainer import train

RESULTS = Path(__file__).parent / "results"
PRESET = "cpu_15min"  # the shipped CPU search (backend/searches/presets.py)
RANK_CONFIGS = 10  # the warm-start points, then random draws up to this many
RANK_DRAW_SEED = 0
PROXY = {"epochs": 4, "train_limit": 5_000}  # the old search's trial: 4 epochs of 5,000 images
HOLDOUT, HOLDOUT_SEED = 5_000, 0
FULL_S = 900.0  # the real budget: the search's last rung
# the rank check's time fidelities, fixed: they decided the shipped search's rungs (a 150-s first rung ranked
# poorly, so cpu_15min starts at 450 s), and stay in the table to say why
RANK_RUNGS_S = (150.0, 450.0, FULL_S)
SIDE_SEEDS = (0, 1, 2)
RECORD_BUDGETS_S = (900.0, 3600.0)
RECORD_SEEDS = (0, 1)
CLAIM_MARGIN = 0.005  # the search's best must beat compact by at least 0.5 pt
PARTS = ("rank", "search", "sides", "records")
NO_BUDGET_S = 86_400.0  # a run planned by epochs: the budget never ends it
SIDES = ("search_best", "compact", "compact_search_recipe")
RECORD_SIDE = "search_best"  # the records' config: the search's own pick (on validation), never the sides' test
TINY_NET = {"family": "compact", "name": "tiny", "stages": [[8], [16]]}


# --- the configurations ---------------------------------------------------------------------------

def preset_body(tiny: bool) -> dict[str, Any]:
    """The search's POST body: the shipped preset, or with ``tiny`` a seconds-long one of its shape."""
    from backend.searches.presets import SEARCH_PRESETS

    body = copy.deepcopy(SEARCH_PRESETS[PRESET].body)
    if not tiny:
        return body
    base = copy.deepcopy(body["base_config"])
    base.update(architecture=copy.deepcopy(TINY_NET), batch_size=32,
                data={"holdout": 20, "holdout_seed": HOLDOUT_SEED}, ema_epochs=None)
    return {**body, "base_config": base, "n_trials": 3, "rungs_s": [2.0, 4.0], "promote_fraction": 0.5,
            "space": {"lr": {"float": [0.05, 0.5], "log": True}, "label_smoothing": {"float": [0.0, 0.3]},
                      "architecture.width_1": {"int": [8, 16], "step": 8}},
            "initial_points": [{"lr": 0.2, "label_smoothing": 0.2, "architecture.width_1": 8}]}


def rank_configs(tiny: bool) -> dict[str, dict[str, Any]]:
    """{name: raw config} — the warm-start points first, then seeded random draws within the budget."""
    import optuna

    from backend.searches.engine import check_body
    from backend.searches.schemas import SearchCreate
    from backend.searches.space import build_config, sample, size

    body = SearchCreate.model_validate(preset_body(tiny))
    space = check_body(body)
    out = {("compact" if i == 0 else f"warm{i}"): build_config(space, p) for i, p in enumerate(body.initial_points)}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=RANK_DRAW_SEED))
    wanted = (4 if tiny else RANK_CONFIGS) - len(out)
    for draw in range(200):
        if wanted <= 0:
            break
        trial = study.ask()
        raw = build_config(space, sample(trial, space))
        study.tell(trial, 0.0)
        if size(raw).problem is None:
            out[f"draw{draw}"] = raw
            wanted -= 1
    return out


def fidelities(tiny: bool) -> dict[str, dict[str, Any]]:
    """{fidelity: overrides}: the old proxy, then each budget of the rank check, the last one the full budget
    (``tiny``: the tiny search's rungs)."""
    rungs = preset_body(tiny)["rungs_s"] if tiny else list(RANK_RUNGS_S)
    full = rungs[-1]
    out: dict[str, dict[str, Any]] = {
        "proxy": {"schedule_by": "epochs", "epochs": 1 if tiny else PROXY["epochs"], "time_budget_s": NO_BUDGET_S,
                  "train_limit": 60 if tiny else PROXY["train_limit"]}}
    for budget in rungs:
        out[f"{budget:g}s"] = {"schedule_by": "time_budget", "time_budget_s": float(budget)}
    assert f"{full:g}s" in out
    return out


def with_data(raw: dict[str, Any], holdout: int, train_limit: int | None = None) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["data"] = {**out.get("data", {}), "holdout": holdout, "holdout_seed": HOLDOUT_SEED, "train_limit": train_limit}
    return out


def at_fidelity(raw: dict[str, Any], fidelity: dict[str, Any], tiny: bool) -> dict[str, Any]:
    """``raw`` as the rank check trains it at ``fidelity``. The test set is evaluated every epoch, as in
    the check's first 24 runs (Zen 4, before trials read it only at their end): inside a time budget
    that evaluation costs training time, so all 40 runs must pay it alike to be compared."""
    out = with_data(raw, tiny_holdout(tiny), fidelity.get("train_limit"))
    out.update({k: v for k, v in fidelity.items() if k != "train_limit"})
    out["test_each_epoch"] = True
    return out


def tiny_holdout(tiny: bool) -> int:
    return 20 if tiny else HOLDOUT


def full_run(raw: dict[str, Any], budget_s: float, seed: int) -> dict[str, Any]:
    """``raw`` as "Train the winner" trains it (the whole training split, annealed to ``budget_s``), with ``seed``."""
    return {**arm_config(raw, float(budget_s)), "seed": seed}


def with_recipe_of(network: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """``recipe``'s settings (everything but the network) on ``network``'s architecture."""
    out = copy.deepcopy(recipe)
    out["architecture"] = copy.deepcopy(network["architecture"])
    return out


# --- the plan -------------------------------------------------------------------------------------

def plan_rank(tiny: bool) -> list[dict[str, Any]]:
    """Config by config (each one's fidelities together, so a partial report already correlates)."""
    tasks = []
    for name, raw in rank_configs(tiny).items():
        for fid, over in fidelities(tiny).items():
            tasks.append({"part": "rank", "key": f"rank-{name}-{fid}", "config": name, "fidelity": fid,
                          "raw": at_fidelity(raw, over, tiny), "threads": 1})
    return tasks


def side_configs(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The search's best (its run's config), the lab's best preset with the 15-minute recipe, and
    that preset's network with the best's recipe."""
    best = report["search"]["best"]["config"]
    compact = PILOT_15MIN.config(TINY_NET if report["recipe"]["tiny"] else BASELINE_PRESET)
    return {"search_best": best, "compact": compact, "compact_search_recipe": with_recipe_of(compact, best)}


def full_budget(tiny: bool) -> float:
    return float(preset_body(tiny)["rungs_s"][-1])


def plan_sides(report: dict[str, Any], tiny: bool) -> list[dict[str, Any]]:
    if not report.get("search"):
        return []
    configs = side_configs(report)
    seeds = SIDE_SEEDS[:2] if tiny else SIDE_SEEDS
    return [{"part": "sides", "key": f"sides-{side}-seed{s}", "config": side, "seed": s, "threads": 1,
             "raw": full_run(configs[side], full_budget(tiny), s)} for s in seeds for side in SIDES]


def plan_records(report: dict[str, Any], tiny: bool) -> list[dict[str, Any]]:
    """The search's best, chosen by the search on validation: the side-by-side's test accuracies
    choose nothing (a record trained on the side that tested best would be chosen on the test set)."""
    if not report.get("search"):
        return []
    raw = side_configs(report)[RECORD_SIDE]
    budgets = (2.0, 4.0) if tiny else RECORD_BUDGETS_S
    return [{"part": "records", "key": f"records-{budget:g}s-seed{s}", "config": RECORD_SIDE, "seed": s,
             "budget_s": budget, "threads": 2, "raw": full_run(raw, budget, s)}
            for budget in budgets for s in RECORD_SEEDS]


# --- one run, in a child process ------------------------------------------------------------------

@cache
def dataset(tiny: bool) -> ImageDataset:
    if tiny:
        from benchmarks.seed_noise import tiny_dataset

        return tiny_dataset()
    return load_dataset(cifar10_path(), cache_dir="var/cache")


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(task["threads"])
    config = TrainConfig.model_validate(task["raw"])
    data = run_split(dataset(task["tiny"]), config)
    name = task["key"]
    result = train(config, data, checkpoint_dir=task["checkpoints"],
                   log=None if task["tiny"] else (lambda line: print(f"  {name}: {line}", flush=True)))
    last = result.history[-1] if result.history else None
    return {
        **{k: task[k] for k in ("key", "part", "config") if k in task},
        **{k: task[k] for k in ("fidelity", "seed", "budget_s") if k in task},
        "params": result.params, "macs": result.macs, "holdout": result.holdout, "selected_on": result.selected_on,
        "best_epoch": result.best_epoch, "best_val_acc": result.best_val_acc,
        "final_val_acc": last.val_acc if last else None, "test_acc_at_best": result.test_acc_at_best,
        "final_test_acc": result.final_test_acc, "best_test_acc": result.best_test_acc,
        "epochs": len(result.history), "last_epoch_fraction": last.fraction if last else None,
        "elapsed_s": round(result.elapsed_s, 1), "stop_reason": result.stop_reason, "threads": task["threads"],
        "time_budget_s": config.time_budget_s, "schedule_by": config.schedule_by, "machine": machine(),
    }


# --- the search, in a lab of its own --------------------------------------------------------------

def run_search(tiny: bool, minutes: float, var: Path) -> dict[str, Any]:
    """The shipped search on a private lab until it completes or ``minutes`` pass; what it found."""
    from benchmarks.search_budget import free_port
    from benchmarks.seed_full import Lab, lab_env, tiny_cifar

    shutil.rmtree(var, ignore_errors=True)  # not resumable: a search starts afresh
    var.mkdir(parents=True)
    cifar10 = tiny_cifar(var / "tiny_cifar") if tiny else str(cifar10_path())
    env = {**lab_env(var, free_port(), cifar10, tiny), "CNNLAB_MAX_ACTIVE_RUNS_PER_USER": "0"}
    lab = Lab(env, var / "lab.log")
    started = time.monotonic()
    try:
        body = preset_body(tiny)
        if tiny:
            body["base_config"]["data"].update(train_limit=None, test_limit=None)
        r = lab.http.post("/api/searches", json=body)
        if r.status_code != 201:
            raise SystemExit(f"the search was refused: {r.status_code} {r.text}")
        sid, shown = r.json()["id"], None
        while True:
            detail = lab.http.get(f"/api/searches/{sid}").raise_for_status().json()
            line = (f"{detail['status']}: {detail['counts']} rungs "
                    + " ".join(f"{g['rung']}:{g['finished']}+{g['active']}" for g in detail["rungs"]))
            if line != shown:
                print(time.strftime("%H:%M:%S"), line, flush=True)
                shown = line
            if detail["status"] != "running":
                break
            if time.monotonic() - started > minutes * 60:
                detail = lab.http.post(f"/api/searches/{sid}/stop").raise_for_status().json()
                print(f"stopped after {minutes:g} minutes", flush=True)
                break
            time.sleep(2 if tiny else 30)
        wall = time.monotonic() - started
    finally:
        lab.stop()
    if detail["best"] is None:
        raise SystemExit("the search finished no trial: nothing to compare")
    runs = [r for t in detail["trials"] for r in t["rungs"] if r.get("best_val_acc") is not None]
    return {
        "id": detail["id"], "body": body, "status": detail["status"], "wall_s": round(wall, 1),
        "counts": detail["counts"],
        "rungs": detail["rungs"], "runs_finished": len(runs),
        "runs_per_cpu_hour": len(runs) / (wall / 3600 * 2) if wall else None,
        "best": detail["best"],
        "trials": [{k: t[k] for k in ("number", "state", "params", "net_params", "best_val_acc",
                                      "test_acc_at_best_val", "rung", "rungs")} for t in detail["trials"]],
        "machine": machine(),
    }


# --- the summary ----------------------------------------------------------------------------------

def _rank_table(runs: Sequence[dict[str, Any]], tiny: bool) -> dict[str, Any]:
    from scipy import stats  # type: ignore[import-untyped]

    fids = list(fidelities(tiny))
    full = fids[-1]
    score = {(r["config"], r["fidelity"]): r["best_val_acc"] for r in runs if r["part"] == "rank"}
    configs = sorted({c for c, _ in score})
    out: dict[str, Any] = {"full": full, "configs": configs, "fidelities": {}}
    for fid in fids:
        both = [c for c in configs if (c, fid) in score and (c, full) in score]
        row: dict[str, Any] = {"n": len(both)}
        seconds = [r["elapsed_s"] for r in runs if r["part"] == "rank" and r["fidelity"] == fid]
        row["mean_s"] = sum(seconds) / len(seconds) if seconds else None
        row["trials_per_cpu_hour"] = 3600 / row["mean_s"] if row["mean_s"] else None
        if len(both) >= 3 and fid != full:
            xs, ys = [score[c, fid] for c in both], [score[c, full] for c in both]
            rho, tau = stats.spearmanr(xs, ys).statistic, stats.kendalltau(xs, ys).statistic
            row["spearman"] = None if math.isnan(rho) else float(rho)
            row["kendall"] = None if math.isnan(tau) else float(tau)
            pick = max(both, key=lambda c: score[c, fid])
            row["pick"], row["regret"] = pick, max(ys) - score[pick, full]
        out["fidelities"][fid] = row
    return out


def _sides(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    by = {side: {r["seed"]: r for r in runs if r["part"] == "sides" and r["config"] == side} for side in SIDES}
    configs = {side: {"seeds": sorted(rs), "params": next((r["params"] for r in rs.values()), None),
                      **{m: spread([rs[s][m] for s in sorted(rs)]).as_dict() for m in ("final_test_acc", "epochs")}}
               for side, rs in by.items()}
    comparisons: dict[str, Any] = {}
    for a, b in (("search_best", "compact"), ("search_best", "compact_search_recipe"),
                 ("compact_search_recipe", "compact")):
        xa = {s: r["final_test_acc"] for s, r in by[a].items()}
        xb = {s: r["final_test_acc"] for s, r in by[b].items()}
        if len(set(xa) & set(xb)) >= 2:
            comparisons[f"{a} - {b}"] = paired(xa, xb, a, b).as_dict()
    main = comparisons.get("search_best - compact")
    claim = None
    if main and len(main["seeds"]) == len(SIDE_SEEDS):
        claim = bool(main["mean_diff"] >= CLAIM_MARGIN and main["ci_low"] is not None and main["ci_low"] > 0)
    return {"configs": configs, "paired": comparisons, "claim_holds": claim}


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    runs, tiny = report["runs"], report["recipe"]["tiny"]
    records = {}
    for r in runs:
        if r["part"] == "records":
            records.setdefault(f"{r['budget_s']:g}s", []).append(r)
    return {"rank": _rank_table(runs, tiny), "sides": _sides(runs),
            "records": {b: {"config": rs[0]["config"], "seeds": [r["seed"] for r in rs],
                            "final_test_acc": spread([r["final_test_acc"] for r in rs]).as_dict(),
                            "epochs": [r["epochs"] for r in rs]} for b, rs in records.items()}}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.2f}%"


def markdown(report: dict[str, Any]) -> str:
    """RESULTS.md's tables."""
    s = report["summary"]
    rows = ["| fidelity | configs | mean s/run | runs per CPU-hour | Spearman ρ vs full | Kendall τ | top pick "
            "| regret |", "|---|---|---|---|---|---|---|---|"]
    for fid, row in s["rank"]["fidelities"].items():
        def num(k: str, row: dict[str, Any] = row) -> str:
            return "—" if row.get(k) is None else f"{row[k]:.2f}"
        rows.append(f"| {fid} | {row['n']} | {num('mean_s')} | {num('trials_per_cpu_hour')} | {num('spearman')} | "
                    f"{num('kendall')} | {row.get('pick', '—')} | "
                    + ("—" if row.get("regret") is None else f"{row['regret'] * 100:.2f} pt") + " |")
    search = report.get("search")
    if search:
        best = search["best"]
        rows += ["", f"Search: {search['status']} after {search['wall_s'] / 60:.0f} min, "
                 f"{search['runs_finished']} runs finished ({search['runs_per_cpu_hour']:.1f} per CPU-hour); "
                 f"best trial {best['number']} at rung {best['rung']}: validation {_pct(best['best_val_acc'])}, "
                 f"{best['net_params']:,} parameters."]
    sides = s["sides"]
    if any(c["seeds"] for c in sides["configs"].values()):
        rows += ["", "| side (full budget, no holdout) | seeds | parameters | last-epoch test, mean ± std | 95% CI |",
                 "|---|---|---|---|---|"]
        for side, c in sides["configs"].items():
            t = c["final_test_acc"]
            ci = "—" if t.get("ci_low") is None else f"{t['ci_low'] * 100:.2f} to {t['ci_high'] * 100:.2f}"
            mean = "—" if t["mean"] is None else f"{t['mean'] * 100:.2f}" + (
                f" ± {t['std'] * 100:.2f}" if t["std"] is not None else "")
            rows.append(f"| {side} | {len(c['seeds'])} | {c['params'] or '—'} | {mean} | {ci} |")
        for name, comp in sides["paired"].items():
            rows.append(f"\n{name}: {comp['sentence']}")
        if sides["claim_holds"] is not None:
            rows.append(f"\nThe claim (>= {CLAIM_MARGIN * 100:.1f} pt over compact, CI above zero) "
                        + ("**holds**." if sides["claim_holds"] else "**does not hold**."))
    for budget, rec in s["records"].items():
        rows.append(f"\nRecord, {budget} ({rec['config']}, seeds {rec['seeds']}): last-epoch test "
                    f"{_pct(rec['final_test_acc']['mean'])} mean, epochs {rec['epochs']}")
    return "\n".join(rows)


# --- the driver -----------------------------------------------------------------------------------

def recipe(tiny: bool) -> dict[str, Any]:
    """What the runs are trained with, stored in the JSON: a restart under another plan is refused. The
    search's length (its rungs and number of trials) is not in it: the rank runs do not depend on it, and
    the search's record keeps the body it ran with."""
    body = {k: v for k, v in preset_body(tiny).items() if k not in ("rungs_s", "n_trials")}
    return {"preset": PRESET, "body": body, "fidelities": fidelities(tiny), "holdout": tiny_holdout(tiny),
            "side_seeds": list(SIDE_SEEDS[:2] if tiny else SIDE_SEEDS), "tiny": tiny}


def load(path: Path, recipe_: dict[str, Any]) -> dict[str, Any]:
    """The report so far. Refused when it holds runs of another plan, or of another machine: every run is
    time-budgeted, so a run trained on a faster CPU reaches more epochs, and a rank check or a pairing
    across machines would compare the CPUs, not the configs."""
    here = machine()
    if not path.exists():
        return {"machine": here, "recipe": recipe_, "runs": [], "search": None}
    report: dict[str, Any] = json.loads(path.read_text())
    if report["recipe"] != json.loads(json.dumps(recipe_)):
        raise SystemExit(f"{path} holds runs of another plan: move it away (or pass --out) to start afresh")
    if report["machine"] != here and (report["runs"] or report.get("search")):
        raise SystemExit(f"{path} holds runs trained on {report['machine']}, not on this machine ({here}): "
                         "time-budgeted runs of two CPUs do not compare. Resume it on that machine class, or "
                         "pass --out to start a report of this one")
    return report


def write(path: Path, report: dict[str, Any]) -> None:
    write_report(path, report, summarize(report))


def execute(tasks: Sequence[dict[str, Any]], report: dict[str, Any], out: Path, tiny: bool, checkpoints: Path) -> None:
    """Run ``tasks`` in child processes — two one-thread runs at a time, or one two-thread run at a
    time — writing the JSON after each."""
    if not tasks:
        return
    for t in tasks:
        t["tiny"], t["checkpoints"] = tiny, str(checkpoints / t["key"])
    slots = 2 if tasks[0]["threads"] == 1 else 1
    started = time.perf_counter()
    with mp.get_context("spawn").Pool(min(slots, len(tasks))) as pool:
        for record in pool.imap_unordered(run_one, tasks):
            report["runs"].append(record)
            write(out, report)
            shutil.rmtree(checkpoints / record["key"], ignore_errors=True)
            print(f"done {record['key']}: validation {_pct(record['best_val_acc'])}, last-epoch test "
                  f"{_pct(record['final_test_acc'])}, {record['epochs']} epochs in {record['elapsed_s']:.0f} s; "
                  f"{time.perf_counter() - started:.0f} s since start", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.search_wins", allow_abbrev=False)
    p.add_argument("--part", choices=PARTS, action="append", help="only these parts (repeatable; default: all)")
    p.add_argument("--tiny", action="store_true", help="generated data, tiny nets, budgets of seconds")
    p.add_argument("--out", type=Path, default=RESULTS / "search_wins.json")
    p.add_argument("--search-minutes", type=float, default=60.0, help="stop the search after this long")
    args = p.parse_args(argv)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoints = out.parent / f"{out.stem}.checkpoints" if args.tiny else Path("var/benchmarks") / out.stem
    lab_var = out.parent / f"{out.stem}.lab" if args.tiny else Path("var/search_wins")
    report = load(out, recipe(args.tiny))
    parts = args.part or list(PARTS)
    print(f"machine: {report['machine']}; {len(report['runs'])} runs recorded in {out}", flush=True)
    done = {r["key"] for r in report["runs"]}
    if "rank" in parts:
        execute([t for t in plan_rank(args.tiny) if t["key"] not in done], report, out, args.tiny, checkpoints)
    if "search" in parts and not report.get("search"):
        report["search"] = run_search(args.tiny, args.search_minutes, lab_var)
        write(out, report)
    if "sides" in parts:
        execute([t for t in plan_sides(report, args.tiny) if t["key"] not in done], report, out, args.tiny,
                checkpoints)
        write(out, report)
    if "records" in parts:
        execute([t for t in plan_records(report, args.tiny) if t["key"] not in done], report, out, args.tiny,
                checkpoints)
    with contextlib.suppress(OSError):
        checkpoints.rmdir()
    write(out, report)
    print(markdown(report))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
