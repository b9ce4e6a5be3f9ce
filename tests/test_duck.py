"""DuckDB over the lake: views per table (local and S3), the SQL script for the CLI, read-only locking."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from bronze_rows import DAY, marketplace, scored, write_bronze

from app.batch import run_batch
from pipelines.infra.duck import connect, setup_sql, sql_literal, views_sql
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings


def _seed_and_batch(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    world = marketplace()
    world["bids-scored"] = [scored(r, 0.2) for r in world["bids"]]
    for topic, rows in world.items():
        write_bronze(lake, topic, DAY, rows)
    run_batch(settings)


def _views(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select schema_name || '.' || view_name from duckdb_views() where not internal").fetchall()
    return {r[0] for r in rows}


EXPECTED_VIEWS = {
    "bronze.users",
    "bronze.auctions",
    "bronze.bids",
    "bronze.bids_scored",
    "bronze.fraud_alerts",
    "silver.users",
    "silver.auctions",
    "silver.bids",
    "silver.fraud_alerts",
    "gold.daily_revenue",
    "gold.category_performance",
    "gold.bidder_analytics",
    "gold.seller_stats",
    "gold.fraud_daily",
    "gold.hourly_activity",
    "gold.auction_results",
    "gold.bidder_groups",
    "gold.alerted_bidders",
    "gold.alerted_bids",
    "gold.fraud_detection",
    "ops.job_runs",  # present even before any run is recorded
}


def test_views_over_a_local_lake(settings: Settings) -> None:
    _seed_and_batch(settings)
    con = connect(settings)
    assert _views(con) == EXPECTED_VIEWS
    assert con.execute("select count(*), min(date) from silver.bids").fetchone() == (5, DAY)
    assert con.execute("select count(*) from bronze.bids_scored").fetchone() == (5,)
    assert con.execute("select bids from gold.daily_revenue").fetchall() == [(5,)]


def test_quarantined_rows_have_their_own_views(settings: Settings) -> None:
    from bronze_rows import bid

    lake = Lake.from_settings(settings)
    world = marketplace()
    world["bids"].append(bid("neg", amount="-1.00"))
    for topic, rows in world.items():
        write_bronze(lake, topic, DAY, rows)
    run_batch(settings)
    con = connect(settings)
    assert "quarantine.bids" in _views(con)
    assert con.execute("select bid_id, _rule, date from quarantine.bids").fetchall() == [
        ("neg", "amount_not_positive", DAY)
    ]


def test_views_sql_is_a_script_the_cli_can_run(settings: Settings) -> None:
    _seed_and_batch(settings)
    script = views_sql(settings)
    assert script.startswith("SET TimeZone = 'UTC';\n")
    con = duckdb.connect()
    con.execute(script)
    assert _views(con) == EXPECTED_VIEWS
    assert con.execute("select count(*) from silver.auctions").fetchone() == (3,)


def test_read_only_connection_cannot_touch_files_outside_the_lake(settings: Settings, tmp_path: Path) -> None:
    _seed_and_batch(settings)
    con = connect(settings, read_only_lake=True)
    assert con.execute("select count(*) from gold.seller_stats").fetchone() == (2,)
    outside = tmp_path / "outside.csv"
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"copy (select 1) to {sql_literal(str(outside))}")
    with pytest.raises(duckdb.Error):
        con.execute("set enable_external_access = true")
    assert not outside.exists()


def test_views_over_an_s3_lake(s3_settings: Settings) -> None:
    _seed_and_batch(s3_settings)
    statements = setup_sql(s3_settings)
    assert statements[0].startswith("LOAD '") and statements[0].endswith("httpfs.duckdb_extension'")
    assert "URL_STYLE 'path'" in statements[1] and "USE_SSL false" in statements[1]
    con = connect(s3_settings)
    assert _views(con) == EXPECTED_VIEWS
    assert con.execute("select count(*) from silver.bids").fetchone() == (5,)
    assert con.execute("select sum(auctions_sold) from gold.category_performance").fetchone() == (1,)


def test_sql_literal_quotes() -> None:
    assert sql_literal("it's") == "'it''s'"
