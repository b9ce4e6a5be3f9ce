"""The two-stage topology's processing (pipelines/stream/stages.py through TwoStageProcessor), without a broker.

Messages are routed as the worker routes them: inputs by their key's murmur2 partition, the auction stage's
internal records by bidder. Each partition has its own state, so a feature that stays exact here stays
exact whatever the partition count.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from pathlib import Path
from typing import Any

import orjson

from pipelines.generate.partitioning import partition_of
from pipelines.infra.lake import Lake
from pipelines.stream.bronze import BronzeSink, two_stage_tables
from pipelines.stream.graph import BY_BIDDER, TwoStageProcessor
from pipelines.stream.outputs import BATCH_BYTES, InternalBatches
from pipelines.stream.score import MemoryStores
from pipelines.stream.stages import (
    UNKNOWN_AUCTION,
    UNKNOWN_USER,
    batch_value,
    bid_record,
    bidder_record,
    parse_record,
    split_batch,
)
from tests.test_stream_support import HOUR, T0, Message, auction, bid, user

INTERNAL = "internal-test-bids-by-bidder"


class Worker:
    """Every partition's state and a TwoStageProcessor; ``feed`` routes a message and its internal records."""

    def __init__(self, tmp: Path, partitions: int) -> None:
        destinations, tables = two_stage_tables(INTERNAL)
        runs = {"users": "u", "auctions": "a", "bids": "b", INTERNAL: "i"}
        self.sink = BronzeSink(Lake(str(tmp)), runs, max_rows=10**9, destinations=destinations, json_tables=tables)
        self.processor = TwoStageProcessor(self.sink, INTERNAL)
        self.partitions = partitions
        self.stores = [MemoryStores() for _ in range(partitions)]
        self.offsets: Counter[tuple[str, int]] = Counter()
        self.internal: list[tuple[bytes, bytes]] = []
        """Every internal record produced (key, value), for replays."""

    def process(self, topic: str, key: bytes, value: bytes, ts: int = 0) -> list[Any]:
        part = partition_of(key.decode(), self.partitions)
        offset = self.offsets[(topic, part)]
        self.offsets[(topic, part)] += 1
        return self.processor.process(topic, part, offset, key, value, ts, self.stores[part])

    def feed(self, *messages: Message) -> list[tuple[str, bytes | None, bytes]]:
        """The outputs (but internal records, which are processed) of the messages, in order."""
        outs = []
        for topic, key, value in messages:
            pending = deque([(topic, (key or "").encode(), value or b"")])
            while pending:
                name, raw_key, raw = pending.popleft()
                for out in self.process(name, raw_key, raw):
                    if out[0] == BY_BIDDER:
                        self.internal.append((out[1] or b"", out[2]))
                        pending.append((INTERNAL, out[1] or b"", out[2]))
                    else:
                        outs.append(out)
        return outs


def _scored(outs: list[tuple[str, bytes | None, bytes]]) -> list[dict[str, Any]]:
    return [json.loads(v) for t, _, v, *_ in outs if t == "bids-scored"]


def _profile(worker: Worker, bidder: str) -> Any:
    return worker.stores[partition_of(bidder, worker.partitions)].bidders[bidder]


def test_bidder_features_count_every_auction_whatever_the_partition_count(tmp_path: Path) -> None:
    """A bidder in 8 auctions of one seller: at 1 and at 64 partitions the bidder stage counts all 8 (one stage
    counted those of one partition), and the scores are the same."""
    messages: list[Message] = [user(i) for i in range(40)]
    messages += [auction(a, seller=1) for a in range(8)]
    messages += [bid(a, a, 30, T0 + 60_000 * (a + 1), 2000) for a in range(8)]
    scores = {}
    for partitions in (1, 64):
        worker = Worker(tmp_path / str(partitions), partitions)
        scored = _scored(worker.feed(*messages))
        assert [s["bid_id"] for s in scored] == [f"b{a}" for a in range(8)]
        profile = _profile(worker, "u30")
        assert profile[1] == 8 and profile[2] == {"u1": 8}  # auctions, of which this seller's
        scores[partitions] = [(s["fraud_score"], s["fraud_reasons"]) for s in scored]
        assert "bidder_tendency" in scored[-1]["fraud_reasons"]
    assert scores[1] == scores[64]


def test_closes_count_participation_and_wins_in_the_bidder_stage(tmp_path: Path) -> None:
    worker = Worker(tmp_path, 16)
    worker.feed(*[user(i) for i in range(40)], *[auction(a, seller=a) for a in range(4)])
    worker.feed(
        *[bid(a * 10 + b, a, 20 + b, T0 + 60_000 * (b + 1), 2000 + 100 * b) for a in range(4) for b in range(2)]
    )
    for a in range(4):
        worker.feed(auction(a, seller=a, status="closed", winner_id="u21"))
    assert _profile(worker, "u20")[5:7] == [4, 0] and _profile(worker, "u21")[5:7] == [4, 4]
    worker.feed(auction(0, seller=0, status="closed", winner_id="u21"))  # a second close: counted once
    assert _profile(worker, "u20")[5:7] == [4, 0]


def test_unknown_user_and_unknown_auction_are_scored_and_said(tmp_path: Path) -> None:
    worker = Worker(tmp_path, 4)
    worker.feed(user(20), auction(1, seller=1))
    known, stranger, early = _scored(
        worker.feed(
            bid(1, 1, 20, T0 + 60_000, 2000),
            bid(2, 1, 77, T0 + 120_000, 2100),  # u77 never registered
            bid(3, 2, 20, T0 + 180_000, 2200),  # auction a2's opening has not come
        )
    )
    assert UNKNOWN_USER not in known["fraud_reasons"] and UNKNOWN_AUCTION not in known["fraud_reasons"]
    assert stranger["fraud_reasons"][-1:] == [UNKNOWN_USER]
    assert early["fraud_reasons"][-1:] == [UNKNOWN_AUCTION]
    assert all(0.0 <= s["fraud_score"] <= 1.0 for s in (known, stranger, early))


def test_a_user_without_a_signup_time_is_known_but_of_unknown_age(tmp_path: Path) -> None:
    """Imported histories (eBay) have users without signup dates: their bids are not `unknown_user`, and no
    account-age rule fires for them (their age is unknown, not zero)."""
    worker = Worker(tmp_path, 4)
    topic, key, value = user(30)
    no_signup = json.loads(value or b"{}") | {"signup_time": None}
    worker.feed((topic, key, json.dumps(no_signup).encode()), user(31, signup_ms=T0 - HOUR), auction(1, seller=1))
    dated, undated = _scored(worker.feed(bid(1, 1, 31, T0 + 60_000, 2000), bid(2, 1, 30, T0 + 120_000, 9000)))
    assert UNKNOWN_USER not in undated["fraud_reasons"] and UNKNOWN_USER not in dated["fraud_reasons"]
    assert "new_account_jump" not in undated["fraud_reasons"]


def test_a_replayed_internal_record_is_applied_once_and_alerts_once(tmp_path: Path) -> None:
    """The auction stage replays its records after a crash: the bidder stage skips what it applied."""
    worker = Worker(tmp_path, 4)
    worker.feed(user(99), auction(1, seller=1))
    bot = [bid(100 + i, 1, 99, T0 + 3 * HOUR + i * 2000, 5000 + i * 100, channel="api") for i in range(12)]
    outs = worker.feed(*bot)
    alerts = [json.loads(v) for t, _, v, *_ in outs if t == "fraud-alerts"]
    assert len(alerts) == 1 and alerts[0]["bidder_id"] == "u99" and alerts[0]["auction_id"] == "a1"
    before = json.dumps(_profile(worker, "u99"))
    replayed = []
    for key, value in worker.internal:  # every record again, as a replay of the auction stage would send it
        replayed += worker.process(INTERNAL, key, value)
    assert replayed == []
    assert json.dumps(_profile(worker, "u99")) == before


def test_records_that_are_not_ours_are_dead_letters(tmp_path: Path) -> None:
    worker = Worker(tmp_path, 2)
    good = bid_record("bids:0", 5, "a1", T0, T0, "web", "d", ["u1", 1, 1, 0, 0, 0, 1, "", 0, 1.0, 1.0, 1], b"{}")
    assert not isinstance(parse_record(good), str)
    bad_values = [b"not json", b"[]", b'["x"]', orjson.dumps(["b", "bids:0", 1]), good.split(b"\n")[0],
                  good.replace(b'"bids:0"', b'0')]  # fmt: skip
    for value in bad_values:
        outs = worker.process(INTERNAL, b"u1", value)
        assert [out[0] for out in outs] == ["dead-letters"], value
        assert json.loads(outs[0][2])["source_topic"] == INTERNAL


def test_bidder_record_needs_no_auction_state() -> None:
    """The bidder stage's state is its own: a record from any auction partition is applied on its own."""
    stores = MemoryStores()
    stores.signups["u1"] = T0 - 400 * 24 * HOUR
    record = bid_record("bids:3", 7, "a9", T0, T0, "web", "d", ["u5", 1, 1, 0, 0, 0, 1, "", 0, 1.0, 1.0, 1], b"{}")
    parsed = parse_record(record)
    assert not isinstance(parsed, str)
    scored = bidder_record("u1", parsed[0], stores)
    assert scored is not None and scored.fraud_reasons == []
    assert stores.sources["bids:3"] == [7, 0] and stores.bidders["u1"][1] == 1
    assert bidder_record("u1", parsed[0], stores) is None  # the same source position again: a replay


def test_the_quality_sweep_reports_each_partition_count_and_one_partition_agrees_across_topologies() -> None:
    """At one partition both topologies see every feature whole: the same alerts. The table has a row a count."""
    from app.benchmarks.stream_quality import sweep

    two, one = (sweep([7], 4000, [1, 3], topology) for topology in ("two-stage", "one-stage"))
    assert [run["partitions"] for run in two["runs"]] == [1, 3] and len(two["table"]) == 2 + 2
    assert two["runs"][0]["overall"] == one["runs"][0]["overall"]
    assert two["runs"][0]["overall"]["bids"] > 0


class BatchedWorker(Worker):
    """A :class:`Worker` whose internal records travel as the worker sends them: batched per partition of the
    internal topic (:class:`InternalBatches`), sent at the end of each pass (here: each ``feed``)."""

    def __init__(self, tmp: Path, partitions: int, budget: int = BATCH_BYTES) -> None:
        super().__init__(tmp, partitions)
        self.sent: list[tuple[int, bytes, int]] = []
        """Every batch sent and not yet processed: (partition, value, timestamp)."""
        self.delivered: list[tuple[int, bytes]] = []
        """Every batch processed: (partition, value)."""
        self.batches = self.processor.batches = InternalBatches(self._send, INTERNAL, partitions, budget)

    def _send(self, topic: str, key: bytes | None, value: bytes, ts: int, headers: Any, partition: int) -> None:
        assert topic == INTERNAL and key is None and headers is None
        self.sent.append((partition, value, ts))

    def feed(self, *messages: Message) -> list[tuple[str, bytes | None, bytes]]:
        outs: list[Any] = []
        for n, (topic, key, value) in enumerate(messages):
            outs += self.process(topic, (key or "").encode(), value or b"", ts=T0 + n)
        assert not any(out[0] == BY_BIDDER for out in outs)  # every record went into a batch
        self.batches.flush()
        return outs + self.deliver()

    def deliver(self) -> list[Any]:
        """Process every batch sent so far, in order, each at the next offset of its partition."""
        outs: list[Any] = []
        while self.sent:
            partition, value, _ = self.sent.pop(0)
            offset = self.offsets[(INTERNAL, partition)]
            self.offsets[(INTERNAL, partition)] += 1
            self.delivered.append((partition, value))
            outs += self.processor.process(INTERNAL, partition, offset, None, value, 0, self.stores[partition])
        return outs


def _generated(bids: int) -> list[Message]:
    from tests.test_stream_support import marketplace

    return list(marketplace(bids, auctions=60, users=120, bots=3))


def test_batched_internal_records_score_every_bid_as_single_records_do(tmp_path: Path) -> None:
    """The worker batches the auction stage's records per partition and pass: every bid gets the score (and
    every alert the id) it gets from single records, at one and at many partitions, whatever the pass size."""
    messages = _generated(3000)
    single = Worker(tmp_path / "single", 8).feed(*messages)
    for partitions, pass_size in ((1, 50), (8, 256), (8, 7)):
        worker = BatchedWorker(tmp_path / f"batched{partitions}-{pass_size}", partitions)
        outs: list[Any] = []
        for start in range(0, len(messages), pass_size):
            outs += worker.feed(*messages[start : start + pass_size])
        by_bid = {s["bid_id"]: (s["fraud_score"], s["fraud_reasons"]) for s in _scored(outs)}
        expected = {s["bid_id"]: (s["fraud_score"], s["fraud_reasons"]) for s in _scored(single)}
        assert by_bid == expected and len(by_bid) > 2000
        alerts = sorted(json.loads(v)["alert_id"] for t, _, v, *_ in outs if t == "fraud-alerts")
        assert alerts == sorted(json.loads(v)["alert_id"] for t, _, v, *_ in single if t == "fraud-alerts")
        assert alerts, "the generated traffic has bots: some alerts"
        passes = -(-len(messages) // pass_size)
        assert len(worker.delivered) <= passes * partitions  # at most a message a partition and pass
        assert pass_size < 50 or len(worker.delivered) < len(by_bid) / 5  # far fewer messages than records


def test_a_batch_goes_to_the_partition_of_its_bidders_and_keeps_each_records_time(tmp_path: Path) -> None:
    worker = BatchedWorker(tmp_path, 16)
    messages: list[Message] = [*[user(i) for i in range(40)], auction(1, seller=1)]
    messages += [bid(b, 1, 10 + b, T0 + 60_000 * (b + 1), 2000 + 10 * b) for b in range(20)]
    for n, (topic, key, value) in enumerate(messages):
        worker.process(topic, (key or "").encode(), value or b"", ts=T0 + n)
    worker.batches.flush()
    assert len({partition for partition, _, _ in worker.sent}) == len(worker.sent) > 1  # one batch a partition
    for partition, value, ts in worker.sent:
        items = split_batch(value)
        assert {partition_of(item.bidder or "", 16) for item in items} == {partition}
        assert ts == max(item.timestamp for item in items)
        outs = worker.processor.process(INTERNAL, partition, 0, None, value, ts, worker.stores[partition])
        assert [out[3] for out in outs] == [item.timestamp for item in items]  # each output at its bid's time


def test_a_full_batch_is_sent_before_the_pass_ends(tmp_path: Path) -> None:
    worker = BatchedWorker(tmp_path, 1, budget=4000)
    worker.feed(user(1), auction(1, seller=2))
    for b in range(30):
        topic, key, value = bid(b, 1, 1, T0 + 60_000 * (b + 1), 2000 + b)
        worker.process(topic, (key or "").encode(), value or b"")
    record = max(len(orjson.dumps(item.raw)) for _, value, _ in worker.sent for item in split_batch(value))
    assert len(worker.sent) >= 3 and all(len(value) < 4000 + 2 * record for _, value, _ in worker.sent)
    worker.batches.flush()
    assert sum(len(split_batch(value)) for _, value, _ in worker.sent) == 30
    assert len(_scored(worker.deliver())) == 30


def test_a_replayed_batch_is_applied_once(tmp_path: Path) -> None:
    """The auction stage sends its batches again after a crash (cut elsewhere, maybe): no record counts twice."""
    worker = BatchedWorker(tmp_path, 4)
    first = _scored(worker.feed(*_generated(500)))
    profiles = json.dumps([sorted(stores.bidders.items()) for stores in worker.stores])
    again = []
    for partition, value in worker.delivered:
        again += worker.processor.process(INTERNAL, partition, 10_000, None, value, 0, worker.stores[partition])
    assert len(first) > 300 and again == []
    assert json.dumps([sorted(stores.bidders.items()) for stores in worker.stores]) == profiles


def test_a_batch_with_records_that_are_not_ours_scores_the_others(tmp_path: Path) -> None:
    worker = Worker(tmp_path, 1)
    worker.feed(user(1), auction(1, seller=2))
    head = bid_record("bids:0", 5, "a1", T0, T0, "web", "d", ["u2", 1, 1, 0, 0, 0, 1, "", 0, 1.0, 1.0, 1, 0], b"{}")
    fields = orjson.loads(head.split(b"\n")[0])
    value = batch_value([["u1", T0, fields, "{}"], ["u1", T0 + 1, ["x"], None],
                         ["u1", T0 + 2, [*fields[:1], "bids:1", *fields[2:]], "{}"], "junk"])  # fmt: skip
    outs = worker.processor.process(INTERNAL, 0, 3, None, value, T0, worker.stores[0])
    assert [out[0] for out in outs] == ["bids-scored", "dead-letters", "bids-scored", "dead-letters"]
    letter = json.loads(outs[1][2])
    assert json.loads(letter["raw_value"]) == ["u1", T0 + 1, ["x"], None] and letter["event_id"].endswith("-0-3-1")
    assert "no kind" in letter["error"] and "[bidder, timestamp, header, bid]" in json.loads(outs[3][2])["error"]
    for junk in (b"", b"not json", b'{"a": 1}', b"[1, 2"):
        outs = worker.processor.process(INTERNAL, 0, 5, None, junk, T0, worker.stores[0])
        assert [out[0] for out in outs] == ["dead-letters"], junk
        assert "not an internal batch" in json.loads(outs[0][2])["error"]


def test_a_bid_that_arrives_after_later_ones_counts_only_the_bids_before_it() -> None:
    """Two stages deliver a bidder's bids from every auction partition as each partition's pass sends them:
    out of time order. Velocity features count only earlier bids, so a late arrival is no burst."""
    from pipelines.stream.score import bidder_activity, burst

    in_order: list[Any] = [[], 0, {}, [], 0, 0, 0, {}, []]
    out_of_order: list[Any] = [[], 0, {}, [], 0, 0, 0, {}, []]
    times = [T0 + 4_000 * i for i in range(12)]  # a bid every 4 s
    expected = [burst(bidder_activity(in_order, t, "d")[0], t) for t in times]
    assert max(expected) == 3  # (t - 10 s, t]: this bid and the two before it
    evens, odds = times[::2], times[1::2]  # one partition's bids, then the other's
    seen = {t: burst(bidder_activity(out_of_order, t, "d")[0], t) for t in evens + odds}
    assert all(seen[t] <= expected[i] for i, t in enumerate(times))  # never more than in time order
    assert seen[odds[0]] == 2  # the first odd bid sees the even one 4 s before it, not the later ones
