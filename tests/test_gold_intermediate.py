"""The shared steps in ``queries/intermediate/`` on tiny silver bids: exact rows, the same as a view and
as the table the batch materializes, and a header on each file."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
import pytest
from bronze_rows import at, bid

from pipelines.batch import gold, silver


def _con(bids: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA silver")
    rows = [{"fraud_score": None, "fraud_reasons": None, **row} for row in bids]
    frame = pl.DataFrame(rows, schema=silver.empty_frame("bids").schema).select(silver.silver_columns("bids"))
    con.register("t_bids", frame.to_arrow())
    con.execute("CREATE VIEW silver.bids AS SELECT * FROM t_bids")
    gold.create_reference_views(con)
    return con


BIDS = [
    bid("1", "a1", "b1", bid_time=at(1)),
    bid("2", "a1", "b1", bid_time=at(3)),
    bid("3", "a1", "b2", bid_time=at(2)),
    bid("4", "a2", "b1", bid_time=at(5)),
]
EXPECTED = {
    "bidder_auctions": [("b1", "a1", 2, at(1), at(3)), ("b1", "a2", 1, at(5), at(5)), ("b2", "a1", 1, at(2), at(2))],
    "auction_bids": [("a1", 3, at(1)), ("a2", 1, at(5))],
}


@pytest.mark.parametrize("materialized", [False, True], ids=["view", "table"])
@pytest.mark.parametrize("name", gold.INTERMEDIATE)
def test_intermediate_rows(name: str, materialized: bool) -> None:
    con = _con(BIDS)
    if materialized:
        gold.materialize_intermediate(con)
    kind = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'intermediate' AND table_name = ?", [name]
    ).fetchone()
    assert kind == (1 if materialized else 0,)
    rows = con.execute(f"SELECT * FROM intermediate.{name} ORDER BY ALL").pl().rows()
    assert rows == EXPECTED[name]


def test_intermediate_on_no_bids_is_empty() -> None:
    con = _con([])
    gold.materialize_intermediate(con)
    for name in gold.INTERMEDIATE:
        assert con.execute(f"SELECT count(*) FROM intermediate.{name}").fetchone() == (0,)


def test_every_intermediate_file_has_a_header_and_a_case() -> None:
    files = {p.stem for p in (gold.QUERIES / "intermediate").glob("*.sql")}
    assert files == set(gold.INTERMEDIATE) == set(EXPECTED)
    for name in gold.INTERMEDIATE:
        sql = gold.query_text(name, gold.QUERIES / "intermediate")
        header = "\n".join(line for line in sql.splitlines() if line.startswith("--"))
        assert sql.startswith(f"-- {name}:"), name
        for part in ("grain:", "inputs:", "used by:"):
            assert part in header, (name, part)
