"""Synthetic marketplace traffic: users, auctions (opened and closed) and bids, with planted fraud.

Deterministic for a config: the generator owns its ``random.Random`` (seeded from the config) and its
clock (``start`` + ``days``), so the same config yields identical events and a different seed yields
different events with different ids (every id carries a hash of the config).

Public face: :class:`GeneratorConfig` (what to generate), :func:`generate` (the events in order),
:func:`to_lake` (bronze files), :func:`to_broker` (the topics) and the :class:`GenerateSummary` they return.
Seeding PostgreSQL's operational tables: :func:`pipelines.generate.seed_db.seed`.

Pipeline of this stage (each step a module):

* :mod:`pipelines.generate.world` -- users (Faker pools per country), sellers, auctions with categories,
  price levels, durations, reserves and the number of bids each one will get;
* :mod:`pipelines.generate.fraud` -- the planted actors (shill, bot, collusion, takeover) and the bid
  slots they claim in auctions;
* :mod:`pipelines.generate.bidding` -- the bidding itself (proxy bidding with eBay increments, bid wars, late
  surges, sniping) and each auction's result;
* :mod:`pipelines.generate.tables` -- event order, ids and the contract-shaped Arrow tables;
* :mod:`pipelines.generate.wire` -- the wire form (the contract's JSON), built column-wise;
* :mod:`pipelines.generate.sinks` -- bronze Parquet (:func:`to_lake`) and the broker (:func:`to_broker`).

The marketplace: about 6 % of the events are users (12 % of them sellers, a few power sellers), 16 %
auction openings and closes, the rest bids. Auctions sit in twelve categories with their own lognormal
price levels and currencies by seller country; a fifth draw no bid, the others a heavy-tailed number
of them (bid wars among a few keen bidders, a late surge and sniping in the last minute). Honest bids
always top every earlier bid of their auction; only bot bids (probing the leader's proxy maximum) may
not -- see :mod:`pipelines.generate.fraud` for the planted patterns and :mod:`pipelines.generate.bidding`
for the bidding and the result rules.

Representation: :func:`generate` yields lists of ``(topic, key, record)`` in event-time order, where
``record`` is the event exactly as it appears on the wire once JSON-decoded (money as ``"12.50"``,
times as ``"2026-11-01T08:00:00.123Z"``); ``Model.model_validate(record)`` accepts every one.
The sinks work on the columnar form (:func:`pipelines.generate.tables.build`) and never build dicts
for the lake. ``build(config).actors`` maps every planted user id to its pattern (ground truth per
bidder for measuring a scorer; a takeover account's bids before ``build(config).takeover_at`` are honest).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pipelines.generate.config import DEFAULT_FRAUD_MIX, DEFAULT_START, GenerateSummary, GeneratorConfig

if TYPE_CHECKING:
    import threading

    from pipelines.infra.lake import Lake
    from pipelines.infra.settings import Settings

__all__ = [
    "DEFAULT_FRAUD_MIX",
    "DEFAULT_START",
    "GenerateSummary",
    "GeneratorConfig",
    "generate",
    "to_broker",
    "to_lake",
]


def generate(config: GeneratorConfig) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """The events of ``config`` in event-time order, in lists of ``(topic, key, wire record)``.

    Users come before their first action, an auction's opening before its bids and its close after
    its last bid. At most ``config.batch_size`` events per list.
    """
    from pipelines.generate.tables import build
    from pipelines.generate.wire import wire_batches

    yield from wire_batches(build(config), config.batch_size)


def to_lake(config: GeneratorConfig, lake: Lake, progress: bool = False) -> GenerateSummary:
    """Write the events as bronze Parquet (DESIGN layout); rerunning the same config rewrites the same files."""
    from pipelines.generate.sinks import write_lake

    return write_lake(config, lake, progress)


def to_broker(
    config: GeneratorConfig,
    address: str,
    rate: float | None = None,
    progress: bool = False,
    settings: Settings | None = None,
    stop: threading.Event | None = None,
    ends: dict[tuple[str, int], int] | None = None,
) -> GenerateSummary:
    """Produce the events as JSON to the topics users/auctions/bids; ``rate`` in events/s (None: flat out).

    Creates the topics first if missing (``settings`` gives their config; default: the environment's
    settings with ``config.partitions``). ``summary.end_offsets`` comes from the delivery reports.
    Setting ``stop`` ends the run early; the summary then counts what was produced. ``ends`` (optional)
    is updated live with each partition's end offset.
    """
    from pipelines.generate.sinks import produce

    return produce(config, address, rate, progress, settings, stop, ends)
