"""Study, entry, claim and launch bodies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from backend.core.fields import OWNER_HELP, STRICT, UTCDateTime
from backend.runs.schemas import MAX_REPEATS
from backend.studies.conclusions import CLAIM_KINDS

MAX_STUDY_ENTRIES = 64




class Reference(BaseModel):
    """Figures reported elsewhere (the seed report) that an entry's run is set beside."""

    model_config = STRICT

    label: str = Field("seed", max_length=100)
    params: int | None = Field(None, ge=0)
    macs: int | None = Field(None, ge=0)
    train_acc: float | None = Field(None, ge=0.0, le=1.0)
    test_acc: float | None = Field(None, ge=0.0, le=1.0)
    minutes: float | None = Field(None, ge=0.0)
    epochs: int | None = Field(None, ge=1)


class StudyEntry(BaseModel):
    model_config = STRICT

    key: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="unique within the study")
    label: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(description="a run config, as POST /api/runs takes it")
    reference: Reference | None = None
    baseline: str | None = Field(None, description="key of the entry this one varies from")
    group: str | None = Field(None, max_length=64, description="entries of one group are ranked together")
    group_value: int | float | Annotated[str, Field(max_length=64)] | None = None
    # studies with repeats (issue 27, item 7): the entry runs this many times, one run group
    repeats: int = Field(1, ge=1, le=MAX_REPEATS,
                         description="runs of this entry per launch, with seeds seed, seed+1, …: one run group")


def _claim_kind(kind: str) -> str:
    if kind not in CLAIM_KINDS:
        raise ValueError(f"Input should be one of {', '.join(repr(k) for k in CLAIM_KINDS)}")
    return kind


class Claim(BaseModel):
    """A statement the report checks against the runs (backend.studies.conclusions).

    keys: two entries [variant, baseline] for raises/lowers/same/more_overfit/narrows_gap and
    [slower, faster] for slower; one for degrades; one or more for overfits_by and beats; none for
    best_in_group, which names a group. expected: an epoch of 120 (overfits_by), an accuracy
    (beats) or a group value (best_in_group)."""

    model_config = STRICT

    kind: Annotated[str, AfterValidator(_claim_kind)] = Field(
        max_length=32, json_schema_extra={"enum": list(CLAIM_KINDS)},
        description="backend.studies.conclusions.CLAIM_KINDS")
    text: str = Field(min_length=1, max_length=500)
    keys: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_STUDY_ENTRIES,
        description="entries it is about; [variant, baseline] for comparisons")
    group: str | None = Field(None, max_length=64)
    expected: int | float | Annotated[str, Field(max_length=64)] | None = Field(
        None, description="an epoch, a group value or an accuracy")


class StudyCreate(BaseModel):
    model_config = STRICT

    name: str = Field(min_length=1, max_length=200)
    owner: SkipJsonSchema[str | None] = Field(None, min_length=1, max_length=100, description=OWNER_HELP)
    description: str = Field("", max_length=5000)
    entries: list[StudyEntry] | None = Field(None, max_length=MAX_STUDY_ENTRIES, description="run configs")
    run_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(None, max_length=MAX_STUDY_ENTRIES,
                                      description="or: existing runs, whose configs become the entries "
                                                  "and which become the study's first launch")
    claims: list[Claim] = Field(default_factory=list, max_length=64)


class LaunchCreate(BaseModel):
    model_config = STRICT

    owner: SkipJsonSchema[str | None] = Field(None, min_length=1, max_length=100, description=OWNER_HELP)
    epochs_scale: float = Field(1.0, gt=0.0, le=1.0, description="each entry's epochs x this (and its step_epochs "
                                                                  "and early-stopping patience), at least 1")
    data: dict[str, Any] | None = Field(None, description="overrides of the entries' data fields "
                                                          "(source, train_limit, test_limit)")


class LaunchPublic(BaseModel):
    id: int
    study_id: int
    owner: str
    epochs_scale: float
    data_override: dict[str, Any] | None
    created_at: UTCDateTime
    runs: dict[str, int | None]  # entry key → run id (None: the run was deleted); its first repeat's
    run_ids: dict[str, list[int | None]] = Field(description="entry key → its runs' ids, one per repeat")
    finished: int


class StudyPublic(BaseModel):
    id: int
    slug: str | None
    name: str
    owner: str
    description: str
    entries: list[StudyEntry]
    claims: list[Claim]
    created_at: UTCDateTime
    launches: list[LaunchPublic]
    tags: list[str] = Field(default_factory=list)
    note: str | None = Field(None, description="the owner's note, Markdown as written")
    note_html: str = Field("", description="the note rendered as text formatting only")


class StudiesPublic(BaseModel):
    data: list[StudyPublic]


class ReportStudy(BaseModel):
    id: int
    slug: str | None
    name: str
    owner: str
    description: str


class ReportLaunch(BaseModel):
    id: int
    created_at: str = Field(description="ISO 8601, UTC")
    owner: str
    epochs_scale: float
    data_override: dict[str, Any] | None


class ReportColumn(BaseModel):
    name: str = Field(description="the key of the column in each row of table")
    title: str


class ClaimVerdict(BaseModel):
    text: str = Field(description="the claim as stated")
    verdict: str = Field(description="holds | fails | inconclusive | pending | untested")
    detail: str = Field(description="what it read")
    reason: str | None = Field(description="why inconclusive")


class StudyReport(BaseModel):
    """A launch's report (backend.studies.report): the side-by-side table, each repeated entry's
    spread over its seeds, the claims checked, the findings, and every entry's run and series."""

    study: ReportStudy
    launch: ReportLaunch | None = Field(description="None: the study has not been launched")
    quick_version: str | None = Field(description="what the launch scaled down from the study, in words")
    protocol: str | None = Field(description="on which split the runs' choices were made")
    finished: bool = Field(description="every run of the launch has ended: nothing will change any more")
    runs_finished: int
    runs_total: int
    columns: list[ReportColumn]
    table: list[dict[str, Any]] = Field(description="one row per run, keyed by the columns' names")
    groups: list[dict[str, Any]] = Field(description="each repeated entry over its seeds")
    claims: list[ClaimVerdict]
    findings: list[str]
    entries: list[dict[str, Any]] = Field(description="each entry and repeat: its run, series and class report")
