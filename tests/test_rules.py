"""Fraud rules and the scoring step without a broker: unit tests, and properties of the score."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pipelines import rules
from pipelines.contracts import Auction, Bid
from pipelines.rules import BidFeatures
from pipelines.score import UserDirectory, alert_id, on_auction, on_bid
from tests.test_stream_support import HOUR, T0, auction, bid

# ---- rules ---------------------------------------------------------------------------------------


def test_an_ordinary_bid_scores_low_with_no_reasons() -> None:
    score, reasons = rules.score(BidFeatures())
    assert score == 0.0 and reasons == []


def test_each_rule_fires_on_its_own_signal() -> None:
    cases: dict[str, dict[str, Any]] = {
        "bidder_tendency": {"bidder_auctions": 5, "seller_auctions": 5},
        "bidding_ratio": {"auction_bids": 10, "bidder_auction_bids": 7},
        "successive_outbidding": {"successive_outbids": 5},
        "early_bidding": {"early_bids": 3},
        "low_winning_ratio": {"closed_auctions": 6, "wins": 0},
        "rival_collusion": {"rival_auctions": 3},
        "bid_velocity": {"bids_last_minute": 20},
        "automated_channel": {"automated_channel": True},
        "probing_bid": {"auction_bids": 5, "jump_ratio": 0.99},
        "jump_bid": {"jump_ratio": 6.0},
        "category_price_anomaly": {"category_ratio": 50.0},
        "new_device": {"new_device": True},
        "new_account_jump": {"account_age_days": 1.0, "jump_ratio": 5.0},
    }
    assert set(cases) == set(rules.RULES)
    for name, fields in cases.items():
        features = BidFeatures(**fields)
        assert rules.RULES[name][0](features) == 1.0, name
        score, reasons = rules.score(features)
        assert name in reasons and score >= rules.RULES[name][1], name


def test_honest_patterns_do_not_fire() -> None:
    sniper = BidFeatures(late_bids=2, early_bids=2)  # an early bidder who also bids at the end
    assert rules.early_bidding(sniper) == 0.0
    winner = BidFeatures(closed_auctions=10, wins=4)
    assert rules.low_winning_ratio(winner) == 0.0
    old_account = BidFeatures(account_age_days=400, jump_ratio=5.0)
    assert rules.new_account_jump(old_account) == 0.0
    unknown_user = BidFeatures(account_age_days=None, jump_ratio=5.0)
    assert rules.new_account_jump(unknown_user) == 0.0
    first_bid = BidFeatures(auction_bids=1, jump_ratio=1.0)  # nothing to outbid yet: not a probe
    assert rules.probing_bid(first_bid) == 0.0


def test_bot_and_shill_cross_the_alert_threshold() -> None:
    bot = BidFeatures(bids_last_minute=25, automated_channel=True, auction_bids=6, jump_ratio=1.0)
    shill = BidFeatures(bidder_auctions=6, seller_auctions=6, auction_bids=12, bidder_auction_bids=6,
                        successive_outbids=3, closed_auctions=5)  # fmt: skip
    assert rules.score(bot)[0] >= rules.ALERT_THRESHOLD
    assert rules.score(shill)[0] >= rules.ALERT_THRESHOLD


# ---- properties ----------------------------------------------------------------------------------

evidence = st.dictionaries(st.sampled_from(sorted(rules.RULES)), st.floats(-1.0, 2.0, allow_nan=False))


@given(evidence)
def test_score_is_in_unit_interval_and_reasons_are_rules(values: dict[str, float]) -> None:
    score, reasons = rules.combine(values)
    assert 0.0 <= score <= 1.0
    assert set(reasons) <= set(values)


@given(evidence, st.sampled_from(sorted(rules.RULES)), st.floats(0.0, 1.0))
def test_score_is_monotone_in_evidence(values: dict[str, float], name: str, extra: float) -> None:
    more = {**values, name: max(0.0, min(1.0, values.get(name, 0.0))) + extra}
    assert rules.combine(more)[0] >= rules.combine(values)[0]


features = st.builds(
    BidFeatures,
    bids_last_minute=st.integers(1, 50),
    auction_bids=st.integers(1, 100),
    bidder_auction_bids=st.integers(1, 100),
    successive_outbids=st.integers(0, 20),
    bidder_auctions=st.integers(1, 50),
    seller_auctions=st.integers(0, 50),
    early_bids=st.integers(0, 20),
    late_bids=st.integers(0, 5),
    closed_auctions=st.integers(0, 30),
    wins=st.integers(0, 30),
    account_age_days=st.none() | st.floats(0, 1000),
    jump_ratio=st.floats(0.5, 100),
    category_ratio=st.floats(0.01, 100),
    automated_channel=st.booleans(),
    new_device=st.booleans(),
    rival_auctions=st.integers(0, 10),
).filter(lambda f: f.bidder_auction_bids <= f.auction_bids and f.seller_auctions <= f.bidder_auctions)

#: field -> the direction in which more of it is more evidence of fraud
MORE_SUSPICIOUS = {"bids_last_minute": 1, "successive_outbids": 1, "early_bids": 1, "rival_auctions": 1,
                   "category_ratio": 1, "bidder_auction_bids": 1, "seller_auctions": 1}  # fmt: skip


@given(features, st.sampled_from(sorted(MORE_SUSPICIOUS)), st.integers(1, 10))
def test_score_never_falls_when_a_signal_grows(base: BidFeatures, field: str, step: int) -> None:
    bigger = getattr(base, field) + step
    changes: dict[str, Any] = {field: bigger}
    if field == "bidder_auction_bids":
        changes["auction_bids"] = max(base.auction_bids, bigger)
        if changes["auction_bids"] != base.auction_bids:  # the ratio must grow, not just the counts
            return
    if field == "seller_auctions" and bigger > base.bidder_auctions:
        return
    more = dataclasses.replace(base, **changes)
    score, _ = rules.score(more)
    assert 0.0 <= score <= 1.0
    assert score >= rules.score(base)[0]


# ---- the stateful step on a dict-backed store ----------------------------------------------------


class _Store:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Any] = {}

    def __call__(self, prefix: str) -> Any:
        store = self

        class View:
            def get(self, key: str, default: Any = None) -> Any:
                return store.data.get((prefix, key), default)

            def set(self, key: str, value: Any) -> None:
                store.data[(prefix, key)] = value

        return View()


def _bid(*args: Any, **kw: Any) -> Bid:
    return Bid.model_validate_json(bid(*args, **kw)[2] or b"")


def test_step_rejects_duplicates_and_bids_outside_the_window() -> None:
    stores, users = _Store(), UserDirectory()
    assert on_auction(Auction.model_validate_json(auction(1, seller=1, hours=1)[2] or b""), stores) is None
    assert not isinstance(on_bid(_bid(1, 1, 20, T0 + 1000, 2000), stores, users), str)
    assert on_bid(_bid(1, 1, 20, T0 + 2000, 2100), stores, users) == "duplicate bid_id b1"
    assert on_bid(_bid(2, 1, 20, T0 + 2 * HOUR, 2100), stores, users) == "bid after the auction closed"
    assert on_bid(_bid(3, 1, 20, T0 - 1, 2100), stores, users) == "bid before the auction opened"
    assert "differs" in str(on_bid(_bid(4, 1, 20, T0 + 5000, 2100, currency="EUR"), stores, users))


def test_step_alerts_once_per_bidder_and_auction_and_ids_are_deterministic() -> None:
    stores, users = _Store(), UserDirectory()
    on_auction(Auction.model_validate_json(auction(1, seller=1)[2] or b""), stores)
    outcomes = [on_bid(_bid(i, 1, 99, T0 + 1000 + i * 1000, 2000 + i * 100), stores, users) for i in range(30)]
    alerts = [o for o in outcomes if not isinstance(o, str) and o.alert_stats is not None]
    assert len(alerts) == 1 and alerts[0].fraud_reasons
    last = outcomes[-1]
    assert not isinstance(last, str) and "bid_velocity" in last.fraud_reasons and last.alert_stats is None
    assert alert_id("u99", "a1") == alert_id("u99", "a1") != alert_id("u99", "a2")


def test_takeover_jump_bid_from_a_new_device_is_flagged() -> None:
    stores, users = _Store(), UserDirectory()
    on_auction(Auction.model_validate_json(auction(1, seller=1)[2] or b""), stores)
    on_auction(Auction.model_validate_json(auction(2, seller=2)[2] or b""), stores)
    for i in range(3):  # an established account bidding normally on its own device
        on_bid(_bid(i, 2, 51, T0 + 60_000 * (i + 1), 1100 + i * 100, device="home"), stores, users)
    on_bid(_bid(10, 1, 20, T0 + 600_000, 2000), stores, users)
    honest = on_bid(_bid(11, 1, 21, T0 + 660_000, 2100), stores, users)
    taken = on_bid(_bid(12, 1, 51, T0 + 720_000, 9000, device="stolen"), stores, users)
    assert not isinstance(honest, str) and not isinstance(taken, str)
    assert {"jump_bid", "new_device"} <= set(taken.fraud_reasons)
    assert taken.alert_stats is not None and honest.alert_stats is None
    assert taken.fraud_score > honest.fraud_score
