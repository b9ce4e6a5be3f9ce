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
* Files are written atomically (:meth:`pipelines.infra.lake.Lake.write_parquet`); the broker run id differs for every
  topic lifetime, so a new embedded broker run never overwrites an earlier run's files.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from quixstreams.sinks import BaseSink

from pipelines.contracts import TOPIC_KEYS, TOPIC_MODELS, arrow_schema, bronze_schema
from pipelines.infra.lake import Lake, bronze_file_name, date_partition, parse_bronze_file_name

#: input topic -> the bronze tables its messages (and what they produce) land in
DESTINATIONS: dict[str, tuple[str, ...]] = {
    "users": ("users", "dead-letters"),
    "auctions": ("auctions", "dead-letters"),
    "bids": ("bids", "bids-scored", "fraud-alerts", "dead-letters"),
}
#: input topic -> (the contract its canonical JSON rows are read with, the tables those rows land in): a bid is
#: kept as its bids-scored value, one parse gives both tables
JSON_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "users": ("users", ("users",)),
    "auctions": ("auctions", ("auctions",)),
    "bids": ("bids-scored", ("bids-scored", "bids")),
}


def two_stage_tables(internal: str) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, tuple[str, ...]]]]:
    """(destinations, JSON tables) of the two-stage topology (:mod:`pipelines.stream.stages`): the auction stage
    lands ``bids`` (its input) and the dead letters of bids and auctions; the bidder stage, by ``internal``'s
    offsets, ``bids-scored``, ``fraud-alerts`` and its own dead letters."""
    destinations = {**DESTINATIONS, "bids": ("bids", "dead-letters"),
                    internal: ("bids-scored", "fraud-alerts", "dead-letters")}  # fmt: skip
    tables = {**JSON_TABLES, "bids": ("bids", ("bids",)), internal: ("bids-scored", ("bids-scored",))}
    return destinations, tables


_META = ("_broker_run", "_partition", "_offset", "_key", "_ingest_time")
#: outputs whose rows are built in Python (rare); every valid input (and bids-scored) comes as canonical JSON
_PYTHON_ROWS = ("fraud-alerts", "dead-letters")
_EPOCH_DAY = dt.date(1970, 1, 1)
#: bytes of JSON lines per block of pyarrow's JSON reader (a block holds whole lines: at least two of the longest)
JSON_BLOCK = 1 << 18


class Columns:
    """One destination's rows for one input range, kept as column lists (cheap to append, to convert)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.data: dict[str, list[Any]] = {name: [] for name in (*names, "_offset", "_key", "_ingest_time")}
        self.days: list[int] = []

    def __len__(self) -> int:
        return len(self.days)

    def append(self, values: Mapping[str, Any], offset: int, key: str | None, ts: int, day: int) -> None:
        data = self.data
        for name in self.names:
            data[name].append(values[name])
        data["_offset"].append(offset)
        data["_key"].append(key)
        data["_ingest_time"].append(ts)
        self.days.append(day)

    def arrays(self, schema: pa.Schema, run: str, partition: int) -> dict[str, pa.Array]:
        out = {name: pa.array(self.data[name], schema.field(name).type) for name in self.names}
        data = self.data
        meta = _meta_arrays(schema, run, partition, data["_offset"], data["_ingest_time"])
        return {**out, **meta, "_key": pa.array(data["_key"], pa.string())}


def _meta_arrays(
    schema: pa.Schema, run: str, partition: int, offsets: Sequence[int], times: Sequence[int]
) -> dict[str, pa.Array]:
    """The broker metadata columns of a range's rows, but ``_key`` (each caller has its own source for it)."""
    n = len(offsets)
    return {
        "_broker_run": pa.array([run] * n, pa.string()),
        "_partition": pa.array([partition] * n, pa.int32()),
        "_offset": pa.array(offsets, pa.int64()),
        "_ingest_time": pa.array(times, pa.int64()).cast(schema.field("_ingest_time").type),
    }


class JsonRows:
    """One input topic's valid messages for one range, kept as their canonical JSON bytes.

    The worker's fast path only accepts values already in canonical form (what the contract's model would
    write), so bronze parses them in one C++ pass (pyarrow's JSON reader, which releases the GIL) when the
    range is written instead of appending a dozen Python values per row. A bid is kept as its
    ``bids-scored`` value (the bid plus its score and reasons, bytes the worker builds anyway): one parse
    gives both tables. The other columns come from the parsed values too: ``_key`` is the event's key field
    (the worker dead-letters a message whose key differs) and the date partition is ``event_time``'s day.
    One small tuple per row: a single append on the hot path.
    """

    def __init__(self, topic: str, parsed_as: str, dests: tuple[str, ...]) -> None:
        self.topic = topic
        #: the contract the values are read with (one-stage: a bid's value is its bids-scored record)
        self.parsed_as = parsed_as
        #: the bronze tables these rows land in
        self.dests = dests
        #: (value, offset, ingest time ms)
        self.rows: list[tuple[bytes, int, int]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def arrays(self, schema: pa.Schema, run: str, partition: int) -> tuple[dict[str, Any], pa.Array]:
        """Contract, score (bids) and metadata columns of every row, and the day of each row."""
        rows = self.rows
        contract = _parse(self.parsed_as, [row[0] for row in rows])
        arrays: dict[str, Any] = dict(zip(contract.column_names, contract.columns, strict=True))
        arrays.update(_meta_arrays(schema, run, partition, [row[1] for row in rows], [row[2] for row in rows]))
        arrays["_key"] = arrays[TOPIC_KEYS[self.dests[-1]]]
        return arrays, _days(arrays["event_time"])


def _days(times: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Days since 1970-01-01 of UTC timestamps (the date partition of each row)."""
    return pc.cast(pc.cast(times, pa.timestamp("ms")), pa.date32()).cast(pa.int32()).combine_chunks()


def _parse(topic: str, values: list[bytes]) -> pa.Table:
    """The contract's columns: one JSON parse of the whole range, or row by row through the model if it fails."""
    try:
        parsed = pj.read_json(
            pa.BufferReader(b"\n".join(values)),
            # blocks of 256 KiB parsed in parallel by Arrow's threads: the worker is waiting for this range
            # (a pause at the checkpoint, or a range written ahead of it), and smaller blocks took less CPU
            # too than one block of the whole range (measured: 10k bids 22 -> 9 ms, CPU 22 -> 17 ms)
            read_options=pj.ReadOptions(use_threads=True, block_size=max(JSON_BLOCK, 2 * max(map(len, values)))),
            parse_options=pj.ParseOptions(explicit_schema=_json_schema(topic), unexpected_field_behavior="error"),
        )
        if parsed.num_rows != len(values):
            raise ValueError("row count differs")
    except (pa.ArrowInvalid, ValueError):  # a value the JSON reader reads differently: go through the model
        model = TOPIC_MODELS[topic]
        rows = [model.model_validate_json(value).__dict__ for value in values]
        return pa.Table.from_pylist(rows, schema=_contract_schema(topic))
    target = _contract_schema(topic)
    return pa.Table.from_arrays([parsed.column(f.name).cast(f.type) for f in target], schema=target)


class RangeBuffer:
    """Everything one input partition produced since its last file: per destination, in columns."""

    def __init__(
        self,
        first: int,
        schemas: Mapping[str, pa.Schema],
        opened: float = 0.0,
        json_tables: Mapping[str, tuple[str, tuple[str, ...]]] = JSON_TABLES,
    ) -> None:
        self.first = first
        self._json_tables = json_tables
        self.opened = opened
        """When the range's first row came (the sink's clock): :meth:`BronzeSink.tick` writes old ranges."""
        self._schemas = schemas
        self.dests: dict[str, Columns] = {}
        self.json: JsonRows | None = None
        self.rows = 0

    def add(self, dest: str, values: Mapping[str, Any], offset: int, key: str | None, ts: int, day: int) -> None:
        """Append an alert or dead-letter row; ``values`` holds the contract's columns (a dict)."""
        columns = self.dests.get(dest)
        if columns is None:
            if dest not in _PYTHON_ROWS:  # its file would collide with the JSON rows' file of this range
                raise ValueError(f"bronze rows for {dest} come as canonical JSON (add_json), not as values")
            columns = self.dests[dest] = Columns(tuple(f.name for f in self._schemas[dest] if f.name not in _META))
        columns.append(values, offset, key, ts, day)
        self.rows += 1

    def add_json(self, topic: str, value: bytes, offset: int, ts: int) -> None:
        """Append a valid input message given as canonical JSON (a bid as its canonical bids-scored value)."""
        rows = self.json
        if rows is None:
            rows = self.json = JsonRows(topic, *self._json_tables[topic])
        rows.rows.append((value, offset, ts))
        self.rows += 1

    def tables(self, run: str, partition: int) -> list[tuple[str, pa.Table, pa.Array]]:
        """(destination, table, day of each row) for every destination with rows."""
        out = []
        for dest, columns in self.dests.items():
            table = self._table(dest, columns.arrays(self._schemas[dest], run, partition))
            out.append((dest, table, pa.array(columns.days, pa.int32())))
        if self.json is not None and len(self.json):
            arrays, days = self.json.arrays(self._schemas[self.json.dests[-1]], run, partition)
            for dest in self.json.dests:
                out.append((dest, self._table(dest, arrays), days))
        return out

    def _table(self, dest: str, arrays: Mapping[str, Any]) -> pa.Table:
        schema = self._schemas[dest]
        return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)


@functools.cache
def _contract_schema(topic: str) -> pa.Schema:
    return arrow_schema(TOPIC_MODELS[topic])


@functools.cache
def _json_schema(topic: str) -> pa.Schema:
    """The contract's Arrow schema as the JSON reader should read it: money as text (cast to decimal after)."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_decimal(f.type) else f for f in _contract_schema(topic)])


def epoch_day(moment: dt.datetime) -> int:
    return (moment.date() - _EPOCH_DAY).days


class BronzeSink(BaseSink):
    """Buffers bronze rows per input partition; Quix calls :meth:`flush` at every checkpoint."""

    def __init__(
        self,
        lake: Lake,
        runs: Mapping[str, str],
        max_rows: int = 50_000,
        early_after_s: float | None = None,
        early_min_rows: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        destinations: Mapping[str, tuple[str, ...]] = DESTINATIONS,
        json_tables: Mapping[str, tuple[str, tuple[str, ...]]] = JSON_TABLES,
    ) -> None:
        super().__init__()
        self.lake = lake
        self.destinations, self.json_tables = dict(destinations), dict(json_tables)
        self.runs = dict(runs)
        self.max_rows = max_rows
        self.early_after_s, self.early_min_rows, self._clock = early_after_s, early_min_rows, clock
        self.early_ranges = 0
        """Ranges written by :meth:`tick` (before their checkpoint)."""
        self._schemas = {dest: bronze_schema(dest) for dests in self.destinations.values() for dest in dests}
        self._next: dict[tuple[str, int], int] = {}
        self._buffers: dict[tuple[str, int], RangeBuffer] = {}
        self.files_written = 0
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bronze")
        self._pending: list[Future[int]] = []

    # ---- called by the pipeline for every input message -------------------------------------------

    def note(self, topic: str, partition: int, offset: int) -> RangeBuffer:
        """Record that an input offset was consumed; returns the buffer its rows go into.

        A step back (or the first message) means consumption restarted from the committed offset.
        """
        tp = (topic, partition)
        expected = self._next.get(tp)
        if expected is None or offset < expected:  # (re)start or replay from the committed offset
            self._buffers.pop(tp, None)
            self.remove_uncommitted(topic, partition, offset)
        elif offset > expected:  # a gap (control records) or a partition handed back: keep what we hold
            self.remove_uncommitted(topic, partition, offset)
        self._next[tp] = offset + 1
        buffer = self._buffers.get(tp)
        if buffer is None:
            buffer = self._buffers[tp] = RangeBuffer(offset, self._schemas, self._clock(), self.json_tables)
        return buffer

    def remove_uncommitted(self, topic: str, partition: int, offset: int) -> list[str]:
        """Delete this input partition's files that start at or after ``offset`` (never committed)."""
        self._wait()  # a range still being written must land before it can be removed
        run = self.runs[topic]
        stale = []
        for dest in self.destinations[topic]:
            pattern = self.lake.path("bronze", dest, "date=*", f"{run}-{partition}-*.parquet")
            for path in self.lake.fs.glob(pattern):
                _, part, first, _ = parse_bronze_file_name(path)
                if part == partition and first >= offset:
                    stale.append(path)
        self.lake.remove(stale)
        return stale

    def buffer(self, topic: str, partition: int) -> RangeBuffer:
        """The buffer of the input partition's current range (its latest offset went through :meth:`note`)."""
        return self._buffers[(topic, partition)]

    def full(self, topic: str, partition: int) -> bool:
        buffer = self._buffers.get((topic, partition))
        return buffer is not None and buffer.rows >= self.max_rows

    # ---- Quix sink protocol -----------------------------------------------------------------------

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - rows come through note()
        raise NotImplementedError("BronzeSink is fed by the pipeline through note(), not sdf.sink()")

    def flush(self) -> None:
        """Write every buffered input range (all its destinations); called before offsets are committed.

        The ranges are written in parallel threads: JSON parsing, Parquet encoding and file I/O release the
        GIL, and the worker waits here anyway (a checkpoint pause is latency for every waiting message).
        Ranges handed over earlier (:meth:`flush_partition_async`) must have landed before this returns.
        """
        for tp in list(self._buffers):
            self._submit(tp)
        self._wait()

    def tick(self, lag_s: float = 0.0) -> None:
        """Called now and then by the pipeline: write the ranges opened ``early_after_s`` ago or more.

        Only while the worker keeps up (``lag_s``, how old the message just processed is, below
        ``early_after_s``): then the checkpoint writes only what came since, a shorter pause for every
        waiting message. A worker catching up on a backlog waits for the checkpoint instead: with twice the
        files it lost ~10 % of its throughput, and with those ranges handed to writer threads while it went
        on (even at a lower CPU priority) its main thread needed ~15 % more CPU time for the same messages
        -- two busy cores slow each other here -- more than the shorter pause won back (both measured).
        Only ranges of at least ``early_min_rows``, and the worker waits for them here, between messages
        (writer threads running *while* the worker goes on take its GIL: latency got worse, measured). Safe
        before the commit like every range: a range that is never committed is removed when its partition
        restarts. One range per call: the ranges opened together after a checkpoint fall due together, and
        one pause per range is shorter.
        """
        if self.early_after_s is None or lag_s > self.early_after_s:
            return
        due = self._clock() - self.early_after_s
        ready = next((tp for tp, b in self._buffers.items() if b.opened <= due and b.rows >= self.early_min_rows), None)
        if ready is not None:
            self._submit(ready)
            self._wait()
            self.early_ranges += 1

    def flush_partition_async(self, topic: str, partition: int) -> None:
        """Hand a full range to a writer thread; the next checkpoint waits for it before the commit.

        Writing full ranges while the worker goes on spreads bronze work over the checkpoint interval
        instead of pausing every waiting message at the checkpoint.
        """
        self._submit((topic, partition))

    def close(self) -> None:
        """Wait for the writes in flight (their errors no longer matter: nothing after them is committed) and
        stop the writer threads. A sink that joins again must not have an old write land after the new sink
        removed the uncommitted files."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.exception()
        self._pool.shutdown(wait=True)

    def _submit(self, tp: tuple[str, int]) -> None:
        buffer = self._buffers.pop(tp, None)
        if buffer is not None:
            self._pending.append(self._pool.submit(self._write, tp, buffer, self._next[tp] - 1))

    def _wait(self) -> None:
        """Wait for every range handed to the writers; a failed write raises here (before any commit)."""
        pending, self._pending = self._pending, []
        for future in pending:
            self.files_written += future.result()

    def _write(self, tp: tuple[str, int], buffer: RangeBuffer, last: int) -> int:
        """Write one input range's files; returns how many (thread-safe: touches only ``buffer`` and the lake)."""
        topic, partition = tp
        name = bronze_file_name(self.runs[topic], partition, buffer.first, last)
        written = 0
        for dest, table, days in buffer.tables(self.runs[topic], partition):
            bounds = pc.min_max(days)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            parts = [(low, table)] if low == high else _split_days(table, days)
            for day, part in parts:
                when = _EPOCH_DAY + dt.timedelta(days=day)
                # no dictionary pages: ids are nearly all distinct, and zstd packs the few repeating columns
                # anyway (measured on generated bids: encoding 27 % faster, files ~20 % smaller)
                self.lake.write_parquet(f"bronze/{dest}/{date_partition(when)}/{name}", part, use_dictionary=False)
                written += 1
        return written

    def on_paused(self) -> None:
        """Backpressure: Quix seeks back to the committed offsets, so drop what was buffered."""
        self._wait()
        self._buffers.clear()
        self._next.clear()


def _split_days(table: pa.Table, days: pa.Array) -> list[tuple[int, pa.Table]]:
    return [(day, table.filter(pc.equal(days, day))) for day in sorted(pc.unique(days).to_pylist())]
