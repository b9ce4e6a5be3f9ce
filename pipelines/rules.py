"""Fraud rules: pure functions from a bid's features to evidence in [0, 1], and how evidence combines.

No Quix, no I/O: `pipelines.score` computes :class:`BidFeatures` from the stream's state and calls
:func:`score`. Each rule follows a published shill-bidding signal:

* Alzahrani & Sadaoui (2018, "Scraping and preprocessing commercial auction data for fraud
  classification") describe per-(bidder, auction) features: *Bidder Tendency* (share of a bidder's
  auctions run by one seller), *Bidding Ratio* (the bidder's share of an auction's bids), *Successive
  Outbidding* (a bidder raising over their own or a rival's bid again and again), *Early Bidding*,
  *Last Bidding*, *Winning Ratio* (shills raise the price but rarely win) and *Auction Bids*.
* Trevathan & Read (2005, "Detecting shill bidding in online English auctions") combine such normalised
  ratings into one shill score as a weighted sum; we keep their idea of weighted, normalised evidence but
  combine with a noisy-OR so the score stays in [0, 1] and never falls when evidence grows.
* Bots, account takeover and new accounts placing outsized bids are the velocity, device and price
  anomaly signals common to marketplace fraud systems.

Every rule is monotone non-decreasing in its evidence; :func:`score` is monotone in every rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: a bidder is alerted (once per auction) when a bid's score reaches this
ALERT_THRESHOLD = 0.6
#: a rule is listed in ``fraud_reasons`` when its weighted evidence reaches this
REASON_CUTOFF = 0.2


@dataclass(frozen=True, slots=True)
class BidFeatures:
    """What the stream knows about a bid when it arrives (state before this bid, plus the bid itself)."""

    bids_last_minute: int = 1
    """The bidder's bids in the 60 s before and including this one (this worker's partition)."""
    auction_bids: int = 1
    """Bids in this auction so far, this one included."""
    bidder_auction_bids: int = 1
    """The bidder's bids in this auction so far, this one included."""
    successive_outbids: int = 0
    """Times in this auction the bidder raised the price while already leading (outbidding itself)."""
    bidder_auctions: int = 1
    """Distinct auctions the bidder has bid in (this partition)."""
    seller_auctions: int = 1
    """Of those, auctions run by this auction's seller."""
    early_bids: int = 0
    """The bidder's bids in this auction placed in the first quarter of its duration."""
    late_bids: int = 0
    """The bidder's bids in this auction placed in its last 5 % (sniping: the honest pattern)."""
    closed_auctions: int = 0
    """Closed auctions the bidder took part in (this partition)."""
    wins: int = 0
    """Of those, auctions the bidder won."""
    account_age_days: float | None = None
    """Days from the bidder's signup to this bid; None when the user is unknown to this worker."""
    amount_ratio: float = 1.0
    """This bid's amount over the typical bid in its category (geometric mean so far)."""
    device_switches: int = 0
    """Times the bidder's device changed within their recent bids."""


def _ramp(value: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear between: the normalisation of every rule."""
    if value <= low:
        return 0.0
    if value >= high:
        return 1.0
    return (value - low) / (high - low)


def bidder_tendency(f: BidFeatures) -> float:
    """A&S *Bidder Tendency*: a shill bids mostly in one seller's auctions (needs a few auctions to judge)."""
    share = f.seller_auctions / f.bidder_auctions
    return _ramp(share, 0.5, 0.9) * _ramp(f.seller_auctions, 1, 3)


def bidding_ratio(f: BidFeatures) -> float:
    """A&S *Bidding Ratio*: a shill places a large share of an auction's bids to push the price up."""
    return _ramp(f.bidder_auction_bids / f.auction_bids, 0.3, 0.6) * _ramp(f.auction_bids, 4, 8)


def successive_outbidding(f: BidFeatures) -> float:
    """A&S *Successive Outbidding*: a shill outbids itself while leading, to walk the price up."""
    return _ramp(f.successive_outbids, 1, 4)


def early_bidding(f: BidFeatures) -> float:
    """A&S *Early Bidding*: shills start bidding early to stimulate the auction, honest bidders wait."""
    return _ramp(f.early_bids, 1, 3) * (1.0 - _ramp(f.late_bids, 0, 1))


def low_winning_ratio(f: BidFeatures) -> float:
    """A&S *Winning Ratio*: a shill takes part in many auctions but wins almost none (winning is the risk)."""
    if f.closed_auctions == 0:
        return 0.0
    return _ramp(f.closed_auctions, 2, 5) * (1.0 - _ramp(f.wins / f.closed_auctions, 0.0, 0.3))


def bid_velocity(f: BidFeatures) -> float:
    """Bots bid far faster than people: many bids within a minute."""
    return _ramp(f.bids_last_minute, 6, 15)


def new_account_outsized(f: BidFeatures) -> float:
    """A fresh account placing a bid far above its category's typical price (stolen card, fake buyer)."""
    if f.account_age_days is None:
        return 0.0
    return (1.0 - _ramp(f.account_age_days, 3, 14)) * _ramp(f.amount_ratio, 2.5, 5.0)


def price_anomaly(f: BidFeatures) -> float:
    """A bid many times the category's typical price, whoever places it."""
    return _ramp(f.amount_ratio, 4.0, 10.0)


def device_change(f: BidFeatures) -> float:
    """Account takeover: the same account suddenly bidding from new devices."""
    return _ramp(f.device_switches, 1, 3)


Rule = Callable[[BidFeatures], float]

#: rule name -> (rule, weight). A weight is the score a rule gives on its own at full evidence.
RULES: dict[str, tuple[Rule, float]] = {
    "bidder_tendency": (bidder_tendency, 0.55),
    "bidding_ratio": (bidding_ratio, 0.35),
    "successive_outbidding": (successive_outbidding, 0.35),
    "early_bidding": (early_bidding, 0.25),
    "low_winning_ratio": (low_winning_ratio, 0.35),
    "bid_velocity": (bid_velocity, 0.8),
    "new_account_outsized": (new_account_outsized, 0.8),
    "price_anomaly": (price_anomaly, 0.4),
    "device_change": (device_change, 0.45),
}


_RULE_LIST = tuple((name, rule, weight) for name, (rule, weight) in RULES.items())


def combine(evidence: dict[str, float]) -> tuple[float, list[str]]:
    """Noisy-OR of weighted evidence: ``1 - prod(1 - weight * evidence)``; reasons sorted by weight.

    Each factor lies in [0, 1], so the score does too, and raising any evidence never lowers it.
    """
    return _noisy_or((name, RULES[name][1], value) for name, value in evidence.items())


def _noisy_or(weighted_evidence: Iterable[tuple[str, float, float]]) -> tuple[float, list[str]]:
    remaining = 1.0
    strong: list[tuple[float, str]] = []
    for name, weight, value in weighted_evidence:
        if value <= 0.0:
            continue
        weighted = weight * (1.0 if value > 1.0 else value)
        remaining *= 1.0 - weighted
        if weighted >= REASON_CUTOFF:
            strong.append((-weighted, name))
    if len(strong) > 1:
        strong.sort()
    return round(1.0 - remaining, 4), [name for _, name in strong]


def score(features: BidFeatures) -> tuple[float, list[str]]:
    """A bid's fraud score in [0, 1] and the names of the rules that drove it."""
    return _noisy_or((name, weight, rule(features)) for name, rule, weight in _RULE_LIST)
