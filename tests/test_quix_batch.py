"""The batched pass's walk over Quix's time-alignment buffer gives what Quix's own ``pop()`` would, in order."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st
from quixstreams.internal_consumer.buffering import InternalConsumerBuffer

from app.quix_batch import aligned

TOPICS = ("users", "auctions", "bids")


@dataclass(frozen=True)
class Message:
    """What the buffer reads of a confluent-kafka message."""

    _topic: str
    _partition: int
    _offset: int
    _timestamp: int

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return 1, self._timestamp


# per (topic, partition): timestamps of the buffered messages (few distinct values: many ties) and
# whether the partition's high watermark is past them (more to fetch) or at them (idle) or unknown
partitions = st.dictionaries(
    st.tuples(st.sampled_from(TOPICS), st.integers(0, 2)),
    st.tuples(
        st.lists(st.integers(0, 6), max_size=12),  # not sorted: CreateTime need not grow within a partition
        st.sampled_from(["idle", "more", "unknown"]),
    ),
    min_size=1,
)


def _buffer(spec: dict[tuple[str, int], tuple[list[int], str]]) -> InternalConsumerBuffer:
    from confluent_kafka import TopicPartition

    buffer = InternalConsumerBuffer(max_partition_buffer_size=100)
    buffer.assign_partitions([TopicPartition(t, p) for t, p in spec])
    messages, watermarks = [], {}
    for (topic, partition), (times, state) in spec.items():
        messages += [Message(topic, partition, offset, ts) for offset, ts in enumerate(times)]
        if state != "unknown":
            watermarks[(topic, partition)] = len(times) + (state == "more")
    buffer.feed(messages, high_watermarks=watermarks)
    return buffer


@given(partitions)
def test_aligned_walk_is_quix_pop_order(spec: dict[tuple[str, int], tuple[list[int], str]]) -> None:
    expected_buffer, walked_buffer = _buffer(spec), _buffer(spec)
    expected = []
    while (msg := expected_buffer.pop()) is not None:
        expected.append(msg)
    first = walked_buffer.pop()
    walked = [] if first is None else [first, *aligned(walked_buffer, first.partition())]
    assert walked == expected
    # and the buffers are left as Quix's own pops leave them (what its next feed builds on)
    for partition, group in walked_buffer._partition_groups.items():
        mine = {b.topic: (b.next_timestamp, b.idleness(), len(b._messages)) for b in group._partition_buffers_values}
        other = expected_buffer._partition_groups[partition]._partition_buffers_values
        assert mine == {b.topic: (b.next_timestamp, b.idleness(), len(b._messages)) for b in other}


def test_runs_in_timestamp_order_ties_to_the_earlier_topic_until_a_buffer_runs_dry() -> None:
    buffer = _buffer(
        {("users", 0): ([1, 5], "idle"), ("auctions", 0): ([1, 2, 3], "idle"), ("bids", 0): ([3, 4], "idle")}
    )
    first = buffer.pop()
    assert first is not None
    order = [(m.topic(), m.timestamp()[1]) for m in [first, *aligned(buffer, 0)]]
    # auctions' buffer is then empty and its watermark unknown until the next feed: Quix waits, so does the walk
    assert order == [("users", 1), ("auctions", 1), ("auctions", 2), ("auctions", 3)]
