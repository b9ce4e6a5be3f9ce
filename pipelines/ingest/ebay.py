"""Translate the public eBay online-auctions CSV into contract events (pure: rows in, events/rejects out).

The dataset (Jank & Shmueli, *Modeling Online Auctions*) has one row per bid::

    auctionid,bid,bidtime,bidder,bidderrate,openbid,price,item,auction_type

``bidtime`` is days (fractional) since the auction opened. The file carries no opening dates, no
sellers and no currency, so the import fills them in, the same way on every run:

- every auction opens at ``start`` (midnight UTC of ``--start``) and ends ``N`` days later, ``N`` read
  from ``auction_type`` (``"7 day auction"``); currency is USD;
- one auction per distinct ``auctionid`` (id ``ebay:<auctionid>``): category and title = ``item``,
  start price = ``openbid``, final price = ``price``, winner = the highest bidder (the earliest bid on
  a tie); it emits an ``open`` event at the start and a ``closed`` event at the end;
- one user per distinct ``bidder`` (id ``ebay:<bidder>``, rating = the highest ``bidderrate`` seen, null
  when none is known, country ``US``, signup time null: the file has none, and inventing one would make
  every bidder a new account to the scorer), and one synthetic seller per auction
  (``ebay-seller:<auctionid>``) because the dataset does not name sellers;
- eBay's placeholders for a hidden identity (``Private``, ``NA``, blank, ...: :data:`ANONYMOUS`) are not
  one person: each auction's hidden bidders become one anonymous user ``ebay-anon:<auctionid>``
  (``is_anonymous``, rating null), so they never add up to one busy bidder across auctions;
- one bid per row, channel ``web``, no device; ids are hashes of the row's content, so re-importing
  the same file yields the same event ids (silver removes exact duplicate rows by ``bid_id``).

Missing values are values: ``bidderrate`` and the auction columns (``openbid``, ``price``, ``item``,
``auction_type``) may hold any of :data:`~pipelines.ingest.read.MISSING_MARKERS`. An unknown rating is
null; an auction column missing on one row is taken from the auction's other rows. Only a bid without a
valid ``auctionid``, ``bid`` (amount) or ``bidtime`` is rejected (bad numbers, negative or zero amounts, a
``bidtime`` outside the auction's window; the bidder is never missing: hidden is anonymous). An optional
value that is wrong (``bidderrate`` ``"zero"``, ``auction_type`` ``"10 week auction"``) or contradicts the
auction's first row (the real file has one ``openbid`` of 1 among 0.01s) keeps the bid and becomes a note:
the auction keeps what its other rows say.

An auction the file names is never dropped, whatever happens to its rows: it lands open and closed with
what is known. Without any valid bid it is closed and **unsold** (no winner, no final price: nobody is
known to have paid ``price``). Columns missing on every row of an auction: ``item`` -> category
``unknown``; ``auction_type`` -> the shortest eBay duration (1, 3, 5, 7, 10 days) that holds its last
bid (7 days without bids); ``openbid`` -> its lowest valid bid (0.01 without bids); ``price`` -> the
winner's highest bid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from pipelines.contracts import DAY_MS, LABEL_MAX, Auction, Bid, Event, User
from pipelines.ingest.contract import reject_for
from pipelines.ingest.read import Reject, Row, is_missing, raw_text

EBAY_COLUMNS = ["auctionid", "bid", "bidtime", "bidder", "bidderrate", "openbid", "price", "item", "auction_type"]
#: ``bidder`` values that hide who bid (compared case-insensitively), besides the missing-value markers
ANONYMOUS = frozenset({"private", "anonymous", "(private)", "hidden"})
DURATIONS = (1, 3, 5, 7, 10)
_DURATION = re.compile(r"^\s*(\d{1,2})\s*-?\s*days?\s+auction\s*$", re.IGNORECASE)
_AUCTION_FIELDS = ("openbid", "price", "item", "days")


class _Bad(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule


@dataclass(frozen=True)
class _Row:
    number: int
    amount: Decimal
    bidtime: float
    bidder: str | None  # None: hidden identity
    rating: int | None
    values: dict[str, Any]


@dataclass
class _Auction:
    """What the file says about one auction: its columns as first seen (None: unknown), its parsed bids."""

    auctionid: str
    facts: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(_AUCTION_FIELDS))
    first_row: dict[str, int] = field(default_factory=dict)
    rows: list[_Row] = field(default_factory=list)
    last_columns: tuple[str, ...] = ()
    """The auction columns of the last row merged (rows of an auction repeat them: parsed once)."""


@dataclass
class Translation:
    """Events per topic (``users``, ``auctions``, ``bids``), rejected rows, and notes on optional values."""

    events: dict[str, list[Event]] = field(default_factory=lambda: {"users": [], "auctions": [], "bids": []})
    rejects: list[Reject] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)


def translate(rows: Iterable[Row | Reject], start: dt.datetime) -> Translation:
    """The events an eBay file stands for, given when its auctions opened (a UTC datetime)."""
    out = Translation()
    auctions: dict[str, _Auction] = {}
    for item in rows:
        if isinstance(item, Reject):
            out.rejects.append(item)
            continue
        number, values = item
        text = {k: "" if v is None else (v.strip() if isinstance(v, str) else str(v)) for k, v in values.items()}
        try:
            auctionid = _auction_id(text)
            auction = auctions.get(auctionid)
            if auction is None:  # named: it lands whatever follows
                auction = auctions[auctionid] = _Auction(auctionid)
            _merge_facts(auction, number, text, out)
            auction.rows.append(_parse_bid(number, text, values, out))
        except _Bad as bad:
            out.rejects.append(Reject(number, bad.rule, str(bad), raw_text(values)))
    bidders: dict[str, int | None] = {}
    for auction in auctions.values():
        for row in _auction_events(auction, start, out):  # users: the bidders of the bids that landed
            if row.bidder is not None:
                known = [r for r in (bidders.get(row.bidder), row.rating) if r is not None]
                bidders[row.bidder] = max(known) if known else None
    for name, rating in sorted(bidders.items()):
        out.events["users"].append(_user(f"ebay:{name}", name, rating, start))
    out.notes.sort()
    return out


def _auction_events(auction: _Auction, start: dt.datetime, out: Translation) -> list[_Row]:
    """The auction's open and close events and its bids (``out``); returns the rows whose bid landed."""
    ident = auction.auctionid
    auction_id, seller_id, anon_id = f"ebay:{ident}", f"ebay-seller:{ident}", f"ebay-anon:{ident}"
    days = auction.facts["days"] or _inferred_days([r.bidtime for r in auction.rows])
    placed: list[tuple[Decimal, float, str]] = []
    landed: list[_Row] = []
    for row in auction.rows:
        if row.bidtime > days:
            reason = f"bidtime: {row.bidtime:g} days is outside the {days}-day auction"
            out.rejects.append(Reject(row.number, "outside_window", reason, raw_text(row.values)))
            continue
        who = "" if row.bidder is None else row.bidder
        digest = hashlib.sha1(f"{ident}|{who}|{row.amount}|{row.bidtime!r}".encode()).hexdigest()[:24]
        moment = start + dt.timedelta(milliseconds=round(row.bidtime * DAY_MS))
        bidder_id = anon_id if row.bidder is None else f"ebay:{row.bidder}"
        fields = {"event_id": f"ebay-bid:{digest}", "event_time": moment, "bid_id": f"ebay:{digest}",
                  "auction_id": auction_id, "bidder_id": bidder_id, "amount": row.amount,
                  "currency": "USD", "bid_time": moment, "channel": "web", "device_id": ""}  # fmt: skip
        try:
            bid = Bid.model_validate(fields)
        except ValidationError as exc:
            out.rejects.append(replace(reject_for(row.number, exc, None), raw=raw_text(row.values)))
            continue
        out.events["bids"].append(bid)
        landed.append(row)
        placed.append((row.amount, -row.bidtime, bid.bidder_id))
    best = max(placed) if placed else None
    facts = auction.facts
    opening = facts["openbid"] or (min(p[0] for p in placed) if placed else Decimal("0.01"))
    final = (facts["price"] or best[0]) if best else None
    end = start + dt.timedelta(days=days)
    common = {"auction_id": auction_id, "seller_id": seller_id, "title": facts["item"] or "",
              "category": facts["item"] or "unknown", "start_price": opening, "currency": "USD",
              "start_time": start, "end_time": end}  # fmt: skip
    opened = {"event_id": f"ebay-open:{ident}", "event_time": start, "status": "open"}
    closed = {"event_id": f"ebay-close:{ident}", "event_time": end, "status": "closed",
              "final_price": final, "winner_id": best[2] if best else None}  # fmt: skip
    out.events["auctions"] += [Auction.model_validate(common | opened), Auction.model_validate(common | closed)]
    out.events["users"].append(_user(seller_id, f"eBay seller {ident}", None, start, is_seller=True))
    if any(p[2] == anon_id for p in placed):
        out.events["users"].append(_user(anon_id, f"hidden bidder(s) of auction {ident}", None, start, anonymous=True))
    return landed


def _inferred_days(bidtimes: list[float]) -> int:
    last = max(bidtimes, default=0.0)
    return next((d for d in DURATIONS if last <= d), math.ceil(last)) if bidtimes else 7


def _user(
    user_id: str, name: str, rating: int | None, start: dt.datetime, is_seller: bool = False, anonymous: bool = False
) -> User:
    fields = {"event_id": f"ebay-user:{user_id}", "event_time": start, "user_id": user_id, "name": name,
              "email": "", "country": "US", "city": "", "signup_time": None, "is_seller": is_seller,
              "rating": rating, "is_anonymous": anonymous}  # fmt: skip
    return User.model_validate(fields)


def _auction_id(text: dict[str, str]) -> str:
    auctionid = text["auctionid"]
    if is_missing(auctionid):
        raise _Bad("missing_value", "auctionid: missing or empty")
    if len(auctionid) > 40:
        raise _Bad("bad_value", f"auctionid: longer than 40 characters (got {auctionid[:50]!r})")
    return auctionid


def _merge_facts(auction: _Auction, number: int, text: dict[str, str], out: Translation) -> None:
    """Record this row's auction columns. A value that is wrong, or contradicts an earlier row, is a note:
    the bid does not need it, and the auction keeps what it knew."""
    columns = (text["auction_type"], text["openbid"], text["price"], text["item"])
    if columns == auction.last_columns:
        return  # the same as the auction's previous row: nothing new to learn, nothing to contradict
    for name in ("auction_type", "openbid", "price", "item"):
        if is_missing(text[name], money=name in ("openbid", "price")):
            continue
        try:
            key, value = _auction_value(name, text)
        except _Bad as bad:
            out.notes.append((number, f"{bad}; the auction's {name} is taken from its other rows"))
            continue
        known = auction.facts[key]
        if known is None:
            auction.facts[key], auction.first_row[key] = value, number
        elif known != value:
            first = auction.first_row[key]
            out.notes.append((number, f"{name}: {text[name]!r} differs from row {first} of auction "
                                      f"{auction.auctionid}, which the auction keeps"))  # fmt: skip
    auction.last_columns = columns


def _auction_value(name: str, text: dict[str, str]) -> tuple[str, Any]:
    value = text[name]
    if name == "auction_type":
        match = _DURATION.match(value)
        if not match or int(match.group(1)) < 1:
            raise _Bad("bad_value", f"auction_type: expected like '7 day auction' (got {value!r})")
        return "days", int(match.group(1))
    if name == "item":
        if len(value) > LABEL_MAX:
            raise _Bad("bad_value", f"item: longer than {LABEL_MAX} characters (got {value[:50]!r}...)")
        return "item", value
    return name, _money(text, name)


def _parse_bid(number: int, text: dict[str, str], values: dict[str, Any], out: Translation) -> _Row:
    amount = _money(text, "bid")
    bidtime = _number(text, "bidtime", "bad_date")
    if bidtime < 0:
        raise _Bad("outside_window", f"bidtime: {bidtime:g} days is before the auction opened")
    name = text["bidder"]
    bidder: str | None = None if is_missing(name) or name.lower() in ANONYMOUS else name
    if len(name) > 40:
        raise _Bad("bad_value", f"bidder: longer than 40 characters (got {name[:50]!r})")
    rating: int | None = None
    rating_text = text["bidderrate"]
    if bidder is not None and not is_missing(rating_text):
        try:
            rating = int(rating_text)
        except ValueError:
            out.notes.append((number, f"bidderrate: not a whole number (got {rating_text!r}); the rating is unknown"))
    return _Row(number, amount, bidtime, bidder, rating, values)


def _number(text: dict[str, str], name: str, rule: str = "bad_number") -> float:
    value = text[name]
    if is_missing(value):
        raise _Bad("missing_value", f"{name}: missing or empty")
    try:
        number = float(value)
    except ValueError:
        raise _Bad(rule, f"{name}: not a number (got {value!r})") from None
    if not math.isfinite(number):
        raise _Bad(rule, f"{name}: not a finite number (got {value!r})")
    return number


def _money(text: dict[str, str], name: str) -> Decimal:
    value = text[name]
    if is_missing(value, money=True):
        raise _Bad("missing_value", f"{name}: missing or empty")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise _Bad("bad_number", f"{name}: not a number (got {value!r})") from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e16") or amount != amount.quantize(Decimal("0.01")):
        raise _Bad("bad_number", f"{name}: not an amount with at most 2 decimals (got {value!r})")
    if amount < 0:
        raise _Bad("negative_amount", f"{name}: negative amount (got {value!r})")
    if amount == 0:
        raise _Bad("zero_amount", f"{name}: must be more than 0 (got {value!r})")
    return amount.quantize(Decimal("0.01"))
