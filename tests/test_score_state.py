"""The scoring step's state and its changelog: what a checkpoint writes, what recovery counts, reassignments."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pipelines.stream.score import UserDirectory, on_auction, on_bid
from pipelines.stream.state import OFFSETS_HEADER, PartitionStores, StateCache, committed_checkpoint, recover
from tests.test_rules import _auction, _bid
from tests.test_stream_support import HOUR, T0, Clock

Record = tuple[str, int, bytes, bytes | None, list[tuple[str, bytes]]]


class _Changelog:
    """A changelog as a list of produced records, recovered with the same rule as :func:`recover`."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.committed: dict[str, int] = {}

    def produce(self, topic: str, partition: int, key: bytes, value: bytes | None, headers: Any) -> None:
        self.records.append((topic, partition, key, value, list(headers)))

    def recover(self, partition: int) -> PartitionStores:
        stores = PartitionStores()
        for _, part, key, value, headers in self.records:
            if part == partition and committed_checkpoint(dict(headers).get(OFFSETS_HEADER), self.committed):
                stores.apply(key, value)
        return stores


def _checkpoint(cache: StateCache, changelog: _Changelog, offsets: dict[str, int], commit: bool = True) -> None:
    """What a Quix checkpoint does with the state: flush it, then (unless the worker dies) commit the offsets."""
    cache.flush()
    if commit:
        changelog.committed.update({topic: offset + 1 for topic, offset in offsets.items()})


def test_a_checkpoint_writes_each_changed_key_once_with_the_processed_offsets() -> None:
    changelog = _Changelog()
    cache, users = StateCache(changelog.produce, "cl", changelog.recover), UserDirectory()
    stores = cache.stores(3)
    on_auction(*_auction(1, seller=1), stores)
    for i in range(3):
        on_bid(*_bid(i, 1, 20 + i, T0 + 1000 * (i + 1), 2000 + 100 * i), stores, users)
    stores.offsets.update({"auctions": 4, "bids": 9})
    assert changelog.records == []  # nothing is written between checkpoints
    cache.flush()
    keys = sorted(key for _, _, key, _, _ in changelog.records)
    assert keys == [b"a:a1", b"c:books", b"u:u20", b"u:u21", b"u:u22"]
    assert {(topic, partition) for topic, partition, *_ in changelog.records} == {("cl", 3)}
    assert all(orjson.loads(dict(h)[OFFSETS_HEADER]) == {"auctions": 4, "bids": 9} for *_, h in changelog.records)
    auction = next(value for _, _, key, value, _ in changelog.records if key == b"a:a1")
    assert auction is not None and orjson.loads(auction)[1] == 3  # three bids
    assert cache.records_written == 5
    changelog.records.clear()
    cache.flush()
    assert changelog.records == []  # nothing changed since


@pytest.mark.parametrize(
    ("header", "committed", "counts"),
    [
        ({"bids": 9}, {"bids": 10}, True),  # offset 9 processed, 10 committed (the next to read)
        ({"bids": 10}, {"bids": 10}, False),  # processed past the commit: the checkpoint never committed
        ({"bids": 9, "auctions": 4}, {"bids": 10, "auctions": 4}, False),  # one topic not committed
        ({"bids": 9}, {}, False),  # nothing committed at all
        ({}, {}, True),  # a checkpoint before any input: nothing to replay
    ],
)
def test_a_record_counts_only_if_its_offsets_were_committed(
    header: dict[str, int], committed: dict[str, int], counts: bool
) -> None:
    assert committed_checkpoint(orjson.dumps(header), committed) is counts


def test_a_record_without_the_header_does_not_count() -> None:
    assert committed_checkpoint(None, {"bids": 100}) is False


def test_an_uncommitted_checkpoint_is_skipped_so_its_replay_is_not_a_duplicate() -> None:
    changelog = _Changelog()
    cache, users = StateCache(changelog.produce, "cl", changelog.recover), UserDirectory()
    stores = cache.stores(0)
    on_auction(*_auction(1, seller=1), stores)
    first = on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), stores, users)
    stores.offsets.update({"auctions": 0, "bids": 0})
    _checkpoint(cache, changelog, stores.offsets)
    on_bid(*_bid(2, 1, 21, T0 + 2000, 2100), stores, users)
    stores.offsets["bids"] = 1
    _checkpoint(cache, changelog, stores.offsets, commit=False)  # written, then the worker died

    cache.forget([0])  # the partition went to another worker (or this one after a restart)
    again = cache.stores(0)
    assert again.auctions["a1"][1] == 1  # recovered: one bid, the second was never committed
    assert on_bid(*_bid(1, 1, 20, T0 + 3000, 2200), again, users) == "duplicate bid_id b1"
    replayed = on_bid(*_bid(2, 1, 21, T0 + 2000, 2100), again, users)  # bid 2 is replayed: not a duplicate
    assert not isinstance(first, str) and not isinstance(replayed, str)
    assert replayed.window_start_ms == T0 + 2000


def test_a_pause_drops_every_partition_and_the_next_use_recovers() -> None:
    changelog = _Changelog()
    cache = StateCache(changelog.produce, "cl", changelog.recover)
    for partition in (0, 1):
        on_auction(*_auction(partition + 1, seller=1), cache.stores(partition))
    cache.stores(0).auctions["a9"] = ["changed after the last checkpoint"]
    cache.on_paused()  # Quix replays from the committed offsets: what this process held is stale
    assert cache.stores(0).auctions["a9"] is None
    assert cache.stores(0).auctions["a1"] is None and cache.stores(1).auctions["a2"] is None  # never flushed


class BrokerChangelog:
    """A changelog and a bids topic on a real broker, a state cache writing to it, and a reader in a group."""

    def __init__(self, address: str, unique_name: str, partitions: int) -> None:
        from confluent_kafka import Consumer, Producer
        from confluent_kafka.admin import AdminClient, NewTopic

        from pipelines.infra.topics import client_config

        self.changelog, self.bids = f"cl-{unique_name}", f"bids-{unique_name}"
        admin = AdminClient(client_config(address))
        topics = [NewTopic(t, partitions, 1, config={"retention.ms": "-1"}) for t in (self.changelog, self.bids)]
        for future in admin.create_topics(topics).values():
            future.result(10)
        self.producer = Producer(client_config(address))
        self.cache = StateCache(self._produce, self.changelog, lambda p: PartitionStores())
        self.reader = Consumer({**client_config(address), "group.id": f"g-{unique_name}",
                                "enable.auto.commit": False, "enable.partition.eof": True})  # fmt: skip

    def _produce(self, topic: str, partition: int, key: bytes, value: bytes | None, headers: Any) -> None:
        self.producer.produce(topic, value, key, partition=partition, headers=headers)

    def checkpoint(self) -> None:
        """Write the changed state and wait until the broker has it (the commit is the test's to do)."""
        self.cache.flush()
        assert self.producer.flush(10) == 0

    def commit(self, partition: int, bids_offset: int) -> None:
        from confluent_kafka import TopicPartition

        self.reader.commit(offsets=[TopicPartition(self.bids, partition, bids_offset)], asynchronous=False)


def test_recovery_reads_the_changelog_from_the_broker(broker_address: str, unique_name: str) -> None:
    """Through a real broker: committed offsets of the group decide which checkpoints count."""
    broker = BrokerChangelog(broker_address, unique_name, partitions=2)
    changelog, bids, consumer = broker.changelog, broker.bids, broker.reader
    users = UserDirectory()
    stores = broker.cache.stores(1)
    on_auction(*_auction(1, seller=1), stores)
    on_auction(*_auction(2, seller=1, hours=1), stores)
    on_auction(*_auction(2, seller=1, hours=1, status="closed"), stores)  # closed, bids' state not yet compacted
    for i in range(3):
        on_bid(*_bid(i, 1, 20, T0 + 1000 * (i + 1), 2000 + 100 * i), stores, users)
        stores.offsets[bids] = i
    broker.checkpoint()  # checkpoint 1: bids 0..2, committed below
    on_bid(*_bid(3, 1, 20, T0 + 5000, 2400), stores, users)
    stores.offsets[bids] = 3
    broker.checkpoint()  # checkpoint 2: bid 3, never committed
    try:
        broker.commit(1, 3)
        recovered = recover(consumer, changelog, 1, (bids,), timeout_s=10)
        assert recovered.auctions["a1"][1] == 3
        assert recovered.bidders["u20"][4] == 3  # the bidder's bids: checkpoint 2 did not count
        assert list(recovered.closing) == [(T0 + HOUR, "a2")]  # to be compacted when a later auction closes
        assert recover(consumer, changelog, 0, (bids,), timeout_s=10).auctions == {}  # an empty partition
        broker.commit(1, 4)
        assert recover(consumer, changelog, 1, (bids,), timeout_s=10).auctions["a1"][1] == 4
    finally:
        consumer.close()


def _writing_ahead(idle_write_s: float) -> tuple[_Changelog, Clock, StateCache, PartitionStores]:
    """A cache that writes values left alone ``idle_write_s`` ahead of the checkpoint, on a test clock."""
    changelog, clock = _Changelog(), Clock()
    cache = StateCache(changelog.produce, "cl", changelog.recover, idle_write_s=idle_write_s, clock=clock)
    return changelog, clock, cache, cache.stores(0)


def test_values_left_alone_are_written_before_the_checkpoint_and_count_once_committed() -> None:
    changelog, clock, cache, stores = _writing_ahead(0.5)
    users = UserDirectory()
    on_auction(*_auction(1, seller=1), stores)
    on_auction(*_auction(2, seller=2), stores)
    stores.offsets.update({"auctions": 1})
    clock.now = 0.5
    cache.tick()  # starts a generation: nothing was left alone for a whole one yet
    assert changelog.records == []
    on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), stores, users)  # a1 changes again, a2 is left alone
    stores.offsets["bids"] = 0
    clock.now = 0.9
    cache.tick()  # too early
    assert changelog.records == []
    clock.now = 1.0
    cache.tick(lag_s=3.0)  # catching up on a backlog: everything waits for the checkpoint
    assert changelog.records == []
    cache.tick(lag_s=0.1)
    assert [key for _, _, key, _, _ in changelog.records] == [b"a:a2"]  # idle a whole generation
    assert orjson.loads(dict(changelog.records[0][4])[OFFSETS_HEADER]) == {"auctions": 1, "bids": 0}

    # the worker dies before the checkpoint: the early record's offsets were never committed
    assert changelog.recover(0).auctions["a2"] is None
    # ... or the checkpoint commits: it counts, and the rest is written by the checkpoint itself
    _checkpoint(cache, changelog, stores.offsets)
    assert sorted(key for _, _, key, _, _ in changelog.records) == [b"a:a1", b"a:a2", b"c:books", b"u:u20"]
    recovered = changelog.recover(0)
    assert recovered.auctions["a2"] == stores.auctions["a2"] and recovered.auctions["a1"] == stores.auctions["a1"]


def test_a_value_changed_after_its_early_write_is_written_again_and_the_later_record_wins() -> None:
    changelog, clock, cache, stores = _writing_ahead(1.0)
    users = UserDirectory()
    on_auction(*_auction(1, seller=1), stores)
    stores.offsets["auctions"] = 0
    for now in (1.0, 2.0):
        clock.now = now
        cache.tick()  # the second one writes a1, left alone since the first
    on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), stores, users)
    stores.offsets["bids"] = 0
    _checkpoint(cache, changelog, stores.offsets)
    assert [key for _, _, key, _, _ in changelog.records].count(b"a:a1") == 2
    assert changelog.recover(0).auctions["a1"][1] == 1  # the bid is in: the checkpoint's record won


def test_recovery_gives_up_on_a_broker_that_stays_away() -> None:
    from confluent_kafka import Consumer

    from pipelines.infra.topics import client_config
    from pipelines.stream.state import BrokerUnreachable

    consumer = Consumer({**client_config("127.0.0.1:1"), "group.id": "g", "enable.auto.commit": False,
                         "enable.partition.eof": True})  # fmt: skip
    try:
        with pytest.raises(BrokerUnreachable, match="changelog-g-scoring"):
            recover(consumer, "changelog-g-scoring", 0, ("bids",), timeout_s=0.5, wait_s=1.0)
    finally:
        consumer.close()
