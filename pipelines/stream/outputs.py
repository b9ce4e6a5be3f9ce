"""The worker's output topics (bids-scored, fraud-alerts, dead-letters) through a producer of their own.

Quix's producer wraps every ``produce`` in Python (error check, keyword filtering, a ``poll(0)``) and
asks librdkafka for a delivery report per message, which calls back into Python; at one output per bid
that was ~10 % of the worker's time (py-spy, `python -m app bench stream`). This producer reports only
failed deliveries (``delivery.report.only.error``). It is a Quix sink, so every checkpoint flushes it
*before* the consumer offsets are committed: a failed or undelivered output raises there, the commit
does not happen and the inputs are replayed (at-least-once, like everything else in the worker).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from quixstreams.sinks import BaseSink

#: serve librdkafka's (error-only) callbacks every this many messages
POLL_EVERY = 1024


class OutputProducer(BaseSink):
    """Produces the worker's outputs; ``flush`` (at each checkpoint) waits until all were delivered."""

    def __init__(self, config: dict[str, Any], flush_timeout_s: float = 60.0) -> None:
        super().__init__()
        self._errors: list[str] = []
        self._producer = Producer({**config, "delivery.report.only.error": True, "on_delivery": self._failed})
        self._flush_timeout_s = flush_timeout_s
        self._count = 0

    def _failed(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}: {err.str()}")

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp: int = 0,
        headers: Any = None,
        partition: int = -1,
    ) -> None:
        """Produce one record (``timestamp`` 0: now; ``partition`` -1: the partitioner's choice)."""
        try:
            self._producer.produce(topic, value, key, partition=partition, timestamp=timestamp, headers=headers)
        except BufferError:  # librdkafka's queue is full: let it deliver, then try once more
            self._producer.poll(1.0)
            self._producer.produce(topic, value, key, partition=partition, timestamp=timestamp, headers=headers)
        self._count += 1
        if not self._count % POLL_EVERY:
            self._producer.poll(0)

    def produce_to(
        self, topic: str, partition: int, key: bytes, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Produce to a given partition (the state changelog: partition = the input partition)."""
        self.produce(topic, key, value, 0, headers, partition)

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - fed through produce()
        raise NotImplementedError("OutputProducer is fed by the pipeline through produce()")

    def flush(self) -> None:
        left = self._producer.flush(self._flush_timeout_s)
        if self._errors or left:
            errors, self._errors = self._errors, []
            problem = errors[0] if errors else f"{left} outputs not delivered in {self._flush_timeout_s:g} s"
            raise RuntimeError(f"output delivery failed ({len(errors) or left} messages): {problem}")
