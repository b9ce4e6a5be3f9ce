"""Data-quality rules for silver: pure ``LazyFrame -> LazyFrame`` functions.

Every frame going through the rules carries a ``_rule`` column (null = clean so far). A rule sets it to
its own name on rows that fail it and are still clean, so each quarantined row names the *first* rule it
broke, in the order the table's pipeline applies them. Rules never drop rows: the caller splits the frame
into silver (``_rule`` null) and quarantine afterwards, so nothing can vanish.

Duplicates are marked, not ruled: :func:`mark_duplicates` sets ``_duplicate`` on every copy after the
first of a key, in a deterministic order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from pipelines.contracts import CURRENCIES

#: timestamps outside this range are not plausible marketplace times (eBay opened in 1995)
EARLIEST = dt.datetime(1995, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def start(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Give a frame its ``_rule`` column (all clean)."""
    return lf.with_columns(pl.lit(None, dtype=pl.String).alias("_rule"))


def flag(lf: pl.LazyFrame, rule: str, failed: pl.Expr) -> pl.LazyFrame:
    """Name ``rule`` on the still-clean rows where ``failed`` holds (a null test counts as passed)."""
    hit = pl.col("_rule").is_null() & failed.fill_null(False)
    return lf.with_columns(pl.when(hit).then(pl.lit(rule)).otherwise(pl.col("_rule")).alias("_rule"))


def required(lf: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """``missing_field``: a column the contract requires is null."""
    return flag(lf, "missing_field", pl.any_horizontal([pl.col(c).is_null() for c in columns]))


def positive(lf: pl.LazyFrame, column: str, rule: str = "amount_not_positive") -> pl.LazyFrame:
    """``amount_not_positive``: money that must be > 0 is zero or negative."""
    return flag(lf, rule, pl.col(column) <= 0)


def known_currency(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``unknown_currency``: the currency is not one the marketplace trades in."""
    return flag(lf, "unknown_currency", ~pl.col("currency").is_in(sorted(CURRENCIES)))


def valid_timestamps(lf: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """``invalid_timestamp``: a time lies outside [1995, 2100)."""
    bad = [(pl.col(c) < EARLIEST) | (pl.col(c) >= LATEST) for c in columns]
    return flag(lf, "invalid_timestamp", pl.any_horizontal(bad))


def valid_window(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``invalid_window``: an auction ends before it starts."""
    return flag(lf, "invalid_window", pl.col("end_time") <= pl.col("start_time"))


def known_value(lf: pl.LazyFrame, column: str, allowed: Sequence[str], rule: str) -> pl.LazyFrame:
    """``rule``: a categorical column holds a value outside ``allowed``."""
    return flag(lf, rule, ~pl.col(column).is_in(list(allowed)))


def country_code(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``bad_country``: not an ISO 3166 alpha-2 shape (two capital letters)."""
    return flag(lf, "bad_country", ~pl.col("country").str.contains(r"^[A-Z]{2}$"))


def consistent_result(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``inconsistent_result``: an open auction with a result, or a closed one with half a result."""
    half = pl.col("final_price").is_null() != pl.col("winner_id").is_null()
    open_with_result = (pl.col("status") == "open") & (pl.col("final_price").is_not_null())
    return flag(lf, "inconsistent_result", half | open_with_result | (pl.col("final_price") <= 0))


def exists_in(lf: pl.LazyFrame, column: str, known: pl.Series, rule: str, optional: bool = False) -> pl.LazyFrame:
    """``rule``: ``column`` holds an id that is not in ``known`` (referential integrity).

    A hash-set probe (``is_in``) rather than a join: the same answer at half the cost. With
    ``optional`` a null reference passes (e.g. an unsold auction has no winner).
    """
    missing = ~pl.col(column).is_in(known.implode())
    if optional:
        missing = missing & pl.col(column).is_not_null()
    return flag(lf, rule, missing)


def at_or_above_start(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``below_start_price``: a bid below its auction's start price (needs ``_start_price`` from the auction)."""
    return flag(lf, "below_start_price", pl.col("amount") < pl.col("_start_price"))


def same_currency(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``currency_mismatch``: a bid in another currency than its auction (needs ``_currency``)."""
    return flag(lf, "currency_mismatch", pl.col("currency") != pl.col("_currency"))


def inside_window(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``outside_auction_window``: a bid before its auction opened or after it ended."""
    outside = (pl.col("bid_time") < pl.col("_start_time")) | (pl.col("bid_time") > pl.col("_end_time"))
    return flag(lf, "outside_auction_window", outside)


def unique_key(lf: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """``duplicate_<key>``: a clean row whose key an earlier clean row (in arrival order) already holds.

    Used for ids that must be unique across *different* events (two events claiming one ``bid_id``):
    the later claims go to quarantine, where they can be inspected, instead of being silently dropped.
    """
    clean_key = pl.when(pl.col("_rule").is_null()).then(pl.col(key))
    return flag(lf, f"duplicate_{key}", ~clean_key.is_first_distinct() & clean_key.is_not_null())


def mark_duplicates(lf: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Set ``_duplicate`` on every row after the first with the same ``key``, in arrival order.

    Arrival order is the order bronze is read in: files sorted by name (broker run, partition, offsets),
    rows in offset order within a file — the same on every run, so the same copy is always kept, with
    one hash pass and no sort. Rows with a null key are never duplicates (they fail ``missing_field``).
    """
    dup = ~pl.col(key).is_first_distinct() & pl.col(key).is_not_null()
    return lf.with_columns(dup.alias("_duplicate"))


def mark_superseded(lf: pl.LazyFrame, key: str, newness: pl.Expr) -> pl.LazyFrame:
    """Set ``_superseded`` on live rows (not duplicate, not quarantined) that are not the newest of ``key``.

    The newest has the highest ``newness``; on a tie the first in arrival order wins. Window
    aggregates instead of a sort: two hash passes over the key.
    """
    live_key = pl.when(~pl.col("_duplicate") & pl.col("_rule").is_null()).then(pl.col(key))
    lf = lf.with_columns(live_key.alias("_live_key"), newness.alias("_newness"))
    top = pl.col("_newness") == pl.col("_newness").max().over("_live_key")
    winner_key = pl.when(top).then(pl.col("_live_key"))
    winner = top & winner_key.is_first_distinct() & winner_key.is_not_null()
    superseded = pl.col("_live_key").is_not_null() & ~winner
    return lf.with_columns(superseded.alias("_superseded")).drop("_live_key", "_newness")
