"""The fast path for canonical inputs: whatever it accepts pydantic accepts, with the same values and bytes.

The guarantee (see ``pipelines/fastpath.py``) is checked on every input of every test by
:func:`check_guarantee`: canonical records from the models' own ``model_dump_json``, the same records
mutated (keys, types, times, amounts, serializations, bytes), random bytes, and the generator's output.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pa_json
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipelines.contracts import CURRENCIES, Auction, Bid, Event, User, to_epoch_ms
from pipelines.generate import GeneratorConfig, generate
from pipelines.stream.fastpath import fast_auction, fast_bid, fast_user

FAST: dict[str, Callable[[bytes], tuple[Any, ...] | None]] = {
    "users": fast_user,
    "auctions": fast_auction,
    "bids": fast_bid,
}
MODELS: dict[str, type[Event]] = {"users": User, "auctions": Auction, "bids": Bid}
#: the guarantee is cheap to check: ten times the profile's examples
MANY = settings(max_examples=10 * settings().max_examples)


def expected(model: Event) -> tuple[Any, ...]:
    """The tuple the fast path must give, derived from the validated model."""
    ms, event_ms = to_epoch_ms, to_epoch_ms(model.event_time)
    if isinstance(model, Bid):
        return (model.bid_id, model.auction_id, model.bidder_id, int(model.amount * 100), model.currency,
                ms(model.bid_time), model.channel, model.device_id, event_ms)  # fmt: skip
    if isinstance(model, Auction):
        return (model.auction_id, model.seller_id, model.category, int(model.start_price * 100), model.currency,
                ms(model.start_time), ms(model.end_time), model.status, model.winner_id, event_ms)  # fmt: skip
    assert isinstance(model, User)
    return model.user_id, None if model.signup_time is None else ms(model.signup_time), event_ms


def same(a: bytes | str, b: bytes | str) -> bool:
    """Whether two JSON texts hold the same values, types included (``True == 1 == 1.0`` in Python, not in
    JSON; orjson reads ints beyond 64 bits as floats)."""
    return json.dumps(json.loads(a), sort_keys=True) == json.dumps(json.loads(b), sort_keys=True)


def check_guarantee(topic: str, value: bytes) -> tuple[Any, ...] | None:
    """Run the fast path on ``value`` and assert the guarantee when it accepts; returns its result."""
    result = FAST[topic](value)
    if result is not None:
        try:
            model = MODELS[topic].model_validate_json(value)  # (a)
        except ValidationError as exc:
            raise AssertionError(f"fast path accepted what pydantic rejects: {value!r}") from exc
        assert orjson.loads(value) == orjson.loads(model.model_dump_json()), value  # (b)
        assert same(value, model.model_dump_json()), value  # (b) with types compared too
        assert result == expected(model), value  # (c)
        assert b"\n" not in value and b"\\u" not in value  # (d)
    return result


# ---- canonical records: built by the models, serialized by pydantic ----------------------------------

UTC_TIMES = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59, 999_999),
                         timezones=st.just(dt.UTC))  # fmt: skip
IDS = st.text(min_size=1, max_size=64) | st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True)
TEXTS = st.text(max_size=30) | st.from_regex(r"[A-Za-z .@-]{0,30}", fullmatch=True)
MAX_MONEY = Decimal("9999999999999999.99")
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=MAX_MONEY, places=2)
AMOUNTS = st.decimals(min_value=Decimal("0.00"), max_value=MAX_MONEY, places=2)
VERSIONS = st.integers(1, 3) | st.integers(1, 2**63 - 1)
CURRENCY = st.sampled_from(sorted(CURRENCIES))


def bids() -> st.SearchStrategy[Bid]:
    return st.builds(Bid, event_id=IDS, event_time=UTC_TIMES, schema_version=VERSIONS, bid_id=IDS, auction_id=IDS,
                     bidder_id=IDS, amount=PRICES, currency=CURRENCY, bid_time=UTC_TIMES,
                     channel=st.sampled_from(["web", "mobile", "api"]), device_id=TEXTS,
                     fraud_label=st.none() | TEXTS)  # fmt: skip


def auctions() -> st.SearchStrategy[Auction]:
    return st.builds(Auction, event_id=IDS, event_time=UTC_TIMES, schema_version=VERSIONS, auction_id=IDS,
                     seller_id=IDS, title=TEXTS, category=TEXTS, start_price=PRICES, reserve_price=st.none() | AMOUNTS,
                     currency=CURRENCY, start_time=UTC_TIMES, end_time=UTC_TIMES,
                     status=st.sampled_from(["open", "closed"]), final_price=st.none() | AMOUNTS,
                     winner_id=st.none() | TEXTS)  # fmt: skip


def users() -> st.SearchStrategy[User]:
    return st.builds(User, event_id=IDS, event_time=UTC_TIMES, schema_version=VERSIONS, user_id=IDS, name=TEXTS,
                     email=TEXTS, country=st.from_regex(r"[A-Z]{2}", fullmatch=True), city=TEXTS,
                     signup_time=st.none() | UTC_TIMES, is_seller=st.booleans(),
                     rating=st.none() | st.integers(-5, 100) | st.integers(-(2**63), 2**63 - 1),
                     is_anonymous=st.booleans())  # fmt: skip


CANONICAL: dict[str, Callable[[], st.SearchStrategy[Any]]] = {"users": users, "auctions": auctions, "bids": bids}


@MANY
@given(st.data())
@pytest.mark.parametrize("topic", sorted(FAST))
def test_canonical_records_are_accepted(topic: str, data: st.DataObject) -> None:
    value = data.draw(CANONICAL[topic]()).model_dump_json().encode()
    accepted = check_guarantee(topic, value)
    # a string that JSON must escape (quote, backslash, control character) is left to pydantic
    assert accepted is not None or b"\\" in value


# ---- mutations: everything a producer might get slightly wrong ---------------------------------------

ARABIC_ONE, WIDE_ONE = "\u0661.\u0660\u0660", "\uff11.\uff10\uff10"  # "1.00" in other digits
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 1.5, 2**63, 2**64, 10**30, "", "x" * 64, "x" * 65, [], {}, {"a": 1}, ["x"],
    "1.5", "-1.00", "0.00", "0.01", " 1.00", "1.00 ", ARABIC_ONE, "01.00", "1e2", "+1.00", "1.000", "1.", ".50", "1,00",
    "9999999999999999.99", "99999999999999999.99", WIDE_ONE, "NaN", "Infinity",
    "2026-11-01T00:14:44.300Z", "2026-11-01T00:14:44.300+02:00", "2026-11-01T00:14:44Z", "2026-11-01T00:14:44.300000Z",
    "2026-11-01 00:14:44.300Z", "2026-11-01T00:14:44.300z", "2026-11-01T24:00:00.000Z", "2026-02-30T00:00:00.000Z",
    "2026-W44-7T00:14:44.300Z", "0000-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z",
    "2026-11-01T00:14:60.000Z", "٢٠٢٦-11-01T00:14:44.300Z", "2026-11-01T00:14:44.3ZZZ", "2026-11-01T00:14:4.300ZZ",
    "+2026-11-01T00:14:44.30Z", "2026-11-01T00:60:00.000Z", "2026-1-01T00:14:44.300ZZ", "2026-11-01T00:14:44,300Z",
    "USD", "usd", "XYZ", "web", "WEB", "api ", "open", "closed", "CA", "ca", "C1", "CAN", "ÀB", "true", "null",
]  # fmt: skip
ODD = st.sampled_from(ODD_VALUES) | st.text(max_size=70) | st.integers() | st.floats() | st.booleans()
#: times of the canonical shape whose parts may be out of range (month 13, hour 24, second 60, ...)
ROUGH_TIMES = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z".format,
    st.sampled_from([0, 1, 1969, 1970, 2024, 2026, 9999]) | st.integers(0, 9999),
    st.integers(0, 13),
    st.sampled_from([0, 1, 28, 29, 30, 31, 32]),
    st.sampled_from([0, 23, 24, 25]),
    st.sampled_from([0, 59, 60, 61]),
    st.sampled_from([0, 59, 60, 61]),
    st.integers(0, 999),
)
MONEY_KEYS = ("amount", "start_price", "reserve_price", "final_price")
#: near misses for the fields of one kind (\d is any Unicode digit)
NEAR = {
    "time": ROUGH_TIMES | st.from_regex(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.,]\d{1,6}(Z|[+-]\d\d:\d\d)?", fullmatch=True),
    "money": st.from_regex(r"[0-9]{1,20}\.[0-9]{2}", fullmatch=True)
    | st.from_regex(r"[ +-]?\d{0,20}\.?\d{0,3}", fullmatch=True),
    "int": st.sampled_from([0, 1, 2, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, True, False, 1.0, "1", None]),
    "is_seller": st.sampled_from([True, False, 0, 1, "true", None]),
    "country": st.sampled_from(["CA", "ZZ", "ca", "aB", "Ab", "C", "CAN", "ÀB", "C1", "  ", "\u0391\u0392", None]),
    "code": st.sampled_from([*sorted(CURRENCIES), "usd", "web", "mobile", "api", "WEB", "open", "closed", "Open", ""]),
    # ids end at 64 characters, labels (device_id, category) at 128, free text (title, name) at 1024
    "text": st.sampled_from(["", "x" * 64, "x" * 65, "é" * 64, "é" * 65, "😀" * 64, "😀" * 65, None, 1, ["x"]])
    | st.sampled_from(["é" * 128, "😀" * 129, "x" * 1024, "é" * 1025]),
}


def _kind(key: str) -> str:
    if key.endswith("_time"):
        return "time"
    if key in MONEY_KEYS:
        return "money"
    if key in ("schema_version", "rating"):
        return "int"
    if key == "is_anonymous":
        return "is_seller"
    if key in ("currency", "channel", "status"):
        return "code"
    return key if key in NEAR else "text"


def _dumps(record: dict[str, Any], style: int) -> bytes:
    """``record`` as JSON in one of the styles producers write."""
    if style == 0:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()  # like orjson, any int
    if style == 1:
        return json.dumps(record, ensure_ascii=False).encode()
    if style == 2:
        return json.dumps(record).encode()  # \u escapes for non-ASCII
    if style == 3:
        return json.dumps(record, indent=1, ensure_ascii=False).encode()  # newlines
    return json.dumps(record, ensure_ascii=False, separators=(" ,", " : ")).encode()


@st.composite
def mutated(draw: st.DrawFn, topic: str) -> bytes:
    """A canonical record of ``topic`` with up to three changes, serialized, maybe with its bytes edited."""
    record: dict[str, Any] = orjson.loads(draw(CANONICAL[topic]()).model_dump_json())
    for _ in range(draw(st.integers(0, 3))):
        kind, key = draw(st.integers(0, 5)), draw(st.sampled_from(sorted(record)))
        if kind == 0:
            del record[key]
        elif kind == 1:
            record[draw(st.sampled_from(["extra", "fraud_score", "Bid_id"]))] = draw(ODD)
        elif kind == 2:
            record[key] = draw(ODD)
        elif kind == 3:
            record[key] = record[draw(st.sampled_from(sorted(record)))]
        elif kind == 4:
            record[key] = draw(NEAR[_kind(key)])
        else:
            record = dict(reversed(record.items()))
    value = _dumps(record, draw(st.integers(0, 4)))
    edit = draw(st.integers(0, 6))
    at = draw(st.integers(0, len(value)))
    if edit == 1:  # a duplicate key (first or last wins, depending on the reader)
        key = draw(st.sampled_from(sorted(record) or ["x"]))
        value = b"{" + json.dumps({key: draw(ODD)}, ensure_ascii=False)[1:-1].encode() + b"," + value[1:]
    elif edit == 2:
        value = value[:at] + draw(st.sampled_from([b" ", b"\t", b"\r", b"\n", b"\r\n", b"\x00", b"\\"])) + value[at:]
    elif edit == 3:
        value = value[:at]
    elif edit == 4:
        value = value[:at] + draw(st.binary(min_size=1, max_size=3)) + value[at + 1 :]
    elif edit == 5:
        value = draw(st.sampled_from([b"\xef\xbb\xbf", b" ", b"[", b""])) + value + draw(st.sampled_from([b" ", b"]"]))
    return value


@MANY
@given(st.data())
@pytest.mark.parametrize("topic", sorted(FAST))
def test_mutated_records_keep_the_guarantee(topic: str, data: st.DataObject) -> None:
    check_guarantee(topic, data.draw(mutated(topic)))


@MANY
@given(value=st.binary(max_size=400), topic=st.sampled_from(sorted(FAST)))
def test_random_bytes_never_raise(value: bytes, topic: str) -> None:
    check_guarantee(topic, value)


@pytest.mark.parametrize("value", [None, "{}", bytearray(b"{}"), memoryview(b"{}"), 1])
def test_non_bytes_are_not_accepted(value: Any) -> None:
    assert fast_bid(value) is fast_auction(value) is fast_user(value) is None


BID_SCHEMA = pa.schema([(name, pa.int64() if name == "schema_version" else pa.string()) for name in Bid.model_fields])


@MANY
@given(st.lists(mutated("bids"), max_size=12), st.lists(bids(), max_size=4))
def test_accepted_values_read_alike_by_pyarrow(values: list[bytes], models: list[Bid]) -> None:
    accepted = [v for v in values + [m.model_dump_json().encode() for m in models] if check_guarantee("bids", v)]
    if not accepted:
        return
    options = pa_json.ParseOptions(explicit_schema=BID_SCHEMA, unexpected_field_behavior="error")
    table = pa_json.read_json(io.BytesIO(b"\n".join(accepted)), parse_options=options)
    assert table.to_pylist() == [orjson.loads(v) for v in accepted]


# ---- examples -----------------------------------------------------------------------------------------

BID = (
    b'{"event_id":"e-1","event_time":"2026-11-01T00:14:44.300Z","schema_version":1,"bid_id":"b-1",'
    b'"auction_id":"a-1","bidder_id":"u-1","amount":"21.99","currency":"EUR","bid_time":"2026-11-01T00:14:44.299Z",'
    b'"channel":"mobile","device_id":"d-1","fraud_label":null}'
)


AUCTION = (
    b'{"event_id":"e-2","event_time":"2026-11-02T00:00:00.000Z","schema_version":1,"auction_id":"a-1",'
    b'"seller_id":"u-2","title":"Mint Oil Painting","category":"art","start_price":"1.00","reserve_price":null,'
    b'"currency":"USD","start_time":"2026-11-01T00:00:00.000Z","end_time":"2026-11-02T00:00:00.000Z",'
    b'"status":"closed","final_price":null,"winner_id":"u-1"}'
)
USER = (
    b'{"event_id":"e-3","event_time":"2026-11-01T00:00:31.576Z","schema_version":1,"user_id":"u-1",'
    b'"name":"Kayla Sullivan","email":"k@example.com","country":"CA","city":"East Melissaport",'
    b'"signup_time":"2024-04-17T04:41:14.088Z","is_seller":true,"rating":81,"is_anonymous":false}'
)
EXAMPLES = {"bids": BID, "auctions": AUCTION, "users": USER}


@pytest.mark.parametrize(
    "value",
    [b"", b"null", b"{}", b"[]", b"1", b'"x"', b"{" * 10_000, b"\xff"]
    + [orjson.dumps(list(orjson.loads(example))) for example in (BID, AUCTION, USER)],
)
@pytest.mark.parametrize("topic", sorted(FAST))
def test_odd_documents_are_not_accepted(topic: str, value: bytes) -> None:
    assert check_guarantee(topic, value) is None


def changed(topic: str, **changes: Any) -> bytes:
    """The topic's example with some values changed (compact JSON; any int)."""
    return json.dumps({**orjson.loads(EXAMPLES[topic]), **changes}, ensure_ascii=False, separators=(",", ":")).encode()


def _bid(**changes: Any) -> bytes:
    return changed("bids", **changes)


def canonical(topic: str, value: bytes) -> bool:
    """Whether pydantic accepts ``value`` and writes the same values back."""
    try:
        model = MODELS[topic].model_validate_json(value)
    except ValidationError:
        return False
    return same(value, model.model_dump_json())


@MANY
@given(st.data())
@pytest.mark.parametrize("topic", sorted(FAST))
def test_one_field_changed_is_accepted_exactly_when_canonical(topic: str, data: st.DataObject) -> None:
    """The fast path takes every value pydantic writes back unchanged (bar JSON escapes), and nothing else."""
    record = orjson.loads(EXAMPLES[topic])
    key = data.draw(st.sampled_from(sorted(record)))
    new = data.draw(ODD if data.draw(st.integers(0, 4)) == 0 else NEAR[_kind(key)])
    times = [k for k in record if k.endswith("_time")] if data.draw(st.booleans()) and _kind(key) == "time" else [key]
    value = changed(topic, **dict.fromkeys(times, new))
    accepted = check_guarantee(topic, value) is not None
    assert accepted == (canonical(topic, value) and not left_to_pydantic(value)), value


def left_to_pydantic(value: bytes) -> bool:
    """Canonical values the fast path leaves to pydantic on purpose: JSON escapes, ints beyond 64 bits (which
    Parquet can't hold) and negative amounts (only reserve and final prices may be negative; no one sends them)."""
    record = json.loads(value)
    big = any(not -(2**63) <= v < 2**63 for v in record.values() if type(v) is int)
    negative = any(record.get(key) and record[key].startswith("-") for key in ("reserve_price", "final_price"))
    return b"\\" in value or big or negative


def test_a_canonical_bid_gives_its_values() -> None:
    t = to_epoch_ms(dt.datetime(2026, 11, 1, 0, 14, 44, 300_000, tzinfo=dt.UTC))
    assert check_guarantee("bids", BID) == ("b-1", "a-1", "u-1", 2199, "EUR", t - 1, "mobile", "d-1", t)


@pytest.mark.parametrize(
    "changes",
    [{"amount": "9999999999999999.99"}, {"amount": "0.01"}, {"amount": "100000.00"}, {"bid_id": "x" * 64},
     {"bidder_id": "é" * 64}, {"device_id": ""}, {"device_id": "é €😀"}, {"fraud_label": "shill"},
     {"schema_version": 7},
     {"bid_time": "0001-01-01T00:00:00.000Z"}, {"event_time": "9999-12-31T23:59:59.999Z"},
     {"bid_time": "2028-02-29T23:59:59.999Z"}, {"bid_time": "1969-12-31T23:59:59.999Z"}],
)  # fmt: skip
def test_unusual_but_canonical_bids_are_accepted(changes: dict[str, Any]) -> None:
    assert check_guarantee("bids", _bid(**changes)) is not None


@pytest.mark.parametrize(
    "value",
    [_bid(amount=a) for a in ["1.5", "-1.00", "0.00", " 1.00", ARABIC_ONE, "01.00", "1.000", "99999999999999999.99"]]
    + [_bid(bid_time=t) for t in ["2026-11-01T00:14:44.300+00:00", "2026-11-01T00:14:44Z", "2026-W44-7T00:14:44.300Z",
                                  "2026-11-01T00:14:44.300000Z", "2026-11-01 00:14:44.300Z"]]
    + [_bid(event_time=t) for t in ["2026-11-01T24:00:00.000Z", "2026-11-01T23:60:00.000Z", "2026-11-01T23:59:60.000Z",
                                    "2026-02-29T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "2026-11-01T00:14:44.300z"]]
    + [_bid(event_id=""), _bid(event_id="x" * 65), _bid(auction_id="é" * 65), _bid(bidder_id=""), _bid(device_id=1)]
    + [_bid(schema_version=True), _bid(schema_version=1.0), _bid(bid_id=""), _bid(bid_id="x" * 65), _bid(channel="fax"),
       _bid(currency="usd"), _bid(device_id=None), _bid(device_id='say "hi"'), _bid(extra=1)]
    + [BID.replace(b',"fraud_label":null', b""), BID.replace(b"{", b'{"bid_id":"b-0",'), BID.replace(b",", b",\n"),
       json.dumps(orjson.loads(_bid(device_id="é"))).encode()],
)  # fmt: skip
def test_anything_else_is_left_to_pydantic(value: bytes) -> None:
    assert check_guarantee("bids", value) is None


def test_auction_prices_may_be_zero_or_null_but_the_start_price_is_positive() -> None:
    record = orjson.loads(AUCTION)
    for changes in [{}, {"reserve_price": "0.00", "final_price": "12.00"}, {"final_price": "0.00", "winner_id": None}]:
        assert check_guarantee("auctions", orjson.dumps({**record, **changes})) is not None
    for changes in [{"start_price": "0.00"}, {"final_price": "-1.00"}, {"status": "cancelled"}, {"winner_id": 7}]:
        assert check_guarantee("auctions", orjson.dumps({**record, **changes})) is None


def test_user_country_is_two_capital_letters() -> None:
    record = orjson.loads(USER)
    assert check_guarantee("users", orjson.dumps(record)) is not None
    wrong: list[dict[str, Any]] = [{"is_seller": 0}, {"rating": 3.0}, {"is_anonymous": None}]
    for changes in [{"country": c} for c in ["ca", "CAN", "C", "ÀB", "C1"]] + wrong:
        assert check_guarantee("users", orjson.dumps({**record, **changes})) is None


@pytest.fixture(scope="module")
def generated() -> list[tuple[str, dict[str, Any]]]:
    return [(topic, record) for batch in generate(GeneratorConfig(seed=1, events=3000, partitions=4))
            for topic, _, record in batch]  # fmt: skip


def test_generator_output_is_accepted(generated: list[tuple[str, dict[str, Any]]]) -> None:
    assert {topic for topic, _ in generated} == set(FAST)
    for topic, record in generated:
        assert check_guarantee(topic, orjson.dumps(record)) is not None, record
        assert check_guarantee(topic, json.dumps(record, ensure_ascii=False).encode()) is not None, record


def test_generator_output_through_json_dumps(generated: list[tuple[str, dict[str, Any]]]) -> None:
    """json.dumps's spaces are fine; its \\u escapes of non-ASCII text are left to pydantic (see (d))."""
    outcomes = set()
    for topic, record in generated:
        ascii_text = orjson.dumps(record).isascii()
        assert (check_guarantee(topic, json.dumps(record).encode()) is not None) == ascii_text, record
        outcomes.add(ascii_text)
    assert outcomes == {True, False}
