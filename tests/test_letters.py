"""Dead letters fit the broker (cut on the topic, whole in the lake); refused outputs become dead letters."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipelines.infra.lake import Lake
from pipelines.stream.bronze import BronzeSink
from pipelines.stream.graph import Processor
from pipelines.stream.letters import KEY_MAX, fit_letter, output_budget
from pipelines.stream.outputs import OutputProducer, Refused
from pipelines.stream.refusals import Overflow, header_bytes, write_refused
from pipelines.stream.score import MemoryStores
from tests.test_stream_support import T0, auction, bid

RUNS = {"users": "ru", "auctions": "ra", "bids": "rb"}
BUDGET = output_budget(1_000_000)


def _processor(tmp_path: Path, budget: int = BUDGET) -> tuple[Processor, MemoryStores]:
    processor, stores = Processor(BronzeSink(Lake(str(tmp_path / "lake")), RUNS), letter_budget=budget), MemoryStores()
    processor.process("auctions", 0, 0, b"a1", auction(1, seller=1)[2], T0, stores)
    return processor, stores


def _letter(processor: Processor, stores: MemoryStores, key: bytes | None, value: bytes) -> tuple[Any, dict, dict]:
    """(message key, letter on the topic, bronze row) of one invalid bid."""
    [(topic, out_key, payload)] = processor.process("bids", 0, 1, key, value, T0, stores)
    assert topic == "dead-letters"
    columns = processor.sink.buffer("bids", 0).dests["dead-letters"]
    row = {name: values[-1] for name, values in columns.data.items()}
    return out_key, json.loads(payload), row


@pytest.mark.parametrize(
    "value",
    [
        ('"\\\x01' * 300_000).encode(),  # JSON escaping: 3 bytes of text become 9 on the wire
        bytes(range(256)) * 3500,  # not UTF-8: base64, a third larger
        ("é😀" * 170_000).encode(),  # multi-byte characters
    ],
    ids=["escaping", "binary", "unicode"],
)
def test_an_oversized_letter_is_cut_to_the_budget_and_kept_whole_in_bronze(tmp_path: Path, value: bytes) -> None:
    processor, stores = _processor(tmp_path)
    out_key, letter, row = _letter(processor, stores, b"a1", value)
    on_topic = len(json.dumps(letter, ensure_ascii=False, separators=(",", ":")).encode())
    assert on_topic + len(out_key) <= BUDGET
    assert on_topic > BUDGET - 16_000  # the cut keeps nearly all the room (not, say, an empty value)
    assert letter["truncated"] is True and row["truncated"] is False
    assert letter["raw_size"] == row["raw_size"] == len(value)
    assert letter["raw_sha256"] == row["raw_sha256"] == hashlib.sha256(value).hexdigest()
    whole = base64.b64decode(row["raw_value"]) if row["encoding"] == "base64" else row["raw_value"].encode()
    assert whole == value  # the lake keeps every byte
    if letter["encoding"] == "base64":
        assert value.startswith(base64.b64decode(letter["raw_value"]))  # whole quanta: the prefix decodes
    else:
        assert value.decode().startswith(letter["raw_value"])


def test_a_huge_key_is_cut_too(tmp_path: Path) -> None:
    processor, stores = _processor(tmp_path)
    key = ("k" * 2_000_000).encode()
    out_key, letter, row = _letter(processor, stores, key, b"not json")
    assert len(out_key) == KEY_MAX and len(letter["key"]) == KEY_MAX and letter["truncated"] is True
    assert len(json.dumps(letter).encode()) + len(out_key) <= BUDGET
    assert row["key"] == key.decode()  # whole in bronze (the error names the key too, whole there)


def test_a_small_letter_is_left_alone(tmp_path: Path) -> None:
    processor, stores = _processor(tmp_path)
    _, letter, row = _letter(processor, stores, b"a1", b"\xff\xfe")
    assert letter["truncated"] is False and letter["raw_value"] == row["raw_value"] == "//4="
    assert letter["raw_size"] == 2


def test_fit_refuses_a_budget_too_small_for_any_letter() -> None:
    fields = {"event_id": "x", "key": None, "raw_value": "x" * 100_000, "encoding": "utf-8", "error": "e"}
    with pytest.raises(ValueError, match="cannot be cut"):
        fit_letter(fields, None, 1000)


def test_header_bytes() -> None:
    assert header_bytes(None) == 0 and header_bytes([]) == 0
    assert header_bytes([("a", b"xyz"), ("bb", None)]) == (1 + 3 + 8) + (2 + 8)


class _Recorder:
    """The real output producer (a small ``message.max.bytes``, so librdkafka refuses at once), recording."""

    def __init__(self, max_bytes: int) -> None:
        self.producer = OutputProducer({"bootstrap.servers": "127.0.0.1:9", "message.max.bytes": max_bytes})
        self.sent: list[tuple[str, bytes | None, bytes, Any]] = []

    def __call__(self, topic: str, key: bytes | None, value: bytes, ts: int, headers: Any) -> str | None:
        error = self.producer.produce(topic, key, value, ts, headers)
        if error is None:
            self.sent.append((topic, key, value, headers))
        return error


def test_an_output_the_producer_refuses_becomes_a_dead_letter_of_its_input(tmp_path: Path) -> None:
    processor, stores = _processor(tmp_path)
    producer = _Recorder(max_bytes=1000)
    names = {n: n for n in ("bids-scored", "fraud-alerts", "dead-letters")}
    overflow = Overflow(producer, names, {n: 10**6 for n in names}, processor.refused)
    _, _, value = bid(7, 1, 20, T0 + 1000, 2000)
    assert value is not None
    [(name, out_key, payload)] = processor.process("bids", 0, 1, b"a1", value, T0, stores)
    error = producer(name, out_key, payload + b" " * 1000, T0, None)  # librdkafka: too large
    assert error is not None and "too large" in error.lower()
    overflow(name, out_key, payload + b" " * 1000, ("bids", 0, 1, b"a1", value, T0), None, error)
    assert [sent[0] for sent in producer.sent] == ["dead-letters"]
    letter = json.loads(producer.sent[0][2])
    assert letter["source_offset"] == 1 and "bids-scored output was refused" in letter["error"]
    assert letter["event_id"].endswith("-bids-scored") and letter["raw_value"] == value.decode()
    assert overflow.letters == 1
    rows = processor.sink.buffer("bids", 0).dests["dead-letters"].data
    assert rows["error"] == [letter["error"]]  # in the input range's bronze rows: lands with the range


def test_headers_that_do_not_fit_are_dropped(tmp_path: Path) -> None:
    processor, _ = _processor(tmp_path)
    producer = _Recorder(max_bytes=1_000_000)
    overflow = Overflow(producer, {"bids-scored": "bids-scored"}, {"bids-scored": 500}, processor.refused)
    headers = [("trace", b"x" * 1000)]
    overflow("bids-scored", b"a1", b"{}" * 100, ("bids", 0, 1, b"a1", b"{}", T0), headers, None)
    assert producer.sent == [("bids-scored", b"a1", b"{}" * 100, None)] and overflow.letters == 0


def test_records_refused_at_delivery_land_once_in_bronze(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    refused = [
        Refused("bids-scored", 1, b"a1", b'{"bid_id":"b1"}', T0, "Broker: Message size too large"),
        Refused("changelog-g-scoring", 0, b"A\x00a1", b"\x80" * 10, T0, "Broker: Invalid record"),
    ]
    first = write_refused(lake, refused, "rb")
    assert write_refused(lake, list(reversed(refused)), "rb") == first  # a replay rewrites the same file
    files = list((tmp_path / "lake" / "bronze" / "dead-letters").rglob("*.parquet"))
    assert len(files) == 1 and files[0].name.startswith("refused-")
    rows = pq.read_table(files[0]).to_pylist()
    rows.sort(key=lambda r: r["source_topic"])
    assert [(r["source_topic"], r["source_offset"], r["raw_size"]) for r in rows] == [
        ("bids-scored", -1, 15),
        ("changelog-g-scoring", -1, 10),
    ]
    assert rows[1]["encoding"] == "base64" and "Invalid record" in rows[1]["error"]
    # the restart cleanup of uncommitted ranges does not touch it
    sink = BronzeSink(lake, RUNS)
    assert sink.remove_uncommitted("bids", 0, 0) == [] and sink.remove_uncommitted("bids", 1, 0) == []


def test_a_refused_output_passes_the_flush_to_on_refused() -> None:
    got: list[list[Refused]] = []
    producer = OutputProducer({"bootstrap.servers": "127.0.0.1:9", "message.max.bytes": 1000}, on_refused=got.append)
    producer.produce_to("changelog", 0, b"k", b"v" * 2000, [])  # a changelog record too large: refused at once
    producer.flush()  # no error: handed over instead
    assert [(r.topic, r.partition, len(r.value or b"")) for batch in got for r in batch] == [("changelog", 0, 2000)]
