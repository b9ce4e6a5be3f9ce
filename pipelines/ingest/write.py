"""Where imported rows land: bronze files named like a broker's, and the import quarantine.

Bronze files of an import are named ``<run>-0-<first>-<last>.parquet`` under the event's date, where
``run`` identifies the import (a hash of the file and options) and the offsets number the topic's events
in the order written. A re-run of the same import writes the same names; files of the run that a re-run
no longer produces (say, bids that were quarantined the first time because their auction was missing)
are removed after the new ones are in place, so the run's bronze is exactly the latest result.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

import pyarrow as pa

from pipelines.contracts import TOPIC_KEYS, Event, bronze_schema, row_for_parquet
from pipelines.infra.lake import Lake, bronze_file_name, date_partition
from pipelines.ingest.read import Reject

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("import_run", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("format", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
        pa.field("import_time", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)


class BronzeWriter:
    """Writes batches of events per topic; offsets continue across batches; ``finish`` drops stale files."""

    def __init__(self, lake: Lake, run: str, now: dt.datetime) -> None:
        self.lake, self.run, self.now = lake, run, now
        self.counts: dict[str, int] = {}
        self.files: list[str] = []
        self._before: dict[str, set[str]] = {}

    def write(self, topic: str, events: Iterable[Event]) -> None:
        """One batch: sorted by event time, one file per event date."""
        if topic not in self._before:
            found = self.lake.list_files(f"bronze/{topic}")
            self._before[topic] = {p for p in found if os.path.basename(p).startswith(f"{self.run}-")}
        ordered = sorted(events, key=lambda e: (e.event_time, e.event_id))
        first = self.counts.get(topic, 0)
        key = TOPIC_KEYS[topic]
        by_day: dict[dt.date, list[dict[str, object]]] = {}
        for offset, event in enumerate(ordered, start=first):
            row = row_for_parquet(event)
            row.update(_broker_run=self.run, _partition=0, _offset=offset, _key=row[key], _ingest_time=self.now)
            by_day.setdefault(event.event_time.date(), []).append(row)
        for day, rows in sorted(by_day.items()):
            name = bronze_file_name(self.run, 0, _int(rows[0]["_offset"]), _int(rows[-1]["_offset"]))
            table = pa.Table.from_pylist(rows, schema=bronze_schema(topic))
            self.files.append(self.lake.write_parquet(f"bronze/{topic}/{date_partition(day)}/{name}", table))
        self.counts[topic] = first + len(ordered)

    def finish(self) -> None:
        """Remove this run's files from an earlier attempt that this one did not rewrite."""
        written = set(self.files)
        self.lake.remove(sorted(p for paths in self._before.values() for p in paths if p not in written))


def write_quarantine(
    lake: Lake, run: str, source: str, fmt: str, rejects: list[Reject], now: dt.datetime
) -> str | None:
    """Replace this run's quarantine file (``quarantine/import/date=<today>/<run>.parquet``); None if clean."""
    name = f"{run}.parquet"
    lake.remove([p for p in lake.list_files("quarantine/import") if os.path.basename(p) == name])
    if not rejects:
        return None
    rows = [
        {
            "import_run": run,
            "source": os.path.basename(source),
            "format": fmt,
            "row": r.row,
            "rule": r.rule,
            "reason": r.reason,
            "raw": r.raw,
            "import_time": now,
        }
        for r in rejects
    ]
    table = pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)
    return lake.write_parquet(f"quarantine/import/{date_partition(now.date())}/{name}", table)


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value
