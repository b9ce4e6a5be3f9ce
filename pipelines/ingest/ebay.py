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
- one user per distinct ``bidder`` (id ``ebay:<bidder>``, rating = the highest ``bidderrate`` seen,
  0 when blank, country ``US``, signed up at ``start``), and one synthetic seller per auction
  (``ebay-seller:<auctionid>``) because the dataset does not name sellers;
- one bid per row, channel ``web``, no device; ids are hashes of the row's content, so re-importing
  the same file yields the same event ids (silver removes exact duplicate rows by ``bid_id``).

Rows that break a rule become rejects: bad numbers, negative or zero amounts, a blank bidder or item,
an unknown ``auction_type``, a ``bidtime`` outside the auction's window, or auction columns that
disagree with the auction's first row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from pipelines.contracts import DAY_MS, Auction, Bid, Event, User
from pipelines.ingest.contract import reject_for
from pipelines.ingest.read import Reject, Row, raw_text

EBAY_COLUMNS = ["auctionid", "bid", "bidtime", "bidder", "bidderrate", "openbid", "price", "item", "auction_type"]
_DURATION = re.compile(r"^\s*(\d{1,2})\s*-?\s*days?\s+auction\s*$", re.IGNORECASE)


class _Bad(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule


@dataclass(frozen=True)
class _Row:
    number: int
    auctionid: str
    amount: Decimal
    bidtime: float
    bidder: str
    rating: int
    openbid: Decimal
    price: Decimal
    item: str
    days: int
    values: dict[str, str]


@dataclass
class Translation:
    """Events per topic (``users``, ``auctions``, ``bids``) and the rows that were rejected."""

    events: dict[str, list[Event]] = field(default_factory=lambda: {"users": [], "auctions": [], "bids": []})
    rejects: list[Reject] = field(default_factory=list)


def translate(rows: Iterable[Row | Reject], start: dt.datetime) -> Translation:
    """The events an eBay file stands for, given when its auctions opened (a UTC datetime)."""
    out = Translation()
    auctions: dict[str, list[_Row]] = {}
    for item in rows:
        if isinstance(item, Reject):
            out.rejects.append(item)
            continue
        try:
            parsed = _parse(*item)
            first = auctions.setdefault(parsed.auctionid, [parsed])[0]
            if parsed is not first:
                _same_auction(first, parsed)
                auctions[parsed.auctionid].append(parsed)
        except _Bad as bad:
            out.rejects.append(Reject(item[0], bad.rule, str(bad), raw_text(item[1])))
    bidders: dict[str, int] = {}
    for bids in auctions.values():
        _auction_events(bids, start, out)
        for bid in bids:
            bidders[bid.bidder] = max(bid.rating, bidders.get(bid.bidder, bid.rating))
    for name, rating in sorted(bidders.items()):
        out.events["users"].append(_user(f"ebay:{name}", name, rating, False, start))
    return out


def _auction_events(bids: list[_Row], start: dt.datetime, out: Translation) -> None:
    first = bids[0]
    auction_id = f"ebay:{first.auctionid}"
    seller_id = f"ebay-seller:{first.auctionid}"
    placed: list[tuple[Decimal, float, str]] = []
    for row in bids:
        digest = hashlib.sha1(f"{row.auctionid}|{row.bidder}|{row.amount}|{row.bidtime!r}".encode()).hexdigest()[:24]
        moment = start + dt.timedelta(milliseconds=round(row.bidtime * DAY_MS))
        fields = {"event_id": f"ebay-bid:{digest}", "event_time": moment, "bid_id": f"ebay:{digest}",
                  "auction_id": auction_id, "bidder_id": f"ebay:{row.bidder}", "amount": row.amount,
                  "currency": "USD", "bid_time": moment, "channel": "web", "device_id": ""}  # fmt: skip
        try:
            bid = Bid.model_validate(fields)
        except ValidationError as exc:
            out.rejects.append(replace(reject_for(row.number, exc, None), raw=raw_text(row.values)))
            continue
        out.events["bids"].append(bid)
        placed.append((row.amount, -row.bidtime, bid.bidder_id))
    winner = max(placed)[2] if placed else None
    end = start + dt.timedelta(days=first.days)
    common = {"auction_id": auction_id, "seller_id": seller_id, "title": first.item, "category": first.item,
              "start_price": first.openbid, "currency": "USD", "start_time": start, "end_time": end}  # fmt: skip
    opened = {"event_id": f"ebay-open:{first.auctionid}", "event_time": start, "status": "open"}
    closed = {"event_id": f"ebay-close:{first.auctionid}", "event_time": end, "status": "closed",
              "final_price": first.price if winner else None, "winner_id": winner}  # fmt: skip
    out.events["auctions"] += [Auction.model_validate(common | opened), Auction.model_validate(common | closed)]
    out.events["users"].append(_user(seller_id, f"eBay seller {first.auctionid}", 0, True, start))


def _user(user_id: str, name: str, rating: int, is_seller: bool, start: dt.datetime) -> User:
    fields = {"event_id": f"ebay-user:{user_id}", "event_time": start, "user_id": user_id, "name": name,
              "email": "", "country": "US", "city": "", "signup_time": start, "is_seller": is_seller,
              "rating": rating}  # fmt: skip
    return User.model_validate(fields)


def _parse(number: int, values: dict[str, str]) -> _Row:
    text = {k: (v or "").strip() if isinstance(v, str) or v is None else str(v) for k, v in values.items()}
    auctionid = _required(text, "auctionid")
    if len(auctionid) > 40:
        raise _Bad("bad_value", f"auctionid: longer than 40 characters (got {auctionid[:50]!r})")
    bidder = _required(text, "bidder")
    if len(bidder) > 40:
        raise _Bad("bad_value", f"bidder: longer than 40 characters (got {bidder[:50]!r})")
    match = _DURATION.match(text["auction_type"])
    if not match or int(match.group(1)) < 1:
        raise _Bad("bad_value", f"auction_type: expected like '7 day auction' (got {text['auction_type']!r})")
    days = int(match.group(1))
    bidtime = _number(text, "bidtime", "bad_date")
    if not 0 <= bidtime <= days:
        raise _Bad("outside_window", f"bidtime: {bidtime:g} days is outside the {days}-day auction")
    rating_text = text["bidderrate"]
    try:
        rating = int(rating_text) if rating_text else 0
    except ValueError:
        raise _Bad("bad_number", f"bidderrate: not a whole number (got {rating_text!r})") from None
    return _Row(number, auctionid, _money(text, "bid"), bidtime, bidder, rating, _money(text, "openbid"),
                _money(text, "price"), _required(text, "item"), days, values)  # fmt: skip


def _same_auction(first: _Row, row: _Row) -> None:
    for name in ("openbid", "price", "item", "days"):
        if getattr(row, name) != getattr(first, name):
            shown = "auction_type" if name == "days" else name
            raise _Bad("inconsistent_auction",
                       f"{shown}: differs from row {first.number} of auction {first.auctionid}")  # fmt: skip


def _required(text: dict[str, str], name: str) -> str:
    if not text[name]:
        raise _Bad("missing_value", f"{name}: missing or empty")
    return text[name]


def _number(text: dict[str, str], name: str, rule: str = "bad_number") -> float:
    value = _required(text, name)
    try:
        number = float(value)
    except ValueError:
        raise _Bad(rule, f"{name}: not a number (got {value!r})") from None
    if not math.isfinite(number):
        raise _Bad(rule, f"{name}: not a finite number (got {value!r})")
    return number


def _money(text: dict[str, str], name: str) -> Decimal:
    value = _required(text, name)
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
