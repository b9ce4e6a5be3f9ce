"""Synthetic marketplace traffic: users, auctions (opened and closed) and bids, with planted fraud.

Deterministic for a config: the generator owns its ``random.Random`` (seeded from the config) and its
clock (``start`` + ``days``), so the same config yields identical events and a different seed yields
different events with different ids (every id carries a hash of the config).

Pipeline of this stage (each step a module):

* :mod:`pipelines.generate_world` -- users (Faker pools per country), sellers, auctions with categories,
  price levels, durations, reserves and the number of bids each one will get;
* :mod:`pipelines.generate_fraud` -- the planted actors (shill, bot, collusion, takeover) and the bid
  slots they claim in auctions;
* :mod:`pipelines.generate_bids` -- the bidding itself (proxy bidding with eBay increments, bid wars, late
  surges, sniping) and each auction's result;
* :mod:`pipelines.generate_tables` -- event order, ids and the contract-shaped Arrow tables;
* :mod:`pipelines.generate_wire` -- the wire form (the contract's JSON), built column-wise;
* :mod:`pipelines.generate_sinks` -- bronze Parquet (:func:`to_lake`) and the broker (:func:`to_broker`).

The marketplace: about 6 % of the events are users (12 % of them sellers, a few power sellers), 16 %
auction openings and closes, the rest bids. Auctions sit in twelve categories with their own lognormal
price levels and currencies by seller country; a fifth draw no bid, the others a heavy-tailed number
of them (bid wars among a few keen bidders, a late surge and sniping in the last minute). Honest bids
always top every earlier bid of their auction; only bot bids (probing the leader's proxy maximum) may
not -- see :mod:`pipelines.generate_fraud` for the planted patterns and :mod:`pipelines.generate_bids`
for the bidding and the result rules.

Representation: :func:`generate` yields lists of ``(topic, key, record)`` in event-time order, where
``record`` is the event exactly as it appears on the wire once JSON-decoded (money as ``"12.50"``,
times as ``"2026-11-01T08:00:00.123Z"``); ``Model.model_validate(record)`` accepts every one.
The sinks work on the columnar form (:func:`pipelines.generate_tables.build`) and never build dicts
for the lake. ``build(config).actors`` maps every planted user id to its pattern (ground truth per
bidder for measuring a scorer; a takeover account's bids before ``build(config).takeover_at`` are honest).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from pipelines.contracts import FRAUD_LABELS

if TYPE_CHECKING:
    import threading

    from app.lake import Lake
    from app.settings import Settings

DEFAULT_START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DEFAULT_FRAUD_MIX: dict[str, float] = {"shill": 0.35, "bot": 0.2, "collusion": 0.25, "takeover": 0.2}


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Every field takes part in :meth:`run_id`, so ids never collide across configs."""

    seed: int = 42
    #: total events written: users + auctions opened + auctions closed + bids
    events: int = 10_000
    #: start of the generator's clock (UTC)
    start: dt.datetime = DEFAULT_START
    #: time span of the events, in days (auction durations of 1/3/5/7 days are scaled to fit)
    days: float = 1.0
    #: fraction of bidders that are planted fraudsters (0..0.5)
    fraud_rate: float = 0.05
    #: relative weight of each planted pattern (shill, bot, collusion, takeover)
    fraud_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FRAUD_MIX))
    #: partitions of the topics: lake files get Kafka's partition of each key (murmur2), like the broker
    partitions: int = 4
    #: events per batch yielded by :func:`generate`
    batch_size: int = 10_000

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            object.__setattr__(self, "start", self.start.replace(tzinfo=dt.UTC))
        problems = []
        if self.events < 0:
            problems.append(f"events must be >= 0, got {self.events}")
        if not 0 < self.days <= 3650:
            problems.append(f"days must be in (0, 3650], got {self.days}")
        if not 0 <= self.fraud_rate <= 0.5:
            problems.append(f"fraud_rate must be in [0, 0.5], got {self.fraud_rate}")
        unknown = set(self.fraud_mix) - set(FRAUD_LABELS)
        if unknown:
            problems.append(f"unknown fraud patterns {sorted(unknown)} (known: {', '.join(FRAUD_LABELS)})")
        if any(w < 0 for w in self.fraud_mix.values()) or sum(self.fraud_mix.values()) <= 0:
            problems.append("fraud_mix weights must be >= 0 with a positive sum")
        if not 1 <= self.partitions <= 256:
            problems.append(f"partitions must be in [1, 256], got {self.partitions}")
        if self.batch_size < 1:
            problems.append("batch_size must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))

    def __hash__(self) -> int:
        return hash(self.run_id())

    def fingerprint(self) -> str:
        """Canonical text of the fields that shape the events (batch_size does not)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "batch_size":
                continue
            value = getattr(self, f.name)
            if isinstance(value, dt.datetime):
                value = value.astimezone(dt.UTC).isoformat()
            elif isinstance(value, dict):
                value = sorted(value.items())
            values[f.name] = value
        return json.dumps(values, sort_keys=True)

    def run_id(self) -> str:
        """Short hash of the config: prefix of every id and of the bronze files' broker run."""
        return hashlib.blake2b(self.fingerprint().encode(), digest_size=4).hexdigest()

    def broker_run(self) -> str:
        """The ``_broker_run`` of lake output: ``gen<hash>`` (rerunning the config rewrites the same files)."""
        return f"gen{self.run_id()}"


@dataclass(frozen=True)
class GenerateSummary:
    """What a run wrote: counts per topic, time taken and, for broker runs, the end offsets.

    ``end_offsets[(topic, partition)]`` is the offset after the last message delivered there (from the
    producer's delivery reports), so a consumer knows when it has read everything this run produced.
    """

    counts: dict[str, int]
    seconds: float
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    files: int = 0
    target: str = ""

    @property
    def events(self) -> int:
        return sum(self.counts.values())

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    def line(self) -> str:
        per_topic = " ".join(f"{t}={n}" for t, n in self.counts.items())
        return (
            f"generated {self.events} events ({per_topic}) to {self.target} in {self.seconds:.2f} s: "
            f"{self.events_per_s:,.0f} events/s"
        )


def generate(config: GeneratorConfig) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """The events of ``config`` in event-time order, in lists of ``(topic, key, wire record)``.

    Users come before their first action, an auction's opening before its bids and its close after
    its last bid. At most ``config.batch_size`` events per list.
    """
    from pipelines.generate_tables import build
    from pipelines.generate_wire import wire_batches

    yield from wire_batches(build(config), config.batch_size)


def to_lake(config: GeneratorConfig, lake: Lake, progress: bool = False) -> GenerateSummary:
    """Write the events as bronze Parquet (DESIGN layout); rerunning the same config rewrites the same files."""
    from pipelines.generate_sinks import write_lake

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
    from pipelines.generate_sinks import produce

    return produce(config, address, rate, progress, settings, stop, ends)
