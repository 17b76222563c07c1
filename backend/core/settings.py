"""One settings object, read from the environment (prefix CNNLAB_), shared by backend and worker.

The embedded default needs no variables at all: SQLite file, SQLAlchemy-transport broker on a
SQLite file, everything under ./var. Lab mode sets CNNLAB_DATABASE_URL (PostgreSQL) and
CNNLAB_BROKER_URL (Redis).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.core.statuses import RetentionKeep

ONE_HOUR_S = 3600.0  # the lab's rule, an hour of training at most: TIME_BUDGET_S's default, TrainConfig's, the recipes'


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CNNLAB_", extra="ignore")

    VAR_DIR: Path = Path("var")
    DATA_DIR: Path = Path("data")
    CIFAR10: str = "data/cifar10"  # a torchvision folder, an image-folder tree or a .tar.gz of one
    CACHE_DIR: Path = Path("")  # decoded datasets as uint8 .npz; default VAR_DIR/cache
    CHECKPOINT_DIR: Path = Path("")  # the backend's copies of run checkpoints; default VAR_DIR/checkpoints
    # a run on a GPU writes and uploads its checkpoint at most this often (always after its last epoch
    # and when stopped); 0: after every epoch, as CPU runs always do (their epochs take longer than this)
    CHECKPOINT_EVERY_S: float = 30.0

    PARAM_BUDGET: int = 256_000  # trainable parameters
    TIME_BUDGET_S: float = ONE_HOUR_S  # seconds of training per run

    DATABASE_URL: str = ""  # default: sqlite:///VAR_DIR/cnnlab.db
    BROKER_URL: str = ""  # default: sqla+sqlite:///VAR_DIR/broker.db (kombu's SQLAlchemy transport)
    BACKEND_URL: str = "http://127.0.0.1:8000"  # where workers report
    QUEUE: str = "cnnlab"  # the broker queue runs are sent to
    HOST: str = "127.0.0.1"
    PORT: int = 8000
    BACKEND_PROCESSES: int = 1  # uvicorn worker processes serving PORT (changes cross them through the notifier)

    # identity (backend.identity)
    AUTH: str = ""  # "local" (one local admin, no sign-in; loopback only) or "required"; default: by HOST
    WORKER_TOKEN: str = ""  # the shared worker credential; default: VAR_DIR/worker-token, made on first use
    ALLOWED_HOSTS: str = ""  # Host headers answered, comma-separated; default: the loopback names and HOST
    FORWARDED_ALLOW_IPS: str = ""  # proxies believed for X-Forwarded-For/-Proto (client address, https); default: none
    SESSION_DAYS: float = 14.0  # a browser sign-in lasts this long
    SIGNIN_WINDOW_S: float = 300.0  # failed sign-ins are counted over this window…
    SIGNIN_MAX_FAILURES_PER_USER: int = 5  # …per username at one client address…
    SIGNIN_MAX_FAILURES_PER_USER_ALL_ADDRESSES: int = 50  # …per username from every address…
    SIGNIN_MAX_FAILURES_PER_ADDRESS: int = 100  # …and per client address (every username)
    MAX_ACTIVE_RUNS_PER_USER: int = 100  # queued + running runs of one user; 0: unlimited
    MAX_SEARCH_INFEASIBLE: int = 2000  # samples over the budget one search may draw before it gives up
    MAX_RUNS_PER_REQUEST: int = 64  # runs one request may create (a sweep, a study launch); 0: unlimited

    # bounds (backend.core.limits): checked before any work starts
    MAX_BODY_BYTES: int = 1_048_576  # a request body (JSON, forms); the checkpoint upload has its own
    MAX_CHECKPOINT_BYTES: int = 64 * 1_048_576  # a checkpoint upload; our nets are under 256k parameters
    PREDICT_MAX_FILES: int = 64  # images one classify request may send
    PREDICT_MAX_BYTES: int = 16 * 1_048_576  # a classify request's body (its images, encoded)
    PREDICT_MAX_PIXELS: int = 40_000_000  # an image larger than this is refused before it is decoded
    PREDICT_CACHE_MODELS: int = 8  # onnxruntime sessions kept in memory (one per run), least recently used out
    PREDICT_THREADS: int = 2  # CPU threads each classification may use
    PREDICT_WORKERS: int = 2  # classify requests decoded and run at once (their own threads, off the event loop)
    PREDICT_MAX_IN_FLIGHT: int = 32  # classify requests in flight in one backend process, waiting ones included
    PREDICT_MAX_PER_USER: int = 2  # classify requests of one user in flight at once
    MAX_EVENT_STREAMS_PER_USER: int = 16  # open event streams of one user at once; 0: unlimited
    MAX_EVENT_STREAMS: int = 2000  # open event streams of one backend process, all users; 0: unlimited

    # storage (backend.storage): checkpoints and models on disk, collected by its garbage collector
    RETENTION_DAYS: float | None = Field(None, ge=0)  # finished runs older than this keep RETENTION_KEEP; None: all
    RETENTION_KEEP: RetentionKeep = RetentionKeep.BEST_LAST  # best_last: checkpoints + model; model: the model only
    STORAGE_QUOTA_BYTES: int | None = Field(None, ge=1)  # a user's checkpoints + models; None: no quota
    GC_INTERVAL_S: float = Field(3600.0, gt=0)  # how often each backend process collects (one at a time)

    # notifications (backend.notifications): webhooks, and links in what a user is told
    # hosts webhooks may be sent to, comma-separated: a name or address (a loopback or private one
    # included), name:port, "*.domain" or "*" (any host whose addresses are all public); default: none
    WEBHOOK_ALLOWED_HOSTS: str = ""
    WEBHOOK_RETRY_BASE_S: float = Field(10.0, gt=0)  # the first retry's pause; then x6, x30, x180 (1 min, 5, 30)
    WEBHOOK_MAX_ATTEMPTS: int = Field(5, ge=1, le=20)  # attempts of one delivery before it is failed
    WEBHOOK_TIMEOUT_S: float = Field(10.0, gt=0, le=60)  # one attempt's connect + answer
    MAX_WEBHOOKS_PER_USER: int = Field(10, ge=0)  # 0: none
    PUBLIC_URL: str = ""  # the lab's address in members' browsers (links in webhooks); default: BACKEND_URL

    # the database's connection pool (PostgreSQL; SQLite keeps SQLAlchemy's 5 + 10) and the notifier
    DB_POOL_SIZE: int = 10  # connections kept open by each backend process
    DB_MAX_OVERFLOW: int = 20  # more, opened under load and closed after
    DB_POOL_TIMEOUT_S: float = 30.0  # a request waits this long for a connection, then answers 503
    # carries change notices between backend processes: redis | postgres | local; default: redis when
    # the broker is Redis, else postgres when the database is, else local (one process)
    NOTIFIER: str = ""

    # connections (backend.cli.serve): idle and half-sent ones are closed
    # an idle keep-alive connection is closed this long after its last response: longer than any
    # client's steady interval (a worker's heartbeat), or a request and the close cross on the wire
    KEEPALIVE_S: int = 20
    HEADER_TIMEOUT_S: float = 10.0  # a request's head arrives this soon after the connection opens (or its last reply)
    MAX_CONNECTIONS: int = 4096  # open connections of one process (above MAX_EVENT_STREAMS), then 503; 0: unlimited

    # fault handling
    HEARTBEAT_INTERVAL_S: float = 2.0  # a worker's heartbeat, which also carries cancel requests
    HEARTBEAT_TIMEOUT_S: float = 30.0  # a running run silent this long is requeued to resume
    REAPER_INTERVAL_S: float = 5.0  # how often the backend looks for lost runs and lost messages
    WORKER_PRESENCE_S: float = 15.0  # a worker says it is up this often; unseen for 3 of these, it is shown down
    REQUEUE_GRACE_S: float = 15.0  # a queued run's message may be missing only after this long
    STALL_TIMEOUT_S: float = 900.0  # a worker whose training loop has not moved this long stops heartbeating
    MAX_ATTEMPTS: int = 5  # starts of one run before it is failed
    REPORT_RETRY_MAX_S: float = 30.0  # a worker's longest pause between retries of a report
    # system metrics (worker.system_metrics): one sample of CPU, memory and GPU use this often while training
    SYSTEM_SAMPLE_INTERVAL_S: float = 2.0

    @field_validator("RETENTION_DAYS", "STORAGE_QUOTA_BYTES", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value  # CNNLAB_RETENTION_DAYS= (compose's empty default): none

    @model_validator(mode="after")
    def _defaults_under_var_dir(self) -> Settings:
        var = self.VAR_DIR
        if str(self.CACHE_DIR) in ("", "."):
            self.CACHE_DIR = var / "cache"
        if str(self.CHECKPOINT_DIR) in ("", "."):
            self.CHECKPOINT_DIR = var / "checkpoints"
        if not self.DATABASE_URL:
            self.DATABASE_URL = f"sqlite:///{var / 'cnnlab.db'}"
        if not self.BROKER_URL:
            self.BROKER_URL = f"sqla+sqlite:///{var / 'broker.db'}"
        return self


settings = Settings()
