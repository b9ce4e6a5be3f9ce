"""The worker's output topics (bids-scored, fraud-alerts, dead-letters) through a producer of their own.

Quix's producer wraps every ``produce`` in Python (error check, keyword filtering, a ``poll(0)``) and
asks librdkafka for a delivery report per message, which calls back into Python; at one output per bid
that was ~10 % of the worker's time (py-spy, `python -m app bench stream`). This producer reports only
failed deliveries (``delivery.report.only.error``). It is a Quix sink, so every checkpoint flushes it
*before* the consumer offsets are committed: a failed or undelivered output raises there, the commit
does not happen and the inputs are replayed (at-least-once, like everything else in the worker).

A refusal that belongs to one record (too large, invalid record: :data:`PER_RECORD`) is not a failure of
the broker: :meth:`OutputProducer.produce` returns its reason (the caller dead-letters the input), and a
record refused at delivery -- or a changelog record refused when produced -- is handed to ``on_refused``
at the checkpoint (the worker records it in the lake) instead of stopping the worker for good (every
replay would be refused the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from quixstreams.sinks import BaseSink

from pipelines.infra.partitioner import murmur2
from pipelines.stream.stages import batch_value

#: serve librdkafka's (error-only) callbacks every this many messages
POLL_EVERY = 1024
#: error codes that refuse one record for what it is (the broker itself is fine): never worth a replay
PER_RECORD = frozenset(
    getattr(KafkaError, name)
    for name in ("MSG_SIZE_TOO_LARGE", "INVALID_MSG_SIZE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD",
                 "INVALID_TIMESTAMP", "CORRUPT_MESSAGE", "INVALID_MSG")
    if hasattr(KafkaError, name)
)  # fmt: skip


class Refused(NamedTuple):
    """A record the broker refused, and why."""

    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    """epoch ms (0: none)"""
    reason: str


class OutputProducer(BaseSink):
    """Produces the worker's outputs; ``flush`` (at each checkpoint) waits until all were delivered."""

    def __init__(
        self,
        config: dict[str, Any],
        flush_timeout_s: float = 60.0,
        on_refused: Callable[[list[Refused]], object] | None = None,
    ) -> None:
        super().__init__()
        self._errors: list[str] = []
        self._refused: list[Refused] = []
        self.on_refused = on_refused
        """Called at the checkpoint with the records refused since the last one (None: they fail the flush)."""
        self._producer = Producer({**config, "delivery.report.only.error": True, "on_delivery": self._failed})
        self._flush_timeout_s = flush_timeout_s
        self._count = 0

    def _failed(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            return
        if err.code() in PER_RECORD:
            topic, partition, ts = msg.topic() or "", msg.partition() or 0, msg.timestamp()[1]
            self._refused.append(Refused(topic, partition, msg.key(), msg.value(), ts, err.str()))
        else:
            self._errors.append(f"{msg.topic()}: {err.str()}")

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp: int = 0,
        headers: Any = None,
        partition: int = -1,
    ) -> str | None:
        """Produce one record (``timestamp`` 0: now; ``partition`` -1: the partitioner's choice).

        Returns None, or why the record was refused for what it is (:data:`PER_RECORD`, e.g. larger than
        the producer's ``message.max.bytes``): then nothing was produced.
        """
        try:
            try:
                self._producer.produce(topic, value, key, partition=partition, timestamp=timestamp, headers=headers)
            except BufferError:  # librdkafka's queue is full: let it deliver, then try once more
                self._producer.poll(1.0)
                self._producer.produce(topic, value, key, partition=partition, timestamp=timestamp, headers=headers)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or error.code() not in PER_RECORD:
                raise
            return str(error.str())
        self._count += 1
        if not self._count % POLL_EVERY:
            self._producer.poll(0)
        return None

    def produce_to(
        self, topic: str, partition: int, key: bytes, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Produce to a given partition (the state changelog: partition = the input partition); a record
        refused for what it is goes to ``on_refused`` at the checkpoint."""
        error = self.produce(topic, key, value, 0, headers, partition)
        if error is not None:
            self._refused.append(Refused(topic, partition, key, value, 0, error))

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - fed through produce()
        raise NotImplementedError("OutputProducer is fed by the pipeline through produce()")

    def close(self) -> None:
        """Let librdkafka go now, not whenever Python frees this sink: the delivery callback holds this object
        and the producer holds the callback, a cycle that outlived the worker while its threads retried the
        stopped broker ("Connection refused" on a finished `demo`'s stderr). Call after the last flush."""
        del self._producer

    def flush(self) -> None:
        left = self._producer.flush(self._flush_timeout_s)
        if self._refused and self.on_refused is not None and not self._errors and not left:
            refused, self._refused = self._refused, []
            self.on_refused(refused)
        elif self._refused:
            self._errors.extend(f"{r.topic}: {r.reason}" for r in self._refused)
            self._refused = []
        if self._errors or left:
            errors, self._errors = self._errors, []
            problem = errors[0] if errors else f"{left} outputs not delivered in {self._flush_timeout_s:g} s"
            raise RuntimeError(f"output delivery failed ({len(errors) or left} messages): {problem}")


#: an internal batch is sent once its records take about this many bytes (and at the end of every pass)
BATCH_BYTES = 256 * 1024
#: bytes a record adds to a batch besides its bid's JSON (its header, bidder id and timestamp; an estimate)
RECORD_BYTES = 256
#: bidder ids whose partition is remembered (the cache is emptied when it is full)
PARTITION_CACHE = 1_000_000


class InternalBatches:
    """The two-stage auction stage's internal records, sent as one message per partition and pass.

    Every valid bid leaves the auction stage as a record for the bidder stage (ADR 5). One broker message per
    record made the bidder stage pay Quix's per-message work, a produce, a parse and the broker's per-record
    work for each bid a second time; here a pass's records for one partition of the internal topic travel
    together (:func:`pipelines.stream.stages.batch_value`), in the order they were made. The partition is
    Kafka's default partitioner of the bidder id (:mod:`pipelines.infra.partitioner`), the one ``users`` is
    written with, so the bidder stage still finds a bidder's records where its user is. A batch's timestamp
    is the newest of its inputs' (each record keeps its own, for its outputs).

    :meth:`flush` must run at the end of every pass of the worker and before anything waits for the internal
    topic (a bounded run's end): a checkpoint then finds every record handed to the producer.
    """

    def __init__(
        self,
        produce: Callable[..., str | None],
        topic: str,
        partitions: int,
        budget: int = BATCH_BYTES,
    ) -> None:
        self._produce = produce
        self.topic = topic
        self.partitions = partitions
        self.budget = budget
        """Bytes a batch may take before it is sent (well under the topic's message limit)."""
        self._pending: dict[int, list[list[Any]]] = {}
        self._sizes: dict[int, int] = {}
        self._partition_of: dict[str, int] = {}
        self.batches = 0
        """Batches sent."""

    def add(self, bidder: str, fields: list[Any], bid: bytes, timestamp: int) -> bool:
        """Queue one record (its header ``fields`` and bid JSON, b"" for a close) for the partition of
        ``bidder``; sends that batch once it is full. False (nothing queued) for a record too large to batch:
        the caller sends it on its own, through the size checks every output passes."""
        size = len(bid) + len(bidder) + RECORD_BYTES
        if size > self.budget // 2:
            return False
        partition = self._partition_of.get(bidder)
        if partition is None:
            if len(self._partition_of) >= PARTITION_CACHE:
                self._partition_of.clear()
            partition = self._partition_of[bidder] = (murmur2(bidder.encode()) & 0x7FFFFFFF) % self.partitions
        pending = self._pending.get(partition)
        if pending is None:
            pending = self._pending[partition] = []
            self._sizes[partition] = 0
        pending.append([bidder, timestamp, fields, bid.decode() if bid else None])
        size = self._sizes[partition] = self._sizes[partition] + size
        if size >= self.budget:
            self._send(partition)
        return True

    def flush(self) -> None:
        """Send every queued batch (end of a pass)."""
        if self._pending:
            for partition in list(self._pending):
                self._send(partition)

    def _send(self, partition: int) -> None:
        items = self._pending.pop(partition)
        del self._sizes[partition]
        timestamp = max(item[1] for item in items)
        error = self._produce(self.topic, None, batch_value(items), timestamp, None, partition)
        if error is not None:  # the budget keeps batches far below any sane limit: a misconfigured topic
            raise RuntimeError(
                f"the internal topic {self.topic} refused a batch of {len(items)} records: {error} "
                f"(its max.message.bytes must allow {2 * self.budget} bytes)"
            )
        self.batches += 1
