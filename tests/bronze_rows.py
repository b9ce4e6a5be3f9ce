"""Tiny bronze rows for the silver/gold/batch tests: clean defaults, any field overridable.

Rows are plain dicts in the bronze schema (contract columns + broker metadata), so a test can seed a
defect by overriding one field. ``write_bronze`` puts them in a lake exactly where the stream worker or
the generator would (``bronze/<topic>/date=YYYY-MM-DD/<run>-<partition>-<first>-<last>.parquet``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa

from pipelines.contracts import bronze_schema
from pipelines.infra.lake import Lake, bronze_file_name, date_partition

DAY = dt.date(2026, 11, 2)
T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
_offsets = itertools.count()


def at(hours: float, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(hours=hours)


def _meta(key: str, time: dt.datetime) -> dict[str, Any]:
    return {"_broker_run": "run1", "_partition": 0, "_offset": next(_offsets), "_key": key, "_ingest_time": time}


def user(user_id: str, **over: Any) -> dict[str, Any]:
    row = {
        "event_id": f"ev-u-{user_id}",
        "event_time": at(-48),
        "schema_version": 1,
        "user_id": user_id,
        "name": f"User {user_id}",
        "email": f"{user_id}@example.com",
        "country": "US",
        "city": "Springfield",
        "signup_time": at(-48),
        "is_seller": True,
        "rating": 10,
        "is_anonymous": False,
        **_meta(user_id, at(-48)),
    }
    return {**row, **over}


def auction(auction_id: str, seller_id: str = "s1", **over: Any) -> dict[str, Any]:
    row = {
        "event_id": f"ev-a-{auction_id}-open",
        "event_time": at(0),
        "schema_version": 1,
        "auction_id": auction_id,
        "seller_id": seller_id,
        "title": f"Item {auction_id}",
        "category": "books",
        "start_price": Decimal("10.00"),
        "reserve_price": None,
        "currency": "USD",
        "start_time": at(0),
        "end_time": at(10),
        "status": "open",
        "final_price": None,
        "winner_id": None,
        **_meta(auction_id, at(0)),
    }
    return {**row, **over}


def closed(auction_id: str, winner: str | None, price: str | None, **over: Any) -> dict[str, Any]:
    """The closing event of :func:`auction` (same fields, status closed, the result)."""
    fields = {
        "event_id": f"ev-a-{auction_id}-close",
        "event_time": at(10),
        "status": "closed",
        "winner_id": winner,
        "final_price": Decimal(price) if price is not None else None,
    }
    return auction(auction_id, **{**fields, **over})


def bid(
    bid_id: str, auction_id: str = "a1", bidder_id: str = "b1", amount: str = "12.00", **over: Any
) -> dict[str, Any]:
    row = {
        "event_id": f"ev-b-{bid_id}",
        "event_time": at(1),
        "schema_version": 1,
        "bid_id": bid_id,
        "auction_id": auction_id,
        "bidder_id": bidder_id,
        "amount": Decimal(amount),
        "currency": "USD",
        "bid_time": at(1),
        "channel": "web",
        "device_id": "d1",
        "fraud_label": None,
        **_meta(auction_id, at(1)),
    }
    return {**row, **over}


def scored(row: dict[str, Any], score: float, reasons: list[str] | None = None) -> dict[str, Any]:
    """The ``bids-scored`` version of a bid row."""
    return {**row, "fraud_score": score, "fraud_reasons": reasons or []}


def alert(alert_id: str, bidder_id: str = "b1", auction_id: str = "a1", **over: Any) -> dict[str, Any]:
    row = {
        "event_id": f"ev-al-{alert_id}",
        "event_time": at(2),
        "schema_version": 1,
        "alert_id": alert_id,
        "bidder_id": bidder_id,
        "auction_id": auction_id,
        "score": 0.9,
        "reasons": ["velocity"],
        "window_start": at(1),
        "window_end": at(2),
        "stats": "{}",
        "alert_time": at(2),
        **_meta(bidder_id, at(2)),
    }
    return {**row, **over}


def write_bronze(lake: Lake, topic: str, day: dt.date, rows: list[dict[str, Any]], partition: int = 0) -> str:
    """Write rows as one bronze file of ``topic`` for ``day``; returns its path."""
    table = pa.Table.from_pylist(rows, schema=bronze_schema(topic))
    offsets = [r["_offset"] for r in rows] or [0]
    name = bronze_file_name("run1", partition, min(offsets), max(offsets))
    return lake.write_parquet(f"bronze/{topic}/{date_partition(day)}/{name}", table)


def marketplace() -> dict[str, list[dict[str, Any]]]:
    """A small clean marketplace on :data:`DAY`: 2 sellers, 3 bidders, 3 auctions, 5 bids, 1 alert."""
    users = [user("s1"), user("s2"), user("b1", is_seller=False), user("b2", is_seller=False), user("b3")]
    auctions = [
        auction("a1"),
        closed("a1", "b2", "15.00"),
        auction("a2", "s2", category="toys", start_price=Decimal("20.00"), reserve_price=Decimal("50.00")),
        closed(
            "a2",
            None,
            None,
            seller_id="s2",
            category="toys",
            start_price=Decimal("20.00"),
            reserve_price=Decimal("50.00"),
        ),
        auction("a3", "s2", category="books", currency="EUR", start_time=at(2), end_time=at(30), event_time=at(2)),
    ]
    bids = [
        bid("x1", "a1", "b1", "11.00", bid_time=at(1)),
        bid("x2", "a1", "b2", "15.00", bid_time=at(3)),
        bid("x3", "a2", "b1", "25.00", bid_time=at(4)),
        bid("x4", "a3", "b3", "12.00", currency="EUR", bid_time=at(5)),
        bid("x5", "a3", "b1", "30.00", currency="EUR", bid_time=at(6)),
    ]
    return {"users": users, "auctions": auctions, "bids": bids, "fraud-alerts": [alert("al1")]}


def frame(topic_or_table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a Polars frame in a topic's bronze schema (``bids``, ``auctions``, … or a silver table name)."""
    topic = {"fraud_alerts": "fraud-alerts"}.get(topic_or_table, topic_or_table)
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=bronze_schema(topic)))  # type: ignore[return-value]
