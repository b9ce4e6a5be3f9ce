"""A fast validation path for the stream worker's inputs in their canonical JSON form.

Why: pydantic's ``model_validate_json`` costs several microseconds per message, most of the worker's
budget per bid. Almost every message is canonical (what the generator and ``model_dump_json()`` write),
so each ``fast_*`` function here accepts exactly that shape and returns the few values the worker needs
as a tuple, or ``None`` for anything else, for the worker to hand to pydantic (which then accepts an
unusual-but-valid value or names the precise error).

The guarantee the worker relies on, for any bytes ``value``: if ``fast_X(value)`` is not ``None`` then
the model validates ``value``; ``orjson.loads(value)`` equals the loaded ``model_dump_json()`` (the raw
bytes already are the canonical values, so they may go to bronze as they are); the tuple is what the
model gives (epoch milliseconds, cents); and ``value`` holds no newline and no backslash at all, so no
``\\u`` escape, and no duplicate key (see ``_*_QUOTES``): pyarrow's JSON reader reads newline-joined
values alike. These functions never raise.

Canonical but left to pydantic on purpose (rare, and simpler to refuse): strings that JSON must escape
(``"``, ``\\``, control characters; ``json.dumps``'s default ``\\u`` escapes of non-ASCII text), ints
beyond 64 bits (Parquet's int64 can't hold them), negative reserve or final prices.
"""

from __future__ import annotations

import datetime as dt
from operator import itemgetter
from typing import Any

import orjson

from pipelines.contracts import CURRENCIES, ID_MAX, LABEL_MAX, TEXT_MAX

_BID_FIELDS = ("event_id", "event_time", "schema_version", "bid_id", "auction_id", "bidder_id", "amount",
               "currency", "bid_time", "channel", "device_id", "fraud_label")  # fmt: skip
_AUCTION_FIELDS = ("event_id", "event_time", "schema_version", "auction_id", "seller_id", "title", "category",
                   "start_price", "reserve_price", "currency", "start_time", "end_time", "status", "final_price",
                   "winner_id")  # fmt: skip
_USER_FIELDS = ("event_id", "event_time", "schema_version", "user_id", "name", "email", "country", "city",
                "signup_time", "is_seller", "rating", "is_anonymous")  # fmt: skip
_BID, _AUCTION, _USER = itemgetter(*_BID_FIELDS), itemgetter(*_AUCTION_FIELDS), itemgetter(*_USER_FIELDS)
# Without backslashes every '"' delimits a key or a string value, so a canonical value holds exactly 2 per
# key plus 2 per string value (times and money are strings; + 2 per optional one that is not null). A
# duplicate key (which orjson and pydantic would silently overwrite, but pyarrow rejects) adds 2 more.
_BID_QUOTES = 2 * (len(_BID_FIELDS) + 10)
_AUCTION_QUOTES = 2 * (len(_AUCTION_FIELDS) + 11)
_USER_QUOTES = 2 * (len(_USER_FIELDS) + 8)

_BACKSLASH, _NEWLINE = ord("\\"), ord("\n")
_INT64_MAX = 2**63 - 1
_CHANNELS = frozenset({"web", "mobile", "api"})
_STATUSES = frozenset({"open", "closed"})
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_CACHE_MAX = 100_000  # entries per cache below (random input could otherwise grow them without end)
_MINUTES: dict[str, int] = {}  # "2026-11-01T00:14" -> epoch ms of that minute (valid minutes only)
_AMOUNTS: dict[str, int] = {}  # "21.99" -> 2199 (canonical amounts only)
_SECONDS = {f":{s:02d}": s * 1000 for s in range(60)}  # ":44" -> 44000
_MILLIS = {f".{ms:03d}Z": ms for ms in range(1000)}  # ".300Z" -> 300


def _object(value: bytes, count: int) -> dict[str, Any]:
    """The JSON object in ``value``; ValueError unless it has ``count`` keys and no backslash or newline."""
    if type(value) is not bytes or _BACKSLASH in value or _NEWLINE in value:
        raise ValueError("not canonical")
    record = orjson.loads(value)  # orjson.JSONDecodeError is a ValueError
    if type(record) is not dict or len(record) != count:
        raise ValueError("not canonical")
    return record


def _minute_ms(text: str) -> int | None:
    """Epoch ms of ``YYYY-MM-DDTHH:MM`` (ASCII digits, a real date, 00:00..23:59), else None."""
    digits = text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16]
    if text[4] != "-" or text[7] != "-" or text[10] != "T" or text[13] != ":":
        return None
    if not (digits.isascii() and digits.isdigit()) or text[11:13] > "23" or text[14:16] > "59":
        return None
    try:
        day = dt.date(int(text[:4]), int(text[5:7]), int(text[8:10])).toordinal() - _EPOCH_DAY
    except ValueError:
        return None
    if len(_MINUTES) >= _CACHE_MAX:
        _MINUTES.clear()
    ms = _MINUTES[text] = ((day * 24 + int(text[11:13])) * 60 + int(text[14:16])) * 60_000
    return ms


def _epoch_ms(text: Any) -> int | None:
    """Epoch ms of a time written exactly like ``2026-11-01T00:14:44.300Z``, else None."""
    if type(text) is not str or len(text) != 24:
        return None
    try:  # (subscripts, not .get: a few per cent of the bid's time)
        minute = _MINUTES[text[:16]]
    except KeyError:
        first = _minute_ms(text[:16])  # validates and caches the minute
        if first is None:
            return None
        minute = first
    try:
        return minute + _SECONDS[text[16:19]] + _MILLIS[text[19:]]
    except KeyError:
        return None


def _cents(text: Any) -> int | None:
    """Cents of an amount written like ``21.99`` (no sign, no leading zero, <= 18 digits), else None."""
    if type(text) is not str:
        return None
    cents = _AMOUNTS.get(text)
    if cents is not None:
        return cents
    if not 4 <= len(text) <= 19 or text[-3] != "." or (text[0] == "0" and len(text) > 4):
        return None
    digits = text[:-3] + text[-2:]
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(_AMOUNTS) >= _CACHE_MAX:
        _AMOUNTS.clear()
    cents = _AMOUNTS[text] = int(digits)
    return cents


def _is_id(text: Any) -> bool:
    return type(text) is str and 0 < len(text) <= 64


def _is_version(number: Any) -> bool:
    return type(number) is int and 1 <= number <= _INT64_MAX


def fast_bid(value: bytes) -> tuple[str, str, str, int, str, int, str, str, int] | None:
    """``(bid_id, auction_id, bidder_id, amount_cents, currency, bid_time_ms, channel, device_id,
    event_time_ms)`` of a canonical bid, else None. The hot path: checks are inlined."""
    if type(value) is not bytes or _BACKSLASH in value or _NEWLINE in value:
        return None
    try:  # like _object(), inlined; _BID() raises TypeError unless the record is a dict
        record = orjson.loads(value)
        (event_id, event_time, version, bid_id, auction_id, bidder_id, amount, currency, bid_time, channel, device,
         label) = _BID(record)  # fmt: skip
        if len(record) != len(_BID_FIELDS):
            return None
        if currency not in CURRENCIES or channel not in _CHANNELS:
            return None
        cents = _AMOUNTS.get(amount) or _cents(amount)
    except (ValueError, KeyError, TypeError):  # not an object of exactly these keys; an unhashable value
        return None
    if not (type(event_id) is type(bid_id) is type(auction_id) is type(bidder_id) is type(device) is str):
        return None
    if not (
        0 < len(event_id) <= 64 and 0 < len(bid_id) <= 64 and 0 < len(auction_id) <= 64 and 0 < len(bidder_id) <= 64
    ):
        return None
    if type(version) is not int or not 0 < version <= _INT64_MAX or (label is not None and type(label) is not str):
        return None
    if len(device) > LABEL_MAX or (label is not None and len(label) > LABEL_MAX):
        return None
    bid_ms = _epoch_ms(bid_time)
    event_ms = bid_ms if event_time == bid_time else _epoch_ms(event_time)
    if not cents or bid_ms is None or event_ms is None or value.count(b'"') != _BID_QUOTES + 2 * (label is not None):
        return None
    return bid_id, auction_id, bidder_id, cents, currency, bid_ms, channel, device, event_ms


def fast_auction(value: bytes) -> tuple[str, str, str, int, str, int, int, str, str | None, int] | None:
    """``(auction_id, seller_id, category, start_price_cents, currency, start_time_ms, end_time_ms, status,
    winner_id, event_time_ms)`` of a canonical auction, else None."""
    try:
        record = _object(value, len(_AUCTION_FIELDS))
        (event_id, event_time, version, auction_id, seller_id, title, category, start_price, reserve_price, currency,
         start_time, end_time, status, final_price, winner_id) = _AUCTION(record)  # fmt: skip
        if currency not in CURRENCIES or status not in _STATUSES:
            return None
    except (ValueError, KeyError, TypeError):
        return None
    if not (_is_id(event_id) and _is_id(auction_id) and _is_id(seller_id) and _is_version(version)):
        return None
    if type(title) is not str or type(category) is not str or (winner_id is not None and type(winner_id) is not str):
        return None
    if len(title) > TEXT_MAX or len(category) > LABEL_MAX or (winner_id is not None and len(winner_id) > ID_MAX):
        return None
    if (reserve_price is not None and _cents(reserve_price) is None) or (
        final_price is not None and _cents(final_price) is None
    ):
        return None
    cents, start_ms, end_ms = _cents(start_price), _epoch_ms(start_time), _epoch_ms(end_time)
    event_ms = start_ms if event_time == start_time else end_ms if event_time == end_time else _epoch_ms(event_time)
    if not cents or start_ms is None or end_ms is None or event_ms is None:
        return None
    optional_strings = (reserve_price is not None) + (final_price is not None) + (winner_id is not None)
    if value.count(b'"') != _AUCTION_QUOTES + 2 * optional_strings:
        return None
    return auction_id, seller_id, category, cents, currency, start_ms, end_ms, status, winner_id, event_ms


def fast_user(value: bytes) -> tuple[str, int | None, int] | None:
    """``(user_id, signup_time_ms or None when unknown, event_time_ms)`` of a canonical user, else None."""
    try:
        event_id, event_time, version, user_id, name, email, country, city, signup_time, is_seller, rating, anon = (
            _USER(_object(value, len(_USER_FIELDS)))
        )
    except (ValueError, KeyError):
        return None
    if not (_is_id(event_id) and _is_id(user_id) and _is_version(version)):
        return None
    if type(name) is not str or type(email) is not str or type(city) is not str or type(is_seller) is not bool:
        return None
    if len(name) > TEXT_MAX or len(email) > TEXT_MAX or len(city) > TEXT_MAX:
        return None
    if type(country) is not str or len(country) != 2 or not (country.isascii() and country.isalpha()):
        return None
    if not country.isupper() or type(anon) is not bool:
        return None
    if rating is not None and (type(rating) is not int or not -_INT64_MAX - 1 <= rating <= _INT64_MAX):
        return None
    if signup_time is None:  # unknown (an imported history): one string value fewer
        signup_ms, quotes = None, _USER_QUOTES - 2
    else:
        signup_ms, quotes = _epoch_ms(signup_time), _USER_QUOTES
        if signup_ms is None:
            return None
    event_ms = signup_ms if event_time == signup_time else _epoch_ms(event_time)
    if event_ms is None or value.count(b'"') != quotes:
        return None
    return user_id, signup_ms, event_ms
