"""Helpers for the stream worker tests: a tiny deterministic marketplace, a producer, bronze readers.

Kept independent of the generator so the worker's tests pin its own contract. No tests here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.contracts import iso_ms

T0 = 1_790_000_000_000  # 2026-09-21, epoch ms
HOUR = 3_600_000

Message = tuple[str, str | None, bytes | None]


class Clock:
    """A clock the test sets (``clock.now = 2.0``), for the sinks' write-ahead timing."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def user(i: int, signup_ms: int = T0 - 90 * 24 * HOUR) -> Message:
    uid = f"u{i}"
    record = {
        "event_id": f"eu{i}", "event_time": iso_ms(T0), "user_id": uid, "name": f"User {i}",
        "email": f"u{i}@example.com", "country": "US", "city": "Springfield", "signup_time": iso_ms(signup_ms),
        "is_seller": i < 10, "rating": 50,
    }  # fmt: skip
    return ("users", uid, json.dumps(record).encode())


def auction(i: int, seller: int, start: int = T0, hours: int = 24, **extra: Any) -> Message:
    aid = f"a{i}"
    record = {
        "event_id": f"ea{i}-{extra.get('status', 'open')}", "event_time": iso_ms(start), "auction_id": aid,
        "seller_id": f"u{seller}", "title": f"Item {i}", "category": "books", "start_price": "10.00",
        "reserve_price": None, "currency": "USD", "start_time": iso_ms(start), "end_time": iso_ms(start + hours * HOUR),
        "status": "open", "final_price": None, "winner_id": None,
    }  # fmt: skip
    record.update(extra)
    return ("auctions", aid, json.dumps(record).encode())


def bid(i: int, auction_i: int, bidder: int, t: int, cents: int, device: str = "d", **extra: Any) -> Message:
    record = {
        "event_id": f"eb{i}", "event_time": iso_ms(t), "bid_id": f"b{i}", "auction_id": f"a{auction_i}",
        "bidder_id": f"u{bidder}", "amount": f"{cents // 100}.{cents % 100:02d}", "currency": "USD",
        "bid_time": iso_ms(t), "channel": "web", "device_id": device, "fraud_label": None,
    }  # fmt: skip
    record.update(extra)
    return ("bids", f"a{auction_i}", json.dumps(record).encode())


def marketplace(bids: int, auctions: int = 200, users: int = 300, bots: int = 3, seed: int = 7) -> Iterator[Message]:
    """Users, auctions, then ``bids`` bids 50 ms apart spread over the auctions; every 10th is a bot's (u1..)."""
    rng = random.Random(seed)
    for i in range(users):
        yield user(i)
    for a in range(auctions):
        yield auction(a, seller=a % 10)
    price = [1000] * auctions
    for i in range(bids):
        a = rng.randrange(auctions)
        price[a] += rng.randint(50, 300)
        bidder = 1 + (i // 10) % bots if bots and i % 10 == 0 else 10 + rng.randrange(users - 10)
        yield bid(i, a, bidder, T0 + 60_000 + i * 50, price[a], device=f"d{i % 7}")


def produce(
    address: str, messages: Iterator[Message] | list[Message], partitions: int = 2
) -> dict[tuple[str, int], int]:
    """Create the topics (explicit config), produce messages in order; returns end offsets per (topic, partition)."""
    from confluent_kafka import Producer

    from pipelines.infra.settings import Settings
    from pipelines.infra.topics import ensure_topics, producer_config

    ensure_topics(address, Settings(partitions=partitions))

    ends: dict[tuple[str, int], int] = {}

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        tp = (msg.topic(), msg.partition())
        ends[tp] = max(ends.get(tp, 0), msg.offset() + 1)

    producer = Producer(producer_config(address))
    for n, (topic, key, value) in enumerate(messages):
        producer.produce(topic, key=key, value=value, on_delivery=delivered)
        if n % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    return ends


def bronze(lake: Path, topic: str) -> pl.DataFrame:
    """Every bronze row of a topic (all files), with the file name."""
    files = sorted((lake / "bronze" / topic).glob("date=*/*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f).with_columns(pl.lit(f.name).alias("_file")) for f in files])


def read_topic(address: str, topic: str, timeout_s: float = 10.0) -> list[tuple[bytes | None, bytes | None]]:
    """All (key, value) pairs of a topic, every partition from the start."""
    from confluent_kafka import Consumer, TopicPartition

    from pipelines.infra.topics import client_config

    consumer = Consumer({**client_config(address), "group.id": "test-reader", "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        ends, out = {}, []
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        while ends:
            msg = consumer.poll(timeout_s)
            assert msg is not None, f"timed out reading {topic}"
            if msg.error():
                continue
            out.append((msg.key(), msg.value()))
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        return out
    finally:
        consumer.close()
