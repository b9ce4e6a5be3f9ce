"""Run history: one small Parquet file per finished job attempt, queryable as ``ops.job_runs``.

Layout: ``ops/job_runs/date=YYYY-MM-DD/<run_id>.parquet`` (the date of the attempt's start), each file
one row written atomically (:meth:`pipelines.infra.lake.Lake.write_parquet`), so a reader never sees half a run and
writers never contend for a file. Columns (the contract the dashboards read):

``run_id, job, trigger, scheduled_time, start_time, end_time, status, attempt, rows_in, rows_out, error,
detail`` -- ``trigger`` is ``interval|cron|catchup|manual|retry|after``, ``status`` ``success|failed``,
``attempt`` 1 for a first try, ``error`` one line, ``detail`` JSON (e.g. the days a batch covered).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.infra.lake import Lake, date_partition

TS = pa.timestamp("ms", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("job", pa.string(), nullable=False),
        pa.field("trigger", pa.string(), nullable=False),
        pa.field("scheduled_time", TS),
        pa.field("start_time", TS, nullable=False),
        pa.field("end_time", TS, nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("attempt", pa.int32(), nullable=False),
        pa.field("rows_in", pa.int64(), nullable=False),
        pa.field("rows_out", pa.int64(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("detail", pa.string()),
    ]
)
DIRECTORY = "ops/job_runs"


@dataclass
class JobRun:
    """One finished attempt of a job."""

    job: str
    trigger: str
    start_time: dt.datetime
    end_time: dt.datetime
    status: str
    attempt: int = 1
    rows_in: int = 0
    rows_out: int = 0
    error: str | None = None
    detail: dict[str, Any] | None = None
    scheduled_time: dt.datetime | None = None
    run_id: str = field(default="")
    unrecorded: str | None = None
    """Why the attempt could not be written to the lake (not a column: the lake itself may be what failed)."""

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = f"{self.start_time:%Y%m%dT%H%M%S}-{self.job}-{uuid.uuid4().hex[:8]}"

    def row(self) -> dict[str, Any]:
        detail = json.dumps(self.detail, sort_keys=True, default=str) if self.detail is not None else None
        return {**{name: getattr(self, name) for name in SCHEMA.names if name != "detail"}, "detail": detail}


def record(lake: Lake, run: JobRun) -> str:
    """Persist one attempt; returns the file's path."""
    table = pa.Table.from_pylist([run.row()], schema=SCHEMA)
    return lake.write_parquet(f"{DIRECTORY}/{date_partition(run.start_time.date())}/{run.run_id}.parquet", table)


def read_runs(lake: Lake, job: str | None = None) -> list[dict[str, Any]]:
    """Every recorded attempt (of ``job`` when given) as dicts, oldest first; ``detail`` parsed."""
    lake.fs.invalidate_cache()
    rows: list[dict[str, Any]] = []
    for path in lake.list_files(DIRECTORY):
        with lake.fs.open(path, "rb") as handle:
            table = pq.read_table(handle, schema=SCHEMA)
        rows.extend(table.to_pylist())
    selected = [r for r in rows if job is None or r["job"] == job]
    for row in selected:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return sorted(selected, key=lambda r: (r["start_time"], r["run_id"]))
