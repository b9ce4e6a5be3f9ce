"""The bidding: proxy bidding with eBay's increments, bid wars, late surges, sniping, and each result.

A bid's ``amount`` is the bidder's maximum (proxy bid). Honest bids, shill, collusion and takeover
bids always top the standing high bid (each amount is strictly above every earlier amount of the
auction); bot bids probe the leader's maximum at the visible price plus one increment and may stay
below it (see :mod:`pipelines.generate_fraud`).

Result of an auction (the close event): unsold -- ``winner`` and ``final_price`` null -- when it got no
bid or its highest bid is below the reserve. Otherwise the winner is the highest bidder (the earliest
on a tie) and pays the second-highest maximum of any *other* bidder plus one increment, at least the
start price (single bidder) and at least the reserve, and never more than their own maximum::

    final = min(high, max(second + increment(second) if second else start, reserve or 0))
"""

from __future__ import annotations

import bisect
import random
from array import array
from dataclasses import dataclass, field

from pipelines.generate_fraud import HONEST, PROBE, RAISE, FraudPlan
from pipelines.generate_world import Auctions, Users

_STEPS = ((100, 5), (500, 25), (2_500, 50), (10_000, 100), (25_000, 250), (50_000, 500), (100_000, 1_000),
          (250_000, 2_500), (500_000, 5_000))  # fmt: skip


def increment(cents: int) -> int:
    """eBay's bid increment at a price (cents): 0.05 below 1.00 ... 100.00 from 5,000 up."""
    for limit, step in _STEPS:
        if cents < limit:
            return step
    return 10_000


def final_price(high: int, second: int, start: int, reserve: int) -> int:
    """What the winner pays (see the module docstring); ``second``/``reserve`` <= 0 mean none."""
    base = second + increment(second) if second > 0 else start
    return min(high, max(base, reserve))


@dataclass
class Bids:
    """Columns of the bids, in generation order (per auction, by time)."""

    time: array = field(default_factory=lambda: array("q"))
    auction: array = field(default_factory=lambda: array("q"))
    bidder: array = field(default_factory=lambda: array("q"))
    amount: array = field(default_factory=lambda: array("q"))
    channel: bytearray = field(default_factory=bytearray)
    device: array = field(default_factory=lambda: array("q"))
    label: bytearray = field(default_factory=bytearray)


def honest_pool(rng: random.Random, users: Users, sellers: int, plan: FraudPlan) -> tuple[list[int], list[float]]:
    """Non-seller, non-planted users (takeover accounts before their takeover) with heavy-tailed activity."""
    takeover = 4
    pool = [u for u in range(sellers, len(users)) if plan.actors.get(u, takeover) == takeover]
    cum, total = [], 0.0
    for _ in pool:
        total += min(rng.paretovariate(1.3), 200.0)
        cum.append(total)
    return pool, cum


def run_auctions(rng: random.Random, users: Users, auctions: Auctions, plan: FraudPlan, sellers: int) -> Bids:
    """Simulate every auction's bids (exactly its planned count) and fill in its result."""
    out = Bids()
    pool, cum = honest_pool(rng, users, sellers, plan)
    total = cum[-1] if cum else 0.0
    rand = rng.random
    take_at = plan.takeover_at
    channel0, channel1 = users.channel0, users.channel1
    t_app, a_app, b_app, m_app = out.time.append, out.auction.append, out.bidder.append, out.amount.append
    c_app, d_app, l_app = out.channel.append, out.device.append, out.label.append
    for a in range(len(auctions)):
        honest = auctions.bids[a]
        claims = plan.claims.get(a)
        if not honest and not claims:
            continue
        begin, end, seller = auctions.start_ms[a], auctions.end_ms[a], auctions.seller[a]
        start, market = auctions.start_price[a], auctions.market[a]
        span = end - begin - 2
        # honest participants: a few keen bidders fight a bid war, others drop in once
        parts: list[int] = []
        if honest:
            want = 1 if honest == 1 else max(2, int(honest * (0.25 + 0.35 * rand())))
            for _ in range(want * 3 if pool else 0):
                u = pool[bisect.bisect(cum, rand() * total)]
                if u != seller and u not in parts and take_at.get(u, end) >= end:
                    parts.append(u)
                    if len(parts) == want:
                        break
            if not parts:  # tiny worlds only: anyone but the seller, honest users first
                parts = [next(u for u in [*pool, *range(len(users))] if u != seller)]
        m = len(parts)
        slots = []
        for _ in range(honest):
            r = rand()
            if r < 0.25:
                x = rand()
            elif r < 0.45:
                x = 0.3 * rand()
            elif r < 0.8:
                x = 1.0 - 0.15 * rand() * rand()
            else:  # sniping: the last 90 seconds
                x = 1.0 - min(1.0, rand() * 90_000 / span) if span > 0 else rand()
            slots.append((begin + 1 + int(x * span), HONEST, -1, 0, 0, 0))
        if claims:
            if a in plan.needs_late_honest and slots:
                slots[0] = (begin + 1 + int((1.0 - 0.1 * rand()) * span), HONEST, -1, 0, 0, 0)
            slots.extend(claims)
        slots.sort()
        high = second = 0
        leader = -1
        price = start
        cap = market * 3 // 2
        for t, kind, b, dev, chan, label in slots:
            if kind == HONEST:
                i = int(rand() * m)
                b = parts[i]
                if b == leader and m > 1:
                    b = parts[(i + 1) % m]
                dev = 2 * b
                chan = channel0[b]
                if channel1[b] != 255 and rand() < 0.3:
                    dev += 1
                    chan = channel1[b]
                if leader < 0:
                    amount = start if rand() < 0.6 else start + increment(start) * (1 + int(rand() * 3))
                else:
                    r = rand()
                    if r < 0.45 or high > cap:
                        mult = 1
                    elif r < 0.65:
                        mult = 2
                    elif r < 0.88:
                        mult = 3 + int(rand() * 4)
                    else:
                        mult = 6 + int(rand() * 20)
                    amount = high + increment(high) * mult
            elif leader < 0:
                amount = start
            elif kind == RAISE or (kind == PROBE and b == leader):
                amount = high + increment(high)
            elif kind == PROBE:
                amount = price + increment(price)
            else:  # OUTSIZED
                base = max(high, start, market // 2)
                amount = max(high + increment(high), int(base * (3.0 + 5.0 * rand())))
            if leader < 0:
                leader, high = b, amount
            elif amount > high:
                if b != leader:
                    second = high
                    leader = b
                high = amount
                if second:
                    price = min(high, second + increment(second))
            else:  # a probe that stays below the leader's maximum pushes the price up
                if amount > second:
                    second = amount
                price = min(high, second + increment(second))
            t_app(t)
            a_app(a)
            b_app(b)
            m_app(amount)
            c_app(chan)
            d_app(dev)
            l_app(label)
        reserve = auctions.reserve[a]
        if leader >= 0 and high >= reserve:
            auctions.winner[a] = leader
            auctions.final_price[a] = final_price(high, second, start, reserve)
    return out
