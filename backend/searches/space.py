"""A search's space, written in run-option names, checked against their one declaration.

A space maps option names (dotted for nested ones: ``lr``, ``augment.cutout``,
``architecture.pool_at``) to ``{"float": [low, high], "log": bool, "step": x}``,
``{"int": [low, high], "step": n, "log": bool}`` or ``{"choice": [...]}``. Besides the leaf options
of ``backend.training.options``, the network's shape has knobs of its own (:data:`KNOBS`): the number of
stages, convs (or residual blocks) per stage, each stage's width and a width multiplier; they
rebuild the ``stages`` list that a leaf option cannot search.

Every refusal is a :class:`~backend.core.errors.Refused` naming ``space.<key>`` and the
limit. A key that only some families have (``architecture.pool_at``: compact) is sampled only
for trials of those families (Optuna's define-by-run keeps the space conditional).
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import Trial
from pydantic import ValidationError

from backend.architecture import PRESETS, summarize
from backend.architecture.description import FAMILIES, MAX_WIDTH
from backend.core.errors import Refused
from backend.core.settings import settings
from backend.core.validation import describe_errors
from backend.training.config import TrainConfig
from backend.training.options import Option, all_options, set_path

MAX_CHOICES = 64
MAX_GRID_POINTS = 10_000
MAX_STAGES = 5  # a 32x32 input survives five halvings
SIZE_CHECK_COMBOS = 512  # categorical architecture combinations sized before a search starts

# where a trial of a family starts when the base config has another family
FAMILY_START = {"plain": "wide_deep_bn", "compact": "compact", "resnet": "resnet20"}
ALL_FAMILIES = tuple(FAMILIES)


@dataclass(frozen=True)
class Knob:
    """A search-only architecture knob: it rebuilds ``architecture.stages``."""

    name: str
    kind: str  # int | float
    minimum: float
    maximum: float
    help: str
    families: tuple[str, ...] = ALL_FAMILIES


KNOBS: dict[str, Knob] = {k.name: k for k in (
    Knob("architecture.depth", "int", 1, MAX_STAGES, "number of stages (each halves the resolution)"),
    Knob("architecture.convs_per_stage", "int", 1, 8, "3x3 convs in every stage", ("plain", "compact")),
    Knob("architecture.blocks_per_stage", "int", 1, 9, "residual blocks (two convs each) in every stage",
         ("resnet",)),
    *(Knob(f"architecture.width_{i}", "int", 1, 1024, f"width of every conv of stage {i}")
      for i in range(1, MAX_STAGES + 1)),
    Knob("architecture.width_mult", "float", 0.0625, 8.0,
         "multiplies every conv width (after the widths above), rounded, at least 1"),
)}
LAYOUT_KNOBS = ("architecture.depth", "architecture.convs_per_stage", "architecture.blocks_per_stage",
                *(f"architecture.width_{i}" for i in range(1, MAX_STAGES + 1)))
# options a search may not vary: the data decides them, or a knob does it better
NOT_SEARCHABLE = {
    "architecture.stages": "search its shape with architecture.depth, convs_per_stage/blocks_per_stage, "
                           "width_1..width_5 and width_mult",
    "architecture.input_size": "the dataset fixes it", "architecture.in_channels": "the dataset fixes it",
    "architecture.num_classes": "the dataset fixes it", "data.source": "a search trains on one dataset",
}


@dataclass(frozen=True)
class Dimension:
    key: str
    distribution: BaseDistribution
    families: tuple[str, ...] = ALL_FAMILIES  # the networks it applies to
    architectural: bool = False  # it changes the network (and so its size)

    def count(self) -> int:
        """How many values it holds (an unstepped float: its two ends), counted, not listed."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return len(d.choices)
        if isinstance(d, IntDistribution):
            return (d.high - d.low) // d.step + 1
        assert isinstance(d, FloatDistribution)
        return 2 if d.step is None else int(round((d.high - d.low) / d.step)) + 1

    @property
    def low(self) -> Any:
        """Its smallest value (the first choice of a choice)."""
        d = self.distribution
        return d.choices[0] if isinstance(d, CategoricalDistribution) else d.low  # type: ignore[attr-defined]

    def values(self) -> list[Any]:
        """Every value, for the grid sampler (after count() was checked): an unstepped float has
        none but its ends."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return list(d.choices)
        if isinstance(d, IntDistribution):
            return list(range(d.low, d.high + 1, d.step))
        assert isinstance(d, FloatDistribution)
        if d.step is None:
            return [d.low, d.high]
        return [d.low + i * d.step for i in range(self.count())]

    @property
    def discrete(self) -> bool:
        d = self.distribution
        return not (isinstance(d, FloatDistribution) and d.step is None)


@dataclass
class Space:
    dimensions: list[Dimension]
    base: dict[str, Any]  # the base config, checked, as JSON
    families: tuple[str, ...] = field(default_factory=tuple)  # the families its trials can have

    def ordered(self) -> list[Dimension]:
        """The family first: the others are asked only when they apply to it."""
        return sorted(self.dimensions, key=lambda d: d.key != "architecture.family")

    def grid(self) -> dict[str, list[Any]]:
        return {d.key: d.values() for d in self.dimensions}


def _options() -> dict[str, Option]:
    return {o.name: o for o in all_options()}


MAX_MAGNITUDE = 2**63  # larger numbers are no option's value (and would overflow the checks)
MAX_STEPS = 1_000_000  # points of one stepped range


def _number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_MAGNITUDE
    return isinstance(value, float) and math.isfinite(value) and abs(value) <= MAX_MAGNITUDE


def _within(field_name: str, value: float, lo: float | None, hi: float | None, lo_open: bool = False,
            hi_open: bool = False) -> None:
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise Refused(field_name, f"{value:g} is under the option's limit ({'>' if lo_open else '>='} {lo:g})")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        raise Refused(field_name, f"{value:g} is over the option's limit ({'<' if hi_open else '<='} {hi:g})")


def _check_value(field_name: str, opt: Option | Knob, value: Any) -> None:
    """One value the option (or knob) accepts, by its declaration."""
    if isinstance(opt, Option) and opt.nullable and value is None:
        return
    kind = opt.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise Refused(field_name, f"{value!r} is not true or false")
    elif kind == "choice":
        if value not in opt.choices:  # type: ignore[union-attr]  # a Knob is never a choice
            raise Refused(field_name, f"{value!r} is not one of {', '.join(map(str, opt.choices))}")  # type: ignore[union-attr]
    elif kind in ("int", "float"):
        if not _number(value) or (kind == "int" and not isinstance(value, int)):
            raise Refused(field_name, f"{value!r} is not {'an integer' if kind == 'int' else 'a number'}")
        if isinstance(opt, Knob):
            _within(field_name, value, opt.minimum, opt.maximum)
        else:
            _within(field_name, value, opt.minimum, opt.maximum, opt.minimum_exclusive, opt.maximum_exclusive)
    else:
        raise Refused(field_name, f"a {kind} option cannot be searched")


def parse_dimension(key: str, entry: Any, families: tuple[str, ...]) -> Dimension:
    where = f"space.{key}"
    if key in NOT_SEARCHABLE:
        raise Refused(where, f"cannot be searched: {NOT_SEARCHABLE[key]}")
    opt: Option | Knob | None = KNOBS.get(key) or _options().get(key)
    if opt is None:
        raise Refused(where, "is not a run option (see GET /api/searches/space-keys for the names a space may use)")
    applies = opt.families or ALL_FAMILIES  # options of the run (not the network) have no families
    if not set(applies) & set(families):
        raise Refused(where, f"only the {', '.join(applies)} famil{'y has' if len(applies) == 1 else 'ies have'} "
                             f"it; this search's networks are {', '.join(families)}")
    if not isinstance(entry, dict):
        raise Refused(where, 'must be {"float": [low, high]}, {"int": [low, high]} or {"choice": [...]}')
    kinds = [k for k in ("float", "int", "choice") if k in entry]
    allowed_extra = {"float": {"log", "step"}, "int": {"log", "step"}, "choice": set()}
    if len(kinds) != 1:
        raise Refused(where, 'needs exactly one of "float", "int" or "choice"')
    kind = kinds[0]
    extra = set(entry) - {kind} - allowed_extra[kind]
    if extra:
        raise Refused(f"{where}.{sorted(extra)[0]}", f"is not a setting of a {kind} entry")
    architectural = key.startswith("architecture.")
    apply_to = tuple(f for f in applies if f in families)
    if kind == "choice":
        choices = entry["choice"]
        if not isinstance(choices, list) or not choices:
            raise Refused(f"{where}.choice", "needs a list of at least one value")
        if len(choices) > MAX_CHOICES:
            raise Refused(f"{where}.choice", f"{len(choices)} values is over the limit of {MAX_CHOICES}")
        for i, value in enumerate(choices):
            if isinstance(value, list | dict):
                raise Refused(f"{where}.choice[{i}]", "a choice must be a number, text, true/false or null")
            if key == "architecture.family":
                if value not in FAMILIES:
                    raise Refused(f"{where}.choice[{i}]", f"{value!r} is not one of {', '.join(FAMILIES)}")
            else:
                _check_value(f"{where}.choice[{i}]", opt, value)
        if len({repr(v) for v in choices}) != len(choices):
            raise Refused(f"{where}.choice", "lists a value twice")
        return Dimension(key, CategoricalDistribution(choices), apply_to, architectural)
    if opt.kind not in ("int", "float") or (kind == "float" and opt.kind == "int"):
        raise Refused(where, f"a {opt.kind} option takes {{\"choice\": [...]}}"
                      + (' or {"int": [low, high]}' if opt.kind == "int" else ""))
    bounds = entry[kind]
    if not isinstance(bounds, list) or len(bounds) != 2 or not all(_number(b) for b in bounds):
        raise Refused(f"{where}.{kind}", "needs [low, high]: two numbers")
    if kind == "int" and not all(isinstance(b, int) for b in bounds):
        raise Refused(f"{where}.int", "needs two integers")
    low, high = bounds
    if low >= high:
        raise Refused(f"{where}.{kind}", f"[{low:g}, {high:g}] is an empty or inverted range (needs low < high; "
                                         "use choice for a single value)")
    _check_value(f"{where}.{kind}[0]", opt, low)
    _check_value(f"{where}.{kind}[1]", opt, high)
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise Refused(f"{where}.log", "must be true or false")
    if log and low <= 0:
        raise Refused(f"{where}.{kind}", f"a log range needs low > 0, got {low:g}")
    step = entry.get("step")
    if step is not None:
        if not _number(step) or step <= 0 or (kind == "int" and not isinstance(step, int)):
            raise Refused(f"{where}.step", f"must be a positive {'integer' if kind == 'int' else 'number'}")
        if step > high - low:
            raise Refused(f"{where}.step", f"{step:g} is wider than the range ({high - low:g})")
        if log:
            raise Refused(f"{where}.step", "a log range takes no step")
        if (high - low) / step + 1 > MAX_STEPS:
            raise Refused(f"{where}.step", f"{step:g} cuts the range into more than {MAX_STEPS:,} points")
    if kind == "int":
        return Dimension(key, IntDistribution(low, high, log=log, step=step or 1), apply_to, architectural)
    return Dimension(key, FloatDistribution(float(low), float(high), log=log, step=step), apply_to, architectural)


def parse_space(raw: dict[str, Any], base: TrainConfig) -> Space:
    """The space, every entry checked; the base config must already be admitted (checked_config)."""
    if not raw:
        raise Refused("space", "needs at least one option to search")
    family_entry = raw.get("architecture.family")
    families: tuple[str, ...] = (base.architecture.family,)
    if isinstance(family_entry, dict) and isinstance(family_entry.get("choice"), list):
        families = tuple(f for f in family_entry["choice"] if isinstance(f, str) and f in FAMILIES) or families
    dims = [parse_dimension(key, entry, families) for key, entry in raw.items()]
    return Space(dims, base.model_dump(mode="json"), families)


# --- from a trial's parameters to a run's config ------------------------------------------------

def _start(base: dict[str, Any], family: str) -> dict[str, Any]:
    arch = base["architecture"]
    if arch["family"] == family:
        return copy.deepcopy(arch)
    return PRESETS[FAMILY_START[family]].model_dump(mode="json")


def _layout(arch: dict[str, Any], params: dict[str, Any]) -> list[list[int]]:
    stages: list[list[int]] = arch["stages"]
    depth = int(params.get("architecture.depth", len(stages)))
    out = []
    for i in range(depth):
        template = stages[min(i, len(stages) - 1)]
        grown = template[0] * 2 ** max(0, i - len(stages) + 1)  # a stage past the base's doubles the last width
        width = int(params.get(f"architecture.width_{i + 1}", grown if i >= len(stages) else template[0]))
        if arch["family"] == "resnet":
            convs = 2 * int(params["architecture.blocks_per_stage"]) if "architecture.blocks_per_stage" in params \
                else len(template)
        else:
            convs = int(params.get("architecture.convs_per_stage", len(template)))
        same = any(k in params for k in LAYOUT_KNOBS) or arch["family"] == "resnet" or arch.get("residual")
        out.append([width] * convs if same else list(template[:convs]) + [template[-1]] * (convs - len(template)))
    return out


def build_config(space: Space, params: dict[str, Any]) -> dict[str, Any]:
    """The raw config of a trial: the base, its network rebuilt for the sampled family and knobs,
    then every other sampled option set by name."""
    raw = copy.deepcopy(space.base)
    family = str(params.get("architecture.family", raw["architecture"]["family"]))
    arch = _start(raw, family)
    fields = FAMILIES[family].model_fields
    if any(k in params for k in LAYOUT_KNOBS):
        arch["stages"] = _layout(arch, params)
    if "architecture.width_mult" in params:
        mult = float(params["architecture.width_mult"])
        arch["stages"] = [[max(1, min(MAX_WIDTH, round(w * mult))) for w in stage] for stage in arch["stages"]]
    for key, value in params.items():
        name = key.split(".", 1)[1] if key.startswith("architecture.") else None
        if name is None:
            set_path(raw, key, value)
        elif key not in KNOBS and name != "family" and name in fields:
            arch[name] = value
    arch["family"], arch["name"] = family, f"{family}-search"
    raw["architecture"] = arch
    raw["test_each_epoch"] = False  # a trial reads the test set once, at its end: it is chosen on validation
    return raw


@dataclass(frozen=True)
class Sized:
    """A trial's config before it is queued: valid and within the budget, or why not."""

    config: TrainConfig | None
    params: int | None
    macs: int | None
    problem: str | None  # why it can never be accepted (over the budget, or an impossible network)
    violation: float  # > 0: infeasible; how far over the parameter budget (a fraction of it), 1 if invalid


def size(raw: dict[str, Any]) -> Sized:
    try:
        config = TrainConfig.model_validate(raw)
    except ValidationError as exc:
        err = describe_errors(exc)[0]
        return Sized(None, None, None, f"{err['field']}: {err['message']}", 1.0)
    summary = summarize(config.architecture)
    over = summary.total_params - settings.PARAM_BUDGET
    if over > 0:
        return Sized(config, summary.total_params, summary.total_macs,
                     f"{summary.total_params:,} parameters is over the budget of {settings.PARAM_BUDGET:,}",
                     over / settings.PARAM_BUDGET)
    return Sized(config, summary.total_params, summary.total_macs, None, over / settings.PARAM_BUDGET)


def _size_probes(space: Space) -> Iterator[dict[str, Any]]:
    """The smallest point of each categorical combination of the architecture's dimensions: every
    numeric range at its low end (a network only grows with each width, depth and count)."""
    arch = [d for d in space.ordered() if d.architectural]
    categorical = [d for d in arch if isinstance(d.distribution, CategoricalDistribution)]
    lows = {d.key: d.low for d in arch if not isinstance(d.distribution, CategoricalDistribution)}
    combos: list[tuple[Any, ...]] = list(itertools.islice(
        itertools.product(*(d.values() for d in categorical)), SIZE_CHECK_COMBOS * 4))
    if len(combos) > SIZE_CHECK_COMBOS:
        combos = random.Random(0).sample(combos, SIZE_CHECK_COMBOS)
    for combo in combos:
        point = {**lows, **dict(zip((d.key for d in categorical), combo, strict=True))}
        family = point.get("architecture.family", space.base["architecture"]["family"])
        yield {k: v for k, v in point.items()
               if k == "architecture.family" or family in next(d.families for d in arch if d.key == k)}


def check_some_point_fits(space: Space) -> None:
    """Refuse a space in which no network fits the parameter budget (or none is a valid network)."""
    smallest: Sized | None = None
    first_problem = None
    for point in _size_probes(space):
        sized = size(build_config(space, point))
        if sized.problem is None:
            return
        if sized.params is not None and (smallest is None or sized.params < (smallest.params or 0)):
            smallest = sized
        first_problem = first_problem or (point, sized.problem)
    if smallest is not None:
        raise Refused("space", f"every point is over the parameter budget of {settings.PARAM_BUDGET:,}: the "
                               f"smallest network it holds has {smallest.params:,} parameters")
    assert first_problem is not None
    raise Refused("space", f"no point builds a valid network; at {first_problem[0]}: {first_problem[1]}")


def grid_points(space: Space) -> int:
    """How many points the grid sampler would visit; refuses a space it cannot enumerate."""
    for d in space.dimensions:
        if not d.discrete:
            raise Refused(f"space.{d.key}", "the grid sampler takes choice, int and stepped float entries only")
        if set(d.families) != set(space.families):
            raise Refused(f"space.{d.key}", "the grid sampler needs every entry to apply to every family "
                                            f"of the search ({', '.join(space.families)})")
    count = math.prod(d.count() for d in space.dimensions)
    if count > MAX_GRID_POINTS:
        raise Refused("space", f"the grid has {count:,} points, over the limit of {MAX_GRID_POINTS:,}")
    return count


def space_keys() -> list[dict[str, Any]]:
    """Every name a space may use, with kind, limits and families (GET /api/searches/space-keys)."""
    out: list[dict[str, Any]] = []
    for opt in all_options():
        if opt.name in NOT_SEARCHABLE or opt.kind in ("ints", "stages", "text"):
            continue
        out.append({"key": opt.name, "kind": opt.kind, "title": opt.title, "help": opt.help,
                    "minimum": opt.minimum, "maximum": opt.maximum, "choices": list(opt.choices),
                    "families": list(opt.families or ALL_FAMILIES) if opt.name.startswith("architecture.")
                    and opt.name != "architecture.family" else list(ALL_FAMILIES), "knob": False})
    for knob in KNOBS.values():
        out.append({"key": knob.name, "kind": knob.kind, "title": knob.name.split(".")[1].replace("_", " "),
                    "help": knob.help, "minimum": knob.minimum, "maximum": knob.maximum, "choices": [],
                    "families": list(knob.families), "knob": True})
    return out


def _suggest(trial: Trial, dim: Dimension) -> Any:
    d = dim.distribution
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(dim.key, d.choices)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(dim.key, d.low, d.high, step=d.step, log=d.log)
    assert isinstance(d, FloatDistribution)
    return trial.suggest_float(dim.key, d.low, d.high, step=d.step, log=d.log)


def sample(trial: Trial, space: Space) -> dict[str, Any]:
    """The trial's parameters: the family first, then what applies to it (define-by-run)."""
    params: dict[str, Any] = {}
    family = space.base["architecture"]["family"]
    for dim in space.ordered():
        if dim.key == "architecture.family":
            family = params[dim.key] = _suggest(trial, dim)
        elif family in dim.families:
            params[dim.key] = _suggest(trial, dim)
    return params
