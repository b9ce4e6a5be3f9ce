"""`import --to broker`: an import's events sent to the input topics, for the stream worker to score.

The file is read and translated exactly as for the lake (same rules, same ids, same quarantine), then
its events go to ``users``, ``auctions`` and ``bids`` (string key per ``TOPIC_KEYS``, the contract's
canonical JSON, Kafka's murmur2 partitioner: bids and their auction share a partition) in event-time
order; at one instant users come first, then auction openings, bids, and closes last (an auction's close
is at its end, after its last bid). ``speed`` compresses the history: event time runs ``speed`` times
faster than the wall clock (86400: a day a second); None sends as fast as the broker takes them.

Each message's Kafka timestamp is strictly later than the one before (the wall clock, or a millisecond
past the last when sending faster than that), and the worker aligns its input topics by timestamp: every
replay of a file is consumed in the same order and scored the same (state is per partition).

Nothing here decides whether an event is new: ids are content hashes, so re-sending a file gives events
that the stream worker names duplicates (a ``bid_id`` it still remembers goes to dead letters) or that
silver removes by id. The producer gives up after ``AUCTION_BROKER_TIMEOUT_S`` without an
acknowledgement: a broker that goes away is one line, and a re-run completes without duplicates.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipelines.contracts import TOPIC_KEYS, Auction, Event, to_epoch_ms
from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings
from pipelines.infra.topics import INPUT_TOPICS, ensure_topics, producer_config
from pipelines.ingest.contract import validate_rows
from pipelines.ingest.ebay import translate
from pipelines.ingest.files import ImportReport, finish_report, lake_errors, lake_failure, open_import
from pipelines.ingest.read import Reject

#: at one instant: users, then auction openings, bids, closes
_RANK = {"users": 0, "open": 1, "bids": 2, "closed": 3}
Message = tuple[int, str, str, bytes]
_RERUN = " (re-run the same import: ids are content hashes, nothing is counted twice)"


def replay_order(events: dict[str, list[Event]]) -> list[Message]:
    """``(event ms, topic, key, JSON value)`` of every event, in the order the stream should see them."""
    out: list[tuple[int, int, str, str, str, bytes]] = []
    for topic, items in events.items():
        key_field = TOPIC_KEYS[topic]
        for event in items:
            rank = _RANK[event.status] if isinstance(event, Auction) else _RANK[topic]
            key = str(getattr(event, key_field))
            out.append(
                (to_epoch_ms(event.event_time), rank, event.event_id, topic, key, event.model_dump_json().encode())
            )
    out.sort(key=lambda m: (m[0], m[1], m[2]))
    return [(ms, topic, key, value) for ms, _, _, topic, key, value in out]


@dataclass
class ReplaySummary:
    """What was sent: messages per topic, the offsets they got per (topic, partition), how long it took."""

    address: str
    counts: dict[str, int] = field(default_factory=dict)
    first_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per (topic, partition): one past the last offset sent (what the stream worker must commit)."""
    seconds: float = 0.0

    def line(self) -> str:
        total = sum(self.counts.values())
        counts = ", ".join(f"{t} {n}" for t, n in self.counts.items())
        rate = total / self.seconds if self.seconds else 0.0
        return f"replayed {total} events to {self.address} ({counts}) in {self.seconds:.1f} s ({rate:,.0f} events/s)"


def run_replay(
    settings: Settings,
    address: str,
    path: str,
    fmt: str | None = None,
    topic: str = "bids",
    start: dt.date | None = None,
    speed: float | None = None,
) -> tuple[ImportReport, ReplaySummary]:
    """Translate a file like ``run_import`` (rejects to the lake's quarantine) and send its events."""
    if speed is not None and speed <= 0:
        raise UserError("--speed must be more than 0 (event seconds per wall-clock second)")
    opened = open_import(settings, path, fmt, topic, start)
    report = opened.report
    if report.fmt == "ebay":
        translation = translate(opened.rows, opened.opening)
        events, rejects, report.notes = translation.events, translation.rejects, translation.notes
    else:
        events, rejects = {opened.topic: []}, []
        for item in validate_rows(opened.topic, opened.rows):
            if isinstance(item, Reject):
                rejects.append(item)
            else:
                events[opened.topic].append(item[1])
    try:
        finish_report(opened, rejects, dt.datetime.now(dt.UTC))
    except lake_errors() as exc:
        raise lake_failure(opened, exc) from None
    messages = replay_order(events)
    summary = produce(address, settings, messages, speed)
    report.imported = dict(summary.counts)
    return report, summary


def produce(address: str, settings: Settings, messages: Iterable[Message], speed: float | None = None) -> ReplaySummary:
    """Send the messages in order (paced by ``speed``), wait for every acknowledgement; one line on failure."""
    from confluent_kafka import KafkaException, Producer

    try:
        ensure_topics(address, settings, INPUT_TOPICS)
    except KafkaException as exc:
        reason = exc.args[0] if exc.args else exc
        raise UserError(f"replaying to the broker {address} failed: {reason}{_RERUN}") from None
    timeout_ms = int(settings.broker_timeout_s * 1000)
    # librdkafka's own log lines would come on top of the one line a failure gives
    producer = Producer({**producer_config(address), "message.timeout.ms": timeout_ms, "log_level": 0})
    summary = ReplaySummary(address)
    failures: list[str] = []
    progress = [time.monotonic()]  # when the queue was last empty or a message last acknowledged

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))
            return
        progress[0] = time.monotonic()
        where, offset = (msg.topic(), msg.partition()), msg.offset()
        summary.first_offsets[where] = min(offset, summary.first_offsets.get(where, offset))
        summary.end_offsets[where] = max(offset + 1, summary.end_offsets.get(where, 0))

    pace = _pacer(speed)
    began = time.perf_counter()
    send: Callable[..., None] = producer.produce
    stamp = 0

    def stalled() -> bool:
        """A delivery failed, or nothing was acknowledged for the broker timeout while messages wait."""
        now = time.monotonic()
        if not len(producer):
            progress[0] = now
        elif now - progress[0] > settings.broker_timeout_s:
            failures.append(f"no acknowledgement for {settings.broker_timeout_s:g} s")
        return bool(failures)

    for sent, (ms, topic, key, value) in enumerate(messages):
        wait = pace(ms)
        if wait > 0:  # waiting for the replay clock: serve delivery reports meanwhile
            producer.poll(wait)
            if stalled():
                break
        # strictly increasing message timestamps (the wall clock, or 1 ms past the last): the worker's
        # time-aligned consumption then takes each partition's users, auctions and bids in exactly this
        # order, so a replay is scored the same way every time
        stamp = max(time.time_ns() // 1_000_000, stamp + 1)
        while True:
            try:
                send(topic, value, key, on_delivery=delivered, timestamp=stamp)
                break
            except BufferError:
                producer.poll(0.05)
                if stalled():
                    break
        if failures:
            break
        summary.counts[topic] = summary.counts.get(topic, 0) + 1
        if sent % 1000 == 0:
            producer.poll(0)
            if stalled():
                break
    try:
        if failures:  # the broker is gone: what is still queued would only time out one by one
            producer.purge()
        left = producer.flush(settings.broker_timeout_s + 5)
    except KafkaException as exc:  # pragma: no cover - librdkafka fatal error
        raise UserError(f"replaying to the broker {address} failed: {exc}{_RERUN}") from None
    summary.seconds = time.perf_counter() - began
    if failures or left:
        problem = failures[0] if failures else f"{left} messages not acknowledged"
        raise UserError(f"replaying to the broker {address} failed: {problem}{_RERUN}")
    summary.end_offsets = dict(sorted(summary.end_offsets.items()))
    return summary


def _pacer(speed: float | None) -> Callable[[int], float]:
    """Seconds to wait before sending event time ``ms``: it is due ``(ms - first) / speed`` s after the first."""
    if speed is None:
        return lambda ms: 0.0
    origin: list[float] = []

    def pace(ms: int) -> float:
        if not origin:
            origin.extend((float(ms), time.monotonic()))
            return 0.0
        ahead = origin[1] + (ms - origin[0]) / 1000 / speed - time.monotonic()
        return ahead if ahead > 0.001 else 0.0

    return pace
