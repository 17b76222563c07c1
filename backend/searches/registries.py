"""The samplers, pruners and objectives a search may name, each declared once: its name → how it is
made (or, for an objective, what it reads and which way it goes) and its title.

The search bodies' fields are typed from these keys (:func:`name_of`: validated against them and
published in the JSON schema as an ``enum``, with the titles beside it as ``x-titles``), the engine
makes its samplers and pruners from them, and the search form renders its selects from the schema.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from backend.searches.space import Space


class Titled(Protocol):
    @property
    def title(self) -> str: ...


# --- which trials count ----------------------------------------------------------------------------

def counted(trial: FrozenTrial) -> bool:
    """A trial that counts toward n_trials: one that was (or is being) trained — not an initial
    point still waiting for its turn, nor a sample that never trained."""
    return (trial.state != TrialState.WAITING and "problem" not in trial.user_attrs
            and "not_queued" not in trial.user_attrs)


# --- samplers --------------------------------------------------------------------------------------

def trial_seed(search_seed: int, number: int) -> int:
    """The sampler's seed for trial ``number`` of a search seeded ``search_seed``: the same whichever
    process asks (and after a restart)."""
    return (search_seed * 1_000_003 + number) % 2**32


@dataclass(frozen=True)
class SamplerArgs:
    """What the engine hands every sampler factory."""

    seed: int  # the trial's: from the search's seed and the trial number (the same whichever process asks)
    search_seed: int  # the search's own
    n_trials: int
    space: Space


@dataclass(frozen=True)
class SamplerKind:
    title: str
    make: Callable[[SamplerArgs], optuna.samplers.BaseSampler]


class GridWalk(optuna.samplers.GridSampler):
    """Optuna's grid sampler, minus its study.stop() when the grid is used up (that call is for
    study.optimize; a search ends by counting its trials against the grid's points instead)."""

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        return None


def _tpe(a: SamplerArgs) -> optuna.samplers.BaseSampler:
    startup = min(10, max(3, a.n_trials // 4))
    return optuna.samplers.TPESampler(seed=a.seed, n_startup_trials=startup, multivariate=True, group=True,
                                      constant_liar=True, warn_independent_sampling=False)


GRID_SAMPLER: Final = "grid"  # asks each point of the space's grid once (the engine counts them)
SAMPLERS: Final[dict[str, SamplerKind]] = {
    "tpe": SamplerKind("TPE", _tpe),
    "random": SamplerKind("random", lambda a: optuna.samplers.RandomSampler(seed=a.seed)),
    # one shuffle of the grid for the whole search: trial n takes its n-th point
    GRID_SAMPLER: SamplerKind("grid", lambda a: GridWalk(a.space.grid(), seed=a.search_seed)),
    "nsga2": SamplerKind("NSGA-II", lambda a: optuna.samplers.NSGAIISampler(
        population_size=max(4, min(50, a.n_trials // 4)), seed=a.seed)),
}
DEFAULT_SAMPLER: Final = "tpe"


# --- pruners ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrunerArgs:
    """What the engine hands every pruner factory."""

    warmup_epochs: int  # epochs a trial trains before it may be pruned (hyperband's minimum resource)
    startup_trials: int  # the median pruner's: trials that finish before it prunes any
    epochs: int  # the base config's: Hyperband's largest resource


@dataclass(frozen=True)
class PrunerKind:
    title: str
    make: Callable[[PrunerArgs], optuna.pruners.BasePruner]
    reads: str = "val_acc"  # what each epoch reports to the trial: its validation accuracy, or its training loss
    time_rungs: bool = False  # whether a search by time rungs may use it (one that ranks mid-training may not)


# a training loss above this (twice a uniform guess's over 10 classes) or not a number: the trial diverged
DIVERGED_LOSS: Final = 2 * math.log(10)


class _TrainedView:
    """The study as a pruner should see it: without the samples that never trained (told complete
    but infeasible, so that the sampler learns the budget — not trials the pruner may count)."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(self, deepcopy: bool = True, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states) if counted(t)]


class TrainedTrialsPruner(optuna.pruners.BasePruner):
    """A pruner that compares a trial with trained trials only (the median pruner's startup
    trials would otherwise count samples over the budget)."""

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self._inner = inner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return self._inner.prune(_TrainedView(study), trial)  # type: ignore[arg-type]  # a view of the study


DIVERGED_PRUNER: Final = "diverged"
PRUNERS: Final[dict[str, PrunerKind]] = {
    "hyperband": PrunerKind("Hyperband", lambda a: optuna.pruners.HyperbandPruner(
        min_resource=max(1, a.warmup_epochs), max_resource=max(a.epochs, a.warmup_epochs + 1), reduction_factor=3)),
    "successive_halving": PrunerKind("successive halving", lambda a: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=max(1, a.warmup_epochs), reduction_factor=3)),
    "median": PrunerKind("median", lambda a: TrainedTrialsPruner(optuna.pruners.MedianPruner(
        n_startup_trials=a.startup_trials, n_warmup_steps=a.warmup_epochs))),
    # stops only what diverged (Optuna's ThresholdPruner on the training loss; NaN is pruned too): the one
    # pruner of a search by time rungs, whose trials anneal to their budget and cannot be ranked mid-way
    DIVERGED_PRUNER: PrunerKind("diverged only", lambda a: optuna.pruners.ThresholdPruner(upper=DIVERGED_LOSS),
                                reads="train_loss", time_rungs=True),
    "none": PrunerKind("none", lambda a: optuna.pruners.NopPruner(), time_rungs=True),
}
DEFAULT_PRUNER: Final = "median"
NO_PRUNER: Final = "none"


# --- objectives ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectiveKind:
    title: str
    column: str  # the run's column it reads (and the trial's field: net_params for params)
    direction: StudyDirection
    infeasible: Callable[[int | None, int | None], float]  # (params, macs) → what a sample that never trained scores


VAL_OBJECTIVE: Final = "maximize val_acc"  # the validation accuracy of the trial's chosen epoch
LEGACY_TEST_OBJECTIVE: Final = "maximize best_test_acc"  # searches stored before the validation split; refused anew
OBJECTIVES: Final[dict[str, ObjectiveKind]] = {
    VAL_OBJECTIVE: ObjectiveKind("maximize validation accuracy", "best_val_acc", StudyDirection.MAXIMIZE,
                                 lambda params, macs: 0.0),
    LEGACY_TEST_OBJECTIVE: ObjectiveKind("maximize best test accuracy (chosen on test: searches from before the "
                                         "validation split only)", "best_test_acc", StudyDirection.MAXIMIZE,
                                         lambda params, macs: 0.0),
    "minimize params": ObjectiveKind("minimize parameters", "params", StudyDirection.MINIMIZE,
                                     lambda params, macs: float(params or 2**31)),
    "minimize macs": ObjectiveKind("minimize MACs", "macs", StudyDirection.MINIMIZE,
                                   lambda params, macs: float(macs or 2**40)),
}


# --- a field that takes one of a registry's names ----------------------------------------------------

def one_of(registry: Mapping[str, object]) -> Callable[[str], str]:
    """A validator refusing a name the registry does not hold, in pydantic's words for a Literal."""
    names = list(registry)
    listed = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}" if len(names) > 1 else repr(names[0])

    def check(value: str) -> str:
        if value not in registry:
            raise ValueError(f"Input should be {listed}, got {value!r}")
        return value

    return check


def enum_schema(registry: Mapping[str, Titled]) -> dict[str, Any]:
    """The JSON schema of a registry's names: an ``enum``, and each name's title."""
    return {"type": "string", "enum": list(registry), "x-titles": {name: kind.title for name, kind in registry.items()}}
