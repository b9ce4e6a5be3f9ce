"""Every gold query on tiny silver inputs, table-driven: inputs -> the exact expected rows.

Silver tables are built in an in-memory DuckDB from the same row builders the batch tests use, then
each ``queries/<table>.sql`` runs as the batch runs it (``ref.*`` views, named parameters).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl
import pytest
from bronze_rows import DAY, alert, at, auction, bid, closed, user

from pipelines.batch import gold, silver
from pipelines.contracts import CURRENCIES

D0, D1, D2 = DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
H = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)

#: DESIGN.md's gold tables and their columns, in order
COLUMNS = {
    "daily_revenue": ["date", "auctions_closed", "auctions_sold", "gmv", "fees", "bids", "active_bidders"],
    "category_performance": [
        "category",
        "auctions",
        "auctions_sold",
        "success_rate",
        "avg_bids_per_auction",
        "avg_price_increase_pct",
        "avg_hours_to_first_bid",
    ],
    "bidder_analytics": [
        "bidder_id",
        "bids",
        "auctions_bid",
        "auctions_won",
        "win_rate",
        "total_spend",
        "first_bid_time",
        "last_bid_time",
        "segment",
    ],
    "seller_stats": ["seller_id", "auctions", "auctions_sold", "gmv", "avg_final_price", "flagged_bid_share"],
    "fraud_daily": ["date", "scored_bids", "flagged_bids", "alerts", "flagged_bidders"],
    "hourly_activity": ["hour", "bids", "bidders", "auctions_opened"],
    "bidder_groups": ["first_day", "last_day", "segment", "win_rate_pct", "country", "bidders", "bids", "spend"],
    "alerted_bidders": ["date", "bidder_id", "top_score", "alerts", "auctions", "reasons", "last_alert", "name",
                        "country"],
    "alerted_bids": ["bidder_id", "bid_time", "bid_id", "auction_id", "title", "category", "seller_id",
                     "auction_start", "auction_end", "amount", "currency", "channel", "device_id", "fraud_score",
                     "fraud_reasons"],
    "fraud_detection": ["pattern", "fraudsters", "caught", "recall", "precision"],
    # added for the dashboards' date and category filters (one row per auction instead of 10M bids)
    "auction_results": [
        "date", "category", "auction_id", "seller_id", "status", "sold", "start_time", "end_time",
        "start_price_usd", "final_price_usd", "fee_usd", "price_increase_pct", "bids", "late_bids",
        "hours_to_first_bid",
    ],
}  # fmt: skip


def _table(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = silver.empty_frame(table).schema
    defaults = {"sold": False, "fraud_score": None, "fraud_reasons": None}
    full = [{**defaults, **row} for row in rows]
    return pl.DataFrame(full, schema=schema).select(silver.silver_columns(table))


def _con(
    auctions: list[dict[str, Any]],
    bids: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    users: list[dict[str, Any]] | None = None,
) -> Any:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA silver")
    resolved = silver.resolve_auctions(_table("auctions", auctions).lazy()).collect()
    frames = {"auctions": resolved, "bids": _table("bids", bids), "fraud_alerts": _table("fraud_alerts", alerts)}
    if users is not None:
        frames["users"] = _table("users", users)
    for name, frame in frames.items():
        con.register(f"t_{name}", frame.to_arrow())
        con.execute(f"CREATE VIEW silver.{name} AS SELECT * FROM t_{name}")
    gold.create_reference_views(con)
    return con


def _run(name: str, con: Any) -> list[tuple[Any, ...]]:
    sql = gold.query_text(name)
    result = con.execute(sql, gold.parameters(sql))
    assert [d[0] for d in result.description] == COLUMNS[name]
    frame = result.pl()  # via Arrow: tz-aware times without pytz
    for column, dtype in frame.schema.items():
        if column in {"bids", "auctions", "auctions_bid", "auctions_won", "auctions_sold", "alerts", "bidders"}:
            assert dtype == pl.Int64, (column, dtype)
        if column in {
            "gmv",
            "fees",
            "total_spend",
            "avg_final_price",
            "start_price_usd",
            "final_price_usd",
            "fee_usd",
            "spend",
        }:
            assert dtype == pl.Decimal(18, 2), (column, dtype)
    return frame.rows()


def _sold(auction_id: str, winner: str, price: str, **over: Any) -> dict[str, Any]:
    return closed(auction_id, winner, price, **over)


def _bids(n: int, bidder: str, auction_id: str, **over: Any) -> list[dict[str, Any]]:
    return [bid(f"{bidder}-{auction_id}-{i}", auction_id, bidder, **over) for i in range(n)]


CASES: list[tuple[str, str, dict[str, Any], list[tuple[Any, ...]]]] = [
    ("daily_revenue", "empty", {"auctions": [], "bids": []}, []),
    (
        "daily_revenue",
        "fees, currencies and days",
        {
            "auctions": [
                _sold("a1", "b1", "100.00"),
                closed("a2", None, None),
                _sold("a3", "b2", "10000.00", currency="EUR", end_time=at(30)),
                auction("a4"),  # open: not closed, not counted
            ],
            "bids": [
                *_bids(2, "b1", "a1", bid_time=at(1)),
                bid("z", "a2", "b2", bid_time=at(2)),
                bid("y", "a4", "b3", bid_time=at(50)),
            ],
        },
        [
            (D0, 2, 1, Decimal("100.00"), Decimal("13.55"), 3, 2),
            # 10,000 EUR = 10,800 USD: 7,500 x 13.25 % + 3,300 x 2.35 % + 0.30
            (D1, 1, 1, Decimal("10800.00"), Decimal("1071.60"), 0, 0),
            (D2, 0, 0, Decimal("0.00"), Decimal("0.00"), 1, 1),
        ],
    ),
    (
        "category_performance",
        "success, bids, increase, time to first bid",
        {
            "auctions": [
                _sold("a1", "b1", "15.00"),
                _sold("a2", "b1", "25.00", start_price=Decimal("20.00")),
                auction("a3"),
                closed("t1", None, None, category="toys"),
                auction("g1", category="games"),
            ],
            "bids": [
                bid("1", "a1", bid_time=at(1)),
                bid("2", "a1", bid_time=at(4)),
                bid("3", "a2", bid_time=at(3)),
                bid("4", "t1", bid_time=at(2)),
            ],
        },
        [
            ("books", 3, 2, 1.0, 1.0, 37.5, 2.0),
            ("games", 1, 0, None, 0.0, None, None),
            ("toys", 1, 0, 0.0, 1.0, None, 2.0),
        ],
    ),
    (
        "bidder_analytics",
        "wins, spend and segments",
        {
            "auctions": [
                _sold("a1", "b1", "15.00"),
                _sold("big", "b3", "5000.00", currency="EUR"),
                auction("a2"),
                auction("a3"),
            ],
            "bids": [
                bid("1", "a1", "b1", bid_time=at(1)),
                bid("2", "a1", "b1", bid_time=at(2)),
                bid("3", "a2", "b1", bid_time=at(3)),
                *_bids(20, "b2", "a3", bid_time=at(4)),
                bid("4", "big", "b3", bid_time=at(5)),
                bid("5", "a2", "b4", bid_time=at(6)),
            ],
        },
        [
            ("b1", 3, 2, 1, 0.5, Decimal("15.00"), at(1), at(3), "buyer"),
            ("b2", 20, 1, 0, 0.0, Decimal("0.00"), at(4), at(4), "frequent"),
            ("b3", 1, 1, 1, 1.0, Decimal("5400.00"), at(5), at(5), "power"),
            ("b4", 1, 1, 0, 0.0, Decimal("0.00"), at(6), at(6), "browser"),
        ],
    ),
    (
        "bidder_groups",
        "bidders by active days, segment, win-rate bucket and country",
        {
            "auctions": [
                _sold("a1", "b1", "15.00"),
                _sold("big", "b3", "5000.00", currency="EUR"),
                auction("a2"),
                auction("a3"),
            ],
            "bids": [
                bid("1", "a1", "b1", bid_time=at(1)),
                bid("2", "a1", "b1", bid_time=at(2)),
                bid("3", "a2", "b1", bid_time=at(3)),
                *_bids(20, "b2", "a3", bid_time=at(4)),
                bid("4", "big", "b3", bid_time=at(5)),
                bid("5", "a2", "b4", bid_time=at(6)),
                bid("6", "a2", "b5", bid_time=at(7)),
                bid("7", "a2", "b6", bid_time=at(1)),
                bid("8", "a2", "b6", bid_time=at(30)),  # the next day: active on both
            ],
            "users": [user("b1", country="DE"), user("b3", country="FR"), user("b6")],  # b2, b4, b5 unknown
        },
        [
            (D0, D0, "browser", 0, "??", 2, 2, Decimal("0.00")),
            (D0, D0, "buyer", 50, "DE", 1, 3, Decimal("15.00")),
            (D0, D0, "frequent", 0, "??", 1, 20, Decimal("0.00")),
            (D0, D0, "power", 90, "FR", 1, 1, Decimal("5400.00")),
            (D0, D1, "browser", 0, "US", 1, 2, Decimal("0.00")),
        ],
    ),
    (
        "seller_stats",
        "gmv in USD and flagged share of scored bids",
        {
            "auctions": [
                _sold("a1", "b1", "15.00"),
                _sold("a2", "b1", "10.00", currency="EUR"),
                closed("a3", None, None),
                auction("x", seller_id="s2"),
            ],
            "bids": [
                bid("1", "a1", fraud_score=0.9),
                bid("2", "a1", fraud_score=0.5),
                bid("3", "a2", fraud_score=0.1),
                bid("4", "a3", fraud_score=0.2),
                bid("5", "a3"),
            ],
        },
        [
            ("s1", 3, 2, Decimal("25.80"), Decimal("12.90"), 0.5),
            ("s2", 1, 0, Decimal("0.00"), None, None),
        ],
    ),
    (
        "fraud_daily",
        "scored, flagged, alerts by day",
        {
            "auctions": [auction("a1", end_time=at(60))],
            "bids": [
                bid("1", bidder_id="b1", fraud_score=0.9),
                bid("2", bidder_id="b1", fraud_score=0.6),
                bid("3", bidder_id="b2", fraud_score=0.2),
                bid("4", bidder_id="b3"),
                bid("5", bidder_id="b3", bid_time=at(50)),
            ],
            "alerts": [alert("al1"), alert("al2", bidder_id="b2"), alert("al3", alert_time=at(24))],
        },
        [(D0, 3, 2, 2, 1), (D1, 0, 0, 1, 0)],
    ),
    (
        "auction_results",
        "prices in USD, fees, bids, late bids (last 5 % of the window), hours to the first bid",
        {
            "auctions": [
                _sold("a1", "b1", "15.00"),
                closed("a2", None, None),
                auction("o1"),  # still open
                _sold("e1", "b2", "100.00", currency="EUR", category="toys", start_price=Decimal("50.00")),
            ],
            "bids": [
                bid("1", "a1", bid_time=at(1)),
                bid("2", "a1", bid_time=at(9.6)),  # window 0-10 h: after 9.5 h is the last 5 %
                bid("3", "e1", "b2", bid_time=at(2)),
            ],
        },
        [
            (
                D0,
                "books",
                "a1",
                "s1",
                "closed",
                True,
                at(0),
                at(10),
                Decimal("10.00"),
                Decimal("15.00"),
                Decimal("2.29"),
                50.0,
                2,
                1,
                1.0,
            ),
            (D0, "books", "a2", "s1", "closed", False, at(0), at(10), Decimal("10.00"), None, None, None, 0, 0, None),
            (D0, "books", "o1", "s1", "open", False, at(0), at(10), Decimal("10.00"), None, None, None, 0, 0, None),
            # 100 EUR = 108 USD: 13.25 % + 0.30
            (
                D0,
                "toys",
                "e1",
                "s1",
                "closed",
                True,
                at(0),
                at(10),
                Decimal("54.00"),
                Decimal("108.00"),
                Decimal("14.61"),
                100.0,
                1,
                0,
                2.0,
            ),
        ],
    ),
    (
        "alerted_bidders",
        "alerts per bidder and day, with the user's name and country",
        {
            "alerts": [
                alert("al1", "b1", "a1", score=0.7, reasons=["velocity"], alert_time=at(2)),
                alert("al2", "b1", "a2", score=0.9, reasons=["shill", "velocity"], alert_time=at(3)),
                alert("al3", "b1", "a3", score=0.6, reasons=["bot"], alert_time=at(26)),
                alert("al4", "b2", "a1", score=0.8, alert_time=at(4)),
            ],
            "users": [user("b1", name="Ann", country="DE")],  # b2 unknown
        },
        [
            (D0, "b1", 0.9, 2, 2, ["shill", "velocity"], at(3), "Ann", "DE"),
            (D0, "b2", 0.8, 1, 1, ["velocity"], at(4), None, None),
            (D1, "b1", 0.6, 1, 1, ["bot"], at(26), "Ann", "DE"),
        ],
    ),
    (
        "alerted_bids",
        "every bid of an alerted bidder, none of the others, with the auction",
        {
            "auctions": [auction("a1")],
            "bids": [
                bid("1", "a1", "b1", fraud_score=0.8, fraud_reasons=["velocity"], bid_time=at(1)),
                bid("2", "a1", "b2", bid_time=at(2)),  # b2 has no alert
                bid("3", "zz", "b1", bid_time=at(3)),  # an auction silver does not know
            ],
            "alerts": [alert("al1", "b1", "a1")],
        },
        [
            (
                "b1",
                at(1),
                "1",
                "a1",
                "Item a1",
                "books",
                "s1",
                at(0),
                at(10),
                Decimal("12.00"),
                "USD",
                "web",
                "d1",
                0.8,
                ["velocity"],
            ),
            ("b1", at(3), "3", "zz", None, None, None, None, None, Decimal("12.00"), "USD", "web", "d1", None, None),
        ],
    ),
    (
        "fraud_detection",
        "per pattern recall, precision over all alerted bidders",
        {
            "auctions": [auction("a1")],
            "bids": [
                bid("1", bidder_id="s", fraud_label="shill"),
                bid("2", bidder_id="s", fraud_label="shill"),
                bid("3", bidder_id="s2", fraud_label="shill"),
                bid("4", bidder_id="bot", fraud_label="bot"),
                bid("5", bidder_id="honest"),
            ],
            "alerts": [alert("al1", "s"), alert("al2", "s", "a2"), alert("al3", "honest"), alert("al4", "bot")],
        },
        # 3 alerted bidders, 2 of them fraudsters: precision 2/3; shill: 1 of 2 caught
        [("bot", 1, 1, 1.0, 0.6667), ("shill", 2, 1, 0.5, 0.6667)],
    ),
    (
        "hourly_activity",
        "bids, bidders and openings per hour",
        {
            "auctions": [auction("a1"), auction("a2"), auction("a3", start_time=at(2.5))],
            "bids": [
                bid("1", bidder_id="b1", bid_time=at(0.25)),
                bid("2", bidder_id="b1", bid_time=at(0.75)),
                bid("3", bidder_id="b2", bid_time=at(1.2)),
                bid("4", bidder_id="b3", bid_time=at(2.99)),
            ],
        },
        [
            (H.replace(hour=8), 2, 1, 2),
            (H.replace(hour=9), 1, 1, 0),
            (H.replace(hour=10), 1, 1, 1),
        ],
    ),
]


@pytest.mark.parametrize(("name", "case", "inputs", "expected"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_gold_query(name: str, case: str, inputs: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    con = _con(inputs.get("auctions", []), inputs.get("bids", []), inputs.get("alerts", []), inputs.get("users", []))
    for earlier in gold.GOLD_TABLES[: gold.GOLD_TABLES.index(name)]:  # a gold query may read an earlier one
        sql = gold.query_text(earlier)
        gold.register_gold(con, {earlier: con.execute(sql, gold.parameters(sql)).to_arrow_table()})
    assert _run(name, con) == expected


def test_every_gold_table_has_a_case_and_a_header() -> None:
    assert {c[0] for c in CASES} == set(gold.GOLD_TABLES) == set(COLUMNS)
    for name in gold.GOLD_TABLES:
        sql = gold.query_text(name)
        header = "\n".join(line for line in sql.splitlines() if line.startswith("--"))
        assert sql.startswith(f"-- {name}:"), name
        for part in ("grain:", "inputs:", "used by:"):
            assert part in header, (name, part)
        body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        assert not re.search(r"read_parquet|s3://|'/", body), f"{name} must read logical views, not paths"
        assert re.search(r"select \* from final order by", body), f"{name} ends in a final CTE"


def test_reference_rates_cover_every_currency() -> None:
    con = duckdb.connect()
    gold.create_reference_views(con)
    rates = dict(con.execute("select currency, usd_rate from ref.fx_usd").fetchall())
    assert set(rates) == set(CURRENCIES)
    assert rates["USD"] == 1


def test_checks_are_empty_on_consistent_data_and_name_seeded_defects() -> None:
    auctions = [_sold("a1", "b1", "15.00"), closed("a2", None, None), auction("a3")]
    con = _con(auctions, [bid("1", "a1", "b1"), bid("2", "a3", "b2")], [])
    con.execute("CREATE SCHEMA gold")
    con.execute(
        "CREATE TABLE silver_users AS SELECT * FROM (VALUES ('b1', 'B', 'US'), ('b2', 'B', 'US'), ('s1', 'S', 'US')) "
        "AS u (user_id, name, country)"
    )
    con.execute("CREATE VIEW silver.users AS SELECT * FROM silver_users")
    con.execute("CREATE OR REPLACE VIEW silver.bids AS SELECT *, DATE '2026-11-02' AS date FROM t_bids")
    gold.register_gold(con, gold.build_gold(con))
    assert gold.run_checks(con) == dict.fromkeys(
        ["gold_revenue_reconciles", "silver_bids_orphans", "silver_bids_unique", "sold_auctions_resolved"], 0
    )
    # seeded defects: an auction marked sold without a winner, a bid by an unknown bidder, a gold total off
    con.execute("CREATE TABLE bad_auctions AS SELECT * REPLACE (auction_id = 'a2' OR sold AS sold) FROM t_auctions")
    con.execute("CREATE OR REPLACE VIEW silver.auctions AS SELECT * FROM bad_auctions")
    con.execute("DELETE FROM silver_users WHERE user_id = 'b2'")
    con.execute(
        "CREATE OR REPLACE VIEW gold.daily_revenue AS SELECT * REPLACE (gmv + 1 AS gmv) FROM _gold_daily_revenue"
    )
    found = gold.run_checks(con)
    assert found == {
        "gold_revenue_reconciles": 1,
        "silver_bids_orphans": 1,
        "silver_bids_unique": 0,
        "sold_auctions_resolved": 1,
    }


def test_unique_check_names_each_repeated_bid_id_with_its_days() -> None:
    con = _con([auction("a1")], [bid("1"), bid("2"), bid("3")], [])
    con.execute(
        "CREATE OR REPLACE VIEW silver.bids AS SELECT *, DATE '2026-11-02' AS date FROM t_bids UNION ALL "
        "SELECT *, DATE '2026-11-03' FROM t_bids WHERE bid_id IN ('1', '3') UNION ALL "
        "SELECT *, DATE '2026-11-04' FROM t_bids WHERE bid_id = '3'"
    )
    rows = con.execute(gold.query_text("silver_bids_unique", gold.QUERIES / "checks")).fetchall()
    assert rows == [("1", 2, D0, D1), ("3", 3, D0, D2)]
