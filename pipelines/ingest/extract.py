"""Incremental extract: users and auctions changed in PostgreSQL since the last watermark, into bronze.

Each table (``marketplace.users``, ``marketplace.auctions``) has a watermark kept in the lake at
``ops/extract/<topic>.json``. An extract reads the rows whose ``updated_at`` lies in the window
``(watermark, now - AUCTION_EXTRACT_LAG_S]`` (the database's clock; the lag leaves rows of transactions
still open to the next window) and writes them as bronze events of the topic: ``event_time`` =
``updated_at`` (milliseconds), ``event_id`` = ``pg-<id>-<updated_at ms>`` (the same state always has the
same id, so silver drops a repeat), and the broker metadata of a run named by the window
(``pg<hash of table and window>``, partition 0, offsets in ``updated_at`` order, ``_ingest_time`` = the
window's end). So the same window always writes the same files, byte for byte.

Crash safety: the window is recorded as *pending* before any file is written, and the watermark moves to
its end only after every file is in place; an extract that finds a pending window redoes exactly that
window (rewriting the same names, removing that run's files it no longer produces). Silver then treats
these rows like any other user/auction event: the newest state of an id wins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contracts import SCHEMA_VERSION, TOPIC_KEYS, TOPIC_MODELS, bronze_schema
from pipelines.infra.lake import Lake, bronze_file_name, date_partition
from pipelines.infra.migrate import migrate
from pipelines.infra.postgres import columns as table_columns
from pipelines.infra.postgres import connect, failing_as
from pipelines.infra.settings import Settings

if TYPE_CHECKING:
    import psycopg

#: bronze topic -> operational table
SOURCES = {"users": "marketplace.users", "auctions": "marketplace.auctions"}
EVENT_COLUMNS = ("event_id", "event_time", "schema_version")
#: rows per fetch from the server-side cursor (memory holds one batch of Python rows at a time)
FETCH_ROWS = 50_000


@dataclass(frozen=True)
class Window:
    """Rows with ``since < updated_at <= until`` (``since`` None: from the beginning)."""

    since: dt.datetime | None
    until: dt.datetime

    def run(self, topic: str) -> str:
        text = f"{topic}|{self.since.isoformat() if self.since else ''}|{self.until.isoformat()}"
        return "pg" + hashlib.blake2b(text.encode(), digest_size=4).hexdigest()

    def as_json(self) -> dict[str, str | None]:
        return {"since": self.since.isoformat() if self.since else None, "until": self.until.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Window:
        since = data.get("since")
        return cls(dt.datetime.fromisoformat(since) if since else None, dt.datetime.fromisoformat(data["until"]))


@dataclass
class TableExtract:
    """What one table's extract did."""

    topic: str
    window: Window
    rows: int
    files: list[str] = field(default_factory=list)
    resumed: bool = False


def state_path(topic: str) -> str:
    return f"ops/extract/{topic}.json"


def read_state(lake: Lake, topic: str) -> dict[str, Any]:
    """``{"watermark": iso | None, "pending": window | None}`` (empty before the first extract)."""
    try:
        data = json.loads(lake.fs.cat_file(lake.path(state_path(topic))))
    except FileNotFoundError:
        return {"watermark": None, "pending": None}
    return {"watermark": data.get("watermark"), "pending": data.get("pending")}


def write_state(lake: Lake, topic: str, watermark: str | None, pending: Window | None) -> None:
    body = {"watermark": watermark, "pending": pending.as_json() if pending else None}
    lake.write_bytes(state_path(topic), json.dumps(body, indent=1).encode())


def extract(settings: Settings, lake: Lake | None = None) -> list[TableExtract]:
    """One incremental extract of every table (see the module docstring)."""
    lake = lake or Lake.from_settings(settings)
    lake.check_writable()
    done = []
    with connect(settings) as conn:
        with failing_as(settings, "migrations"):
            migrate(conn)
        for topic in SOURCES:
            state = read_state(lake, topic)
            if state["pending"]:
                window, resumed = Window.from_json(state["pending"]), True
            else:
                with failing_as(settings, "reading the clock"):
                    row = conn.execute("SELECT clock_timestamp() - make_interval(secs => %s)",
                                       [settings.extract_lag_s]).fetchone()  # fmt: skip
                conn.rollback()
                assert row is not None
                since = dt.datetime.fromisoformat(state["watermark"]) if state["watermark"] else None
                if since is not None and row[0] <= since:
                    done.append(TableExtract(topic, Window(since, since), 0))
                    continue
                window, resumed = Window(since, row[0].astimezone(dt.UTC)), False
                write_state(lake, topic, state["watermark"], window)
            result = extract_window(settings, lake, conn, topic, window)
            result.resumed = resumed
            write_state(lake, topic, window.until.isoformat(), None)
            done.append(result)
    return done


def extract_window(
    settings: Settings, lake: Lake, conn: psycopg.Connection, topic: str, window: Window
) -> TableExtract:
    """The rows of ``topic``'s table in ``window`` as bronze files; the same window writes the same files."""
    with failing_as(settings, f"extracting {SOURCES[topic]}"):
        table = fetch(conn, topic, window)
    run = window.run(topic)
    before = {p for p in lake.list_files(f"bronze/{topic}") if os.path.basename(p).startswith(f"{run}-")}
    files = [lake.write_parquet(path, part) for path, part in bronze_parts(table, topic, run)]
    lake.remove(sorted(before - set(files)))
    return TableExtract(topic, window, table.num_rows, files)


def fetch(conn: psycopg.Connection, topic: str, window: Window) -> pa.Table:
    """The window's rows as a bronze table (broker metadata filled in, offsets in ``updated_at`` order)."""
    from psycopg import sql

    schema = bronze_schema(topic)
    key = TOPIC_KEYS[topic]
    qualified = SOURCES[topic]
    present = set(table_columns(conn, qualified))
    wanted = [f.name for f in schema if not f.name.startswith("_") and f.name not in EVENT_COLUMNS]
    selected = [c for c in wanted if c in present]
    exprs: list[sql.Composable] = [
        sql.SQL("date_trunc('milliseconds', {0}) AS {0}").format(sql.Identifier(c))
        if pa.types.is_timestamp(schema.field(c).type)
        else sql.Identifier(c)
        for c in selected
    ]
    exprs.append(sql.SQL("date_trunc('milliseconds', updated_at)"))
    where: sql.Composable = sql.SQL("updated_at <= %(until)s")
    if window.since is not None:
        where = sql.SQL("updated_at > %(since)s AND ") + where
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY updated_at, {}").format(
        sql.SQL(", ").join(exprs), sql.Identifier(*qualified.split(".")), where, sql.Identifier(key)
    )
    names = [*selected, "event_time"]
    types = pa.schema([schema.field(name) for name in names])
    parts = []
    with conn.transaction(), conn.cursor(name=f"extract_{topic}") as cursor:  # server-side: batches in memory
        cursor.execute(query, {"since": window.since, "until": window.until})
        while rows := cursor.fetchmany(FETCH_ROWS):
            columns = zip(*rows, strict=True)
            parts.append(
                pa.table([pa.array(v, type=f.type) for f, v in zip(types, columns, strict=True)], schema=types)
            )
    fetched = pa.concat_tables(parts) if parts else types.empty_table()
    n = fetched.num_rows
    arrays: dict[str, Any] = {name: fetched[name] for name in names}
    ms = pc.cast(pc.cast(arrays["event_time"], pa.int64()), pa.string())
    arrays["event_id"] = pc.binary_join_element_wise("pg-", arrays[key], "-", ms, "")
    arrays["schema_version"] = pa.array([SCHEMA_VERSION] * n, pa.int64())
    arrays["_broker_run"] = pa.array([window.run(topic)] * n, pa.string())
    arrays["_partition"] = pa.array([0] * n, pa.int32())
    arrays["_offset"] = pa.array(range(n), pa.int64())
    arrays["_key"] = arrays[key]
    arrays["_ingest_time"] = pa.array([window.until] * n, schema.field("_ingest_time").type)
    out = [arrays[f.name] if f.name in arrays else _absent(topic, f, n) for f in schema]
    return pa.Table.from_arrays(out, schema=schema)


def _absent(topic: str, column: pa.Field, n: int) -> pa.Array:
    """A contract column the database table lacks: null, or the contract's default where it is required
    (``is_anonymous``: an operational user is a real account)."""
    if column.nullable:
        return pa.nulls(n, column.type)
    return pa.array([TOPIC_MODELS[topic].model_fields[column.name].default] * n, column.type)


def bronze_parts(table: pa.Table, topic: str, run: str) -> list[tuple[str, pa.Table]]:
    """``(path, rows)`` per event date: offsets are contiguous within a day (rows are in time order)."""
    if table.num_rows == 0:
        return []
    import numpy as np

    days = pc.cast(table["event_time"], pa.int64()).to_numpy() // 86_400_000
    bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    parts = []
    for first, end in itertools.pairwise(bounds):
        day = dt.date(1970, 1, 1) + dt.timedelta(days=int(days[first]))
        name = bronze_file_name(run, 0, first, end - 1)
        parts.append((f"bronze/{topic}/{date_partition(day)}/{name}", table.slice(first, end - first)))
    return parts
