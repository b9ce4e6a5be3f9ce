"""Gold: dashboard-shaped tables computed by DuckDB from silver, with the SQL kept in ``queries/``.

Each gold table is one file ``queries/<table>.sql`` (a single ``select``) run over the logical views
``silver.*``, the reference relations in ``queries/ref/`` (``ref.<name>``) and the shared steps in
``queries/intermediate/`` (``intermediate.<name>``: a pass over the 10M bids that several queries and
checks need, which the batch computes once as a table). Values such as the fraud flag threshold go in
as named parameters (``$flag_threshold``), never by formatting the SQL.

Output: ``gold/<table>/<table>.parquet``, one file per table, written atomically (a reader sees the old
table or the new one). Every query ends in ``order by`` so that re-running yields the same rows in the
same order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings

QUERIES = Path(__file__).resolve().parents[2] / "queries"
GOLD_TABLES = (
    "daily_revenue",
    "category_performance",
    "bidder_analytics",
    "bidder_groups",
    "seller_stats",
    "fraud_daily",
    "hourly_activity",
    "auction_results",
    "alerted_bidders",
    "alerted_bids",
    "fraud_detection",
)
#: the gold tables `publish` copies to PostgreSQL: DESIGN's six, the BI contract. The others serve the dashboards
#: (their shapes follow the pages: lists of reasons, booleans) and stay in the lake.
PUBLISHED_TABLES = (
    "daily_revenue",
    "category_performance",
    "bidder_analytics",
    "seller_stats",
    "fraud_daily",
    "hourly_activity",
)
#: silver views the gold queries read
SILVER_TABLES = ("users", "auctions", "bids", "fraud_alerts")
#: shared relations under ``queries/intermediate/``, each after the ones it reads
INTERMEDIATE = ("bidder_auctions", "auction_bids")
#: a bid whose fraud score is at least this is "flagged"
FLAG_THRESHOLD = 0.5


def query_text(name: str, folder: Path = QUERIES) -> str:
    return (folder / f"{name}.sql").read_text(encoding="utf-8")


def parameters(sql: str, flag_threshold: float = FLAG_THRESHOLD) -> dict[str, object]:
    """The named parameters a query uses (DuckDB rejects unused ones)."""
    return {"flag_threshold": flag_threshold} if "$flag_threshold" in sql else {}


def create_reference_views(con: duckdb.DuckDBPyConnection) -> None:
    """The macros of ``queries/macros.sql``, a view ``ref.<name>`` for each ``queries/ref/<name>.sql`` and,
    once ``silver.bids`` is defined, a view ``intermediate.<name>`` for each of :data:`INTERMEDIATE`."""
    con.execute(query_text("macros"))
    con.execute("CREATE SCHEMA IF NOT EXISTS ref")
    for path in sorted((QUERIES / "ref").glob("*.sql")):
        # the view name is the file name, which we own; the body is the file itself
        con.execute(f"CREATE OR REPLACE VIEW ref.{path.stem} AS {path.read_text(encoding='utf-8')}")
    if not _has_silver_bids(con):
        return  # DuckDB binds a view when it is created: the intermediate ones need silver.bids first
    con.execute("CREATE SCHEMA IF NOT EXISTS intermediate")
    for name in INTERMEDIATE:
        con.execute(f"CREATE OR REPLACE VIEW intermediate.{name} AS {query_text(name, QUERIES / 'intermediate')}")


def _has_silver_bids(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM (SELECT schema_name, view_name AS name FROM duckdb_views() "
        "UNION ALL SELECT schema_name, table_name FROM duckdb_tables()) WHERE schema_name = 'silver' AND name = 'bids'"
    ).fetchone()
    return bool(found and found[0])


def materialize_intermediate(con: duckdb.DuckDBPyConnection) -> None:
    """Turn each ``intermediate.<name>`` view into a table of its rows, in :data:`INTERMEDIATE` order.

    Several gold queries and checks read them: as tables the pass over every silver bid runs once per
    batch instead of once per reader. Call it after ``silver.*`` is final (a table does not follow later
    changes the way a view does).
    """
    for name in INTERMEDIATE:
        con.execute(f"DROP VIEW IF EXISTS intermediate.{name}")
        con.execute(f"CREATE TABLE intermediate.{name} AS {query_text(name, QUERIES / 'intermediate')}")


def create_missing_silver(con: duckdb.DuckDBPyConnection, present: set[str]) -> None:
    """An empty, correctly typed ``silver.<table>`` for each table the lake does not have yet."""
    from pipelines.batch.silver import empty_frame, silver_columns

    con.execute("CREATE SCHEMA IF NOT EXISTS silver")
    for table in SILVER_TABLES:
        if table in present:
            continue
        empty = empty_frame(table).select(silver_columns(table)).with_columns(pl.lit(None, pl.Date).alias("date"))
        empty = empty.to_arrow()
        con.register(f"_empty_silver_{table}", empty)
        con.execute(f"CREATE OR REPLACE VIEW silver.{table} AS SELECT * FROM _empty_silver_{table}")


def build_gold(con: duckdb.DuckDBPyConnection, flag_threshold: float = FLAG_THRESHOLD) -> dict[str, pa.Table]:
    """Run every gold query, in order, on a connection that has ``silver.*`` and ``ref.*``; returns the tables.

    Each table is exposed as ``gold.<name>`` once built, so a query may read one listed before it."""
    tables = {}
    for name in GOLD_TABLES:
        sql = query_text(name)
        tables[name] = con.execute(sql, parameters(sql, flag_threshold)).to_arrow_table()
        register_gold(con, {name: tables[name]})  # a later gold query may read it (bidder_groups)
    return tables


def run_checks(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Run every ``queries/checks/<name>.sql`` (each must return zero rows); returns rows per check."""
    found = {}
    for path in sorted((QUERIES / "checks").glob("*.sql")):
        found[path.stem] = con.execute(path.read_text(encoding="utf-8")).to_arrow_table().num_rows
    return found


def register_gold(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Expose freshly built gold tables as ``gold.<name>`` views (for the checks)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS gold")
    for name, table in tables.items():
        con.register(f"_gold_{name}", table)
        con.execute(f"CREATE OR REPLACE VIEW gold.{name} AS SELECT * FROM _gold_{name}")


@dataclass(frozen=True)
class GoldRun:
    """Rows per gold table, rows per check (0 = passed), and the seconds each part took."""

    rows: dict[str, int]
    checks: dict[str, int]
    gold_s: float
    checks_s: float


def run_gold(settings: Settings, lake: Lake, checks: bool = True) -> GoldRun:
    """Recompute every gold table from the lake's silver and write it; then (optionally) run the checks."""
    from pipelines.infra.duck import connect, lake_tables

    con = connect(settings)
    try:
        started = time.perf_counter()
        present = {t.name for t in lake_tables(lake) if t.layer == "silver"}
        create_missing_silver(con, present)
        create_reference_views(con)
        materialize_intermediate(con)
        tables = build_gold(con)
        for name, table in tables.items():
            lake.write_parquet(f"gold/{name}/{name}.parquet", table)
        gold_s = time.perf_counter() - started
        register_gold(con, tables)
        found = run_checks(con) if checks else {}
        checks_s = time.perf_counter() - started - gold_s
    finally:
        con.close()
    return GoldRun({name: table.num_rows for name, table in tables.items()}, found, gold_s, checks_s)
