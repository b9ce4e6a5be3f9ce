"""Event contracts: exact field names, exact money, UTC millisecond times, one source for schemas."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pipelines.contracts import (
    BRONZE_META,
    TOPIC_MODELS,
    Alert,
    Bid,
    arrow_schema,
    bronze_schema,
    iso_ms,
    money_str,
    polars_schema,
    row_for_parquet,
    to_epoch_ms,
)

DESIGN_FIELDS = {
    "users": {"user_id", "name", "email", "country", "city", "signup_time", "is_seller", "rating"},
    "auctions": {"auction_id", "seller_id", "title", "category", "start_price", "reserve_price", "currency",
                 "start_time", "end_time", "status", "final_price", "winner_id"},
    "bids": {"bid_id", "auction_id", "bidder_id", "amount", "currency", "bid_time", "channel", "device_id",
             "fraud_label"},
}  # fmt: skip
COMMON = {"event_id", "event_time", "schema_version"}
#: fields beyond DESIGN.md's, each with a default so older producers' events stay valid
ADDED = {"users": {"is_anonymous"}}


def _bid(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": "e-1", "event_time": "2026-11-01T10:00:00.000Z", "bid_id": "b-1", "auction_id": "a-1",
        "bidder_id": "u-2", "amount": "10.50", "currency": "USD", "bid_time": "2026-11-01T10:00:00.000Z",
        "channel": "web", "device_id": "d-1",
    }  # fmt: skip
    return base | overrides


@pytest.mark.parametrize("topic", sorted(DESIGN_FIELDS))
def test_models_have_exactly_the_design_fields(topic: str) -> None:
    fields = TOPIC_MODELS[topic].model_fields
    assert set(fields) == DESIGN_FIELDS[topic] | COMMON | ADDED.get(topic, set())
    assert all(not fields[name].is_required() for name in ADDED.get(topic, set()))


def test_scored_bid_extends_bid_with_score_and_reasons() -> None:
    scored = set(TOPIC_MODELS["bids-scored"].model_fields)
    assert scored == set(Bid.model_fields) | {"fraud_score", "fraud_reasons"}


def test_wire_round_trip_is_exact() -> None:
    bid = Bid.model_validate_json(Bid(**_bid()).model_dump_json())  # type: ignore[arg-type]
    assert bid.amount == Decimal("10.50")
    assert bid.bid_time == dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)
    assert '"amount":"10.50"' in bid.model_dump_json()


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", "0"), ("amount", "-1.00"), ("amount", "1.005"), ("currency", "XYZ"), ("channel", "fax"),
     ("bid_time", "2026-11-01T10:00:00"), ("bid_id", ""), ("amount", "NaN")],
)  # fmt: skip
def test_invalid_bids_are_rejected(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Bid.model_validate(_bid(**{field: value}))


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Bid.model_validate(_bid(extra_field=1))


def test_times_are_normalised_to_utc_milliseconds() -> None:
    bid = Bid.model_validate(_bid(bid_time="2026-11-01T12:00:00.123456+02:00"))
    assert bid.bid_time == dt.datetime(2026, 11, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_money_str_is_exact(cents: int) -> None:
    assert Decimal(money_str(cents)) == Decimal(cents) / 100


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_iso_ms_round_trips(epoch_ms: int) -> None:
    parsed = dt.datetime.fromisoformat(iso_ms(epoch_ms))
    assert to_epoch_ms(parsed) == epoch_ms


def test_parquet_schemas_derive_from_the_models() -> None:
    schema = arrow_schema(Bid)
    assert schema.names == list(Bid.model_fields)
    assert schema.field("amount").type == pa.decimal128(18, 2)
    assert schema.field("bid_time").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("fraud_label").nullable and not schema.field("bid_id").nullable
    for topic in TOPIC_MODELS:
        assert bronze_schema(topic).names[-len(BRONZE_META) :] == BRONZE_META.names
        assert list(polars_schema(topic)) == bronze_schema(topic).names


def test_rows_fit_their_parquet_schema() -> None:
    alert = Alert(
        event_id="e", event_time="2026-11-01T10:00:00Z", alert_id="al", bidder_id="u", auction_id="a",  # type: ignore[arg-type]
        score=0.9, reasons=["velocity"], window_start="2026-11-01T09:59:00Z", window_end="2026-11-01T10:00:00Z",  # type: ignore[arg-type]
        stats={"bids": 12.0}, alert_time="2026-11-01T10:00:00Z",  # type: ignore[arg-type]
    )  # fmt: skip
    table = pa.Table.from_pylist([row_for_parquet(alert)], schema=arrow_schema(Alert))
    assert table.column("stats").to_pylist() == ['{"bids": 12.0}']
    bid_table = pa.Table.from_pylist([row_for_parquet(Bid(**_bid()))], schema=arrow_schema(Bid))  # type: ignore[arg-type]
    assert bid_table.column("amount").to_pylist() == [Decimal("10.50")]
