"""The scoring step's state: Python objects in memory, a changelog topic as the durable copy.

Each partition's state (:class:`PartitionStores`: a dict per kind -- auctions, bidders, categories) lives
in this process as plain Python values, so the scoring step reads and changes it with dict operations.
Every checkpoint writes the values that changed to the changelog topic (:class:`StateCache`, a Quix sink
flushed before the output producer and before the offsets are committed); a worker that is assigned a
partition reads that partition of the changelog back (:func:`recover`) before it processes the
partition's first message.

Why not Quix's own state store: it serializes through a transaction per key, produces the changelog with
a Python delivery callback per record and then copies every value into its store -- ~20 µs per changed
key against ~2 µs here, most of a checkpoint's pause (measured with `python -m app bench stream`).

Consistency with the committed offsets, which is what makes a crash safe: every changelog record carries
the input offsets the partition had processed when it was written (header ``processed-offsets``). At
recovery a record counts only if all those offsets are below the consumer group's committed offsets:
a record from a checkpoint whose commit never happened (the worker died in between) is skipped, because
its inputs will be processed again. Values are whole (not deltas) and the step is deterministic, so the
last counted record of a key is its state at the committed offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from quixstreams.sinks import BaseSink

#: the changelog record header holding the input offsets processed when the record was written (JSON)
OFFSETS_HEADER = "processed-offsets"
#: the first byte of a record's key names its table; then ":" and the id
_KINDS = (b"a", b"u", b"c")

Produce = Callable[[str, int, bytes, bytes | None, list[tuple[str, bytes]]], None]
"""``produce(topic, partition, key, value, headers)``; a None value deletes the key."""


class StateTable(dict[str, Any]):
    """One kind of state of one partition (a :class:`pipelines.score.Table`): Python values by id.

    ``table[id]`` is None for an id never set; ``changed(id)`` (the bound ``setdefault`` of the dict of
    changed ids, so no Python call) marks an id to be written at the next checkpoint.
    """

    __slots__ = ("changed", "dirty")

    def __init__(self) -> None:
        super().__init__()
        self.dirty: dict[str, None] = {}
        self.changed: Callable[[str], object] = self.dirty.setdefault

    def __missing__(self, ident: str) -> None:
        return None


class PartitionStores:
    """One partition's state (a :class:`pipelines.score.Stores`) and the input offsets it has processed."""

    __slots__ = ("auctions", "bidders", "categories", "offsets")

    def __init__(self) -> None:
        self.auctions, self.bidders, self.categories = StateTable(), StateTable(), StateTable()
        self.offsets: dict[str, int] = {}
        """The last input offset processed per topic: set by the pipeline for every message."""

    def tables(self) -> Iterator[tuple[bytes, StateTable]]:
        yield from zip(_KINDS, (self.auctions, self.bidders, self.categories), strict=True)

    def write(self, produce: Produce, topic: str, partition: int) -> int:
        """Produce every changed value to ``topic``'s ``partition``; returns how many records."""
        headers: list[tuple[str, bytes]] | None = None
        written = 0
        for kind, table in self.tables():
            if not table.dirty:
                continue
            if headers is None:
                headers = [(OFFSETS_HEADER, orjson.dumps(self.offsets))]
            prefix = kind + b":"
            for ident in table.dirty:
                value = table.get(ident)
                raw = None if value is None else orjson.dumps(value)
                produce(topic, partition, prefix + ident.encode(), raw, headers)
            written += len(table.dirty)
            table.dirty.clear()
        return written

    def apply(self, key: bytes, value: bytes | None) -> None:
        """Apply one changelog record (a None value deletes the key)."""
        table = (self.auctions, self.bidders, self.categories)[_KINDS.index(key[:1])]
        ident = key[2:].decode()
        if value is None:
            table.pop(ident, None)
        else:
            table[ident] = orjson.loads(value)


def committed_checkpoint(offsets_header: bytes | None, committed: dict[str, int]) -> bool:
    """Whether a record with this ``processed-offsets`` header belongs to a committed checkpoint.

    Only if every input offset it had processed is below the committed offset of its topic (a topic
    without a committed offset counts as -1). A record without the header cannot be placed: it does not count.
    """
    if offsets_header is None:
        return False
    offsets: dict[str, int] = orjson.loads(offsets_header)
    return all(offset < committed.get(topic, -1) for topic, offset in offsets.items())


class StateCache(BaseSink):
    """Every partition's state in this process; flushed to the changelog at each checkpoint (a Quix sink).

    ``recover(partition)`` builds a partition's state from the changelog; it runs when the partition is
    first used after an assignment. :meth:`forget` (partitions revoked or lost) and :meth:`on_paused`
    (Quix will replay from the last commit) drop what is held, so the next use recovers again.
    """

    def __init__(self, produce: Produce, changelog: str, recover: Callable[[int], PartitionStores]) -> None:
        super().__init__()
        self._produce, self._changelog, self._recover = produce, changelog, recover
        self._caches: dict[int, PartitionStores] = {}
        self.records_written = 0
        self.recoveries = 0
        """How many times a partition's state was read back from the changelog."""
        self.releases = 0
        """How many times partitions held here were dropped (revoked, lost, or a pause)."""

    def stores(self, partition: int) -> PartitionStores:
        """The partition's state (a :class:`pipelines.score.Stores`), recovered on first use."""
        cache = self._caches.get(partition)
        if cache is None:
            cache = self._caches[partition] = self._recover(partition)
            self.recoveries += 1
        return cache

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - fed through stores()
        raise NotImplementedError

    def flush(self) -> None:
        for partition, cache in self._caches.items():
            self.records_written += cache.write(self._produce, self._changelog, partition)

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop these partitions' state (revoked or lost: another worker may change it from now on)."""
        dropped = [self._caches.pop(partition, None) for partition in partitions]
        self.releases += any(cache is not None for cache in dropped)

    def on_paused(self) -> None:
        self.releases += bool(self._caches)
        self._caches.clear()


def recover(
    consumer: Any, changelog: str, partition: int, inputs: Iterable[str], timeout_s: float = 30.0
) -> PartitionStores:
    """A partition's state read back from its changelog partition, counting committed checkpoints only.

    ``consumer`` is a confluent-kafka Consumer in the worker's group (for its committed offsets) with
    ``enable.partition.eof`` and without auto-commit. The changelog is read to its end as the fetch
    responses report it (tansu's ListOffsets reports a high watermark that is too low).
    """
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

    wanted = [TopicPartition(topic, partition) for topic in inputs]
    committed = {tp.topic: tp.offset for tp in consumer.committed(wanted, timeout=timeout_s) if tp.offset >= 0}
    stores = PartitionStores()
    verdicts: dict[bytes | None, bool] = {}
    consumer.assign([TopicPartition(changelog, partition, OFFSET_BEGINNING)])
    try:
        waited = 0.0
        while True:
            # a short wait: consume() returns at the timeout unless it filled the batch, the EOF included
            batch = consumer.consume(10_000, timeout=0.01)
            if not batch:
                waited += 0.01
                if waited > timeout_s:
                    raise TimeoutError(f"reading {changelog}[{partition}] got no answer in {timeout_s:g} s")
                continue
            waited = 0.0
            for msg in batch:
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return stores
                    raise KafkaException(error)
                header = dict(msg.headers() or ()).get(OFFSETS_HEADER)
                verdict = verdicts.get(header)  # one header per checkpoint: decided once
                if verdict is None:
                    verdict = verdicts[header] = committed_checkpoint(header, committed)
                if verdict:
                    stores.apply(msg.key(), msg.value())
    finally:
        consumer.unassign()
