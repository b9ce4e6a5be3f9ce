"""The bidding: proxy bidding with eBay's increments, bid wars, late surges, sniping, and each result.

A bid's ``amount`` is the bidder's maximum (proxy bid). Honest bids, shill, collusion and takeover
bids always top the standing high bid (each amount is strictly above every earlier amount of the
auction); bot bids probe the leader's maximum at the visible price plus one increment and may stay
below it (see :mod:`pipelines.generate.fraud`).

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
from itertools import repeat
from typing import Any

import numpy as np

from pipelines.generate.fraud import HONEST, OUTSIZED, PRIOR, PROBE, RAISE, FraudPlan
from pipelines.generate.world import Auctions, Users

_LIMITS = (100, 500, 2_500, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000)
_STEPS = (5, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)


def increment(cents: int) -> int:
    """eBay's bid increment at a price (cents): 0.05 below 1.00 ... 100.00 from 5,000 up."""
    return _STEPS[bisect.bisect_right(_LIMITS, cents)]


def final_price(high: int, second: int, start: int, reserve: int) -> int:
    """What the winner pays (see the module docstring); ``second``/``reserve`` <= 0 mean none."""
    base = second + increment(second) if second > 0 else start
    return min(high, max(base, reserve))


@dataclass
class Bids:
    """Columns of the bids, in generation order (auction by auction, by time). Channels and labels are
    derived from device and bidder afterwards (:func:`pipelines.generate.tables.build`)."""

    time: array = field(default_factory=lambda: array("q"))
    auction: array = field(default_factory=lambda: array("q"))
    bidder: array = field(default_factory=lambda: array("q"))
    amount: array = field(default_factory=lambda: array("q"))
    device: array = field(default_factory=lambda: array("q"))


def honest_pool(rng: random.Random, users: Users, sellers: int, plan: FraudPlan) -> tuple[list[int], list[float]]:
    """Non-seller, non-planted users (takeover accounts before their takeover) with heavy-tailed activity."""
    takeover = 4
    pool = [u for u in range(sellers, len(users)) if plan.actors.get(u, takeover) == takeover]
    cum, total = [], 0.0
    for _ in pool:
        total += min(rng.paretovariate(1.3), 200.0)
        cum.append(total)
    return pool, cum


def honest_times(nprng: np.random.Generator, auctions: Auctions, plan: FraudPlan) -> np.ndarray:
    """Times of every auction's honest bids, auction by auction, sorted within each auction.

    A mixture: a quarter uniform over the window, a fifth early, a third in a late surge (last 15 %),
    a fifth sniping in the last 90 seconds. Where shills or a ring bid, one honest bid comes late.
    """
    counts = np.asarray(auctions.bids, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    begin = np.asarray(auctions.start_ms, dtype=np.int64)[owner]
    span = (np.asarray(auctions.end_ms, dtype=np.int64)[owner] - begin - 2).astype(np.float64)
    n = len(owner)
    r, u1, u2 = nprng.random(n), nprng.random(n), nprng.random(n)
    snipe = 1.0 - np.minimum(1.0, u1 * 90_000.0 / np.maximum(span, 1.0))
    x = np.where(r < 0.25, u1, np.where(r < 0.45, 0.3 * u1, np.where(r < 0.8, 1.0 - 0.15 * u1 * u2, snipe)))
    if plan.needs_late_honest and n:
        firsts = np.cumsum(counts) - counts
        late = [firsts[a] for a in sorted(plan.needs_late_honest) if counts[a]]
        x[late] = 1.0 - 0.1 * u2[late]
    times = begin + 1 + (x * span).astype(np.int64)
    return times[np.lexsort((times, owner))]


def run_auctions(
    rng: random.Random, nprng: np.random.Generator, users: Users, auctions: Auctions, plan: FraudPlan, sellers: int
) -> Bids:
    """Simulate every auction's bids (exactly its planned count) and fill in its result."""
    out = Bids()
    pool, cum = honest_pool(rng, users, sellers, plan)
    total = cum[-1] if cum else 0.0
    times = honest_times(nprng, auctions, plan)
    pos = 0
    rand = rng.random
    bisect_right = bisect.bisect_right
    take_at = plan.takeover_at
    channel1 = users.channel1
    b_app, m_app, d_app = out.bidder.append, out.amount.append, out.device.append
    t_ext, a_ext = out.time.extend, out.auction.extend
    for a in range(len(auctions)):
        honest = auctions.bids[a]
        claims = plan.claims.get(a)
        if not honest and not claims:
            continue
        end, seller = auctions.end_ms[a], auctions.seller[a]
        start, market = auctions.start_price[a], auctions.market[a]
        # honest participants: a few keen bidders fight a bid war, others drop in once
        parts: list[int] = []
        if honest:
            want = 1 if honest == 1 else max(2, int(honest * (0.25 + 0.35 * rand())))
            chosen = set()
            for _ in range(want * 3 if pool else 0):
                u = pool[bisect_right(cum, rand() * total)]
                if u != seller and u not in chosen and take_at.get(u, end) >= end:
                    parts.append(u)
                    chosen.add(u)
                    if len(parts) == want:
                        break
            if not parts:  # tiny worlds only: anyone but the seller, honest users first
                parts = [next(u for u in [*pool, *range(len(users))] if u != seller)]
        m = len(parts)
        mine = times[pos : pos + honest].tolist()
        pos += honest
        slots: Any
        if claims:
            slots = sorted([(t, HONEST, -1, 0) for t in mine] + claims)
            t_ext(s[0] for s in slots)
        else:
            slots = zip(mine, repeat(HONEST), repeat(-1), repeat(0))
            t_ext(mine)
        a_ext(repeat(a, honest + (len(claims) if claims else 0)))
        high = second = 0
        leader = -1
        cap = market * 3 // 2
        for _t, kind, b, dev in slots:
            if kind in (HONEST, PRIOR):  # PRIOR: a planted account's ordinary bid, bidder given
                if kind == HONEST:
                    i = int(rand() * m)
                    b = parts[i]
                    if b == leader and m > 1:
                        b = parts[(i + 1) % m]
                    dev = 2 * b + 1 if channel1[b] != 255 and rand() < 0.3 else 2 * b
                if leader < 0:
                    amount = (
                        start if rand() < 0.6 else start + _STEPS[bisect_right(_LIMITS, start)] * (1 + int(rand() * 3))
                    )
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
                    amount = high + _STEPS[bisect_right(_LIMITS, high)] * mult
            elif kind == OUTSIZED:  # 1.5-4x what the item is worth, 3x its start, 2-4x the standing bid
                worth = max(start, market // 2)
                jump = min(int(max(high, start) * (2.0 + 2.0 * rand())), 20 * worth)
                amount = max(high + _STEPS[bisect_right(_LIMITS, high)], int(worth * (3.0 + 5.0 * rand())), jump)
            elif leader < 0:
                amount = start
            elif kind == RAISE or (kind == PROBE and b == leader):
                amount = high + _STEPS[bisect_right(_LIMITS, high)]
            else:  # PROBE: the visible price follows from the two highest maxima
                price = min(high, second + _STEPS[bisect_right(_LIMITS, second)]) if second else start
                amount = price + _STEPS[bisect_right(_LIMITS, price)]
            if leader < 0:
                leader, high = b, amount
            elif amount > high:
                if b != leader:
                    second = high
                    leader = b
                high = amount
            elif amount > second:  # a probe that stays below the leader's maximum pushes the price up
                second = amount
            b_app(b)
            m_app(amount)
            d_app(dev)
        reserve = auctions.reserve[a]
        if leader >= 0 and high >= reserve:
            auctions.winner[a] = leader
            auctions.final_price[a] = final_price(high, second, start, reserve)
    return out
