"""Seed noise: how far apart runs of one config land, and what the validation split costs.

    python -m benchmarks.seed_noise                       # resumes benchmarks/results/seed_noise.json
    python -m benchmarks.seed_noise --only noise          # or --only holdout
    python -m benchmarks.seed_noise --tiny --out /tmp/seed_noise.json   # seconds: generated data, tiny nets

1. Noise: ``compact`` and ``compact_pool_last`` trained by one short recipe (the 15-minute pilot's
   settings over a fixed number of epochs, so that the numbers do not depend on how busy the CPU
   is) on the same 5 seeds, 5,000 training images held out for validation. Reported: each
   config's mean ± std of validation and test accuracy (test at the epoch chosen on validation),
   the paired difference with its 95% CI (``backend.runs.uncertainty.paired``), and how many of the 25
   single-seed comparisons (every seed of one against every seed of the other) name the winner
   that the 5-seed mean does not.
2. The price of the holdout: the 15-minute pilot (time-budgeted) of ``compact`` with holdout 5,000
   and with holdout 0, same seed, both at once so that they share the machine alike.

Runs are child processes, two at a time, one thread each. The JSON is rewritten (atomically)
after every run, and a run's epochs are checkpointed; a restart skips the runs recorded and
resumes an interrupted one from its last epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import shutil
import time
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.runs.uncertainty import paired, spread
from backend.training.config import TrainConfig
from backend.training.recipes import PILOT_15MIN
from benchmarks.common import cifar10_path, machine, write_report
from worker.data import ImageDataset, load_dataset, run_split
from worker.trainer import train

RESULTS = Path(__file__).parent / "results"
CONFIGS = ("compact", "compact_pool_last")  # presets; the paired difference is the second − the first
SEEDS = (0, 1, 2, 3, 4)
HOLDOUT = 5_000
HOLDOUT_SEED = 0
WORKERS = 2  # runs at a time, one thread each: this machine has two cores
# The short recipe: the pilot's settings over a fixed number of epochs, annealed over those epochs.
# Sized on this machine (one thread, the other core busy with the other run): compact takes ~170 s
# per epoch of 45,000 images, compact_pool_last ~380 s (its convs run at twice the resolution).
SHORT_EPOCHS = 2
NO_BUDGET_S = 86_400.0  # the budget never ends a fixed-epoch run
PRICE_PRESET, PRICE_SEED, PRICE_HOLDOUTS = "compact", 0, (HOLDOUT, 0)
METRICS = ("best_val_acc", "test_acc_at_best", "final_test_acc", "best_test_acc")
HEADLINE = "test_acc_at_best"


# --- the plan -------------------------------------------------------------------------------------

def architecture(preset: str, tiny: bool) -> Any:
    """The preset's name, or with ``tiny`` a two-stage compact net of the same pooling."""
    if not tiny:
        return preset
    return {"family": "compact", "name": preset, "stages": [[8, 8], [16, 16]],
            "pool_at": "last" if preset.endswith("pool_last") else "first"}


def short_config(preset: str, seed: int, tiny: bool) -> dict[str, Any]:
    settings: dict[str, Any] = {"epochs": 3, "batch_size": 32} if tiny else {"epochs": SHORT_EPOCHS}
    return PILOT_15MIN.config(architecture(preset, tiny), seed=seed, schedule_by="epochs", time_budget_s=NO_BUDGET_S,
                              data={"holdout": tiny_holdout(HOLDOUT, tiny), "holdout_seed": HOLDOUT_SEED}, **settings)


def price_config(holdout: int, tiny: bool) -> dict[str, Any]:
    """The 15-minute pilot, time-budgeted (with ``tiny``: 3 epochs within 5 s)."""
    settings: dict[str, Any] = {"epochs": 3, "batch_size": 32, "time_budget_s": 5.0} if tiny else {}
    return PILOT_15MIN.config(architecture(PRICE_PRESET, tiny), seed=PRICE_SEED,
                              data={"holdout": tiny_holdout(holdout, tiny), "holdout_seed": HOLDOUT_SEED}, **settings)


def tiny_holdout(holdout: int, tiny: bool) -> int:
    return min(holdout, 100) if tiny else holdout


def key(phase: str, config: str, seed: int, holdout: int) -> str:
    return f"{phase}-{config}-seed{seed}-holdout{holdout}"


def plan(tiny: bool, only: str | None) -> list[dict[str, Any]]:
    """Every run, in the order they start: the noise runs seed by seed, then the price pair."""
    seeds = SEEDS[:2] if tiny else SEEDS
    tasks: list[dict[str, Any]] = []
    if only in (None, "noise"):
        tasks += [{"phase": "noise", "config": c, "seed": s, "holdout": tiny_holdout(HOLDOUT, tiny),
                   "raw": short_config(c, s, tiny)} for s in seeds for c in CONFIGS]
    if only in (None, "holdout"):
        tasks += [{"phase": "holdout", "config": PRICE_PRESET, "seed": PRICE_SEED, "holdout": tiny_holdout(h, tiny),
                   "raw": price_config(h, tiny)} for h in PRICE_HOLDOUTS]
    for t in tasks:
        t["key"] = key(t["phase"], t["config"], t["seed"], t["holdout"])
        t["tiny"] = tiny
    return tasks


def recipe(tiny: bool) -> dict[str, Any]:
    """What the runs were trained with, stored in the JSON: a restart under another recipe is refused."""
    def settings(raw: dict[str, Any]) -> dict[str, Any]:
        full = TrainConfig.model_validate(raw).model_dump(mode="json")
        for k in ("architecture", "seed"):
            full.pop(k)
        return full

    return {
        "noise": {"configs": list(CONFIGS), "seeds": list(SEEDS[:2] if tiny else SEEDS),
                  "base": PILOT_15MIN.key, "by": "a fixed number of epochs (not time-budgeted)",
                  "settings": settings(short_config(CONFIGS[0], 0, tiny))},
        "holdout_price": {"config": PRICE_PRESET, "seed": PRICE_SEED, "holdouts": [tiny_holdout(h, tiny) for h in
                                                                                   PRICE_HOLDOUTS],
                          "base": PILOT_15MIN.key, "by": "its time budget, both runs at once",
                          "settings": settings(price_config(HOLDOUT, tiny))},
        "workers": WORKERS, "threads_per_run": 1, "tiny": tiny,
    }


# --- one run, in a child process ------------------------------------------------------------------

def tiny_dataset() -> ImageDataset:
    """Generated: 10 classes, each a colour with noise, so that accuracy rises above chance."""
    rng = np.random.default_rng(0)
    base = (np.arange(10)[:, None] * np.array([25, 60, 95]) % 255).astype(np.int16)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        shift = rng.integers(-70, 70, (n, 1, 1, 3))  # per image: the classes' colours overlap
        x = base[y][:, None, None, :] + shift + rng.integers(-40, 40, (n, 32, 32, 3))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    (tx, ty), (vx, vy) = images(600), images(200)
    return ImageDataset(tx, ty, vx, vy, [f"class{i}" for i in range(10)])


@cache
def dataset(tiny: bool) -> ImageDataset:
    return tiny_dataset() if tiny else load_dataset(cifar10_path(), cache_dir="var/cache")


def one_thread() -> None:
    torch.set_num_threads(1)


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one task (in a pool's child process) and return its record."""
    config = TrainConfig.model_validate(task["raw"])
    data = run_split(dataset(task["tiny"]), config)
    name = task["key"]
    quarter = math.ceil(len(data.train_y) / config.batch_size / 4)

    def heartbeat(epoch: int, done: int, per_epoch: int, _seen: int, seconds: float) -> None:
        if not task["tiny"] and done % quarter == 0 and done < per_epoch:
            print(f"  {name}: epoch {epoch}, {done}/{per_epoch} batches, {seconds:.0f} s", flush=True)

    result = train(config, data, checkpoint_dir=task["checkpoints"], on_batch=heartbeat,
                   log=None if task["tiny"] else (lambda line: print(f"  {name}: {line}", flush=True)))
    return {
        "key": name, "phase": task["phase"], "config": task["config"], "seed": task["seed"],
        "holdout": result.holdout, "selected_on": result.selected_on, "best_epoch": result.best_epoch,
        "best_val_acc": result.best_val_acc, "test_acc_at_best": result.test_acc_at_best,
        "final_test_acc": result.final_test_acc, "best_test_acc": result.best_test_acc,
        "elapsed_s": round(result.elapsed_s, 1), "epochs": len(result.history), "epochs_planned": config.epochs,
        "last_epoch_fraction": result.history[-1].fraction if result.history else None,
        "stop_reason": result.stop_reason, "resumed_from": result.resumed_from, "params": result.params,
        "val_acc_by_epoch": [m.val_acc for m in result.history],
        "test_acc_by_epoch": [m.test_acc for m in result.history],
        "machine": machine(),  # a resumed benchmark may span machines (report["machine"] is the first's)
    }


# --- the summary (also what benchmarks/RESULTS.md quotes) -----------------------------------------

def single_seed_verdicts(a: dict[int, float], b: dict[int, float], mean_diff: float) -> dict[str, Any]:
    """Every single-seed comparison a[i] − b[j] (all cross pairs, and the same-seed ones): how many
    name the other winner than the mean over the seeds does (a tie names none)."""
    def count(diffs: list[float]) -> dict[str, Any]:
        other = sum(1 for d in diffs if d * mean_diff < 0)
        return {"pairs": len(diffs), "other_winner": other, "ties": sum(1 for d in diffs if d == 0),
                "fraction_other_winner": other / len(diffs) if diffs and mean_diff else None}

    return {"cross": count([x - y for x in a.values() for y in b.values()]),
            "same_seed": count([a[s] - b[s] for s in sorted(set(a) & set(b))])}


def summarize(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Spreads, the paired comparison and the holdout's price from the run records alone."""
    runs = list(runs)
    noise = {c: {r["seed"]: r for r in runs if r["phase"] == "noise" and r["config"] == c} for c in CONFIGS}
    configs: dict[str, dict[str, Any]] = {
        c: {"seeds": sorted(rs), **{m: spread([rs[s][m] for s in sorted(rs)]).as_dict() for m in METRICS},
            "epochs": sorted({r["epochs"] for r in rs.values()}),
            "mean_elapsed_s": float(np.mean([r["elapsed_s"] for r in rs.values()])) if rs else None}
        for c, rs in noise.items()}
    b_name, a_name = CONFIGS  # a − b: the second config against the first
    comparisons: dict[str, Any] = {}
    for metric in (HEADLINE, "best_val_acc"):
        a = {s: r[metric] for s, r in noise[a_name].items()}
        b = {s: r[metric] for s, r in noise[b_name].items()}
        if set(a) & set(b):
            comparison = paired(a, b, a_name, b_name).as_dict()
            comparison["single_seed"] = single_seed_verdicts(a, b, comparison["mean_diff"])
            comparisons[metric] = comparison
    price = {r["holdout"]: r for r in runs if r["phase"] == "holdout"}
    holdout: dict[str, Any] | None = None
    if len(price) == 2:
        (with_, w), (without, wo) = sorted(price.items(), reverse=True)
        std = configs[PRICE_PRESET][HEADLINE]["std"]
        holdout = {"with": w, "without": wo, "holdouts": [with_, without],
                   **{f"{m}_diff": w[m] - wo[m] for m in (HEADLINE, "final_test_acc")},
                   "ratio": w[HEADLINE] / wo[HEADLINE] if wo[HEADLINE] else None,
                   "seed_std": std, "diff_noise": math.sqrt(2) * std if std is not None else None}
    return {"configs": configs, "paired": comparisons, "holdout_price": holdout}


def _pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f}%"


def _pt(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:+.2f} pt"


def _mean_std(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "—"
    return f"{s['mean'] * 100:.2f} ± {s['std'] * 100:.2f}" if s["std"] is not None else f"{s['mean'] * 100:.2f}"


def lines(summary: dict[str, Any]) -> list[str]:
    """The summary in a few sentences, ratios included."""
    out = []
    for c, s in summary["configs"].items():
        out.append(f"{c}: {s[HEADLINE]['n']} seeds, validation {_mean_std(s['best_val_acc'])}%, test at the "
                   f"chosen epoch {_mean_std(s[HEADLINE])}% (mean ± std)")
    comp = summary["paired"].get(HEADLINE)
    if comp:
        out.append(f"paired, test at the chosen epoch: {comp['sentence']}")
        std = summary["configs"][CONFIGS[0]][HEADLINE]["std"]
        if std:
            out.append(f"ratio, |mean difference| / {CONFIGS[0]}'s seed std: {abs(comp['mean_diff']) / std:.2f}x")
        cross, same = comp["single_seed"]["cross"], comp["single_seed"]["same_seed"]
        if cross["fraction_other_winner"] is not None:
            out.append(f"single-seed comparisons naming the other winner: {cross['other_winner']} of {cross['pairs']} "
                       f"cross pairs ({cross['fraction_other_winner']:.0%}), {same['other_winner']} of "
                       f"{same['pairs']} same-seed pairs")
    val = summary["paired"].get("best_val_acc")
    if val:
        out.append(f"paired, validation: {val['sentence']}")
    h = summary["holdout_price"]
    if h:
        w, wo = h["with"], h["without"]
        out.append(f"price of the holdout ({PRICE_PRESET}, 15-minute pilot, seed {w['seed']}): test at the chosen "
                   f"epoch {_pct(w[HEADLINE])} with {h['holdouts'][0]:,} held out (chosen on validation, epoch "
                   f"{w['best_epoch']} of {w['epochs']}) against {_pct(wo[HEADLINE])} with none (chosen on test, epoch "
                   f"{wo['best_epoch']} of {wo['epochs']}): {_pt(h[HEADLINE + '_diff'])}, ratio "
                   + (f"{h['ratio']:.4f}x" if h["ratio"] else "—") + f"; last epoch {_pt(h['final_test_acc_diff'])}")
        if h["diff_noise"] is not None:
            out.append(f"  one seed each: a difference of two single runs carries about √2 × the seed std = "
                       f"{h['diff_noise'] * 100:.2f} pt of noise")
    return out


def markdown(summary: dict[str, Any]) -> str:
    """The tables of benchmarks/RESULTS.md: the configs over seeds, then the holdout's price."""
    rows = ["| config | seeds | validation (chosen epoch) | test at the chosen epoch | test, last epoch | "
            "test, best epoch (max) |", "|---|---|---|---|---|---|"]
    for c, s in summary["configs"].items():
        rows.append(f"| `{c}` | {s[HEADLINE]['n']} | {_mean_std(s['best_val_acc'])} | **{_mean_std(s[HEADLINE])}** | "
                    f"{_mean_std(s['final_test_acc'])} | {_mean_std(s['best_test_acc'])} |")
    comp = summary["paired"].get(HEADLINE)
    if comp:
        low, high = comp["ci_low"], comp["ci_high"]
        ci = f"95% CI {low * 100:+.2f} to {high * 100:+.2f} pt" if low is not None and high is not None else "no CI"
        cross = comp["single_seed"]["cross"]
        rows += ["", f"`{comp['a_label']}` − `{comp['b_label']}`, paired over {len(comp['seeds'])} seeds: "
                 f"{_pt(comp['mean_diff'])}, {ci}, p = " + (f"{comp['p_value']:.3f}" if comp["p_value"] is not None
                                                             else "—")
                 + f"; {cross['other_winner']} of the {cross['pairs']} single-seed cross pairs name the other winner."]
    h = summary["holdout_price"]
    if h:
        rows += ["", "| 15-minute pilot, `compact`, seed 0 | epochs | chosen on | chosen epoch | "
                 "test at the chosen epoch | test, last epoch |", "|---|---|---|---|---|---|"]
        for r in (h["with"], h["without"]):
            rows.append(f"| holdout {r['holdout']:,} | {r['epochs']} | {r['selected_on']} | {r['best_epoch']} | "
                        f"{_pct(r[HEADLINE])} | {_pct(r['final_test_acc'])} |")
        rows.append(f"| **difference** | | | | **{_pt(h[HEADLINE + '_diff'])}** | {_pt(h['final_test_acc_diff'])} |")
    return "\n".join(rows)


# --- the driver -----------------------------------------------------------------------------------

def write(path: Path, report: dict[str, Any]) -> None:
    write_report(path, report, summarize(report["runs"]))


def load(path: Path, recipe_: dict[str, Any]) -> dict[str, Any]:
    if not path.exists():
        return {"machine": machine(), "recipe": recipe_, "runs": []}
    report: dict[str, Any] = json.loads(path.read_text())
    if report["recipe"] != recipe_:
        raise SystemExit(f"{path} holds runs of another recipe: move it away (or pass --out) to start afresh")
    return report


def execute(tasks: Sequence[dict[str, Any]], report: dict[str, Any], out: Path) -> None:
    """Run ``tasks`` in child processes, WORKERS at a time, writing the JSON after each. The noise
    runs come first; the holdout pair starts once they are all done, so that its two runs (which
    are time-budgeted) share the machine with each other alone."""
    if not tasks:
        return
    started = time.perf_counter()
    checkpoints = {t["key"]: t["checkpoints"] for t in tasks}
    phases = [[t for t in tasks if t["phase"] == phase] for phase in ("noise", "holdout")]
    with mp.get_context("spawn").Pool(min(WORKERS, len(tasks)), initializer=one_thread) as pool:
        for phase in phases:
            for record in pool.imap_unordered(run_one, phase):
                report["runs"].append(record)
                write(out, report)
                shutil.rmtree(checkpoints[record["key"]], ignore_errors=True)
                print(f"done {record['key']}: validation {_pct(record['best_val_acc'])}, test at the chosen epoch "
                      f"{_pct(record[HEADLINE])} (epoch {record['best_epoch']} of {record['epochs']}), "
                      f"{record['elapsed_s']:.0f} s; {time.perf_counter() - started:.0f} s since start", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.seed_noise", allow_abbrev=False)
    p.add_argument("--tiny", action="store_true", help="generated data, tiny nets, 2 seeds: seconds end to end")
    p.add_argument("--only", choices=("noise", "holdout"), help="one part only")
    p.add_argument("--out", type=Path, default=RESULTS / "seed_noise.json")
    p.add_argument("--checkpoints", type=Path, help="where runs checkpoint (default: var/benchmarks/OUT's name; "
                   "with --tiny, beside --out)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # the machine line says what each run gets
    out: Path = args.out
    checkpoints = args.checkpoints or (out.parent / f"{out.stem}.checkpoints" if args.tiny
                                       else Path("var/benchmarks") / out.stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = load(out, recipe(args.tiny))
    done = {r["key"] for r in report["runs"]}
    price_done = [r for r in report["runs"] if r["phase"] == "holdout"]
    if len(price_done) == 1:  # the price's two runs share the machine alike only when they run together
        print(f"rerunning the holdout pair: only {price_done[0]['key']} was recorded", flush=True)
        report["runs"].remove(price_done[0])
        done.discard(price_done[0]["key"])
    tasks = [t for t in plan(args.tiny, args.only) if t["key"] not in done]
    for t in tasks:
        t["checkpoints"] = str(checkpoints / t["key"])
    print(f"machine: {report['machine']}", flush=True)
    print(f"{len(done)} runs recorded in {out}, {len(tasks)} to run, {WORKERS} at a time", flush=True)
    execute(tasks, report, out)
    with contextlib.suppress(OSError):  # empty once every run is recorded
        checkpoints.rmdir()
    write(out, report)
    print("\n".join(lines(report["summary"])))
    print()
    print(markdown(report["summary"]))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
