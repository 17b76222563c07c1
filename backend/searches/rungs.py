"""Successive halving by time rungs, with no database: a trial's config at a rung, and which
finished runs go up a rung. The backend's engine (backend.searches.engine) and the GPU suite's
packed search (benchmarks.gpu_search) both decide with these."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def rung_config(config: dict[str, Any], rungs_s: Sequence[float], rung: int) -> dict[str, Any]:
    """A trial's config at a time rung: planned by that rung's budget and annealed to it (its epochs
    only a ceiling)."""
    out = copy.deepcopy(config)
    out["schedule_by"], out["time_budget_s"] = "time_budget", float(rungs_s[rung])
    return out


@dataclass(frozen=True)
class Rung:
    """A run of a search by time rungs, as promotion reads it."""

    trial: int
    rung: int
    value: float | None  # its objective when it trained to its end (succeeded or timed out), else None
    active: bool
    params: int = 0


def promotions(runs: Sequence[Rung], rungs: int, fraction: float) -> list[tuple[int, int]]:
    """(trial, rung) pairs to train next, best first: for each rung but the last, the top
    ⌊n·fraction⌋ of its n finished runs (asynchronous successive halving: decided on the runs finished
    so far, never taken back) that have no run at the next rung yet. Ties: the smaller network, then
    the earlier trial."""
    out: list[tuple[int, int]] = []
    have = {(r.trial, r.rung) for r in runs}
    for rung in range(rungs - 1):
        done = sorted((r for r in runs if r.rung == rung and r.value is not None),
                      key=lambda r: (-(r.value or 0.0), r.params, r.trial))
        for r in done[:math.floor(len(done) * fraction + 1e-9)]:
            if (r.trial, rung + 1) not in have:
                out.append((r.trial, rung + 1))
    return sorted(out, key=lambda p: -p[1])  # the highest rung first: it finishes the search soonest

