"""The marketplace before anyone bids: users, sellers, categories and auctions.

Faker is slow, so names and cities come from pools drawn once per process per country (seeded Faker,
cached); a run then draws from the pools with its own ``random.Random``. Prices are integer cents in
the auction's currency and times epoch milliseconds.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import unicodedata
from array import array
from dataclasses import dataclass

import numpy as np

from pipelines.contracts import DAY_MS

YEAR_MS = 365 * DAY_MS

#: country -> (Faker locale, currency, value of one USD in that currency, share of users)
COUNTRIES: dict[str, tuple[str, str, float, float]] = {
    "US": ("en_US", "USD", 1.0, 0.34),
    "GB": ("en_GB", "GBP", 0.79, 0.12),
    "DE": ("de_DE", "EUR", 0.92, 0.12),
    "FR": ("fr_FR", "EUR", 0.92, 0.07),
    "IT": ("it_IT", "EUR", 0.92, 0.05),
    "ES": ("es_ES", "EUR", 0.92, 0.05),
    "NL": ("nl_NL", "EUR", 0.92, 0.03),
    "IE": ("en_IE", "EUR", 0.92, 0.02),
    "AT": ("de_AT", "EUR", 0.92, 0.02),
    "CA": ("en_CA", "CAD", 1.36, 0.07),
    "AU": ("en_AU", "AUD", 1.50, 0.06),
    "CH": ("de_CH", "CHF", 0.88, 0.02),
    "SE": ("sv_SE", "SEK", 10.5, 0.03),
}
COUNTRY_CODES = tuple(COUNTRIES)
CURRENCY_CODES = ("USD", "GBP", "EUR", "CAD", "AUD", "CHF", "SEK")
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "gmx.net", "proton.me")

#: category -> (median price in USD, lognormal sigma, popularity, item nouns)
CATEGORIES: dict[str, tuple[float, float, float, tuple[str, ...]]] = {
    "electronics": (180.0, 0.8, 1.6, ("Smartphone", "Tablet", "Headphones", "Camera", "Smartwatch", "Drone")),
    "computers": (320.0, 0.7, 0.9, ("Laptop", "Graphics Card", "Monitor", "Mechanical Keyboard", "SSD 2TB")),
    "collectibles": (45.0, 1.1, 1.3, ("Trading Card", "Coin Set", "Stamp Album", "Action Figure", "Comic Book")),
    "fashion": (40.0, 0.7, 1.4, ("Leather Jacket", "Sneakers", "Handbag", "Sunglasses", "Wool Coat")),
    "jewelry_watches": (160.0, 1.1, 0.7, ("Wristwatch", "Gold Ring", "Silver Necklace", "Diamond Earrings")),
    "home_garden": (60.0, 0.8, 1.0, ("Espresso Machine", "Lamp", "Rug", "Cookware Set", "Garden Tools")),
    "sports": (70.0, 0.8, 0.8, ("Road Bike", "Golf Clubs", "Tennis Racket", "Ski Boots", "Tent")),
    "toys": (30.0, 0.8, 0.8, ("LEGO Set", "Model Train", "Board Game", "Plush Bear", "RC Car")),
    "books": (14.0, 0.6, 0.6, ("First Edition", "Cookbook", "Atlas", "Novel Box Set", "Art Book")),
    "art": (130.0, 1.2, 0.4, ("Oil Painting", "Print", "Sculpture", "Poster", "Photograph")),
    "music": (260.0, 0.9, 0.5, ("Guitar", "Synthesizer", "Vinyl Record", "Amplifier", "Violin")),
    "motors_parts": (90.0, 1.0, 0.6, ("Alloy Wheels", "Headlights", "Exhaust", "Seat Covers", "Brake Kit")),
}
CATEGORY_NAMES = tuple(CATEGORIES)
ADJECTIVES = ("Vintage", "New", "Used", "Rare", "Sealed", "Refurbished", "Mint", "Classic", "Limited", "Genuine")
#: auction durations in days before scaling
DURATIONS = (1, 3, 5, 7)
DURATION_WEIGHTS = (0.15, 0.3, 0.2, 0.35)


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum()) or "user"


@functools.lru_cache(maxsize=1)
def pools() -> dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]]:
    """Per country: first and last names (each with its ASCII form for emails) and cities.

    Drawn once per process from a Faker seeded with a constant, so their content is fixed.
    """
    from faker import Faker

    result = {}
    for code, (locale, *_rest) in COUNTRIES.items():
        fake = Faker(locale)
        for provider in fake.providers:  # it_IT builds its city list from a set: fix its order
            if isinstance(getattr(provider, "cities", None), list):
                provider.cities = sorted(set(provider.cities))
        fake.seed_instance(20261101)
        firsts = [(n, _ascii(n)) for n in dict.fromkeys(fake.first_name() for _ in range(240))]
        lasts = [(n, _ascii(n)) for n in dict.fromkeys(fake.last_name() for _ in range(240))]
        cities = list(dict.fromkeys(fake.city() for _ in range(80)))
        result[code] = (firsts, lasts, cities)
    return result


@dataclass
class Users:
    """Columns of the users (index = user number)."""

    name: list[str]
    email: list[str]
    country: array  # index into COUNTRY_CODES
    city: list[str]
    signup_ms: array  # for accounts opened inside the span: replaced by the registration time
    is_new: bytearray  # signs up inside the span (just before its first action)
    is_seller: bytearray
    rating: array
    channel0: bytearray  # channel of the primary device (index into CHANNELS)
    channel1: bytearray  # channel of the second device; 255 = none

    def __len__(self) -> int:
        return len(self.name)


def make_users(rng: random.Random, count: int, sellers: int, start_ms: int) -> Users:
    """``count`` users, the first ``sellers`` of them sellers (older accounts, higher ratings)."""
    table = pools()
    codes = list(COUNTRY_CODES)
    cum = list(_cumulative([COUNTRIES[c][3] for c in codes]))
    users = Users([], [], array("b"), [], array("q"), bytearray(), bytearray(), array("q"), bytearray(), bytearray())
    rand = rng.random
    for n in range(count):
        ci = bisect.bisect(cum, rand() * cum[-1])
        firsts, lasts, cities = table[codes[ci]]
        first, first_ascii = firsts[int(rand() * len(firsts))]
        last, last_ascii = lasts[int(rand() * len(lasts))]
        seller = n < sellers
        new = not seller and rand() < 0.25
        age_days = rng.uniform(30, 3650) if not seller else rng.uniform(180, 5000)
        users.name.append(f"{first} {last}")
        sep = "." if rand() < 0.6 else "_"
        users.email.append(f"{first_ascii}{sep}{last_ascii}{n % 997}@{EMAIL_DOMAINS[int(rand() * 7)]}")
        users.country.append(ci)
        users.city.append(cities[int(rand() * len(cities))])
        users.signup_ms.append(start_ms - int(age_days * DAY_MS))
        users.is_new.append(new)
        users.is_seller.append(seller)
        if new:
            rating = int(rand() * 3)
        else:
            rating = int(rng.lognormvariate(math.log(max(age_days, 1) / 25) + (1.5 if seller else 0), 0.9))
        users.rating.append(rating)
        r = rand()
        users.channel0.append(1 if r < 0.55 else 0 if r < 0.99 else 2)
        users.channel1.append((1 if r >= 0.55 else 0) if rand() < 0.4 else 255)
    return users


@dataclass
class Auctions:
    """Columns of the auctions (index = auction number); results are filled in by the bidding."""

    seller: array
    category: array
    title: list[str]
    currency: array
    market: array  # what the item is worth, cents (drives bidder behaviour, never written)
    start_price: array
    reserve: array  # -1 = no reserve
    start_ms: array
    end_ms: array
    bids: array  # bid slots planned for this auction
    final_price: array  # -1 = unsold
    winner: array  # -1 = unsold

    def __len__(self) -> int:
        return len(self.seller)


def nice_cents(value: np.ndarray) -> np.ndarray:
    """Round prices (in currency units) the way sellers write them, as cents: 4.99 / 25.00 / 1,250.00 ..."""
    whole = np.floor(value)
    cents = np.where(
        value < 10,
        np.maximum(99, whole * 100 + 99),
        np.where(value < 100, whole * 100 + np.where(value % 1 > 0.5, 99, 0),
                 np.floor(value / np.where(value < 1000, 5, 50)) * np.where(value < 1000, 5, 50) * 100),
    )  # fmt: skip
    return cents.astype(np.int64)


def _to_array(values: np.ndarray) -> array:
    out = array("q")
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return out


def titles() -> list[str]:
    """Every title an auction can have: ``"<adjective> <item>"``, grouped by category."""
    return [f"{adj} {noun}" for c in CATEGORY_NAMES for noun in CATEGORIES[c][3] for adj in ADJECTIVES]


def make_auctions(
    nprng: np.random.Generator, users: Users, sellers: int, count: int, bids: int, start_ms: int, span_ms: int
) -> Auctions:
    """``count`` auctions by the first ``sellers`` users (a few power sellers), sharing ``bids`` bid slots."""
    seller_w = 1.0 / np.arange(1, sellers + 1) ** 0.8
    seller = np.minimum(np.searchsorted(np.cumsum(seller_w), nprng.random(count) * seller_w.sum()), sellers - 1)
    pop = np.array([CATEGORIES[c][2] for c in CATEGORY_NAMES])
    cat = np.minimum(np.searchsorted(np.cumsum(pop), nprng.random(count) * pop.sum()), len(pop) - 1)
    median = np.array([CATEGORIES[c][0] for c in CATEGORY_NAMES])[cat]
    sigma = np.array([CATEGORIES[c][1] for c in CATEGORY_NAMES])[cat]
    country = np.frombuffer(users.country, dtype=np.int8).astype(np.int64)[seller] if count else seller
    fx = np.array([COUNTRIES[c][2] for c in COUNTRY_CODES])[country]
    currency = np.array([CURRENCY_CODES.index(COUNTRIES[c][1]) for c in COUNTRY_CODES])[country]
    market = median * fx * np.exp(sigma * nprng.standard_normal(count))
    start = np.where(nprng.random(count) < 0.92, nice_cents(market * nprng.uniform(0.05, 0.8, count)),
                     nice_cents(market * 0.01))  # fmt: skip
    reserve = np.maximum(start + 100, nice_cents(market * nprng.uniform(0.6, 1.15, count)))
    reserve = np.where(nprng.random(count) < 0.3, reserve, -1)
    scale = min(1.0, span_ms / (14 * DAY_MS))
    days = np.array(DURATIONS)[np.searchsorted(np.cumsum(DURATION_WEIGHTS), nprng.random(count), side="right")]
    duration = np.clip(days * DAY_MS * scale, min(60_000, span_ms - 2), span_ms - 2).astype(np.int64)
    begin = start_ms + (nprng.random(count) * (span_ms - duration)).astype(np.int64)
    per_cat = len(ADJECTIVES) * np.array([len(CATEGORIES[c][3]) for c in CATEGORY_NAMES])
    title = (np.cumsum(per_cat) - per_cat)[cat] + (nprng.random(count) * per_cat[cat]).astype(np.int64)
    # a quarter of the auctions draw no bid at all; the rest a heavy-tailed share of the bids
    weight = np.where(nprng.random(count) < 0.22, 0.0, np.exp(0.9 * nprng.standard_normal(count)) * pop[cat])
    names = titles()
    return Auctions(
        seller=_to_array(seller), category=_to_array(cat), title=[names[i] for i in title.tolist()],
        currency=_to_array(currency), market=_to_array(market * 100), start_price=_to_array(start),
        reserve=_to_array(reserve), start_ms=_to_array(begin), end_ms=_to_array(begin + duration),
        bids=array("q", _share(bids, weight.tolist())), final_price=array("q", [-1] * count),
        winner=array("q", [-1] * count),
    )  # fmt: skip


def _share(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder; exact sum)."""
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights = [1.0] * len(weights)
        weight_sum = float(len(weights))
    exact = [total * w / weight_sum for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: parts[i] - exact[i])
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _cumulative(weights: list[float] | tuple[float, ...]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out
