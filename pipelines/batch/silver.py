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

from pipelines.batch import quality as rules
from pipelines.contracts import CHANNELS, TOPIC_MODELS, polars_schema

#: the silver tables and the bronze topic each is built from
SOURCES = {"users": "users", "auctions": "auctions", "bids": "bids", "fraud_alerts": "fraud-alerts"}
#: lineage kept on every silver and quarantine row
LINEAGE = ["_broker_run", "_partition", "_offset"]
#: columns silver adds to the contract's, with their types
EXTRA_TYPES: dict[str, Any] = {"sold": pl.Boolean, "fraud_score": pl.Float64, "fraud_reasons": pl.List(pl.String)}


def empty_frame(table: str) -> pl.DataFrame:
    """An empty frame with every bronze column of the table's topic plus silver's extra columns."""
    return pl.DataFrame(schema={**polars_schema(SOURCES[table]), **EXTRA_TYPES})


def contract_columns(table: str) -> list[str]:
    return list(TOPIC_MODELS[SOURCES[table]].model_fields)


#: what became of a bronze row
FATE = pl.Enum(["silver", "quarantine", "duplicate", "superseded"])


def fates(classified: pl.LazyFrame) -> pl.LazyFrame:
    """One ``_fate`` column (:data:`FATE`): ``duplicate`` | ``quarantine`` | ``superseded`` | ``silver``."""
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
    return classified.with_columns(fate.cast(FATE).alias("_fate"))


def _dedup_then_rules(bronze: pl.LazyFrame) -> pl.LazyFrame:
    return rules.start(rules.mark_duplicates(bronze, "event_id"))


def classify_users(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """Users from all days' bronze: the newest valid event per ``user_id`` is the user."""
    lf = _dedup_then_rules(bronze)
    lf = rules.required(lf, ["event_id", "event_time", "user_id", "is_seller", "country"])  # signup may be unknown
    lf = rules.valid_timestamps(lf, ["event_time", "signup_time"])
    lf = rules.country_code(lf)
    return rules.mark_superseded(lf, "user_id", pl.col("event_time").dt.epoch("ms"))


def classify_auctions(bronze: pl.LazyFrame, user_ids: pl.Series) -> pl.LazyFrame:
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
    closed_first = (pl.col("status") == "closed").cast(pl.Int64) * 10**15  # a close outranks any open
    return rules.mark_superseded(lf, "auction_id", closed_first + pl.col("event_time").dt.epoch("ms"))


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
    bronze: pl.LazyFrame, auctions: pl.LazyFrame, user_ids: pl.Series, scored: pl.LazyFrame | None
) -> pl.LazyFrame:
    """One day's bids against silver auctions and users, with the fraud score where one was computed."""
    lf = _dedup_then_rules(bronze)
    lf = rules.required(lf, ["event_id", "event_time", "bid_id", "auction_id", "bidder_id", "amount", "bid_time"])
    lf = rules.required(lf, ["currency", "channel"])
    lf = rules.positive(lf, "amount")
    lf = rules.known_currency(lf)
    lf = rules.known_value(lf, "channel", CHANNELS, "unknown_channel")
    lf = rules.valid_timestamps(lf, ["event_time", "bid_time"])
    lf = rules.unique_key(lf, "bid_id")
    lf = rules.exists_in(lf, "bidder_id", user_ids, "unknown_bidder")
    facts = auctions.select(
        "auction_id",
        pl.col("start_price").alias("_start_price"),
        pl.col("currency").alias("_currency"),
        pl.col("start_time").alias("_start_time"),
        pl.col("end_time").alias("_end_time"),
        pl.lit(True).alias("_auction_found"),
    )
    lf = lf.join(facts, on="auction_id", how="left", maintain_order="left")
    lf = rules.flag(lf, "unknown_auction", pl.col("_auction_found").is_null())
    lf = rules.same_currency(lf)
    lf = rules.at_or_above_start(lf)
    lf = rules.inside_window(lf).drop("_start_price", "_currency", "_start_time", "_end_time", "_auction_found")
    if scored is None:  # nothing scored that day: no join, just the (null) score columns
        return lf.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("fraud_score"),
            pl.lit(None, dtype=pl.List(pl.String)).alias("fraud_reasons"),
        )
    best = scored.filter(pl.col("bid_id").is_not_null()).unique("bid_id", keep="first", maintain_order=True)
    return lf.join(
        best.select("bid_id", "fraud_score", "fraud_reasons"), on="bid_id", how="left", maintain_order="left"
    )


def classify_alerts(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """One day's fraud alerts: deduplicated, with unique ``alert_id`` and sane times."""
    lf = _dedup_then_rules(bronze)
    lf = rules.required(lf, ["event_id", "event_time", "alert_id", "bidder_id", "auction_id", "score", "alert_time"])
    lf = rules.valid_timestamps(lf, ["event_time", "alert_time"])
    return rules.unique_key(lf, "alert_id")


def silver_columns(table: str) -> list[str]:
    """Columns of a silver table, in order."""
    extra = {"auctions": ["sold"], "bids": ["fraud_score", "fraud_reasons"]}.get(table, [])
    return [*contract_columns(table), *extra, *LINEAGE]
