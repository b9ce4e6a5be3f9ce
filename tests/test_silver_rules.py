"""Each data-quality rule on tiny inputs: clean rows pass, a seeded defect is named by the rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from bronze_rows import at, auction, bid, frame, user

from pipelines.batch import quality as rules


def _rules_of(lf: pl.LazyFrame) -> list[str | None]:
    return lf.collect()["_rule"].to_list()


def _bids(*rows: dict[str, Any]) -> pl.LazyFrame:
    return rules.start(frame("bids", list(rows)).lazy())


def test_flag_keeps_the_first_rule_and_treats_null_tests_as_passed() -> None:
    lf = _bids(bid("x1", amount="-1.00"), bid("x2", amount="5.00"))
    lf = rules.flag(lf, "first", pl.col("amount") < 0)
    lf = rules.flag(lf, "second", pl.lit(None, dtype=pl.Boolean) | (pl.col("amount") < 100))
    assert _rules_of(lf) == ["first", "second"]


@pytest.mark.parametrize(
    ("apply", "good", "bad", "rule"),
    [
        (lambda lf: rules.required(lf, ["bidder_id"]), {}, {"bidder_id": None}, "missing_field"),
        (lambda lf: rules.positive(lf, "amount"), {}, {"amount": Decimal("0.00")}, "amount_not_positive"),
        (lambda lf: rules.positive(lf, "amount"), {}, {"amount": Decimal("-3.00")}, "amount_not_positive"),
        (rules.known_currency, {"currency": "EUR"}, {"currency": "XYZ"}, "unknown_currency"),
        (
            lambda lf: rules.valid_timestamps(lf, ["bid_time"]),
            {},
            {"bid_time": dt.datetime(1970, 1, 1, tzinfo=dt.UTC)},
            "invalid_timestamp",
        ),
        (
            lambda lf: rules.valid_timestamps(lf, ["event_time"]),
            {},
            {"event_time": dt.datetime(2200, 1, 1, tzinfo=dt.UTC)},
            "invalid_timestamp",
        ),
        (
            lambda lf: rules.known_value(lf, "channel", ["web", "mobile", "api"], "unknown_channel"),
            {"channel": "api"},
            {"channel": "fax"},
            "unknown_channel",
        ),
    ],
)
def test_bid_level_rules(apply: Any, good: dict[str, Any], bad: dict[str, Any], rule: str) -> None:
    lf = apply(_bids(bid("ok", **good), bid("bad", **bad)))
    assert _rules_of(lf) == [None, rule]


def test_auction_rules_window_status_result_and_country() -> None:
    rows = [
        auction("ok"),
        auction("w", end_time=at(0)),
        auction("s", status="paused"),
        auction("r", status="closed", final_price=Decimal("12.00"), winner_id=None),
        auction("o", final_price=Decimal("12.00"), winner_id="b1"),
    ]
    lf = rules.start(frame("auctions", rows).lazy())
    lf = rules.known_value(lf, "status", ["open", "closed"], "unknown_status")
    lf = rules.valid_window(lf)
    lf = rules.consistent_result(lf)
    assert _rules_of(lf) == [None, "invalid_window", "unknown_status", "inconsistent_result", "inconsistent_result"]
    users = rules.country_code(rules.start(frame("users", [user("u1"), user("u2", country="usa")]).lazy()))
    assert _rules_of(users) == [None, "bad_country"]


def test_exists_in_checks_references_and_allows_optional_nulls() -> None:
    known = pl.Series(["s1", "b1"])
    rows = [auction("a1"), auction("a2", seller_id="ghost"), auction("a3", winner_id="ghost")]
    lf = rules.start(frame("auctions", rows).lazy())
    lf = rules.exists_in(lf, "seller_id", known, "unknown_seller")
    lf = rules.exists_in(lf, "winner_id", known, "unknown_winner", optional=True)
    out = lf.collect()
    assert out["auction_id"].to_list() == ["a1", "a2", "a3"]
    assert out["_rule"].to_list() == [None, "unknown_seller", "unknown_winner"]


def test_bid_against_auction_price_currency_and_window() -> None:
    rows = [
        bid("ok", amount="10.00"),
        bid("low", amount="9.99"),
        bid("eur", currency="EUR"),
        bid("early", bid_time=at(-1)),
        bid("late", bid_time=at(11)),
    ]
    facts = {"_start_price": Decimal("10.00"), "_currency": "USD", "_start_time": at(0), "_end_time": at(10)}
    lf = _bids(*rows).with_columns(
        pl.lit(facts["_start_price"], dtype=pl.Decimal(18, 2)).alias("_start_price"),
        pl.lit(facts["_currency"]).alias("_currency"),
        pl.lit(facts["_start_time"]).dt.cast_time_unit("ms").alias("_start_time"),
        pl.lit(facts["_end_time"]).dt.cast_time_unit("ms").alias("_end_time"),
    )
    lf = rules.inside_window(rules.at_or_above_start(rules.same_currency(lf)))
    expected = [None, "below_start_price", "currency_mismatch", "outside_auction_window", "outside_auction_window"]
    assert _rules_of(lf) == expected


def test_unique_key_quarantines_later_claims_of_an_id_by_other_events() -> None:
    rows = [bid("x1", event_id="e1"), bid("x1", event_id="e2"), bid("x2"), bid("x3", amount="-1.00"), bid("x3")]
    lf = rules.positive(_bids(*rows), "amount")
    out = rules.unique_key(lf, "bid_id").collect()
    # the first claim in arrival order wins; a quarantined row does not claim its id
    assert out["_rule"].to_list() == [None, "duplicate_bid_id", None, "amount_not_positive", None]


def test_mark_duplicates_keeps_the_first_arrival() -> None:
    rows = [bid("x1", _offset=3), bid("x2", event_id=None), bid("x1", _offset=7), bid("x3", event_id=None)]
    out = rules.mark_duplicates(frame("bids", rows).lazy(), "event_id").collect()
    assert out["_duplicate"].to_list() == [False, False, True, False]


def test_mark_superseded_keeps_the_newest_live_row_first_arrival_on_ties() -> None:
    rows = [
        user("u1", event_id="e1", rating=1),
        user("u1", event_id="e2", rating=3),
        user("u1", event_id="e3", rating=3),
        user("u1", event_id="e4", rating=9, country="usa"),
        user("u2", event_id="e5", rating=0),
    ]
    lf = rules.country_code(rules.start(rules.mark_duplicates(frame("users", rows).lazy(), "event_id")))
    out = rules.mark_superseded(lf, "user_id", pl.col("rating")).collect()
    assert out["_superseded"].to_list() == [True, False, True, False, False]
    assert out["_rule"].to_list() == [None, None, None, "bad_country", None]
