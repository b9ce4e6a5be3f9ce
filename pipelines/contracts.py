"""Event contracts: the single source for the wire format (JSON) and the lake's Parquet/Polars schemas.

Times are UTC with millisecond precision; money is exact (``Decimal`` with two places on the wire as a
JSON string, ``DECIMAL(18,2)`` in Parquet). Every event carries ``event_id``, ``event_time`` and
``schema_version``.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from decimal import Decimal
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
)

SCHEMA_VERSION = 1
CURRENCIES: frozenset[str] = frozenset({"USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK"})
CHANNELS = ("web", "mobile", "api")
FRAUD_LABELS = ("shill", "bot", "collusion", "takeover")

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: milliseconds in a day (times are epoch milliseconds throughout)
DAY_MS = 86_400_000
#: the longest id (event, user, auction, bid, ...), device id or label, and free text (name, title, ...), in
#: characters: every valid event, and all that the worker derives from it, stays far below a broker's 1 MB
ID_MAX, LABEL_MAX, TEXT_MAX = 64, 128, 1024


def _utc_ms(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (UTC)")
    value = value.astimezone(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def iso_ms(epoch_ms: int) -> str:
    """Wire form of a timestamp given in epoch milliseconds: ``2026-11-01T08:00:00.123Z``."""
    moment = EPOCH + dt.timedelta(milliseconds=epoch_ms)
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def to_epoch_ms(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(milliseconds=1)


def money_str(cents: int) -> str:
    """Wire form of an amount given in cents: ``1234`` -> ``"12.34"``."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


UtcTime = Annotated[
    dt.datetime,
    AfterValidator(_utc_ms),
    PlainSerializer(lambda v: iso_ms(to_epoch_ms(v)), return_type=str, when_used="json"),
]
Money = Annotated[
    Decimal,
    Field(max_digits=18, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
]
Currency = Annotated[str, AfterValidator(lambda v: _known_currency(v))]


def _known_currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError(f"unknown currency {value!r}")
    return value


class Event(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=64)
    event_time: UtcTime
    schema_version: int = Field(SCHEMA_VERSION, ge=1)


class User(Event):
    """A user registered (or updated): topic ``users``, key ``user_id``.

    ``rating`` and ``signup_time`` are null when the source does not know them (an imported history's
    missing values: the eBay file has neither signup dates nor, on some rows, a rating).
    ``is_anonymous`` marks a stand-in for hidden identities (an import's ``Private`` bidder): one such
    user per auction, never a person to profile across auctions.
    """

    user_id: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=TEXT_MAX)
    email: str = Field(max_length=TEXT_MAX)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    city: str = Field(max_length=TEXT_MAX)
    signup_time: UtcTime | None = None
    is_seller: bool
    rating: int | None = None
    is_anonymous: bool = False


class Auction(Event):
    """An auction opened (``status='open'``) or closed with its result: topic ``auctions``."""

    auction_id: str = Field(min_length=1, max_length=64)
    seller_id: str = Field(min_length=1, max_length=64)
    title: str = Field(max_length=TEXT_MAX)
    category: str = Field(max_length=LABEL_MAX)
    start_price: Money = Field(gt=0)
    reserve_price: Money | None = None
    currency: Currency
    start_time: UtcTime
    end_time: UtcTime
    status: Literal["open", "closed"]
    final_price: Money | None = None
    winner_id: str | None = Field(None, max_length=ID_MAX)


class Bid(Event):
    """A bid: topic ``bids``, key ``auction_id``. ``fraud_label`` is ground truth the scorer never reads."""

    bid_id: str = Field(min_length=1, max_length=64)
    auction_id: str = Field(min_length=1, max_length=64)
    bidder_id: str = Field(min_length=1, max_length=64)
    amount: Money = Field(gt=0)
    currency: Currency
    bid_time: UtcTime
    channel: Literal["web", "mobile", "api"]
    device_id: str = Field(max_length=LABEL_MAX)
    fraud_label: str | None = Field(None, max_length=LABEL_MAX)


class ScoredBid(Bid):
    """A bid with its fraud score: topic ``bids-scored``, key ``auction_id``."""

    fraud_score: float = Field(ge=0.0, le=1.0)
    fraud_reasons: list[str]


class Alert(Event):
    """A bidder crossed the fraud threshold in an auction: topic ``fraud-alerts``, key ``bidder_id``.

    One alert per (bidder, auction). ``stats`` holds the window statistics that triggered it.
    """

    alert_id: str = Field(min_length=1, max_length=64)
    bidder_id: str = Field(max_length=ID_MAX)
    auction_id: str = Field(max_length=ID_MAX)
    score: float = Field(ge=0.0, le=1.0)
    reasons: list[str]
    window_start: UtcTime
    window_end: UtcTime
    stats: dict[str, float]
    alert_time: UtcTime


class DeadLetter(Event):
    """An input that failed validation: topic ``dead-letters``, key = the original key.

    Also an output the broker refused (too large, invalid record): then ``source_*`` name the input it came
    from, or the refused output itself when it was refused at delivery (``source_offset`` -1).
    """

    key: str | None
    raw_value: str = Field(description="the value as text, or base64 when it is not UTF-8")
    encoding: Literal["utf-8", "base64"]
    source_topic: str
    source_partition: int
    source_offset: int
    error: str
    raw_size: int | None = Field(None, description="bytes of the whole raw value (None: no value)")
    raw_sha256: str | None = Field(None, description="SHA-256 (hex) of the whole raw value")
    truncated: bool = Field(
        False,
        description="on the topic: raw_value (and a long key or error) was cut to fit the broker's message "
        "limit; the lake's bronze dead-letters row holds the whole value",
    )


TOPIC_MODELS: dict[str, type[Event]] = {
    "users": User,
    "auctions": Auction,
    "bids": Bid,
    "bids-scored": ScoredBid,
    "fraud-alerts": Alert,
    "dead-letters": DeadLetter,
}
TOPIC_KEYS: dict[str, str] = {
    "users": "user_id",
    "auctions": "auction_id",
    "bids": "auction_id",
    "bids-scored": "auction_id",
    "fraud-alerts": "bidder_id",
    "dead-letters": "key",
}

# ---- Parquet / Arrow schemas, derived from the models above -------------------------------------

MONEY_TYPE = pa.decimal128(18, 2)
TIME_TYPE = pa.timestamp("ms", tz="UTC")

#: broker metadata carried by every bronze row
BRONZE_META = pa.schema(
    [
        pa.field("_broker_run", pa.string(), nullable=False),
        pa.field("_partition", pa.int32(), nullable=False),
        pa.field("_offset", pa.int64(), nullable=False),
        pa.field("_key", pa.string()),
        pa.field("_ingest_time", TIME_TYPE),
    ]
)


def _arrow_type(annotation: Any) -> tuple[pa.DataType, bool]:
    """Arrow type for a model field annotation, and whether it is nullable."""
    nullable = False
    origin = typing.get_origin(annotation)
    if origin is Annotated:  # a field with constraints: Annotated[str | None, MaxLen(...)]
        annotation = typing.get_args(annotation)[0]
        origin = typing.get_origin(annotation)
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin is Annotated:
        annotation = typing.get_args(annotation)[0]
        origin = typing.get_origin(annotation)
    if origin is Literal or annotation is str:
        return pa.string(), nullable
    if origin is list:
        return pa.list_(pa.string()), nullable
    if origin is dict:
        return pa.string(), nullable  # JSON text: Polars has no map type
    mapping: dict[Any, pa.DataType] = {
        bool: pa.bool_(),
        int: pa.int64(),
        float: pa.float64(),
        Decimal: MONEY_TYPE,
        dt.datetime: TIME_TYPE,
    }
    return mapping[annotation], nullable


def arrow_schema(model: type[Event]) -> pa.Schema:
    """The Parquet schema of a model's rows (field order = model order)."""
    fields = []
    for name, info in model.model_fields.items():
        typ, nullable = _arrow_type(info.rebuild_annotation())
        fields.append(pa.field(name, typ, nullable=nullable))
    return pa.schema(fields)


def bronze_schema(topic: str) -> pa.Schema:
    """Bronze Parquet schema for a topic: the contract's columns plus broker metadata."""
    base = arrow_schema(TOPIC_MODELS[topic])
    return pa.schema(list(base) + list(BRONZE_META))


def polars_schema(topic: str) -> dict[str, Any]:
    """Polars schema of a topic's bronze rows (derived from the Arrow schema)."""
    import polars as pl

    return dict(pl.from_arrow(bronze_schema(topic).empty_table()).schema)  # type: ignore[union-attr]


def row_for_parquet(event: Event) -> dict[str, Any]:
    """A model as a dict ready for ``pa.Table.from_pylist(..., schema=arrow_schema(...))``."""
    row = event.model_dump()
    if isinstance(event, Alert):
        import json

        row["stats"] = json.dumps(event.stats, sort_keys=True)
    return row
