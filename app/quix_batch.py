"""The stream worker's pass over Quix's consumer buffer: many messages per pass of Quix's run loop.

Quix's ``Application._process_message`` takes one message per pass of its run loop, and around each: a
producer poll, a Row built through the topic's (here pass-through) deserializers, a copied ``contextvars``
context, an offset stored in the checkpoint, the run loop's checkpoint/timeout/broker/status checks, and a
scan of the time-alignment buffer for the next message -- ~12 µs a message, about what the whole
pass-through benchmark spends (measured with py-spy). :func:`process_batch` does the same work for up to
``BATCH`` messages per pass, in the same order, through the same composed dataframe.

This reads Quix's private internals (the consumer's time-alignment buffer, ``quixstreams/internal_consumer
/buffering.py`` in 3.28), so :func:`batchable` checks that they are what this module expects and the worker
falls back to Quix's own ``_process_message`` otherwise; ``tests/test_stream.py`` compares the order and the
outputs of both on the same topics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from operator import attrgetter
from typing import Any

logger = logging.getLogger(__name__)

#: messages processed per pass of Quix's run loop (its checkpoint, timeout and status checks run between passes)
BATCH = 256

_next_timestamp = attrgetter("next_timestamp")


def batchable(app: Any) -> bool:
    """Whether :func:`process_batch` gives exactly what Quix's ``_process_message`` would: time-aligned
    consumption through the buffer this module knows, every consumed topic's key and value passed through as
    bytes (as the worker defines them) and no timestamp extractor."""
    from quixstreams.internal_consumer.buffering import InternalConsumerBuffer, PartitionBuffer, PartitionBufferGroup
    from quixstreams.models.serializers import BytesDeserializer

    consumer = app._consumer
    if not app._dataframe_registry.requires_time_alignment or type(consumer._buffer) is not InternalConsumerBuffer:
        return False
    known = (
        hasattr(consumer._buffer, "_partition_groups")
        and all(hasattr(PartitionBufferGroup, name) for name in ("partition", "pop"))
        and all(hasattr(PartitionBuffer, name) for name in ("popleft", "idleness"))
    )
    return known and all(
        isinstance(topic._key_deserializer, BytesDeserializer)
        and isinstance(topic._value_deserializer, BytesDeserializer)
        and topic._timestamp_extractor is None
        for topic in consumer._topics.values()
    )


def aligned(buffer: Any, partition: int) -> Iterator[Any]:
    """The messages ``buffer.pop()`` (Quix's ``InternalConsumerBuffer``) would return, in its order, until it
    would return None; starting after a message it just returned from ``partition``'s group.

    Quix's pop scans the partition groups in order and takes from the first that has a message ready; a group
    is ready unless one of its buffers is empty and not known to be idle, and gives the message with the
    smallest timestamp (the first such buffer on a tie). Between two feeds of the buffer a group only
    changes by its own pops, so that order is: drain this group until it is not ready, then each later group
    (the earlier ones were not ready). Within a group, the buffer picked stays the pick as long as its next
    timestamp is below those of the buffers before it and not above those after it: a run is taken without
    looking at the others again. Every message is taken with Quix's own ``popleft`` (which keeps the
    buffer's timestamps and watermarks as Quix expects them).
    """
    from quixstreams.internal_consumer.buffering import Idleness

    idle = Idleness.IDLE
    started = False
    for group in list(buffer._partition_groups.values()):
        if not started:
            if group.partition != partition:
                continue
            started = True
        buffers = list(group._partition_buffers_values)
        if len(buffers) == 1:
            only = buffers[0]
            while only._messages:
                yield only.popleft()
            continue
        while True:
            if any(not b._messages and b.idleness() is not idle for b in buffers):
                break
            pick = min(buffers, key=_next_timestamp)
            if not pick._messages:  # every buffer empty and idle
                break
            at = next(i for i, b in enumerate(buffers) if b is pick)
            before = min([b.next_timestamp for b in buffers[:at]], default=float("inf"))
            after = min([b.next_timestamp for b in buffers[at + 1 :]], default=float("inf"))
            yield pick.popleft()
            while pick._messages:
                timestamp = pick.next_timestamp
                if timestamp >= before or timestamp > after:
                    break
                yield pick.popleft()


def process_batch(app: Any, dataframe_composed: Mapping[str, Callable[..., Any]]) -> None:
    """Quix's ``Application._process_message`` for up to ``BATCH`` messages already in the consumer's buffer.

    The first message comes from Quix's own time-aligned poll (which refills the buffer and runs rebalance
    callbacks); the rest are taken from that buffer in the same order (:func:`aligned`) until it has none
    ready, the app is stopping, or ``BATCH`` messages are done. Each goes through the composed dataframe with
    its message context set, as in Quix; each partition's last offset is stored once after the batch (a
    checkpoint commits only between passes). A failure goes to the app's ``on_processing_error`` like in
    Quix; offsets of the messages processed before it are stored, the failing one's only if the error was
    suppressed.
    """
    from quixstreams.context import set_message_context
    from quixstreams.models import MessageContext
    from quixstreams.models.rows import Row

    consumer, tracker = app._consumer, app._run_tracker
    app._producer.poll(app._config.producer_poll_timeout)
    msg = consumer._poll_buffered(timeout=app._config.consumer_poll_timeout)
    if msg is None:
        tracker.set_message_consumed(False)
        return
    on_processed = app._on_message_processed
    offsets: dict[tuple[str, int], int] = {}
    rest = aligned(consumer._buffer, msg.partition())
    try:
        for left in range(BATCH - 1, -1, -1):
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            context = MessageContext(topic, partition, offset, len(msg), msg.leader_epoch())
            set_message_context(context)
            value, key, timestamp, headers = msg.value(), msg.key(), msg.timestamp()[1], msg.headers()
            try:
                dataframe_composed[topic](value, key, timestamp, headers)
            except Exception as exc:
                if not app._on_processing_error(exc, Row(value, key, timestamp, context, headers), logger):
                    raise
            offsets[(topic, partition)] = offset
            if on_processed is not None:
                on_processed(topic, partition, offset)
            if not left or not tracker.running:
                break
            msg = next(rest, None)
            if msg is None:
                break
    finally:
        store = app._processing_context.store_offset
        for (topic, partition), offset in offsets.items():
            store(topic=topic, partition=partition, offset=offset)
    tracker.set_message_consumed(True)
    app._producer._broker_available()
    consumer._broker_available()
