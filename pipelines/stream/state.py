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

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from quixstreams.sinks import BaseSink

from pipelines.stream.score import closing_auctions

#: the changelog record header holding the input offsets processed when the record was written (JSON)
OFFSETS_HEADER = "processed-offsets"
#: the first byte of a record's key names its table; then ":" and the id
_KINDS = (b"a", b"u", b"c", b"s", b"o")

Produce = Callable[[str, int, bytes, bytes | None, list[tuple[str, bytes]]], None]
"""``produce(topic, partition, key, value, headers)``; a None value deletes the key."""


class StateTable(dict[str, Any]):
    """One kind of state of one partition (a :class:`pipelines.stream.score.Table`): Python values by id.

    ``table[id]`` is None for an id never set; ``changed(id)`` (the bound ``setdefault`` of the dict of
    changed ids, so no Python call) marks an id to be written. Changed ids are kept in two generations:
    ``dirty`` (changed since the last :meth:`age`) and ``older`` (changed before it, not since), so that
    ids left alone for a while can be written before the checkpoint (:meth:`PartitionStores.write_idle`).
    """

    __slots__ = ("changed", "dirty", "older")

    def __init__(self) -> None:
        super().__init__()
        self.older: dict[str, None] = {}
        self.dirty: dict[str, None] = {}
        self.changed: Callable[[str], object] = self.dirty.setdefault

    def __missing__(self, ident: str) -> None:
        return None

    def age(self) -> list[str]:
        """Start a new generation; returns the ids changed before the last one and not since (to write)."""
        dirty = self.dirty
        idle = [ident for ident in self.older if ident not in dirty]
        self.older, self.dirty = dirty, {}
        self.changed = self.dirty.setdefault
        return idle

    def take_all(self) -> list[str]:
        """Every changed id, both generations (the checkpoint writes them all)."""
        ids = list({**self.older, **self.dirty})
        self.older.clear()
        self.dirty.clear()
        return ids


class PartitionStores:
    """One partition's state (a :class:`pipelines.stream.score.Stores`) and the input offsets it has processed."""

    __slots__ = ("auctions", "bidders", "categories", "closing", "offsets", "signups", "sources")

    def __init__(self) -> None:
        self.auctions, self.bidders, self.categories = StateTable(), StateTable(), StateTable()
        self.signups, self.sources = StateTable(), StateTable()
        """The two-stage bidder stage's signup times and source positions (:mod:`pipelines.stream.stages`)."""
        self.closing: deque[tuple[int, str]] = deque()
        """Closed auctions not yet compacted (:class:`pipelines.stream.score.Stores`); rebuilt by :func:`recover`."""
        self.offsets: dict[str, int] = {}
        """The last input offset processed per topic: set by the pipeline for every message."""

    def tables(self) -> Iterator[tuple[bytes, StateTable]]:
        yield from zip(_KINDS, self._all(), strict=True)

    def _all(self) -> tuple[StateTable, ...]:
        return (self.auctions, self.bidders, self.categories, self.signups, self.sources)

    def write(self, produce: Produce, topic: str, partition: int) -> int:
        """Produce every changed value to ``topic``'s ``partition`` (the checkpoint); returns how many records."""
        return self._write(produce, topic, partition, [(k, t, t.take_all()) for k, t in self.tables()])

    def write_idle(self, produce: Produce, topic: str, partition: int) -> int:
        """Produce the values changed before the last call and not since; returns how many records.

        Spreads the checkpoint's work over its interval (a checkpoint pauses every waiting message). Safe
        before the commit: a record counts at recovery only once the offsets in its header are committed,
        and it holds the value at those offsets; a later change is written again with later offsets.
        """
        return self._write(produce, topic, partition, [(k, t, t.age()) for k, t in self.tables()])

    def _write(
        self, produce: Produce, topic: str, partition: int, changed: list[tuple[bytes, StateTable, list[str]]]
    ) -> int:
        """Produce the values of ``changed`` -- (kind, its table, ids) -- with the processed offsets."""
        written = sum(len(ids) for _, _, ids in changed)
        if not written:
            return 0
        headers = [(OFFSETS_HEADER, orjson.dumps(self.offsets))]
        dumps = orjson.dumps
        for kind, table, ids in changed:
            prefix = kind + b":"
            for ident in ids:
                value = table.get(ident)
                produce(topic, partition, prefix + ident.encode(), None if value is None else dumps(value), headers)
        return written

    def _table(self, kind: bytes) -> StateTable:
        return self._all()[_KINDS.index(kind)]

    def apply(self, key: bytes, value: bytes | None) -> None:
        """Apply one changelog record (a None value deletes the key)."""
        table = self._table(key[:1])
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

    def __init__(
        self,
        produce: Produce,
        changelog: str,
        recover: Callable[[int], PartitionStores],
        idle_write_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._produce, self._changelog, self._recover = produce, changelog, recover
        self._idle_write_s, self._clock = idle_write_s, clock
        self._next_idle_write = clock() + (idle_write_s or 0.0)
        self._caches: dict[int, PartitionStores] = {}
        self.records_written = 0
        self.records_written_early = 0
        """Of ``records_written``, those written by :meth:`tick` (before their checkpoint)."""
        self.recoveries = 0
        """How many times a partition's state was read back from the changelog."""
        self.releases = 0
        """How many times partitions held here were dropped (revoked, lost, or a pause)."""

    def stores(self, partition: int) -> PartitionStores:
        """The partition's state (a :class:`pipelines.stream.score.Stores`), recovered on first use."""
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

    def tick(self, lag_s: float = 0.0) -> None:
        """Called now and then by the pipeline: every ``idle_write_s``, write the values left alone that long.

        Only while the worker keeps up (``lag_s``, how old the message just processed is, below
        ``idle_write_s``); a worker catching up on a backlog leaves it all to the checkpoint.
        """
        if self._idle_write_s is None or lag_s > self._idle_write_s:
            return
        now = self._clock()
        if now < self._next_idle_write:
            return
        self._next_idle_write = now + self._idle_write_s
        for partition, cache in self._caches.items():
            written = cache.write_idle(self._produce, self._changelog, partition)
            self.records_written += written
            self.records_written_early += written

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop these partitions' state (revoked or lost: another worker may change it from now on)."""
        dropped = [self._caches.pop(partition, None) for partition in partitions]
        self.releases += any(cache is not None for cache in dropped)

    def on_paused(self) -> None:
        self.releases += bool(self._caches)
        self._caches.clear()


#: librdkafka errors that mean "the broker cannot be reached right now": recovery waits for it
_UNREACHABLE = frozenset({"_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_RESOLVE", "_WAIT_COORD"})


class BrokerUnreachable(TimeoutError):
    """The broker did not answer while a partition's state was being read back, for longer than allowed."""


def _unreachable(error: Any) -> bool:
    from confluent_kafka import KafkaError

    return any(error.code() == getattr(KafkaError, name, None) for name in _UNREACHABLE)


def recover(
    consumer: Any,
    changelog: str,
    partition: int,
    inputs: Iterable[str],
    timeout_s: float = 30.0,
    wait_s: float = 120.0,
) -> PartitionStores:
    """A partition's state read back from its changelog partition, counting committed checkpoints only.

    ``consumer`` is a confluent-kafka Consumer in the worker's group (for its committed offsets) with
    ``enable.partition.eof`` and without auto-commit. The changelog is read to its end as the fetch
    responses report it (tansu's ListOffsets reports a high watermark that is too low). A broker that
    cannot be reached is waited for up to ``wait_s`` (like the rest of the worker: Quix's broker
    availability timeout) before this raises; ``timeout_s`` bounds each request.
    """
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

    progress = [time.monotonic()]  # when the broker last answered

    def waited_too_long(problem: str) -> None:
        if time.monotonic() - progress[0] > wait_s:
            raise BrokerUnreachable(f"reading {changelog}[{partition}]: {problem} for {wait_s:g} s")

    wanted = [TopicPartition(topic, partition) for topic in inputs]
    while True:
        try:
            found = consumer.committed(wanted, timeout=timeout_s)
            break
        except KafkaException as exc:
            if not _unreachable(exc.args[0]):
                raise
            waited_too_long(f"no committed offsets ({exc.args[0].str()})")
    progress[0] = time.monotonic()
    committed = {tp.topic: tp.offset for tp in found if tp.offset >= 0}
    stores = PartitionStores()
    verdicts: dict[bytes | None, bool] = {}
    consumer.assign([TopicPartition(changelog, partition, OFFSET_BEGINNING)])
    try:
        while True:
            # a short wait: consume() returns at the timeout unless it filled the batch, the EOF included
            batch = consumer.consume(10_000, timeout=0.01)
            if not batch:
                if time.monotonic() - progress[0] > timeout_s:
                    waited_too_long("no answer from the broker")
                continue
            for msg in batch:
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        stores.closing = closing_auctions(stores.auctions.items())
                        return stores
                    if _unreachable(error):
                        waited_too_long(f"broker unreachable ({error.str()})")
                        continue
                    raise KafkaException(error)
                progress[0] = time.monotonic()
                header = dict(msg.headers() or ()).get(OFFSETS_HEADER)
                verdict = verdicts.get(header)  # one header per checkpoint: decided once
                if verdict is None:
                    verdict = verdicts[header] = committed_checkpoint(header, committed)
                if verdict:
                    stores.apply(msg.key(), msg.value())
    finally:
        consumer.unassign()
