"""The one settings object. The only place that reads the environment (and `.env`).

Every field is documented; the README's configuration table is checked against this class by a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.infra.errors import UserError


class Settings(BaseSettings):
    """Runtime configuration, read once from the environment and `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="AUCTION_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    broker_address: str = Field(
        "",
        description="Kafka bootstrap servers (Redpanda, `host:9092`); empty starts the embedded tansu broker.",
    )
    lake_url: str = Field("./data/lake", description="Lake root: a local path or `s3://bucket/prefix`.")
    database_url: SecretStr = Field(
        SecretStr(""), description="PostgreSQL DSN; empty turns the PostgreSQL features off."
    )
    aws_endpoint_url: str = Field(
        "",
        validation_alias=AliasChoices("AWS_ENDPOINT_URL", "aws_endpoint_url"),
        description="S3 endpoint for MinIO or moto; empty means AWS.",
    )
    aws_access_key_id: str = Field(
        "",
        validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
        description="S3 access key id; empty uses the default AWS credential chain.",
    )
    aws_secret_access_key: SecretStr = Field(
        SecretStr(""),
        validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
        description="S3 secret access key.",
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "aws_region"),
        description="S3 region.",
    )
    partitions: int = Field(4, ge=1, le=256, description="Partitions per topic when topics are created.")
    retention_ms: int = Field(
        7 * 24 * 3600 * 1000, ge=60_000, description="`retention.ms` set on every topic at creation."
    )
    consumer_group: str = Field("auction-stream", min_length=1, description="Stream worker consumer group.")
    stream_topology: Literal["two-stage", "one-stage"] = Field(
        "two-stage",
        description="The stream worker's topology: `two-stage` (auction stage, then a bidder stage through an "
        "internal topic keyed by bidder: features exact at any partition count and number of workers) or "
        "`one-stage` (all state per auction partition: per-bidder features see one partition's auctions; the "
        "benchmarks' baseline).",
    )
    state_dir: Path = Field(Path("./data/state"), description="Quix Streams local state directory.")
    runtime_dir: Path = Field(
        Path("./data/run"),
        description="Where a running `python -m app run` records its embedded broker's address for other commands.",
    )
    broker_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Seconds to wait for the broker before giving up with an error."
    )
    broker_outage_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Seconds a running stream worker waits for a broker that went away before it fails.",
    )

    max_message_bytes: int = Field(
        1_000_000,
        ge=100_000,
        le=100_000_000,
        description="Largest record (bytes) the stream worker produces: its producer's `message.max.bytes`; an "
        "output topic's smaller `max.message.bytes` wins. A dead letter over it is cut on the topic (the lake "
        "keeps it whole).",
    )
    refresh_every_s: float = Field(
        300.0, ge=0, description="Seconds between the scheduler's silver+gold refreshes under `run` (0: off)."
    )
    daily_at: str = Field(
        "00:15",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="UTC time (HH:MM) of the daily batch of the previous day under `run`.",
    )
    compaction_every_s: float = Field(
        600.0, ge=0, description="Seconds between compactions of small bronze files under `run` (0: off)."
    )
    compaction_target_mb: float = Field(
        64.0, gt=0, description="Compaction merges contiguous bronze files into files of about this many MB."
    )
    job_retries: int = Field(
        3, ge=0, le=20, description="Retries of a failed scheduled job before it is recorded as failed."
    )
    job_retry_backoff_s: float = Field(
        10.0, ge=0, description="Seconds before a job's first retry; each further retry waits twice as long."
    )
    job_misfire_grace_s: float = Field(
        300.0,
        gt=0,
        description="A scheduled run missed by at most this many seconds still runs (once: missed runs coalesce).",
    )
    stall_after_s: float = Field(
        120.0,
        gt=0,
        description="`python -m app status` reports the stream stalled when messages wait and the consumer group "
        "has committed nothing for this many seconds.",
    )
    status_every_s: float = Field(
        5.0, gt=0, description="Seconds between `run`'s status lines and its `status.json` updates."
    )
    worker_max_restarts: int = Field(
        5, ge=0, description="Quick failures (within a minute of starting) of a stream worker before `run` gives up."
    )

    database_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds to wait for PostgreSQL (connecting, and for a lock when publishing) before failing.",
    )
    extract_every_s: float = Field(
        60.0,
        ge=0,
        description="Seconds between incremental extracts of PostgreSQL users/auctions into bronze under `run` "
        "(0: off; only with AUCTION_DATABASE_URL).",
    )
    extract_lag_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="An extract leaves rows changed in the last this many seconds to the next one, so a "
        "transaction still open at the extract is not skipped.",
    )

    dashboard_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address the dashboards bind to (`dashboard` and `run`); loopback unless set, e.g. `0.0.0.0` "
        "in a container.",
    )
    dashboard_port: int = Field(
        8501, ge=0, le=65535, description="Port of the dashboards (`dashboard` and `run`); 0 picks a free one."
    )

    @field_validator("lake_url")
    @classmethod
    def _lake_scheme(cls, value: str) -> str:
        if "://" in value and not value.startswith(("s3://", "file://", "memory://")):
            raise ValueError("must be a local path, file://, memory:// or s3://bucket/prefix")
        return value.rstrip("/") or "/"

    @field_validator("broker_address")
    @classmethod
    def _broker(cls, value: str) -> str:
        value = value.strip()
        for server in filter(None, value.split(",")):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    def storage_options(self) -> dict[str, object]:
        """fsspec/s3fs options for the lake URL."""
        if not self.lake_url.startswith("s3://"):
            return {}
        opts: dict[str, object] = {"client_kwargs": {"region_name": self.aws_region}}
        if self.aws_endpoint_url:
            opts["endpoint_url"] = self.aws_endpoint_url
        if self.aws_access_key_id:
            opts["key"] = self.aws_access_key_id
            opts["secret"] = self.aws_secret_access_key.get_secret_value()
        return opts


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation error into one line a user can act on."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            env = field.upper() if field.upper().startswith("AWS_") else f"AUCTION_{field.upper()}"
            problems.append(f"{env}={err.get('input')!r}: {err['msg']}")
        raise UserError("bad configuration: " + "; ".join(problems)) from None
