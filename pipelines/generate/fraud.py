"""Planted fraud: which users are fraudsters, and the bid slots each one claims in which auctions.

Every pattern is made to be visible from bids, auctions and users alone (the scorer never reads
``fraud_label``), yet to look like something that happens on real marketplaces:

* ``shill`` -- tied to one seller (sometimes two or three; among the busiest); bids 2-4 times on 5-12
  of each seller's auctions, early (first third of the window), each bid exactly one increment over
  the standing high bid; a later honest bid usually outbids it, so shills rarely win.
* ``bot`` -- bursts of 4-10 bids a few hundred ms to 2.5 s apart, mostly in the last minute
  (sniping), mostly over the ``api`` channel. A bot *probes* the leader's hidden proxy maximum: each
  bid is the visible price plus one increment, which may be below the standing high bid. These are
  the only bids that do not rise above every earlier bid of their auction.
* ``collusion`` -- rings of 2-4 accounts bidding on 5-15 auctions of the same one or two sellers,
  alternating with each other half a minute to ten minutes apart, one increment at a time.
* ``takeover`` -- a long-standing account (years old, good rating) that bids normally on its own device
  (two to four ordinary, unlabelled bids) until a moment in the span; from then on a device it never
  used bids outsized amounts (1.5-4 times what the item is worth, at least 3 times its start price and
  2-4 times the standing bid) on two to five of the most valuable auctions open within a few hours.
  Only the bids after the takeover carry the label.

Bids claimed here are taken out of the auction's planned bid count, so totals stay exact.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from pipelines.generate.world import Auctions, Users

HONEST, RAISE, PROBE, OUTSIZED, PRIOR = 0, 1, 2, 3, 4
LABELS = (None, "shill", "bot", "collusion", "takeover")
LABEL_CODE = {name: code for code, name in enumerate(LABELS) if name}
HOUR_MS = 3_600_000


@dataclass
class FraudPlan:
    """Who is planted, and the slots they claim.

    ``claims[auction]`` lists ``(time, kind, bidder, device)``; a bid's channel follows from its device and
    its label from its bidder (and, for a takeover account, from being after the takeover).
    """

    actors: dict[int, int] = field(default_factory=dict)  # user -> label code
    claims: dict[int, list[tuple[int, int, int, int]]] = field(default_factory=lambda: defaultdict(list))
    takeover_at: dict[int, int] = field(default_factory=dict)  # user -> takeover time
    takeover_auctions: set[int] = field(default_factory=set)  # one takeover per auction
    needs_late_honest: set[int] = field(default_factory=set)  # auctions where an honest bid should come late
    extra_channels: list[int] = field(default_factory=list)  # channels of devices numbered after the users' own


def _counts(total: int, mix: dict[str, float]) -> dict[str, int]:
    names = [n for n in LABEL_CODE if mix.get(n, 0) > 0]
    weight = sum(mix[n] for n in names)
    exact = {n: total * mix[n] / weight for n in names}
    counts = {n: int(x) for n, x in exact.items()}
    for n in sorted(names, key=lambda n: counts[n] - exact[n])[: total - sum(counts.values())]:
        counts[n] += 1
    if counts.get("collusion") == 1:  # a ring needs two: give the lone one to another pattern
        other = next((n for n in names if n != "collusion"), None)
        if other is not None:
            counts["collusion"], counts[other] = 0, counts[other] + 1
    return counts


def plan_fraud(
    rng: random.Random, users: Users, auctions: Auctions, sellers: int, rate: float, mix: dict[str, float]
) -> FraudPlan:
    """Choose the planted actors among the non-sellers and claim their bid slots."""
    plan = FraudPlan()
    candidates = list(range(sellers, len(users)))
    total = min(len(candidates), round(rate * len(candidates)))
    if total == 0:
        return plan
    chosen = rng.sample(candidates, total)
    by_seller: dict[int, list[int]] = defaultdict(list)
    for a in range(len(auctions)):
        if auctions.bids[a] >= 3:
            by_seller[auctions.seller[a]].append(a)
    target_sellers = sorted(by_seller, key=lambda s: (-len(by_seller[s]), s))
    pos = 0
    for name, count in _counts(total, mix).items():
        group, pos = chosen[pos : pos + count], pos + count
        for u in group:
            plan.actors[u] = LABEL_CODE[name]
            users.is_new[u] = 0
        if name == "shill":
            for u in group:
                _shill(rng, plan, u, users, auctions, by_seller, target_sellers)
        elif name == "collusion":
            rings = max(1, len(group) // 3)
            for r in range(rings):
                _ring(rng, plan, group[r::rings], users, auctions, by_seller, target_sellers)
        elif name == "bot":
            busy = [a for a in range(len(auctions)) if auctions.bids[a] >= 5]
            for u in group:
                _bot(rng, plan, u, users, auctions, busy)
        else:
            span = (min(auctions.start_ms, default=0), max(auctions.end_ms, default=0))
            for u in group:
                _takeover(rng, plan, u, users, auctions, span)
    return plan


def _pick_sellers(rng: random.Random, targets: list[int], k: int) -> list[int]:
    top = targets[: max(k, len(targets) // 4 or 1)]
    return rng.sample(top, min(k, len(top)))


def _claim(auctions: Auctions, a: int, wanted: int, keep: int = 1) -> int:
    n = max(0, min(wanted, auctions.bids[a] - keep))
    auctions.bids[a] -= n
    return n


def _shill(rng: random.Random, plan: FraudPlan, u: int, users: Users, auctions: Auctions,
           by_seller: dict[int, list[int]], targets: list[int]) -> None:  # fmt: skip
    device = 2 * u
    for s in _pick_sellers(rng, targets, rng.choices((1, 2, 3), (7, 2, 1))[0]):
        mine = by_seller[s]
        for a in rng.sample(mine, min(len(mine), rng.randint(5, 12))):
            n = _claim(auctions, a, rng.randint(2, 4))
            begin, span = auctions.start_ms[a], auctions.end_ms[a] - auctions.start_ms[a]
            for _ in range(n):
                t = begin + 1 + int(span * rng.uniform(0.01, 0.33))
                plan.claims[a].append((t, RAISE, u, device))
            if n:
                plan.needs_late_honest.add(a)


def _ring(rng: random.Random, plan: FraudPlan, members: list[int], users: Users, auctions: Auctions,
          by_seller: dict[int, list[int]], targets: list[int]) -> None:  # fmt: skip
    if len(members) < 2:
        return
    for s in _pick_sellers(rng, targets, rng.randint(1, 2)):
        mine = by_seller[s]
        for a in rng.sample(mine, min(len(mine), rng.randint(5, 15))):
            n = _claim(auctions, a, rng.randint(4, 8))
            begin, end = auctions.start_ms[a], auctions.end_ms[a]
            t = begin + 1 + int((end - begin) * rng.uniform(0.2, 0.6))
            turn = rng.randrange(len(members))
            for _ in range(n):
                u = members[turn % len(members)]
                turn += 1
                plan.claims[a].append((min(t, end - 1), RAISE, u, 2 * u))
                t += rng.randint(30_000, 600_000)
            if n:
                plan.needs_late_honest.add(a)


def _bot(rng: random.Random, plan: FraudPlan, u: int, users: Users, auctions: Auctions, busy: list[int]) -> None:
    channel = 2 if rng.random() < 0.7 else 0
    users.channel0[u], users.channel1[u] = channel, 255
    for a in rng.sample(busy, min(len(busy), rng.randint(3, 8))):
        n = _claim(auctions, a, rng.randint(4, 10))
        begin, end = auctions.start_ms[a], auctions.end_ms[a]
        gaps = [rng.randint(300, 2500) for _ in range(n)]
        if rng.random() < 0.7:
            t = end - sum(gaps) - rng.randint(1000, 60_000)
        else:
            t = begin + int((end - begin) * rng.uniform(0.1, 0.9))
        t = max(begin + 1, t)
        for gap in gaps:
            plan.claims[a].append((min(t, end - 1), PROBE, u, 2 * u))
            t += gap


def _takeover(
    rng: random.Random, plan: FraudPlan, u: int, users: Users, auctions: Auctions, span: tuple[int, int]
) -> None:
    first, last = span
    at = first + int((last - first) * rng.uniform(0.3, 0.75))
    plan.takeover_at[u] = at
    users.signup_ms[u] -= int(rng.uniform(2, 8) * 365 * 86_400_000)
    users.rating[u] = max(users.rating[u], rng.randint(150, 2000))
    device = 2 * len(users) + len(plan.extra_channels)
    plan.extra_channels.append(0 if rng.random() < 0.6 else 2)
    window = at + rng.randint(1, 4) * HOUR_MS
    sample = rng.sample(range(len(auctions)), min(len(auctions), 200))
    # the account's own history: a few ordinary bids on its usual device before the takeover
    before = [a for a in sample if auctions.bids[a] >= 1 and auctions.end_ms[a] < at]
    for a in before[: rng.randint(2, 4)]:
        if _claim(auctions, a, 1, keep=0):
            plan.claims[a].append((rng.randint(auctions.start_ms[a] + 1, auctions.end_ms[a] - 1), PRIOR, u, 2 * u))
    eligible = [
        a for a in sample
        if auctions.bids[a] >= 2 and auctions.start_ms[a] < window and auctions.end_ms[a] > at + 60_000
        and a not in plan.takeover_auctions
    ]  # fmt: skip
    eligible.sort(key=lambda a: -auctions.market[a])
    valuable = eligible[: max(5, len(eligible) // 4)]
    for a in rng.sample(valuable, min(len(valuable), rng.randint(2, 5))):
        plan.takeover_auctions.add(a)
        if _claim(auctions, a, 1):
            lo, hi = max(auctions.start_ms[a], at) + 1, min(auctions.end_ms[a], window) - 1
            plan.claims[a].append((rng.randint(lo, max(lo, hi)), OUTSIZED, u, device))
