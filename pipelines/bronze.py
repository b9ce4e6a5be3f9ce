"""The bronze sink: every consumed event and every output, in Parquet files named by input offset range.

Exactly once in the lake, on an at-least-once stream (tansu's transactions are unsound):

* Rows are buffered per *input* topic-partition and written at each Quix checkpoint (``flush``), before
  the consumer offsets are committed. A file covers the input offsets ``first..last`` of that buffer and
  is named ``<broker run>-<partition>-<first>-<last>.parquet`` -- in ``bronze/<topic>/date=D/`` for the
  input itself and in ``bronze/bids-scored``, ``bronze/fraud-alerts``, ``bronze/dead-letters`` for what
  those inputs produced (the ``_broker_run/_partition/_offset`` columns of an output row point at the
  input message it came from: lineage, and the key that makes replays land on the same name).
* A file whose range starts at or after the committed offset was written but never committed (the
  worker died between the write and the commit). When a partition's consumption starts (or steps back)
  at offset ``o`` -- which is exactly the committed offset -- the sink deletes that partition's files
  with ``first >= o`` and drops rows it still buffered for it; the replay then writes the range again,
  possibly cut at other offsets. Files with ``last < o`` were committed and are never touched, so each input
  offset is in exactly one file.
* Files are written atomically (:meth:`app.lake.Lake.write_parquet`); the broker run id differs for every
  topic lifetime, so a new embedded broker run never overwrites an earlier run's files.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from quixstreams.sinks import BaseSink

from app.lake import Lake, bronze_file_name, date_partition, parse_bronze_file_name
from pipelines.contracts import bronze_schema

#: input topic -> the bronze tables its messages (and what they produce) land in
DESTINATIONS: dict[str, tuple[str, ...]] = {
    "users": ("users", "dead-letters"),
    "auctions": ("auctions", "dead-letters"),
    "bids": ("bids", "bids-scored", "fraud-alerts", "dead-letters"),
}


class BronzeSink(BaseSink):
    """Buffers bronze rows per input partition; Quix calls :meth:`flush` at every checkpoint."""

    def __init__(self, lake: Lake, runs: Mapping[str, str], max_rows: int = 200_000) -> None:
        super().__init__()
        self.lake = lake
        self.runs = dict(runs)
        self.max_rows = max_rows
        self._schemas = {dest: bronze_schema(dest) for dests in DESTINATIONS.values() for dest in dests}
        self._next: dict[tuple[str, int], int] = {}
        self._first: dict[tuple[str, int], int] = {}
        self._rows: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = {}
        self.files_written = 0

    # ---- called by the pipeline for every input message -------------------------------------------

    def note(self, topic: str, partition: int, offset: int) -> dict[str, list[dict[str, Any]]]:
        """Record that an input offset was consumed; returns the buffers its rows go into.

        A gap or a step back means consumption restarted from the committed offset: clean up first.
        """
        tp = (topic, partition)
        expected = self._next.get(tp)
        if expected is None or offset < expected:  # (re)start or replay from the committed offset
            self._restart(topic, partition, offset)
        elif offset > expected:  # a gap (control records) or a partition handed back: keep what we hold
            self.remove_uncommitted(topic, partition, offset)
        self._next[tp] = offset + 1
        buffers = self._rows.get(tp)
        if buffers is None:
            self._first[tp] = offset
            buffers = self._rows[tp] = defaultdict(list)
        return buffers

    def _restart(self, topic: str, partition: int, offset: int) -> None:
        tp = (topic, partition)
        self._rows.pop(tp, None)
        self._first.pop(tp, None)
        self.remove_uncommitted(topic, partition, offset)

    def remove_uncommitted(self, topic: str, partition: int, offset: int) -> list[str]:
        """Delete this input partition's files that start at or after ``offset`` (never committed)."""
        run = self.runs[topic]
        stale = []
        for dest in DESTINATIONS[topic]:
            pattern = self.lake.path("bronze", dest, "date=*", f"{run}-{partition}-*.parquet")
            for path in self.lake.fs.glob(pattern):
                _, part, first, _ = parse_bronze_file_name(path)
                if part == partition and first >= offset:
                    stale.append(path)
        self.lake.remove(stale)
        return stale

    def full(self, topic: str, partition: int) -> bool:
        buffers = self._rows.get((topic, partition))
        return buffers is not None and sum(map(len, buffers.values())) >= self.max_rows

    # ---- Quix sink protocol -----------------------------------------------------------------------

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - rows come through note()
        raise NotImplementedError("BronzeSink is fed by the pipeline through note(), not sdf.sink()")

    def flush(self) -> None:
        """Write every buffered input range (all its destinations); called before offsets are committed."""
        for tp in list(self._rows):
            self.flush_partition(*tp)

    def flush_partition(self, topic: str, partition: int) -> None:
        tp = (topic, partition)
        buffers = self._rows.pop(tp, None)
        first = self._first.pop(tp, None)
        if buffers is None or first is None:
            return
        last = self._next[tp] - 1
        name = bronze_file_name(self.runs[topic], partition, first, last)
        for dest, rows in buffers.items():
            by_day: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_day[row["event_time"].date()].append(row)
            for day, day_rows in sorted(by_day.items()):
                table = pa.Table.from_pylist(day_rows, schema=self._schemas[dest])
                self.lake.write_parquet(f"bronze/{dest}/{date_partition(day)}/{name}", table)
                self.files_written += 1

    def on_paused(self) -> None:
        """Backpressure: Quix seeks back to the committed offsets, so drop what was buffered."""
        self._rows.clear()
        self._first.clear()
        self._next.clear()
