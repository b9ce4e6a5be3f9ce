"""Fuzzing the worker: malformed input is always dead-lettered, valid input always scored, nothing crashes.

The first tests drive :class:`pipelines.stream.Processor` directly with Hypothesis; the last one sends
thousands of malformed messages interleaved with valid ones through the real broker and worker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.broker import EmbeddedBroker
from app.stream import WorkerOptions, run_worker
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings
from pipelines.stream.bronze import BronzeSink
from pipelines.stream.graph import Processor
from pipelines.stream.score import MemoryStores
from tests.test_stream_support import HOUR, T0, auction, bid, bronze, user

RUNS = {"users": "ru", "auctions": "ra", "bids": "rb"}
VALID = json.loads(bid(0, 1, 20, T0 + 1000, 2000)[2] or b"")
#: replacements that make a field invalid whatever else the record holds
BAD_VALUES: dict[str, list[Any]] = {
    "amount": ["abc", None, "-1.00", "0", [], {}, "1e999", "12.345"],
    "currency": ["XYZ", "", None, 1],
    "channel": ["fax", None, 3],
    "bid_time": ["yesterday", None, "2026-13-01T00:00:00Z", "2026-01-01T00:00:00"],
    "bid_id": ["", None, 7, "x" * 65],
    "event_time": ["not a time", None],
    "bidder_id": [None, ""],
}


def malformed(rng: random.Random) -> bytes:
    """One message that no contract accepts: random bytes, broken JSON, a bad field, a missing or extra one."""
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 40))
    record = dict(VALID, bid_id=f"m{rng.randrange(10**9)}")
    if kind == 1:
        text = json.dumps(record)
        return text[: rng.randrange(len(text) - 1)].encode()
    if kind == 2:
        field = rng.choice(sorted(BAD_VALUES))
        record[field] = rng.choice(BAD_VALUES[field])
    elif kind == 3:
        del record[rng.choice(["amount", "bidder_id", "bid_time", "currency", "event_id", "device_id"])]
    else:
        record["surprise"] = rng.random()
    return json.dumps(record).encode()


def _processor(tmp_path: Path) -> tuple[Processor, Any]:
    processor, stores = Processor(BronzeSink(Lake(str(tmp_path / "lake")), RUNS)), MemoryStores()
    open_auction = auction(1, seller=1)
    processor.process("auctions", 0, 0, b"a1", open_auction[2], T0, stores)
    return processor, stores


@given(seed=st.integers(0, 2**32))
def test_malformed_bids_become_dead_letters(tmp_path_factory: pytest.TempPathFactory, seed: int) -> None:
    processor, stores = _processor(tmp_path_factory.mktemp("fuzz"))
    value = malformed(random.Random(seed))
    out = processor.process("bids", 0, 1, b"a1", value, T0, stores)
    assert [topic for topic, _, _ in out] == ["dead-letters"]
    letter = json.loads(out[0][2])
    assert letter["source_offset"] == 1 and letter["error"]


@given(value=st.binary(max_size=200), topic=st.sampled_from(["users", "auctions", "bids"]))
def test_random_bytes_never_crash_the_worker(
    tmp_path_factory: pytest.TempPathFactory, value: bytes, topic: str
) -> None:
    processor, stores = _processor(tmp_path_factory.mktemp("fuzz"))
    out = processor.process(topic, 0, 5, None, value, T0, stores)
    assert [t for t, _, _ in out] == ["dead-letters"]


@given(
    st.lists(st.tuples(st.integers(20, 200), st.integers(1, 10**7), st.integers(0, 23 * HOUR)), min_size=1, max_size=30)
)
def test_valid_bids_are_always_scored(
    tmp_path_factory: pytest.TempPathFactory, bids: list[tuple[int, int, int]]
) -> None:
    processor, stores = _processor(tmp_path_factory.mktemp("fuzz"))
    for i, (bidder, cents, t) in enumerate(bids):
        out = processor.process("bids", 0, 1 + i, b"a1", bid(i, 1, bidder, T0 + t, cents)[2], T0, stores)
        assert out and out[0][0] == "bids-scored"
        assert 0.0 <= json.loads(out[0][2])["fraud_score"] <= 1.0


#: the broker limit the worker's outputs are held to (AUCTION_MAX_MESSAGE_BYTES' default)
LIMIT = 1_000_000


def oversized(rng: random.Random) -> list[tuple[str, str | None, bytes | None, bool]]:
    """On each input topic, a binary value of 0.8x the limit and a text value at the limit (JSON-escaping
    heavy: quotes, backslashes, control and multi-byte characters), as the issue's poison messages."""
    text = ('{"bid_id": "' + '\\"\x01é😀' * LIMIT).encode()[:LIMIT].decode("utf-8", "ignore").encode()
    text += b" " * (LIMIT - len(text))
    assert len(text) == LIMIT
    keys = {"users": "u-big", "auctions": "a-big", "bids": "a3"}
    return [
        (topic, keys[topic], value, True)
        for topic in ("users", "auctions", "bids")
        for value in (rng.randbytes(int(0.8 * LIMIT)), text)
    ]


@pytest.mark.slow
def test_thousands_of_malformed_messages_through_the_broker(own_broker: EmbeddedBroker, settings: Settings) -> None:
    """Malformed and oversized inputs among valid traffic: all dead-lettered, the valid bids scored once, a
    restart after them (more traffic, the same group and lake) processes nothing twice."""
    from confluent_kafka import Producer

    from pipelines.infra.topics import ensure_topics, producer_config, tail

    rng = random.Random(2026)
    messages: list[tuple[str, str | None, bytes | None, bool]] = [(*user(i), False) for i in range(50)]
    messages += [(*auction(a, seller=a % 10), False) for a in range(20)]
    for i in range(3000):
        messages.append((*bid(i, i % 20, 20 + i % 30, T0 + 1000 + i * 100, 1000 + i), False))
        messages.append(("bids", f"a{i % 20}", malformed(rng), True))
    rng.shuffle(messages[70:])  # interleave (bids of one auction may now come in any order: still valid)
    messages[3000:3000] = oversized(rng)  # amid the traffic
    later = [(*bid(i, i % 20, 20 + i % 30, T0 + 1000 + i * 100, 1000 + i), False) for i in range(3000, 3500)]
    ensure_topics(own_broker.address, settings)
    bad: dict[tuple[str, int, int], bytes | None] = {}
    ends: dict[tuple[str, int], int] = {}
    # the test's own producer sends records up to twice the limit (the broker takes them)
    producer = Producer({**producer_config(own_broker.address), "message.max.bytes": 2 * LIMIT})

    def send(batch: list[tuple[str, str | None, bytes | None, bool]]) -> dict[tuple[str, int], int]:
        """Produce ``batch``; the end offsets of the partitions it went to."""
        before = dict(ends)
        for topic, key, value, is_bad in batch:

            def delivered(err: Any, msg: Any, is_bad: bool = is_bad) -> None:
                assert err is None
                tp = (msg.topic(), msg.partition())
                ends[tp] = max(ends.get(tp, 0), msg.offset() + 1)
                if is_bad:
                    bad[(msg.topic(), msg.partition(), msg.offset())] = msg.value()

            producer.produce(topic, key=key, value=value, on_delivery=delivered)
        assert producer.flush(30) == 0
        return {tp: end for tp, end in ends.items() if before.get(tp) != end}

    run_worker(settings, own_broker.address, WorkerOptions(stop_at=send(messages), commit_interval_s=1.0))
    # started again after the poison messages, on the same group and lake, with more traffic
    run_worker(settings, own_broker.address, WorkerOptions(stop_at=send(later), commit_interval_s=1.0))

    lake = Path(settings.lake_url)
    letters = bronze(lake, "dead-letters")
    sources = zip(letters["source_topic"], letters["source_partition"], letters["source_offset"], strict=True)
    assert set(sources) == set(bad)
    assert letters.height == len(bad) == 3006
    scored = bronze(lake, "bids-scored")
    assert sorted(scored["bid_id"]) == sorted(f"b{i}" for i in range(3500))  # each exactly once
    big = letters.filter(pl.col("raw_size") >= int(0.8 * LIMIT))
    assert big.height == 6
    for row in big.iter_rows(named=True):  # the lake keeps every byte
        raw = bad[(row["source_topic"], row["source_partition"], row["source_offset"])] or b""
        whole = base64.b64decode(row["raw_value"]) if row["encoding"] == "base64" else row["raw_value"].encode()
        assert whole == raw and row["raw_sha256"] == hashlib.sha256(raw).hexdigest() and not row["truncated"]
    on_topic = [r["value"] for r in tail(own_broker.address, "dead-letters", 10_000) if r["value"]["truncated"]]
    assert len(on_topic) == 6  # cut to the limit, with the whole value's size and hash
    for letter in on_topic:
        raw = bad[(letter["source_topic"], letter["source_partition"], letter["source_offset"])] or b""
        assert letter["raw_size"] == len(raw) and letter["raw_sha256"] == hashlib.sha256(raw).hexdigest()
        assert len(json.dumps(letter, ensure_ascii=False, separators=(",", ":")).encode()) < LIMIT
