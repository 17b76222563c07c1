"""Searches driven by Optuna's ask-and-tell from the backend, which already sees every epoch.

* :func:`create` checks the body (space, objectives, limits, that some network fits the budget),
  makes the search row and its Optuna study, then :func:`advance`.
* :func:`advance` is the one step that moves a search: it tells Optuna how finished trial runs
  ended (complete with their objectives, pruned, failed), then asks for new trials until
  ``max_concurrent`` are queued or running. A sampled network over the parameter budget (or one
  that cannot be built) is sized without torch, never queued, and told to Optuna as complete but
  infeasible (``Trial.set_constraint``), so the sampler learns where the boundary is. It runs
  after a trial's run finishes, on every reaper tick (so a restarted backend carries on), and
  after stop/resume; a lock per search (an advisory lock on PostgreSQL, a thread lock on SQLite's
  one backend process) keeps two from asking at once.
* :func:`epochs_recorded` reports each recorded epoch's validation accuracy (or, for the ``diverged``
  pruner, its training loss) to the trial and asks the pruner; a pruned run is asked (with its
  heartbeat answer) to stop, and ends ``pruned``.

A search by **time rungs** (``rungs_s``, e.g. 150 → 450 → 900 s) is successive halving with fresh
re-runs: each Optuna trial trains its config planned by the first rung's budget (annealed to it); as
the trials of a rung finish, the best ``promote_fraction`` of them (asynchronously, as ASHA does: the
top ⌊n·fraction⌋ of the n finished so far) train again as **new runs** planned by the next rung's
budget — not continued from a half-annealed run — carrying the trial's number and their ``rung``.
Optuna is told each trial's first-rung result (every trial at the same fidelity, so its sampler
compares like with like); the search's best is chosen among the runs of the highest rung reached.
Only the ``diverged`` pruner (or none) applies: a trial annealed to its budget cannot be ranked mid-way.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from backend.core import events
from backend.core.db import SessionLocal, engine
from backend.core.errors import Conflict, QuotaExceeded, Refused
from backend.core.settings import settings
from backend.core.statuses import ACTIVE_STATUSES, FINISHED_STATUSES, TRAINED_STATUSES, RunStatus, SearchStatus
from backend.core.tables import Run, Search, User, utcnow
from backend.notifications import service as notifications
from backend.runs import admission
from backend.runs import service as run_service
from backend.searches.registries import (
    DIVERGED_LOSS,
    GRID_SAMPLER,
    LEGACY_TEST_OBJECTIVE,
    NO_PRUNER,
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    VAL_OBJECTIVE,
    PrunerArgs,
    SamplerArgs,
    counted,
    trial_seed,
)
from backend.searches.rungs import Rung, promotions, rung_config
from backend.searches.schemas import SearchCreate
from backend.searches.space import (
    Dimension,
    Space,
    build_config,
    check_some_point_fits,
    grid_points,
    parse_space,
    sample,
    size,
)
from backend.searches.storage import storage
from backend.training.config import TrainConfig

log = logging.getLogger("cnnlab.searches")
CONSTRAINT = "params_over_budget"  # > 0: infeasible (how far over, as a fraction of the budget)
SAME_VALIDATION = "every trial is judged on the same validation images; set it in base_config"
UNSEARCHABLE = {  # options a search never varies, and why
    "data.holdout": SAME_VALIDATION, "data.holdout_seed": SAME_VALIDATION,
    "test_each_epoch": "every trial reads the test set once, at its end (its epochs are chosen on validation)",
}
MAX_ASKS_PER_STEP = 25  # samples one advance may draw (infeasible ones are cheap, not free); the next tick goes on
_ADVISORY_BASE = 0x636E6E00  # 'cnn\0': advisory lock keys of searches
_locks_guard = threading.Lock()
_locks: dict[int, threading.Lock] = {}


@dataclass(frozen=True)
class Loaded:
    """A search with what every step needs: its body, space and Optuna study."""

    search: Search
    spec: SearchCreate
    space: Space
    study: optuna.Study


def directions(objectives: Sequence[str]) -> list[StudyDirection]:
    """Optuna's direction of each objective ("maximize val_acc" → maximize)."""
    return [OBJECTIVES[o].direction for o in objectives]


def spec_of(search: Search) -> SearchCreate:
    return SearchCreate.model_validate(search.spec)


def make_sampler(spec: SearchCreate, space: Space, number: int) -> optuna.samplers.BaseSampler:
    """A sampler for the trial ``number``: seeded from the search's seed and the trial number, so a
    search asks the same way whichever backend process asks (and after a restart)."""
    return SAMPLERS[spec.sampler].make(SamplerArgs(seed=trial_seed(spec.seed, number), search_seed=spec.seed,
                                                   n_trials=spec.n_trials, space=space))


def make_pruner(spec: SearchCreate, epochs: int) -> optuna.pruners.BasePruner:
    """The search's pruner; ``epochs``: the base config's, Hyperband's largest resource."""
    return PRUNERS[spec.pruner].make(PrunerArgs(warmup_epochs=spec.pruner_warmup_epochs,
                                                startup_trials=spec.pruner_startup_trials, epochs=epochs))


def load(search: Search) -> Loaded:
    spec = spec_of(search)
    # admitted when the search was made; each trial is checked against the lab's rules of its day
    base = TrainConfig.model_validate(spec.base_config)
    space = parse_space(spec.space, base)
    return Loaded(search, spec, space, open_study(search, spec, base.epochs))


def open_study(search: Search, spec: SearchCreate, epochs: int) -> optuna.Study:
    """The search's Optuna study with its pruner (the sampler is set per trial: make_sampler)."""
    return optuna.load_study(study_name=search.optuna_name, storage=storage(), pruner=make_pruner(spec, epochs))


# --- creating ------------------------------------------------------------------------------------

def check_body(body: SearchCreate) -> Space:
    """Every refusal of a search before anything is made: 422s naming the field and the limit."""
    base = admission.checked_config(body.base_config, "base_config")
    if body.objectives[0] == LEGACY_TEST_OBJECTIVE:
        raise Refused("objectives[0]", f"'{LEGACY_TEST_OBJECTIVE}' chooses trials on the test set; a "
                                                 f"search maximizes '{VAL_OBJECTIVE}' (held-out training images)")
    if not base.data.holdout:
        raise Refused("base_config.data.holdout", "a search chooses among its trials on validation images: "
                                                             "hold out at least 1 (the default is 5,000)")
    for key, why in UNSEARCHABLE.items():
        if key in body.space:
            raise Refused(f"space.{key}", f"cannot vary: {why}")
    space = parse_space(body.space, base)
    check_some_point_fits(space)
    check_rungs(body)
    if len(body.objectives) > 1 and body.pruner != NO_PRUNER:
        raise Refused("pruner", "a search of two objectives cannot prune (Optuna's pruners compare one "
                                          "objective epoch by epoch); use pruner 'none'")
    if body.sampler == GRID_SAMPLER:
        points = grid_points(space)
        if body.n_trials > points:
            raise Refused("n_trials", f"{body.n_trials} is more than the grid's {points} points")
        for i, point in enumerate(body.initial_points):
            missing = sorted(set(body.space) - set(point))
            if missing:
                raise Refused(f"initial_points[{i}]", f"the grid sampler needs every key; {missing[0]} "
                                                                "is missing")
    quota = settings.MAX_ACTIVE_RUNS_PER_USER
    if quota and body.max_concurrent > quota:
        raise Refused("max_concurrent", f"{body.max_concurrent} is over the lab's quota of {quota} queued "
                                                  "or running runs per user (CNNLAB_MAX_ACTIVE_RUNS_PER_USER)")
    for i, point in enumerate(body.initial_points):
        dims = {d.key: d for d in space.dimensions}
        for key, value in point.items():
            dim = dims.get(key)
            if dim is None:
                raise Refused(f"initial_points[{i}].{key}", "is not a key of the space")
            if not _contains(dim, value):
                raise Refused(f"initial_points[{i}].{key}", f"{value!r} is outside the space's entry")
        sized = size(build_config(space, point))  # the keys it leaves out at base_config's values
        if sized.problem is not None:
            raise Refused(f"initial_points[{i}]", sized.problem)
    return space


def check_rungs(body: SearchCreate) -> None:
    """Time rungs: increasing, within the lab's time budget, with a pruner that does not rank mid-way."""
    if not body.rungs_s:
        return
    for i, seconds in enumerate(body.rungs_s):
        if seconds > settings.TIME_BUDGET_S:
            raise Refused(f"rungs_s[{i}]", f"{seconds:g} s is over the lab's time budget of "
                                           f"{settings.TIME_BUDGET_S:g} s (CNNLAB_TIME_BUDGET_S)")
        if i and seconds <= body.rungs_s[i - 1]:
            raise Refused(f"rungs_s[{i}]", f"{seconds:g} s must be longer than rungs_s[{i - 1}] "
                                           f"({body.rungs_s[i - 1]:g} s): each rung trains longer than the last")
    if not PRUNERS[body.pruner].time_rungs:
        allowed = " or ".join(repr(k) for k, v in PRUNERS.items() if v.time_rungs)
        raise Refused("pruner", f"a search by time rungs anneals each trial to its budget, so it cannot be ranked "
                                f"mid-way: use {allowed}")


def _contains(dim: Dimension, value: Any) -> bool:
    """Whether the entry holds the value, its step included (Optuna's own check)."""
    d = dim.distribution
    if isinstance(d, CategoricalDistribution):
        return any(value == c and type(value) is type(c) for c in d.choices)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(d, IntDistribution) and not isinstance(value, int):
        return False
    try:
        return bool(d._contains(d.to_internal_repr(value)))  # noqa: SLF001 - the distribution's own test
    except (ValueError, TypeError, OverflowError):
        return False


def create(session: Session, owner: User, body: SearchCreate) -> Search:
    check_body(body)
    run_service.check_quotas(session, owner, 1)  # an owner at the quota gets 429 now, not a search that waits
    session.rollback()  # let go of the owner's row (PostgreSQL): the search's trials take it again one by one
    name = f"cnnlab-{uuid.uuid4().hex}"
    # the study (with its initial points) exists before the search does: a reaper tick can never
    # find a running search without its study, nor ask before the initial points are queued
    study = optuna.create_study(study_name=name, storage=storage(), directions=directions(body.objectives))
    for point in body.initial_points:
        study.enqueue_trial(point)
    search = Search(name=body.name, owner=owner, status=SearchStatus.RUNNING,
                    spec=body.model_dump(mode="json", exclude={"owner"}), optuna_name=name)
    try:
        session.add(search)
        session.commit()
    except Exception:
        optuna.delete_study(study_name=name, storage=storage())
        raise
    study.set_user_attr("cnnlab_search_id", search.id)
    advance(search.id)
    session.refresh(search)
    return search


# --- moving a search on ----------------------------------------------------------------------------

@contextlib.contextmanager
def locked(search_id: int) -> Iterator[None]:
    """One advance of a search at a time: across threads here, and across backend processes on
    PostgreSQL (an advisory lock)."""
    with _locks_guard:
        lock = _locks.setdefault(search_id, threading.Lock())
    with lock:
        if engine.dialect.name != "postgresql":
            yield
            return
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_BASE + search_id})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_BASE + search_id})
                conn.commit()


def search_runs(session: Session, search_id: int) -> list[Run]:
    """Every run of the search: its trials' own, and with time rungs their promotions."""
    return list(session.scalars(select(Run).where(Run.search_id == search_id).order_by(Run.id)).all())


def own_runs(runs: Sequence[Run]) -> dict[int, Run]:
    """Each Optuna trial's own run among ``runs`` (with time rungs: its first rung's), by trial number."""
    return {r.trial_number: r for r in runs if r.trial_number is not None and not r.rung}


def trial_runs(session: Session, search_id: int) -> dict[int, Run]:
    return own_runs(search_runs(session, search_id))


def rung_view(runs: Sequence[Run], objective_column: str) -> list[Rung]:
    return [Rung(r.trial_number, r.rung, _value(r, objective_column), r.status in ACTIVE_STATUSES, r.params)
            for r in runs if r.trial_number is not None and r.rung is not None]


def _value(run: Run, column: str) -> float | None:
    value = getattr(run, column)
    return float(value) if run.status in TRAINED_STATUSES and value is not None else None


def objective_values(run: Run, objectives: Sequence[str]) -> list[float] | None:
    values = [getattr(run, OBJECTIVES[o].column) for o in objectives]
    return None if any(v is None for v in values) else [float(v) for v in values]


def tell_finished(study: optuna.Study, trial: FrozenTrial, run: Run, objectives: Sequence[str]) -> None:
    """How a trial's run ended, told once: succeeded or timed out → complete with its objectives;
    pruned → pruned (Optuna keeps its last reported epoch); failed, cancelled → failed."""
    values = objective_values(run, objectives)
    if run.status == RunStatus.CANCELLED and run.started_at is None:  # never trained (a stop): not a trial
        never_trained(study, trial, "cancelled before it started")
        study.enqueue_trial(trial.params)  # its point is asked again first when the search resumes
        return
    if run.status in TRAINED_STATUSES and values is not None:
        study.tell(trial.number, values, skip_if_finished=True)
    elif run.status == RunStatus.PRUNED:
        study.tell(trial.number, state=TrialState.PRUNED, skip_if_finished=True)
    else:
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def _infeasible_values(objectives: Sequence[str], params: int | None, macs: int | None) -> list[float]:
    return [OBJECTIVES[o].infeasible(params, macs) for o in objectives]


def _ask_one(session: Session, loaded: Loaded, owner: User) -> bool:
    """Ask Optuna for one trial and queue it (True), or tell it infeasible (False)."""
    search, spec, space, study = loaded.search, loaded.spec, loaded.space, loaded.study
    study.sampler = make_sampler(spec, space, len(study.get_trials(deepcopy=False)))
    trial = study.ask()
    params = sample(trial, space)
    raw = build_config(space, params)
    sized = size(rung_config(raw, spec.rungs_s, 0) if spec.rungs_s else raw)
    problem, config = sized.problem, sized.config
    if problem is None and config is not None:
        try:
            config = admission.checked_config(config, "trial")
        except Refused as exc:
            problem = str(exc)
    # > 0 for every sample that can never train: how far over the budget, or 1 (another rule)
    trial.set_constraint(CONSTRAINT, sized.violation if problem is None or sized.violation > 0 else 1.0)
    trial.set_user_attr("net_params", sized.params)
    trial.set_user_attr("macs", sized.macs)
    if problem is not None or config is None:
        trial.set_user_attr("problem", problem or "not a valid config")
        study.tell(trial, _infeasible_values(spec.objectives, sized.params, sized.macs))
        search.infeasible += 1
        session.commit()
        return False

    def link(group: Search, runs: list[Run]) -> None:
        for run in runs:
            run.search_id, run.trial_number = group.id, trial.number
            run.rung = 0 if spec.rungs_s else None

    try:
        _, runs = admission.admit(session, owner, [admission.Planned(config, f"{search.name} #{trial.number}"[-200:])],
                                  search, link)
    except QuotaExceeded as exc:
        session.rollback()
        trial.set_user_attr("not_queued", exc.message)
        study.tell(trial, state=TrialState.FAIL)
        raise
    trial.set_user_attr("run_id", runs[0].id)
    return True


def _promote(session: Session, loaded: Loaded, owner: User, source: Run, rung: int) -> None:
    """A fresh run of ``source``'s config planned by rung ``rung``'s budget (a new schedule annealed to
    it, from new weights), carrying the trial's number."""
    search, spec = loaded.search, loaded.spec
    config = admission.checked_config(rung_config(source.config, spec.rungs_s, rung), "promotion")

    def link(group: Search, runs: list[Run]) -> None:
        for run in runs:
            run.search_id, run.trial_number, run.rung = group.id, source.trial_number, rung

    name = f"{search.name} #{source.trial_number} · rung {rung + 1} ({spec.rungs_s[rung]:g} s)"
    admission.admit(session, owner, [admission.Planned(config, name[-200:])], search, link)


def pending_promotions(loaded: Loaded, runs: Sequence[Run]) -> list[tuple[Run, int]]:
    """Among the search's ``runs`` (search_runs), those to train again at the next rung, best first
    (none without rungs)."""
    spec = loaded.spec
    if not spec.rungs_s:
        return []
    column = OBJECTIVES[spec.objectives[0]].column
    by_key = {(r.trial_number, r.rung): r for r in runs}
    return [(by_key[(trial, rung - 1)], rung)
            for trial, rung in promotions(rung_view(runs, column), len(spec.rungs_s), spec.promote_fraction)]


def advance(search_id: int) -> None:
    """Tell what finished, ask for what is missing, and mark the search completed when it is."""
    with locked(search_id), SessionLocal() as session:
        search = session.get(Search, search_id)
        if search is None:
            return
        loaded = load(search)
        study, spec = loaded.study, loaded.spec
        runs = trial_runs(session, search.id)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            run = runs.get(trial.number)
            if run is None:  # asked, but its run was never made (a crash in between): it never trained
                never_trained(study, trial, "its run was never queued")
            elif run.status in FINISHED_STATUSES:
                tell_finished(study, trial, run, spec.objectives)
        note = None
        if search.status == SearchStatus.RUNNING:
            note = _fill(session, loaded, runs)
        trials = study.get_trials(deepcopy=False)
        every = search_runs(session, search.id)
        active = sum(1 for r in every if r.status in ACTIVE_STATUSES)
        asked = sum(1 for t in trials if counted(t))
        exhausted = search.infeasible >= settings.MAX_SEARCH_INFEASIBLE or (
            spec.sampler == GRID_SAMPLER and grid_done(trials, grid_points(loaded.space)))
        if (search.status == SearchStatus.RUNNING and active == 0 and (asked >= spec.n_trials or exhausted)
                and not pending_promotions(loaded, every)):
            search.status, search.finished_at = SearchStatus.COMPLETED, utcnow()
            if exhausted and asked < spec.n_trials:
                why = ("every point of the grid was asked" if spec.sampler == GRID_SAMPLER else
                       f"{search.infeasible} samples were over the budget (CNNLAB_MAX_SEARCH_INFEASIBLE)")
                note = f"ended: {why}; {asked} of {spec.n_trials} trials trained"
            notifications.search_ended(session, search)
        if note != search.note:
            search.note = note
        session.commit()
    events.search_changed(search_id)


def never_trained(study: optuna.Study, trial: FrozenTrial, why: str) -> None:
    """Told failed, and marked so that it does not count toward n_trials (it never trained)."""
    study._storage.set_trial_user_attr(trial._trial_id, "not_queued", why)  # noqa: SLF001 - Optuna's own storage
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def grid_done(trials: Sequence[FrozenTrial], total: int) -> bool:
    """Whether every point of the grid has been asked: the grid ids of the trials that were (or are
    being) tried, plus the points given by hand (initial points, or a point asked again after a
    stop), none still waiting."""
    tried = [t for t in trials if t.state != TrialState.WAITING and "not_queued" not in t.user_attrs]
    ids = {t.system_attrs["grid_id"] for t in tried if "grid_id" in t.system_attrs}
    by_hand = sum(1 for t in tried if "grid_id" not in t.system_attrs)
    return not any(t.state == TrialState.WAITING for t in trials) and len(ids) + by_hand >= total


def _fill(session: Session, loaded: Loaded, runs: dict[int, Run]) -> str | None:
    """Ask until max_concurrent trials are queued or running (or n_trials asked); why it stopped
    short, when it did."""
    search, spec, study = loaded.search, loaded.spec, loaded.study
    owner = session.get_one(User, search.owner_id)
    every = search_runs(session, search.id)
    active = sum(1 for r in every if r.status in ACTIVE_STATUSES)
    # promotions first: the runs of a higher rung decide the search; new trials fill what is left
    for source, rung in pending_promotions(loaded, every):
        if active >= spec.max_concurrent:
            return None
        try:
            run_service.check_quotas(session, owner, 1)
            session.rollback()
            _promote(session, loaded, owner, source, rung)
        except QuotaExceeded as exc:
            session.rollback()
            return f"waiting: {exc.message}"
        active += 1
    asked = sum(1 for t in study.get_trials(deepcopy=False) if counted(t))
    grid_total = grid_points(loaded.space) if spec.sampler == GRID_SAMPLER else None
    for _ in range(MAX_ASKS_PER_STEP):
        if active >= spec.max_concurrent or asked >= spec.n_trials:
            return None
        if search.infeasible >= settings.MAX_SEARCH_INFEASIBLE:
            return None
        if grid_total is not None and grid_done(study.get_trials(deepcopy=False), grid_total):
            return None  # every point of the grid was asked
        try:
            run_service.check_quotas(session, owner, 1)  # before asking: a point is never spent on a refusal
            session.rollback()
            queued = _ask_one(session, loaded, owner)
        except QuotaExceeded as exc:
            session.rollback()
            return f"waiting: {exc.message}"
        active += queued
        asked += queued
    return None


def advance_all() -> None:
    """Every running search, one step (the reaper's tick: a restarted backend carries on)."""
    with SessionLocal() as session:
        ids = session.scalars(select(Search.id).where(Search.status == SearchStatus.RUNNING)).all()
    for search_id in ids:
        try:
            advance(search_id)
        except Exception:  # noqa: BLE001 - one broken search must not stop the others
            log.exception("search %s: advance failed", search_id)


# --- epochs, pruning ---------------------------------------------------------------------------------

def epochs_recorded(session: Session, run: Run, epochs: Sequence[tuple[int, float, float]]) -> None:
    """Report each newly recorded epoch (epoch, validation accuracy, training loss) to the run's trial —
    its accuracy, or its loss for a pruner that reads the loss — and ask its pruner; when it says prune,
    the run is asked to stop (its heartbeat answer carries it) and ends pruned. A promoted run (time
    rungs) has no trial of its own: the diverged pruner's rule is checked on it directly."""
    if run.search_id is None or run.trial_number is None or run.status != RunStatus.RUNNING:
        return
    search = session.get(Search, run.search_id)
    if search is None:
        return
    spec = spec_of(search)
    kind = PRUNERS[spec.pruner]
    if run.rung:
        if kind.reads == "train_loss" and any(not loss <= DIVERGED_LOSS for _, _, loss in epochs):
            _ask_to_prune(session, search, run, max(e for e, _, _ in epochs))
        return
    if len(spec.objectives) > 1:  # Optuna keeps no epoch values for two objectives (nor prunes them)
        return
    study = open_study(search, spec, TrainConfig.model_validate(spec.base_config).epochs)
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(  # noqa: SLF001 - Optuna's storage
        study._study_id, run.trial_number)  # noqa: SLF001
    frozen = study._storage.get_trial(trial_id)  # noqa: SLF001
    if frozen.state != TrialState.RUNNING:
        return
    trial = optuna.Trial(study, trial_id)
    for epoch, accuracy, loss in epochs:
        if epoch not in frozen.intermediate_values:
            trial.report(loss if kind.reads == "train_loss" else accuracy, epoch)
    if trial.should_prune():
        _ask_to_prune(session, search, run, max(e for e, _, _ in epochs))


def _ask_to_prune(session: Session, search: Search, run: Run, epoch: int) -> None:
    if run.prune_requested:
        return
    session.execute(update(Run).where(Run.id == run.id, Run.status == RunStatus.RUNNING).values(prune_requested=True))
    session.commit()
    log.info("search %s: trial %s (run %s, rung %s) pruned after epoch %s", search.id, run.trial_number, run.id,
             run.rung, epoch)
    events.changed(run.id)


# --- stop, resume, delete --------------------------------------------------------------------------------

def stop(session: Session, search: Search, by: User) -> None:
    """No new trials; its queued and running trials are cancelled (told failed once they end)."""
    if search.status != SearchStatus.RUNNING:
        raise Conflict(f"search {search.id} is {search.status}; only a running search can be stopped")
    search.status, search.note = SearchStatus.STOPPED, f"stopped by {by.username}"
    search.finished_at = utcnow()  # when it stopped (resume clears it)
    notifications.search_ended(session, search)
    session.commit()
    cancel_trials(session, search, by)
    advance(search.id)


def cancel_trials(session: Session, search: Search, by: User) -> None:
    """Cancel the search's queued and running runs, promotions included (one that ended meanwhile is left be)."""
    for run in search_runs(session, search.id):
        if run.status in ACTIVE_STATUSES:
            with contextlib.suppress(Conflict):
                run_service.cancel(session, run, by)
            events.changed(run.id)


def resume(session: Session, search: Search) -> None:
    if search.status == SearchStatus.RUNNING:
        raise Conflict(f"search {search.id} is already running")
    spec = spec_of(search)
    asked = sum(1 for t in load(search).study.get_trials(deepcopy=False) if counted(t))
    if asked >= spec.n_trials and search.status == SearchStatus.COMPLETED:
        raise Conflict(f"search {search.id} has run all its {spec.n_trials} trials")
    search.status, search.note, search.finished_at = SearchStatus.RUNNING, None, None
    session.commit()
    advance(search.id)


def delete(session: Session, search: Search, by: User) -> None:
    """The search and its Optuna study; its runs stay (ordinary runs: deleted one by one), cancelled
    first if they were still queued or running."""
    cancel_trials(session, search, by)
    name = search.optuna_name
    with locked(search.id):
        session.execute(update(Run).where(Run.search_id == search.id).values(search_id=None))
        session.delete(search)
        session.commit()
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=storage())
    events.search_changed(search.id)
