"""Silver: bronze rows typed, deduplicated, checked and split into silver, quarantine and duplicates.

Pure ``LazyFrame -> LazyFrame`` transforms; the batch runner (:mod:`app.batch`) reads bronze and
writes the results. Each ``classify_*`` keeps *every* input row and marks its fate:

- ``_duplicate``: a repeat of an earlier row with the same ``event_id`` (removed, counted);
- ``_rule``: the first data-quality rule the row broke (goes to quarantine with that name);
- ``_superseded``: for state tables (users, auctions), an older state of an id whose later event wins.

So ``bronze = silver + quarantine + duplicates (+ superseded)`` holds by construction; :func:`fates`
turns the marks into one column the runner splits and counts on.

``users`` and ``auctions`` are current-state tables built over all days (a bid today may reference
an auction opened last week); ``bids`` and ``fraud_alerts`` are built per day against them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipelines import silver_rules as rules
from pipelines.contracts import CHANNELS, TOPIC_MODELS, polars_schema

#: the silver tables and the bronze topic each is built from
SOURCES = {"users": "users", "auctions": "auctions", "bids": "bids", "fraud_alerts": "fraud-alerts"}
#: lineage kept on every silver and quarantine row
LINEAGE = ["_broker_run", "_partition", "_offset"]
#: deterministic "first copy wins" order for duplicates
ARRIVAL = ["_broker_run", "_partition", "_offset"]
#: sort order of each silver table's files (deterministic bytes, good row-group pruning)
SORT = {
    "users": ["user_id"],
    "auctions": ["start_time", "auction_id"],
    "bids": ["bid_time", "bid_id"],
    "fraud_alerts": ["alert_time", "alert_id"],
}


#: columns silver adds to the contract's, with their types
EXTRA_TYPES: dict[str, Any] = {"sold": pl.Boolean, "fraud_score": pl.Float64, "fraud_reasons": pl.List(pl.String)}


def empty_frame(table: str) -> pl.DataFrame:
    """An empty frame with every bronze column of the table's topic plus silver's extra columns."""
    return pl.DataFrame(schema={**polars_schema(SOURCES[table]), **EXTRA_TYPES})


def contract_columns(table: str) -> list[str]:
    return list(TOPIC_MODELS[SOURCES[table]].model_fields)


def fates(classified: pl.LazyFrame) -> pl.LazyFrame:
    """One ``_fate`` column: ``duplicate`` | ``quarantine`` | ``superseded`` | ``silver``."""
    superseded = pl.col("_superseded") if "_superseded" in classified.collect_schema() else pl.lit(False)
    fate = (
        pl.when(pl.col("_duplicate"))
        .then(pl.lit("duplicate"))
        .when(pl.col("_rule").is_not_null())
        .then(pl.lit("quarantine"))
        .when(superseded)
        .then(pl.lit("superseded"))
        .otherwise(pl.lit("silver"))
    )
    return classified.with_columns(fate.alias("_fate"))


def _dedup_then_rules(bronze: pl.LazyFrame) -> pl.LazyFrame:
    return rules.start(rules.mark_duplicates(bronze, "event_id", ARRIVAL))


def _latest(lf: pl.LazyFrame, key: str, newest_first: list[pl.Expr], descending: list[bool]) -> pl.LazyFrame:
    """Mark ``_superseded`` on clean, non-duplicate rows that are not the newest state of ``key``."""
    live = ~pl.col("_duplicate") & pl.col("_rule").is_null()
    ranked = lf.with_columns(pl.when(live).then(pl.col(key)).otherwise(None).alias("_live_key")).sort(
        [pl.col("_live_key"), *newest_first], descending=[False, *descending], nulls_last=True
    )
    superseded = ~pl.col("_live_key").is_first_distinct() & pl.col("_live_key").is_not_null()
    return ranked.with_columns(superseded.alias("_superseded")).drop("_live_key")


def classify_users(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """Users from all days' bronze: the newest valid event per ``user_id`` is the user."""
    lf = _dedup_then_rules(bronze)
    lf = rules.required(lf, ["event_id", "event_time", "user_id", "signup_time", "is_seller", "country"])
    lf = rules.valid_timestamps(lf, ["event_time", "signup_time"])
    lf = rules.country_code(lf)
    return _latest(lf, "user_id", [pl.col("event_time"), pl.col("event_id")], [True, False])


def classify_auctions(bronze: pl.LazyFrame, user_ids: pl.LazyFrame) -> pl.LazyFrame:
    """Auctions from all days' bronze, against known users: the newest valid state per ``auction_id``.

    A close beats an open whatever their times; among equals the later ``event_time`` wins.
    """
    lf = _dedup_then_rules(bronze)
    needed = ["event_id", "event_time", "auction_id", "seller_id", "category", "start_price", "currency"]
    lf = rules.required(lf, [*needed, "start_time", "end_time", "status"])
    lf = rules.known_value(lf, "status", ["open", "closed"], "unknown_status")
    lf = rules.positive(lf, "start_price", "start_price_not_positive")
    lf = rules.known_currency(lf)
    lf = rules.valid_timestamps(lf, ["event_time", "start_time", "end_time"])
    lf = rules.valid_window(lf)
    lf = rules.consistent_result(lf)
    lf = rules.exists_in(lf, "seller_id", user_ids, "unknown_seller")
    lf = rules.exists_in(lf, "winner_id", user_ids, "unknown_winner", optional=True)
    newest = [pl.col("status") != "closed", pl.col("event_time"), pl.col("event_id")]
    return _latest(lf, "auction_id", newest, [False, True, False])


def resolve_auctions(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Auction results: ``sold`` = closed with a winner paying at or above the reserve (or the start price).

    An auction that is not sold has no ``final_price`` and no ``winner_id``.
    """
    floor = pl.coalesce(pl.col("reserve_price"), pl.col("start_price"))
    sold = (
        (pl.col("status") == "closed")
        & pl.col("winner_id").is_not_null()
        & pl.col("final_price").is_not_null()
        & (pl.col("final_price") >= floor)
    ).fill_null(False)
    return silver.with_columns(
        sold.alias("sold"),
        pl.when(sold).then(pl.col("final_price")).otherwise(None).alias("final_price"),
        pl.when(sold).then(pl.col("winner_id")).otherwise(None).alias("winner_id"),
    )


def classify_bids(
    bronze: pl.LazyFrame, auctions: pl.LazyFrame, user_ids: pl.LazyFrame, scored: pl.LazyFrame | None
) -> pl.LazyFrame:
    """One day's bids against silver auctions and users, with the fraud score where one was computed."""
    lf = _dedup_then_rules(bronze)
    lf = rules.required(lf, ["event_id", "event_time", "bid_id", "auction_id", "bidder_id", "amount", "bid_time"])
    lf = rules.required(lf, ["currency", "channel"])
    lf = rules.positive(lf, "amount")
    lf = rules.known_currency(lf)
    lf = rules.known_value(lf, "channel", CHANNELS, "unknown_channel")
    lf = rules.valid_timestamps(lf, ["event_time", "bid_time"])
    lf = rules.unique_key(lf, "bid_id", ["bid_id", "event_time", *ARRIVAL, "event_id"])
    lf = rules.exists_in(lf, "bidder_id", user_ids, "unknown_bidder")
    facts = auctions.select(
        "auction_id",
        pl.col("start_price").alias("_start_price"),
        pl.col("currency").alias("_currency"),
        pl.col("start_time").alias("_start_time"),
        pl.col("end_time").alias("_end_time"),
        pl.lit(True).alias("_auction_found"),
    )
    lf = lf.join(facts, on="auction_id", how="left")
    lf = rules.flag(lf, "unknown_auction", pl.col("_auction_found").is_null())
    lf = rules.same_currency(lf)
    lf = rules.at_or_above_start(lf)
    lf = rules.inside_window(lf).drop("_start_price", "_currency", "_start_time", "_end_time", "_auction_found")
    return lf.join(_scores(scored), on="bid_id", how="left")


def _scores(scored: pl.LazyFrame | None) -> pl.LazyFrame:
    """Fraud score per ``bid_id`` from ``bids-scored`` bronze (first arrival wins)."""
    empty = pl.LazyFrame(schema={"bid_id": pl.String, "fraud_score": pl.Float64, "fraud_reasons": pl.List(pl.String)})
    if scored is None:
        return empty
    return (
        scored.filter(pl.col("bid_id").is_not_null())
        .sort(["bid_id", *ARRIVAL])
        .unique("bid_id", keep="first", maintain_order=True)
        .select("bid_id", "fraud_score", "fraud_reasons")
    )


def classify_alerts(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """One day's fraud alerts: deduplicated, with unique ``alert_id`` and sane times."""
    lf = _dedup_then_rules(bronze)
    lf = rules.required(lf, ["event_id", "event_time", "alert_id", "bidder_id", "auction_id", "score", "alert_time"])
    lf = rules.valid_timestamps(lf, ["event_time", "alert_time"])
    return rules.unique_key(lf, "alert_id", ["alert_id", "event_time", *ARRIVAL, "event_id"])


def silver_columns(table: str) -> list[str]:
    """Columns of a silver table, in order."""
    extra = {"auctions": ["sold"], "bids": ["fraud_score", "fraud_reasons"]}.get(table, [])
    return [*contract_columns(table), *extra, *LINEAGE]
