"""From the simulated marketplace to events: their order, ids, and contract-shaped Arrow tables.

:func:`build` runs the simulation for a config and returns one Arrow table per topic (the columns of
``pipelines.contracts.arrow_schema``, rows in event-time order) plus each row's Kafka key and partition.
The wire form (JSON) is made from these tables by :mod:`pipelines.generate.wire`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contracts import CHANNELS, SCHEMA_VERSION, Auction, Bid, User, arrow_schema, to_epoch_ms
from pipelines.generate.bidding import run_auctions
from pipelines.generate.config import GeneratorConfig
from pipelines.generate.fraud import LABELS, plan_fraud
from pipelines.generate.partitioning import partitions_for
from pipelines.generate.world import CATEGORY_NAMES, COUNTRY_CODES, CURRENCY_CODES, make_auctions, make_users

TOPIC_ORDER = ("users", "auctions", "bids")


@dataclass
class Built:
    """A generated run: per topic its table, keys and Kafka partitions; the topic of each event in order."""

    config: GeneratorConfig
    tables: dict[str, pa.Table]
    keys: dict[str, pa.Array]
    partitions: dict[str, np.ndarray]
    topic_of: np.ndarray  # index into TOPIC_ORDER of the n-th event
    actors: dict[str, str]  # user_id -> planted pattern
    takeover_at: dict[str, int]  # user_id -> epoch ms from which a takeover account's bids are fraudulent

    @property
    def counts(self) -> dict[str, int]:
        return {t: self.tables[t].num_rows for t in TOPIC_ORDER}


def plan_counts(events: int) -> tuple[int, int, int]:
    """Users, auctions and bids adding up to exactly ``events`` (each auction is two events)."""
    users = min(events, max(2, round(events * 0.06)))
    rest = events - users
    auctions = min(rest // 2, max(1, round(events * 0.08))) if rest >= 2 else 0
    if auctions == 0:
        return events, 0, 0
    return users, auctions, rest - 2 * auctions


def build(config: GeneratorConfig) -> Built:
    """Simulate the run of ``config`` and shape it into tables."""
    rng = random.Random(config.fingerprint())
    start_ms = to_epoch_ms(config.start)
    span_ms = max(1_000, int(config.days * 86_400_000))
    n_users, n_auctions, n_bids = plan_counts(config.events)
    sellers = max(1, min(n_users - 1, round(n_users * 0.12)))
    users = make_users(rng, n_users, sellers, start_ms)
    nprng = np.random.default_rng(rng.getrandbits(64))
    auctions = make_auctions(nprng, users, sellers, n_auctions, n_bids, start_ms, span_ms)
    plan = plan_fraud(rng, users, auctions, sellers, config.fraud_rate, config.fraud_mix)
    bids = run_auctions(rng, nprng, users, auctions, plan, sellers)

    b_time, b_bidder = _col(bids.time), _col(bids.bidder)
    a_seller, a_start, a_end = _col(auctions.seller), _col(auctions.start_ms), _col(auctions.end_ms)
    # a user registers (or shows up) shortly before their first action
    first = np.full(n_users, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, b_bidder, b_time)
    np.minimum.at(first, a_seller, a_start)
    idle = first == np.iinfo(np.int64).max
    u_time = np.maximum(start_ms, first - nprng.integers(1_000, 600_000, n_users))
    u_time[idle] = start_ms + nprng.integers(0, span_ms, int(idle.sum()))
    signup = np.asarray(users.signup_ms, dtype=np.int64)
    is_new = _col(users.is_new, np.uint8).astype(bool)
    signup[is_new] = u_time[is_new]

    # global order: by time; on a tie users, then openings, then bids (in bidding order), then closes
    times = np.concatenate([u_time, a_start, b_time, a_end])
    kinds = np.repeat(np.arange(4, dtype=np.int8), [n_users, n_auctions, len(b_time), n_auctions])
    order = np.lexsort((kinds, times))
    kinds_sorted = kinds[order]
    local = order - np.repeat(np.array([0, n_users, n_users + n_auctions, n_users + n_auctions + len(b_time)]),
                              [n_users, n_auctions, len(b_time), n_auctions])[order]  # fmt: skip
    position = np.arange(len(order), dtype=np.int64)
    topic_of = np.array([0, 1, 2, 1], dtype=np.int8)[kinds_sorted]
    run = config.run_id()

    u_idx = local[kinds_sorted == 0]
    user_ids = _ids(f"u-{run}-", np.arange(n_users), 7)
    users_table = pa.Table.from_arrays(
        [
            _ids(f"e-{run}-", position[kinds_sorted == 0], 9),
            _times(u_time[u_idx]),
            pa.array(np.full(n_users, SCHEMA_VERSION, dtype=np.int64)),
            user_ids.take(u_idx),
            pa.array(users.name).take(u_idx),
            pa.array(users.email).take(u_idx),
            pa.array(COUNTRY_CODES).take(np.asarray(users.country, dtype=np.int64)[u_idx]),
            pa.array(users.city).take(u_idx),
            _times(signup[u_idx]),
            pa.array(_col(users.is_seller, np.uint8)[u_idx].astype(bool)),
            pa.array(np.asarray(users.rating, dtype=np.int64)[u_idx]),
            pa.array(np.zeros(n_users, dtype=bool)),
        ],
        schema=arrow_schema(User),
    )

    # auctions: the n-th row is an opening (kind 1) or a close (kind 3)
    is_auction = (kinds_sorted == 1) | (kinds_sorted == 3)
    a_idx = local[is_auction]
    closed = kinds_sorted[is_auction] == 3
    auction_ids = _ids(f"a-{run}-", np.arange(n_auctions), 7)
    currency = pa.array(CURRENCY_CODES).take(np.asarray(auctions.currency, dtype=np.int64))
    reserve = np.asarray(auctions.reserve, dtype=np.int64)
    final = np.asarray(auctions.final_price, dtype=np.int64)[a_idx]
    winner = np.asarray(auctions.winner, dtype=np.int64)[a_idx]
    sold = closed & (winner >= 0)
    auctions_table = pa.Table.from_arrays(
        [
            _ids(f"e-{run}-", position[is_auction], 9),
            _times(np.where(closed, a_end[a_idx], a_start[a_idx])),
            pa.array(np.full(len(a_idx), SCHEMA_VERSION, dtype=np.int64)),
            auction_ids.take(a_idx),
            user_ids.take(a_seller[a_idx]),
            pa.array(auctions.title).take(a_idx),
            pa.array(CATEGORY_NAMES).take(np.asarray(auctions.category, dtype=np.int64)[a_idx]),
            _money(np.asarray(auctions.start_price, dtype=np.int64)[a_idx]),
            _money(reserve[a_idx], reserve[a_idx] >= 0),
            currency.take(a_idx),
            _times(a_start[a_idx]),
            _times(a_end[a_idx]),
            pa.array(np.where(closed, "closed", "open")),
            _money(final, sold),
            user_ids.take(pa.array(np.where(sold, winner, 0), mask=~sold)),
        ],
        schema=arrow_schema(Auction),
    )

    b_idx = local[kinds_sorted == 2]
    b_auction = _col(bids.auction)[b_idx]
    # a bid's channel is its device's; its label its bidder's (a takeover account's only after the takeover)
    device = _col(bids.device)[b_idx]
    device_channel = np.concatenate(
        [np.stack([_col(users.channel0, np.uint8), _col(users.channel1, np.uint8)], axis=1).reshape(-1),
         np.asarray(plan.extra_channels, dtype=np.uint8)]
    )  # fmt: skip
    user_label = np.zeros(n_users, dtype=np.uint8)
    takeover_at = np.full(n_users, np.iinfo(np.int64).max, dtype=np.int64)
    for u, code in plan.actors.items():
        user_label[u] = code
    for u, at in plan.takeover_at.items():
        takeover_at[u] = at
    bidder = b_bidder[b_idx]
    labels = np.where(b_time[b_idx] > takeover_at[bidder], user_label[bidder], 0)
    labels[user_label[bidder] != 4] = user_label[bidder][user_label[bidder] != 4]
    bids_table = pa.Table.from_arrays(
        [
            _ids(f"e-{run}-", position[kinds_sorted == 2], 9),
            _times(b_time[b_idx]),
            pa.array(np.full(len(b_idx), SCHEMA_VERSION, dtype=np.int64)),
            _ids(f"b-{run}-", np.arange(len(b_idx)), 9),
            auction_ids.take(b_auction),
            user_ids.take(bidder),
            _money(_col(bids.amount)[b_idx]),
            currency.take(b_auction),
            _times(b_time[b_idx]),
            pa.array(CHANNELS).take(device_channel[device]),
            _ids(f"d-{run}-", device, 7),
            pa.array(LABELS, pa.string()).take(labels),
        ],
        schema=arrow_schema(Bid),
    )
    tables = {"users": users_table, "auctions": auctions_table, "bids": bids_table}
    u_part = partitions_for(user_ids, config.partitions)
    a_part = partitions_for(auction_ids, config.partitions)
    return Built(
        config=config,
        tables=tables,
        keys={
            "users": users_table["user_id"],
            "auctions": auctions_table["auction_id"],
            "bids": bids_table["auction_id"],
        },
        partitions={"users": u_part[u_idx], "auctions": a_part[a_idx], "bids": a_part[b_auction]},
        topic_of=topic_of,
        actors={user_ids[u].as_py(): LABELS[code] for u, code in plan.actors.items()},  # type: ignore[misc]
        takeover_at={user_ids[u].as_py(): at for u, at in plan.takeover_at.items()},
    )


def _col(values: Any, dtype: Any = np.int64) -> np.ndarray:
    """A numpy view of an ``array``/``bytearray`` column (a copy only when empty)."""
    return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype=dtype)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + the zero-padded number, built as fixed-width bytes (no Python string per id).

    Numbers too wide for ``width`` digits fall back to Arrow's formatting (same text, just slower).
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    if n and int(numbers.max()) >= 10**width:
        digits = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width, "0")
        return pc.binary_join_element_wise(prefix, digits, "")
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    size = len(head) + width
    block = np.empty((n, size), dtype=np.uint8)
    block[:, : len(head)] = head
    rest = numbers.copy()
    for column in range(size - 1, len(head) - 1, -1):
        block[:, column] = 48 + rest % 10
        rest //= 10
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(block)])


def _times(epoch_ms: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(epoch_ms, dtype=np.int64), type=pa.timestamp("ms", tz="UTC"))


def _money(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """DECIMAL(18,2) from integer cents without going through Python ``Decimal`` objects."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    validity = None if valid is None else pa.array(np.asarray(valid, dtype=bool)).buffers()[1]
    nulls = -1 if valid is not None else 0
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [validity, pa.py_buffer(words)], null_count=nulls)
