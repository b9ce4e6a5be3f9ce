"""The two-stage scoring topology: features exact whatever the partition count and the number of workers.

Bids and auctions are keyed by ``auction_id``, users by ``user_id``. The one-stage step
(:func:`pipelines.stream.score.on_bid`) keeps every feature per input partition, so per-bidder and
per-(bidder, seller) features only see the auctions that hash to one partition and signup times only the
users of the process. Here the work is split where the key changes ([ADR 5](../../docs/adr/0005-two-stage-scoring.md)):

* **auction stage** (:func:`auction_bid`, :func:`auction_event`; state per ``auction_id`` partition):
  validation against the auction (window, currency, duplicates, closed), per-auction and per-(bidder,
  auction) features, the category's typical price. Each valid bid leaves it as one record for the internal
  topic ``internal-<group>-bids-by-bidder``, partitioned by ``bidder_id`` (:func:`bid_fields`); a close
  leaves it as one record per bidder of the auction (participation and win, :func:`close_fields`). The
  worker sends a pass's records for one partition as one message (:func:`batch_value`,
  :class:`pipelines.stream.outputs.InternalBatches`); a record on its own, keyed by bidder
  (:func:`bid_record`, :func:`close_record`), is still read.
* **bidder stage** (:func:`bidder_record`, :func:`bidder_user`; state per ``bidder_id`` partition): the
  internal topic has the partition count of ``users`` and the same partitioner, so partition p of both is
  one worker's and signup times are exact; per-bidder (velocity, devices, auctions, closes, wins) and
  per-(bidder, seller) (tendency, rivals) features, the score and the alert (one per bidder and auction).

Delivery is at-least-once: an auction-stage partition replayed after a crash produces its internal
records again -- the same records (maybe batched differently), since the stage is deterministic from its
committed state. Each record
names its source (input topic, partition, offset, and its index among the records of that input), and the
bidder stage keeps per source partition the last source position it applied (``stores.sources``): records
from one producer to one partition arrive in order, so a record at or before that position is a replay and
is skipped. Both stages' state of partition p is one :class:`pipelines.stream.state.PartitionStores` whose
changelog records carry the offsets of all four input partitions p (one worker owns them: Quix assigns
with the range assignor and every topic has the same partition count).

Pure apart from the state it is given; never reads ``fraud_label``.
"""

from __future__ import annotations

from math import exp, log
from typing import Any, NamedTuple

import orjson

from pipelines.contracts import DAY_MS
from pipelines.stream.rules import ALERT_THRESHOLD, BidFeatures
from pipelines.stream.rules import score as score_features
from pipelines.stream.score import LATE_MS, Scored, Stores, _compact, _new_auction, _probe, bidder_activity, burst

#: ``fraud_reasons`` entry of a bid whose bidder the stream has no user event for
UNKNOWN_USER = "unknown_user"
#: the signup time kept for a user whose event has none (an imported history's users): known, age unknown
NO_SIGNUP = -(1 << 62)
#: ``fraud_reasons`` entry of a bid whose auction's opening event had not been processed (no window, seller)
UNKNOWN_AUCTION = "unknown_auction"
#: first field of an internal record: a bid, or a closed auction's participation of one bidder
BID, CLOSE = "b", "c"


def auction_event(
    auction_id: str,
    seller_id: str,
    category: str,
    start_cents: int,
    currency: str,
    start_ms: int,
    end_ms: int,
    closed: bool,
    winner_id: str | None,
    stores: Stores,
) -> str | list[tuple[str, bool]]:
    """Record an auction (opened or closed) in the auction stage: an error, or on its first close the
    ``(bidder, won)`` of every bidder of the auction (for the bidder stage), else ``[]``."""
    if end_ms <= start_ms:
        return "auction ends before it starts"
    auctions = stores.auctions
    state = auctions[auction_id]
    if state is None:
        state = auctions[auction_id] = _new_auction()
    was_closed = state[0] is not None and state[0][6]
    state[0] = [seller_id, category, start_ms, end_ms, currency, start_cents, closed]
    if state[3] is None and not closed:  # opened again after its bids' state was compacted: start afresh
        state[2:6] = ["", {}, {}, []]
    auctions.changed(auction_id)
    if not closed or was_closed:
        return []
    stores.closing.append((end_ms, auction_id))
    return [(bidder, bidder == winner_id) for bidder in state[4]]


def auction_bid(
    bid_id: str,
    auction_id: str,
    bidder_id: str,
    cents: int,
    currency: str,
    t_ms: int,
    stores: Stores,
) -> str | list[Any]:
    """Validate a bid against its auction and compute the auction stage's features; a string is the error.

    Returns ``[seller, auction_bids, bidder_auction_bids, successive_outbids, early_bids, late_bids,
    first bid of the bidder here (0/1), leader outbid ("" if none or itself), leader first outbid here
    (0/1), jump_ratio, category_ratio, auction known (0/1)]``: what :func:`bid_record` sends on.
    """
    auctions = stores.auctions
    state = auctions[auction_id]
    if state is None:  # stored at once: no error is possible without the auction's own event
        state = auctions[auction_id] = _new_auction()
    info, n_bids, leader, seen, bidders, _, high = state
    if seen is None:  # closed more than LATE_MS ago: compacted
        return "bid after the auction closed"
    if bid_id in seen:
        return f"duplicate bid_id {bid_id}"
    if info is not None:
        seller, category, start_ms, end_ms, auction_currency, start_cents, closed = info
        if t_ms > end_ms or (closed and t_ms >= end_ms):
            return "bid after the auction closed"
        if t_ms < start_ms:
            return "bid before the auction opened"
        if currency != auction_currency:
            return f"bid currency {currency} differs from the auction's {auction_currency}"
        elapsed = (t_ms - start_ms) / (end_ms - start_ms)
        closing = stores.closing
        if closing and closing[0][0] < t_ms - LATE_MS:
            _compact(stores, t_ms - LATE_MS)
    else:  # the auction's opening has not been processed: score with what is known, and say so
        seller, category, elapsed, start_cents = "", "", 0.5, 0

    seen[bid_id] = 1
    n_bids += 1
    mine = bidders.get(bidder_id)
    first = mine is None
    if mine is None:
        mine = bidders[bidder_id] = [1, 0, 1 if elapsed < 1 / 3 else 0, 1 if elapsed > 0.95 else 0, []]
    else:
        mine[0] += 1
        if leader == bidder_id:
            mine[1] += 1
        if elapsed < 1 / 3:
            mine[2] += 1
        elif elapsed > 0.95:
            mine[3] += 1
    rival, rival_new = "", 0
    if leader and leader != bidder_id:
        rival = leader
        counted = mine[4]
        if leader not in counted:
            counted.append(leader)
            rival_new = 1
    state[1] = n_bids
    if cents > high:  # the new leader: the bidder of the highest bid (a lower one is outbid by its proxy)
        state[2] = bidder_id
        state[6] = cents
        probes = 0
    else:
        probes = _probe(mine) if n_bids > 1 else 0
    auctions.changed(auction_id)

    categories = stores.categories
    running = categories[category]
    if running is None:
        running = categories[category] = [0, 0.0]
    n_cat, mean_log = running
    deviation = log(cents if cents > 1 else 1) - mean_log
    category_ratio = exp(deviation) if n_cat >= 50 else 1.0
    if n_cat < 2000:
        running[0] = n_cat = n_cat + 1
    running[1] = mean_log + deviation / n_cat
    categories.changed(category)

    jump_ratio = cents / (high or start_cents or cents)
    return [seller, n_bids, mine[0], mine[1], mine[2], mine[3], int(first), rival, rival_new,
            jump_ratio, category_ratio, int(info is not None), probes]  # fmt: skip


def bid_fields(
    source: str, offset: int, auction_id: str, t_ms: int, event_ms: int, channel: str, device_id: str,
    features: list[Any],
) -> list[Any]:  # fmt: skip
    """The header of a valid bid's internal record: source, bid facts and the auction stage's features."""
    return [BID, source, offset, 0, auction_id, t_ms, event_ms, int(channel == "api"), device_id, *features]


def single_record(head: list[Any], bid: bytes = b"") -> bytes:
    """An internal record on its own (one message, keyed by its bidder): its header as a JSON array, then for
    a bid a newline and the bid's canonical JSON (which holds no newline) as the bidder stage passes it on."""
    return orjson.dumps(head) + b"\n" + bid if bid else orjson.dumps(head)


def bid_record(
    source: str, offset: int, auction_id: str, t_ms: int, event_ms: int, channel: str, device_id: str,
    features: list[Any], scored_base: bytes,
) -> bytes:  # fmt: skip
    """The internal record of a valid bid on its own (:func:`single_record` of :func:`bid_fields`)."""
    return single_record(
        bid_fields(source, offset, auction_id, t_ms, event_ms, channel, device_id, features), scored_base
    )


def close_fields(source: str, offset: int, index: int, auction_id: str, won: bool) -> list[Any]:
    """The header (the whole record) of one bidder's part in a closed auction (the ``index``-th of that close)."""
    return [CLOSE, source, offset, index, auction_id, int(won)]


def close_record(source: str, offset: int, index: int, auction_id: str, won: bool) -> bytes:
    """The internal record of one bidder's part in a closed auction, on its own (one message)."""
    return single_record(close_fields(source, offset, index, auction_id, won))


def parse_record(value: bytes | None) -> tuple[list[Any], bytes] | str:
    """(header, bid JSON or b"") of an internal record, or why it is not one (a dead letter: never ours)."""
    if type(value) is not bytes:
        return "empty value (tombstone)"
    head, _, bid = value.partition(b"\n")
    try:
        fields = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        return f"not an internal record: {exc}"
    return _checked(fields, bid)


def _checked(fields: Any, bid: bytes) -> tuple[list[Any], bytes] | str:
    """The parsed header of an internal record with its bid JSON, or why they are not one."""
    if type(fields) is not list or not fields or fields[0] not in (BID, CLOSE):
        return "not an internal record: no kind"
    if fields[0] == BID and len(fields) == 21 and bid:  # written before a bid carried its probe count
        fields.append(0)
    if len(fields) != (22 if fields[0] == BID else 6) or (fields[0] == BID and not bid):
        return "not an internal record: wrong shape"
    return fields, bid


class BatchItem(NamedTuple):
    """One record of an internal batch (:func:`batch_value`), as :func:`split_batch` reads it."""

    bidder: str | None
    """The record's bidder id (the key a record on its own has); None when the item is not a record."""
    timestamp: int
    """The timestamp (epoch ms) of the input message that made the record."""
    record: tuple[list[Any], bytes] | str
    """(header, bid JSON or b"") as :func:`parse_record` gives them, or why the item is not a record."""
    raw: Any
    """The item as it was read (a dead letter carries it)."""


def batch_value(items: list[list[Any]]) -> bytes:
    """One internal message carrying several records for one partition of the internal topic: a JSON array
    of ``[bidder id, input timestamp, header, bid JSON text or null]``, in the order they were made (one
    C-speed dump and load a batch, where a record on its own took a message and a parse of its own)."""
    return orjson.dumps(items)


def split_batch(value: bytes | None) -> list[BatchItem]:
    """The records of an internal batch, in order; an item that is not a record says why, in its place (a
    value that is not a batch at all is one such item)."""
    try:
        items = orjson.loads(value) if value else None
    except orjson.JSONDecodeError as exc:
        return [BatchItem(None, 0, f"not an internal batch: {exc}", value)]
    if type(items) is not list:
        return [BatchItem(None, 0, "not an internal batch: not a JSON array", value)]
    out = []
    for item in items:
        if type(item) is list and len(item) == 4:
            bidder, timestamp, fields, bid = item
            if type(bidder) is str and type(timestamp) is int and (bid is None or type(bid) is str):
                out.append(BatchItem(bidder, timestamp, _checked(fields, bid.encode() if bid else b""), item))
                continue
        out.append(BatchItem(None, 0, "not an internal batch record: [bidder, timestamp, header, bid]", item))
    return out


def _new_profile() -> list[Any]:
    """A bidder's profile: [recent bid times, auctions, {seller: auctions}, known devices, bids, closed
    auctions, wins, {seller|rival: auctions}, [alerted auctions]]."""
    return [[], 0, {}, [], 0, 0, 0, {}, []]


def _fresh(stores: Stores, source: str, offset: int, index: int) -> bool:
    """Whether this source position is past the last one applied from its source partition (``source``,
    ``"<topic>:<partition>"``), else a replay."""
    sources = stores.sources
    last = sources[source]
    position = [offset, index]
    if last is not None and position <= last:
        return False
    sources[source] = position
    sources.changed(source)
    return True


def bidder_user(user_id: str, signup_ms: int | None, stores: Stores) -> None:
    """A user's signup time, kept in the bidder stage's partition of ``user_id`` (last write wins; a user
    without one is kept as :data:`NO_SIGNUP`: known, of unknown age)."""
    stores.signups[user_id] = NO_SIGNUP if signup_ms is None else signup_ms
    stores.signups.changed(user_id)


def bidder_record(bidder_id: str, fields: list[Any], stores: Stores) -> Scored | None:
    """Apply one internal record in the bidder stage: a bid's score (and alert), or None (a close, a replay).

    ``fields[1]`` names the source as ``"<topic>:<partition>"``.
    """
    kind, source, offset, index = fields[0], fields[1], fields[2], fields[3]
    if type(source) is not str or type(offset) is not int or type(index) is not int:
        raise TypeError("source, offset and index are a string and two integers")
    if not _fresh(stores, source, offset, index):
        return None
    profiles = stores.bidders
    profile = profiles[bidder_id]
    if profile is None:
        profile = profiles[bidder_id] = _new_profile()
    profiles.changed(bidder_id)
    if kind == CLOSE:
        profile[5] += 1
        if fields[5]:
            profile[6] += 1
        return None
    (_, _, _, _, auction_id, t_ms, _, api, device_id, seller, n_bids, mine_bids, outbids, early, late, first,
     rival, rival_new, jump_ratio, category_ratio, known, probes) = fields  # fmt: skip
    sellers = profile[2]
    if first:
        profile[1] += 1
        seller_auctions = sellers[seller] = sellers.get(seller, 0) + 1
    else:
        seller_auctions = sellers.get(seller, 0)

    recent, new_device = bidder_activity(profile, t_ms, device_id)
    rival_auctions = 0
    if rival:
        pair = seller + "|" + rival
        rivals = profile[7]
        rival_auctions = rivals[pair] = rivals.get(pair, 0) + 1 if rival_new else rivals.get(pair, 0)

    signup = stores.signups[bidder_id]
    age: float | None = None
    if signup is not None and signup != NO_SIGNUP:
        age = (t_ms - signup) / DAY_MS
        if age < 0.0:
            age = 0.0
    features = BidFeatures(
        len(recent), n_bids, mine_bids, outbids, profile[1], seller_auctions if seller else 0, early, late,
        profile[5], profile[6], age, jump_ratio, category_ratio, bool(api), new_device, rival_auctions,
        burst(recent, t_ms), probes,
    )  # fmt: skip
    fraud_score, reasons = score_features(features)
    if signup is None or not known:
        reasons = [*reasons, *([UNKNOWN_USER] if signup is None else []), *([] if known else [UNKNOWN_AUCTION])]
    stats = None
    alerted = profile[8]
    if fraud_score >= ALERT_THRESHOLD and auction_id not in alerted:
        alerted.append(auction_id)
        stats = {
            "bids_last_minute": float(len(recent)),
            "auction_bids": float(n_bids),
            "bidder_auction_bids": float(mine_bids),
            "successive_outbids": float(outbids),
            "seller_share": features.seller_auctions / max(1, features.bidder_auctions),
            "jump_ratio": round(jump_ratio, 3),
            "rival_auctions": float(rival_auctions),
        }
    return Scored(fraud_score, reasons, stats, recent[0])
