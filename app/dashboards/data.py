"""All data access of the dashboards: the SQL shell's views on the lake, read-only, through Streamlit's caches.

* **One connection per process** (:func:`source`, a Streamlit resource): :func:`pipelines.infra.duck.connect`
  with ``read_only_lake=True`` -- the views ``bronze.*``, ``silver.*``, ``gold.*``, ``ops.job_runs`` of
  `python -m app sql` and its lock-down (DuckDB may only reach the lake, configuration frozen) -- plus gold's
  macros and ``live.bids`` (the stream's ``bronze.bids_scored``, or ``bronze.bids`` before anything was
  scored). Each query runs on its own cursor, so sessions (threads) never share one.
* **Queries are files** (``queries/dashboards/<name>.sql``, each with a header naming its ``inputs:``); each is
  checked once by the SQL shell's guard (:mod:`app.shell.guard`: only reads pass) and values go in as named
  parameters -- never formatted into the SQL. Widgets' values only ever reach DuckDB that way.
* **Caching**: results are kept by ``(lake, version, query, parameters)``; the version is the newest
  modification time of the gold tables and of the run history, so a batch that lands (it writes gold, then
  its ``ops.job_runs`` row) invalidates everything at once. The views are redefined (the lake listed again)
  when the version moves, and at most every few seconds for the live queries (bronze grows all the time).
* **Degradation per table**: a query whose input view is missing, or whose files cannot be read (corrupt,
  removed by compaction mid-read), gives an :class:`Unavailable` naming the table and why; the page shows
  that one line where the chart would be and renders the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from app.shell.guard import read_only_statements
from pipelines.batch.gold import FLAG_THRESHOLD, create_reference_views
from pipelines.infra.duck import connect, create_views
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings, load_settings

QUERIES = Path(__file__).resolve().parents[2] / "queries" / "dashboards"
LIVE_MAX_AGE_S = 3.0
"""The live queries see bronze files at most this old (the views are a snapshot of the listing)."""
_INPUT = re.compile(r"\b((?:bronze|silver|gold|ops|live)\.\w+)")
_DAY = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")
_PATH = re.compile(r"/(bronze|silver|quarantine|gold|ops)/([A-Za-z0-9_-]+)/")
LIVE_BIDS = {
    "scored": "CREATE OR REPLACE VIEW live.bids AS SELECT * FROM bronze.bids_scored",
    "unscored": "CREATE OR REPLACE VIEW live.bids AS SELECT *, CAST(NULL AS DOUBLE) AS fraud_score, "
    "CAST(NULL AS VARCHAR[]) AS fraud_reasons FROM bronze.bids",
}


@dataclass(frozen=True)
class Unavailable:
    """What a page shows instead of a chart: the table(s) it could not read, and why."""

    tables: tuple[str, ...]
    reason: str

    def __str__(self) -> str:
        return f"{', '.join(self.tables)} unavailable: {self.reason}"


class TableUnavailable(UserError):
    def __init__(self, tables: tuple[str, ...], reason: str) -> None:
        super().__init__(f"{', '.join(tables)}: {reason}")
        self.tables, self.reason = tables, reason


@cache
def query_text(name: str) -> str:
    return (QUERIES / f"{name}.sql").read_text(encoding="utf-8")


@cache
def inputs(name: str) -> tuple[str, ...]:
    """The views a query reads, from its ``-- inputs:`` header line."""
    line = next((ln for ln in query_text(name).splitlines() if ln.startswith("-- inputs:")), "")
    return tuple(dict.fromkeys(_INPUT.findall(line)))


class Source:
    """The process's locked-down DuckDB connection on the lake and the views it currently has."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lake = Lake.from_settings(settings)
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._defined_at = 0.0
        self._defined_for = ""
        self.views: frozenset[str] = frozenset()
        self.newest_day: dict[str, dt.date] = {}
        """Per bronze view, the newest ``date=`` partition among its files (the monitor reads from there)."""
        self.broken: dict[str, str] = {}
        """Tables whose files could not be read when the views were defined, and why."""
        self.live_source = ""
        self._checked: set[str] = set()

    def version(self) -> str:
        """Changes whenever a batch lands: the newest modification of gold's tables and of the run history."""
        stamps = []
        for base in ("gold", "ops/job_runs"):
            try:
                entries = (
                    self.lake.fs.ls(self.lake.path(base), detail=True)
                    if self.lake.fs.exists(self.lake.path(base))
                    else []
                )
                for entry in entries:  # gold/<table>/, ops/job_runs/date=<day>/: their files' count and newest time
                    name = str(entry["name"])
                    inner = self.lake.fs.ls(name, detail=True) if entry.get("type") == "directory" else [entry]
                    times = [str(e.get("mtime") or e.get("LastModified") or "") for e in inner]
                    stamps.append(f"{name}:{len(inner)}@{max(times, default='')}")
            except (OSError, FileNotFoundError):
                stamps.append(f"{base}:unlisted")
        return str(hash(tuple(sorted(stamps))))

    def cursor(self, version: str, max_age_s: float | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor on the shared connection, its views redefined if the lake moved on."""
        with self._lock:
            stale = version != self._defined_for or (
                max_age_s is not None and time.monotonic() - self._defined_at > max_age_s
            )
            if self._con is None:
                self._con = connect(self.settings, read_only_lake=True, broken=self.broken)
                self._define(self._con)
            elif stale:
                self._define(self._con)
            self._defined_for = version
            return self._con.cursor()

    def _define(self, con: duckdb.DuckDBPyConnection) -> None:
        found = create_views(con, self.lake, self.broken)
        tables = {t.view for t in found} | {"ops.job_runs"}
        days = {t.view: [d for f in t.files for d in _DAY.findall(f)] for t in found if t.files}
        self.newest_day = {
            view: dt.date.fromisoformat(max(found_days)) for view, found_days in days.items() if found_days
        }
        create_reference_views(con)
        con.execute("CREATE SCHEMA IF NOT EXISTS live")
        self.live_source = "scored" if "bronze.bids_scored" in tables else "unscored" if "bronze.bids" in tables else ""
        if self.live_source:
            con.execute(LIVE_BIDS[self.live_source])
            tables.add("live.bids")
        self.views = frozenset(tables)
        self._defined_at = time.monotonic()

    def forget(self) -> None:
        """Redefine the views on the next query (a file vanished or broke under us)."""
        with self._lock:
            self._defined_for = ""

    def run(self, name: str, params: dict[str, Any], version: str, max_age_s: float | None = None) -> pd.DataFrame:
        """Run query ``name`` with ``params``; raise :class:`TableUnavailable` naming what could not be read."""
        sql = query_text(name)
        cursor = self.cursor(version, max_age_s)
        try:
            if name not in self._checked:
                read_only_statements(cursor, sql)
                self._checked.add(name)
            unreadable = tuple(t for t in inputs(name) if t in self.broken)
            if unreadable:
                raise TableUnavailable(unreadable, self.broken[unreadable[0]])
            missing = tuple(t for t in inputs(name) if t not in self.views)
            if missing:
                raise TableUnavailable(missing, "not in the lake yet")
            # through Arrow: DuckDB's own .df() uses a pandas keyword that pandas 3 deprecates
            return cursor.execute(sql, params).to_arrow_table().to_pandas(date_as_object=False)
        except duckdb.Error as exc:
            self.forget()
            raise TableUnavailable(culprits(exc, inputs(name)), first_line(exc)) from None
        finally:
            cursor.close()

    @property
    def empty(self) -> bool:
        """No bronze, silver or gold table at all: nothing has been generated, imported or streamed yet."""
        self.cursor(lake_version())
        return not any(view.split(".")[0] in ("bronze", "silver", "gold") for view in {*self.views, *self.broken})


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def culprits(exc: BaseException, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """The tables an error names by a file path (a corrupt file), else every table the query reads."""
    named = tuple(dict.fromkeys(f"{layer}.{table.replace('-', '_')}" for layer, table in _PATH.findall(str(exc))))
    return named or candidates


@st.cache_resource(show_spinner=False)
def _source(lake_url: str, endpoint: str, runtime_dir: str) -> Source:
    return Source(load_settings(lake_url=lake_url, aws_endpoint_url=endpoint, runtime_dir=runtime_dir))


def source() -> Source:
    """The process's :class:`Source` for the configured lake."""
    settings = load_settings()
    return _source(settings.lake_url, settings.aws_endpoint_url, str(settings.runtime_dir))


@st.cache_data(show_spinner=False, ttl=2.0, max_entries=8)
def _version(lake_url: str) -> str:
    return source().version()


def lake_version() -> str:
    return _version(load_settings().lake_url)


@st.cache_data(show_spinner=False, max_entries=1024)
def _cached(lake_url: str, version: str, name: str, params: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    return source().run(name, dict(params), version)


@st.cache_data(show_spinner=False, ttl=LIVE_MAX_AGE_S, max_entries=256)
def _live(lake_url: str, name: str, params: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    return source().run(name, dict(params), lake_version(), max_age_s=LIVE_MAX_AGE_S)


_spent: list[float] | None = None
"""While :func:`timing` is active, the seconds of every :func:`load` (the benchmark's data access)."""


@contextlib.contextmanager
def timing() -> Iterator[list[float]]:
    """Collect the seconds each :func:`load` takes inside the block (any thread: AppTest runs pages in one)."""
    global _spent
    spent: list[float] = []
    _spent = spent
    try:
        yield spent
    finally:
        _spent = None


def load(name: str, live: bool = False, **params: Any) -> pd.DataFrame | Unavailable:
    """Query ``name`` with ``params`` (cached); an :class:`Unavailable` if a table it reads cannot be read.

    ``live`` queries read bronze as the stream writes it: cached for a few seconds, not until the next batch.
    """
    began = time.perf_counter()
    try:
        return _load(name, live, params)
    finally:
        if _spent is not None:
            _spent.append(time.perf_counter() - began)


def _load(name: str, live: bool, params: dict[str, Any]) -> pd.DataFrame | Unavailable:
    if "$flag_threshold" in query_text(name):
        params["flag_threshold"] = FLAG_THRESHOLD
    key = tuple(sorted(params.items()))
    lake_url = load_settings().lake_url
    try:
        if live:
            return _live(lake_url, name, key)
        return _cached(lake_url, lake_version(), name, key)
    except TableUnavailable as exc:
        return Unavailable(exc.tables, exc.reason)
    except UserError as exc:  # the lake itself cannot be listed (S3 down)
        return Unavailable(inputs(name), str(exc))


def live_day() -> dt.date:
    """The newest day of the stream's bids in bronze (the first day of the epoch when there are none)."""
    src = source()
    src.cursor(lake_version(), LIVE_MAX_AGE_S).close()
    table = "bronze.bids_scored" if src.live_source == "scored" else "bronze.bids"
    return src.newest_day.get(table, dt.date(1970, 1, 1))


def status_file() -> tuple[dict[str, Any] | None, str]:
    """The running pipeline's ``status.json`` (None when no `run` is alive) and where it was looked for."""
    from app.status_file import status_path

    path = status_path(load_settings())
    try:
        return json.loads(path.read_text()), str(path)
    except (OSError, ValueError):
        return None, str(path)


def clear() -> None:
    """Empty the result caches (the benchmark's cold loads)."""
    _cached.clear()
    _live.clear()
    _version.clear()
    source().forget()
