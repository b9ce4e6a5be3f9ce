"""Planted fraud behaves as documented in pipelines/generate_fraud.py, so a scorer can find it without labels."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from pipelines.generate import GeneratorConfig, generate
from pipelines.generate.bidding import increment
from pipelines.generate.tables import build

CONFIG = GeneratorConfig(seed=21, events=60_000, fraud_rate=0.08)


def _cents(text: str) -> int:
    return int(Decimal(text) * 100)


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    built = build(CONFIG)
    users: dict[str, dict[str, Any]] = {}
    auctions: dict[str, dict[str, Any]] = {}
    bids: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for batch in generate(CONFIG):
        for topic, _, record in batch:
            if topic == "users":
                users[record["user_id"]] = record
            elif topic == "auctions":
                auctions.setdefault(record["auction_id"], {}).update(
                    {k: v for k, v in record.items() if v is not None or record["status"] == "open"}
                )
            else:
                bids[record["auction_id"]].append(record)
    return {"actors": built.actors, "users": users, "auctions": auctions, "bids": bids}


def _by_pattern(run: dict[str, Any], pattern: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for history in run["bids"].values():
        for bid in history:
            if bid["fraud_label"] == pattern:
                found[bid["bidder_id"]].append(bid)
    return found


def test_fraud_rate_is_the_share_of_bidders(run: dict[str, Any]) -> None:
    bidders = {b["bidder_id"] for history in run["bids"].values() for b in history}
    planted = {b for b in bidders if b in run["actors"]}
    assert 0.05 < len(planted) / len(bidders) < 0.11
    assert {run["actors"][b] for b in planted} == {"shill", "bot", "collusion", "takeover"}


def test_shills_stick_to_few_sellers_bid_early_in_single_increments_and_rarely_win(run: dict[str, Any]) -> None:
    shills = _by_pattern(run, "shill")
    assert shills
    won = bid_on = 0
    for bidder, own in shills.items():
        assert len({run["auctions"][b["auction_id"]]["seller_id"] for b in own}) <= 3
        for auction_id in {b["auction_id"] for b in own}:
            auction, history = run["auctions"][auction_id], run["bids"][auction_id]
            begin, end = _ms(auction["start_time"]), _ms(auction["end_time"])
            for i, bid in enumerate(history):
                if bid["bidder_id"] != bidder:
                    continue
                assert (_ms(bid["bid_time"]) - begin) / (end - begin) < 0.35
                high = max((_cents(b["amount"]) for b in history[:i]), default=0)
                expected = high + increment(high) if high else _cents(auction["start_price"])
                assert _cents(bid["amount"]) == expected
            bid_on += 1
            won += auction.get("winner_id") == bidder
    assert won / bid_on < 0.1


def test_bots_bid_in_bursts_of_seconds(run: dict[str, Any]) -> None:
    bots = _by_pattern(run, "bot")
    assert bots
    api = total = 0
    for own in bots.values():
        per_auction: dict[str, list[int]] = defaultdict(list)
        for bid in own:
            per_auction[bid["auction_id"]].append(_ms(bid["bid_time"]))
            api += bid["channel"] == "api"
            total += 1
        for times in per_auction.values():
            times.sort()
            assert all(later - earlier <= 2_500 for earlier, later in itertools.pairwise(times))
    assert api / total > 0.5


def test_collusion_rings_alternate_on_the_same_sellers(run: dict[str, Any]) -> None:
    ring_bids = _by_pattern(run, "collusion")
    assert ring_bids
    for own in ring_bids.values():
        assert len({run["auctions"][b["auction_id"]]["seller_id"] for b in own}) <= 2
    for history in run["bids"].values():
        ring = [b["bidder_id"] for b in history if b["fraud_label"] == "collusion"]
        assert all(a != b for a, b in itertools.pairwise(ring)), "ring members take turns"


def test_takeovers_use_a_new_device_on_an_old_account_with_outsized_bids(run: dict[str, Any]) -> None:
    takeovers = _by_pattern(run, "takeover")
    assert takeovers
    start = dt.datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    with_history = jumps = labelled = 0
    for bidder, own in takeovers.items():
        user = run["users"][bidder]
        assert start - dt.datetime.fromisoformat(user["signup_time"]) > dt.timedelta(days=700)
        before = {
            b["device_id"] for h in run["bids"].values() for b in h if b["bidder_id"] == bidder and not b["fraud_label"]
        }
        assert not before & {b["device_id"] for b in own}
        with_history += bool(before)
        for bid in own:
            history = run["bids"][bid["auction_id"]]
            standing = max((_cents(b["amount"]) for b in history[: history.index(bid)]), default=0)
            assert _cents(bid["amount"]) >= 3 * _cents(run["auctions"][bid["auction_id"]]["start_price"])
            jumps += _cents(bid["amount"]) >= 2 * standing
            labelled += 1
    assert with_history / len(takeovers) > 0.9, "a takeover account has ordinary bids on its own device first"
    assert jumps / labelled > 0.9, "at least twice the standing bid (capped at 20 times what the item is worth)"


def test_honest_bidders_are_never_labelled(run: dict[str, Any]) -> None:
    for history in run["bids"].values():
        for bid in history:
            if bid["bidder_id"] not in run["actors"]:
                assert bid["fraud_label"] is None
