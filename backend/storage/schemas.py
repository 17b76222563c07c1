"""Storage bodies: a user's and the lab's disk use, and what a garbage collection removed."""

from __future__ import annotations

from pydantic import BaseModel, Field

from backend.core.fields import UTCDateTime
from backend.core.statuses import RetentionKeep, RunStatus


class RunStorage(BaseModel):
    id: int
    name: str
    status: RunStatus
    finished_at: UTCDateTime | None
    checkpoint_bytes: int = Field(description="its best and last checkpoints")
    model_bytes: int = Field(description="its exported ONNX model")
    total_bytes: int


class UserStorage(BaseModel):
    username: str
    runs: int = Field(description="runs holding checkpoints or a model")
    total_bytes: int
    quota_bytes: int | None = Field(description="the user's storage quota (None: none)")


class MyStorage(UserStorage):
    checkpoint_bytes: int
    model_bytes: int
    quota_source: str | None = Field(description="where the quota comes from: the user's own (set by an admin) or "
                                                 "CNNLAB_STORAGE_QUOTA_BYTES")


class LabStorage(BaseModel):
    total_bytes: int = Field(description="every run's checkpoints and models, as their rows record them")
    disk_total_bytes: int = Field(description="the disk holding the artefact folder (CNNLAB_CHECKPOINT_DIR)")
    disk_free_bytes: int
    retention_days: float | None = Field(description="CNNLAB_RETENTION_DAYS (None: everything is kept)")
    retention_keep: RetentionKeep = Field(description="CNNLAB_RETENTION_KEEP: what an old finished run keeps")


class StoragePublic(BaseModel):
    me: MyStorage
    runs: list[RunStorage] = Field(description="the caller's largest runs, largest first")
    lab: LabStorage
    users: list[UserStorage] | None = Field(description="admins only: every user holding artefacts, most first")


MAX_LISTED_FILES = 1000


class Collected(BaseModel):
    trimmed_runs: list[int] = Field(description="runs whose checkpoints the retention removed (their model kept)")
    removed_files: int
    freed_bytes: int
    files: list[str] = Field(description=f"the files removed (the first {MAX_LISTED_FILES})")
