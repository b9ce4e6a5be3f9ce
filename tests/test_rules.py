"""Fraud rules and the scoring step without a broker: unit tests, and properties of the score."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pipelines.contracts import Auction, Bid, to_epoch_ms
from pipelines.stream import rules
from pipelines.stream.rules import BidFeatures
from pipelines.stream.score import MemoryStores, UserDirectory, alert_id, on_auction, on_bid
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
        "bid_velocity": {"bids_last_minute": 20, "burst_bids": 6},
        "automated_channel": {"automated_channel": True},
        "probing_bid": {"auction_bids": 5, "jump_ratio": 0.99, "probing_bids": 3},
        "jump_bid": {"auction_bids": 3, "jump_ratio": 6.0},
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
    # where bids are proxy maxima (the real eBay history): one maximum below the leader's hidden one, a
    # person's pace (five bids in a minute, seconds apart), a first bid far over a $0.01 opening price
    assert rules.probing_bid(BidFeatures(auction_bids=5, jump_ratio=0.9, probing_bids=1)) == 0.0
    assert rules.bid_velocity(BidFeatures(bids_last_minute=5, burst_bids=1)) == 0.0
    assert rules.jump_bid(BidFeatures(auction_bids=1, jump_ratio=5000.0)) == 0.0


def test_bot_and_shill_cross_the_alert_threshold() -> None:
    bot = BidFeatures(bids_last_minute=25, burst_bids=6, automated_channel=True, auction_bids=6, jump_ratio=1.0,
                      probing_bids=3)  # fmt: skip
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
    burst_bids=st.integers(1, 20),
    probing_bids=st.integers(0, 10),
).filter(lambda f: f.bidder_auction_bids <= f.auction_bids and f.seller_auctions <= f.bidder_auctions)


@given(features)
def test_fast_score_equals_the_full_evaluation_of_every_rule(f: BidFeatures) -> None:
    assert rules.score(f) == rules.combine(rules.evidence(f))


def test_fast_score_equals_the_full_evaluation_near_every_gate() -> None:
    """score() skips a rule below its gate; 20k features drawn from values at and around every threshold."""
    rng = random.Random(5)
    small = range(0, 9)
    ratios = (0.5, 0.99, 1.0, 1.01, 1.99, 2.0, 2.01, 2.49, 2.5, 2.51, 4.0, 5.0, 9.99, 10.0, 10.01, 40.0, 41.0)
    ages = (None, 0.0, 2.9, 3.0, 3.1, 13.9, 14.0, 14.1, 400.0)
    for _ in range(20_000):
        auction_bids, bidder_auctions, closed = rng.choice(small) + 1, rng.choice(small) + 1, rng.choice(small)
        f = BidFeatures(
            bids_last_minute=rng.choice(small) + 1,
            auction_bids=auction_bids,
            bidder_auction_bids=rng.randint(1, auction_bids),
            successive_outbids=rng.choice(small),
            bidder_auctions=bidder_auctions,
            seller_auctions=rng.randint(0, bidder_auctions),
            early_bids=rng.choice(small),
            late_bids=rng.choice((0, 0, 1, 2)),
            closed_auctions=closed,
            wins=rng.randint(0, closed),
            account_age_days=rng.choice(ages),
            jump_ratio=rng.choice(ratios),
            category_ratio=rng.choice(ratios),
            automated_channel=rng.random() < 0.3,
            new_device=rng.random() < 0.3,
            rival_auctions=rng.choice(small),
            burst_bids=rng.choice(small) + 1,
            probing_bids=rng.choice(small),
        )
        assert rules.score(f) == rules.combine(rules.evidence(f)), f


#: field -> the direction in which more of it is more evidence of fraud
MORE_SUSPICIOUS = {"bids_last_minute": 1, "burst_bids": 1, "probing_bids": 1, "successive_outbids": 1,
                   "early_bids": 1, "rival_auctions": 1, "category_ratio": 1,
                   "bidder_auction_bids": 1, "seller_auctions": 1}  # fmt: skip


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


def _bid(*args: Any, **kw: Any) -> tuple[Any, ...]:
    """A bid message of the test helpers as the primitives :func:`on_bid` takes."""
    b = Bid.model_validate_json(bid(*args, **kw)[2] or b"")
    cents = int(b.amount * 100)
    return (b.bid_id, b.auction_id, b.bidder_id, cents, b.currency, to_epoch_ms(b.bid_time), b.channel, b.device_id)


def _auction(*args: Any, **kw: Any) -> tuple[Any, ...]:
    """An auction message of the test helpers as the primitives :func:`on_auction` takes."""
    a = Auction.model_validate_json(auction(*args, **kw)[2] or b"")
    start, end = to_epoch_ms(a.start_time), to_epoch_ms(a.end_time)
    cents = int(a.start_price * 100)
    return (a.auction_id, a.seller_id, a.category, cents, a.currency, start, end, a.status == "closed", a.winner_id)


def test_step_rejects_duplicates_and_bids_outside_the_window() -> None:
    stores, users = MemoryStores(), UserDirectory()
    assert on_auction(*_auction(1, seller=1, hours=1), stores) is None
    assert not isinstance(on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), stores, users), str)
    assert on_bid(*_bid(1, 1, 20, T0 + 2000, 2100), stores, users) == "duplicate bid_id b1"
    assert on_bid(*_bid(2, 1, 20, T0 + 2 * HOUR, 2100), stores, users) == "bid after the auction closed"
    assert on_bid(*_bid(3, 1, 20, T0 - 1, 2100), stores, users) == "bid before the auction opened"
    assert "differs" in str(on_bid(*_bid(4, 1, 20, T0 + 5000, 2100, currency="EUR"), stores, users))
    assert on_auction(*_auction(2, seller=1, hours=0), stores) == "auction ends before it starts"


def test_step_alerts_once_per_bidder_and_auction_and_ids_are_deterministic() -> None:
    stores, users = MemoryStores(), UserDirectory()
    on_auction(*_auction(1, seller=1), stores)
    outcomes = [on_bid(*_bid(i, 1, 99, T0 + 1000 + i * 1000, 2000 + i * 100), stores, users) for i in range(40)]
    alerts = [o for o in outcomes if not isinstance(o, str) and o.alert_stats is not None]
    assert len(alerts) == 1 and alerts[0].fraud_reasons
    last = outcomes[-1]
    assert not isinstance(last, str) and "bid_velocity" in last.fraud_reasons and last.alert_stats is None
    assert last.window_start_ms == T0 + 1000 + 9 * 1000  # bids a second apart: the last 30 before it, and it
    assert alert_id("u99", "a1") == alert_id("u99", "a1") != alert_id("u99", "a2")


def test_proxy_maxima_below_the_leader_are_ordinary_once_and_probing_when_repeated() -> None:
    """Bids are proxy maxima: a bid below the leader's hidden maximum is outbid at once. One is ordinary, the
    leader stays the bidder of the highest bid (so the under-bidder bidding again is not outbidding itself),
    and a third probe fires probing_bid."""
    stores, users = MemoryStores(), UserDirectory()
    on_auction(*_auction(1, seller=1), stores)
    on_bid(*_bid(1, 1, 20, T0 + 60_000, 5000), stores, users)  # u20 enters a maximum of 50.00
    outcomes = [on_bid(*_bid(2 + i, 1, 21, T0 + 120_000 + i * 30_000, 2000 + i * 500), stores, users) for i in range(3)]
    first, second, third = outcomes
    assert not isinstance(first, str) and not isinstance(second, str) and not isinstance(third, str)
    assert "probing_bid" not in first.fraud_reasons and "successive_outbidding" not in second.fraud_reasons
    assert "probing_bid" in third.fraud_reasons
    assert stores.auctions["a1"][2] == "u20"  # still the leader
    over = on_bid(*_bid(9, 1, 21, T0 + 300_000, 6000), stores, users)  # u21 finally tops it: not a probe
    assert not isinstance(over, str) and "probing_bid" not in over.fraud_reasons
    assert stores.auctions["a1"][2] == "u21"


def test_takeover_jump_bid_from_a_new_device_is_flagged() -> None:
    stores, users = MemoryStores(), UserDirectory()
    on_auction(*_auction(1, seller=1), stores)
    on_auction(*_auction(2, seller=2), stores)
    for i in range(3):  # an established account bidding normally on its own device
        on_bid(*_bid(i, 2, 51, T0 + 60_000 * (i + 1), 1100 + i * 100, device="home"), stores, users)
    on_bid(*_bid(10, 1, 20, T0 + 600_000, 2000), stores, users)
    honest = on_bid(*_bid(11, 1, 21, T0 + 660_000, 2100), stores, users)
    taken = on_bid(*_bid(12, 1, 51, T0 + 720_000, 9000, device="stolen"), stores, users)
    assert not isinstance(honest, str) and not isinstance(taken, str)
    assert {"jump_bid", "new_device"} <= set(taken.fraud_reasons)
    assert taken.alert_stats is not None and honest.alert_stats is None
    assert taken.fraud_score > honest.fraud_score


def test_a_new_account_jumping_the_price_is_flagged_and_closing_counts_wins() -> None:
    stores, users = MemoryStores(), UserDirectory()
    users.add("u30", T0 - 24 * HOUR)  # a day-old account
    on_auction(*_auction(1, seller=1), stores)
    on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), stores, users)
    jumped = on_bid(*_bid(2, 1, 30, T0 + 2000, 9000), stores, users)
    assert not isinstance(jumped, str) and "new_account_jump" in jumped.fraud_reasons
    assert on_auction(*_auction(1, seller=1, status="closed", winner_id="u30"), stores) is None
    assert on_auction(*_auction(1, seller=1, status="closed", winner_id="u30"), stores) is None  # replayed: once
    assert stores.bidders["u30"][5:7] == [1, 1] and stores.bidders["u20"][5:7] == [1, 0]  # closed auctions, wins


def test_a_closed_auction_takes_late_bids_for_a_while_then_keeps_only_its_outcome() -> None:
    """Bids may be processed after their auction's close event (same-millisecond messages are consumed
    auctions first): they are still checked and scored until a valid bid placed LATE_MS after the auction's
    end is processed; then the auction's per-bid state is dropped (memory)."""
    from pipelines.stream.score import LATE_MS

    stores, users = MemoryStores(), UserDirectory()
    on_auction(*_auction(1, seller=1, hours=1), stores)
    on_auction(*_auction(2, seller=2, hours=3), stores)  # open while auction 1 closes
    first = on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), stores, users)
    assert on_auction(*_auction(1, seller=1, hours=1, status="closed", winner_id="u20"), stores) is None
    late = on_bid(*_bid(2, 1, 21, T0 + HOUR - 1000, 2100), stores, users)  # placed before the end, came after
    assert not isinstance(first, str) and not isinstance(late, str)
    assert on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), stores, users) == "duplicate bid_id b1"

    # bids elsewhere up to LATE_MS after auction 1's end leave it as it is
    assert not isinstance(on_bid(*_bid(10, 2, 30, T0 + HOUR + LATE_MS, 3000), stores, users), str)
    assert stores.auctions["a1"][3] == {"b1": 1, "b2": 1}
    assert not isinstance(on_bid(*_bid(3, 1, 22, T0 + HOUR - 500, 2200), stores, users), str)
    # an invalid bid's time moves nothing (its auction's window is checked first)
    assert on_bid(*_bid(11, 2, 30, T0 + 30 * HOUR, 3100), stores, users) == "bid after the auction closed"
    assert stores.auctions["a1"][3] is not None
    # a valid bid placed more than LATE_MS after auction 1's end: auction 1 is compacted
    assert not isinstance(on_bid(*_bid(12, 2, 30, T0 + HOUR + LATE_MS + 1, 3200), stores, users), str)
    assert stores.auctions["a1"][2:6] == ["", None, None, None] and not stores.closing
    assert stores.auctions["a1"][0][6] and stores.auctions["a1"][1] == 3  # what it was is kept
    assert on_bid(*_bid(4, 1, 23, T0 + HOUR - 400, 2300), stores, users) == "bid after the auction closed"
    assert on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), stores, users) == "bid after the auction closed"
    assert stores.bidders["u20"][5:7] == [1, 1]  # participation and the win were counted at the close

    # the same auction opened again (a relisting under the same id) takes bids afresh
    on_auction(*_auction(1, seller=1, start=T0 + 2 * HOUR, hours=1), stores)
    assert not isinstance(on_bid(*_bid(5, 1, 20, T0 + 2 * HOUR + 1000, 2500), stores, users), str)


def test_state_stays_bounded_on_a_long_stream_of_auctions() -> None:
    """Per-bid state is kept only for open auctions and those closed in the last LATE_MS of bid time."""
    stores, users = MemoryStores(), UserDirectory()
    for a in range(600):  # an auction every minute, 10 bids in its first 10 s, ending and closing after 1 h
        start = T0 + a * 60_000
        on_auction(*_auction(a, seller=a % 7, start=start, hours=1), stores)
        for i in range(10):
            on_bid(*_bid(a * 10 + i, a, 20 + i, start + 1000 * (i + 1), 2000 + 100 * i), stores, users)
        if a >= 60:  # the auction opened an hour ago ends now
            on_auction(*_auction(a - 60, seller=(a - 60) % 7, start=start - HOUR, hours=1, status="closed"), stores)
    from pipelines.stream.score import LATE_MS

    holding = [a for a, state in stores.auctions.items() if state[3] is not None]
    # open (the last 60) and closed in the last LATE_MS of bid time (one a minute), of 600
    assert len(stores.auctions) == 600 and len(holding) <= 60 + LATE_MS // 60_000 + 1
