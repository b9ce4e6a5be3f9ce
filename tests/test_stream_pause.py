"""A partition paused when a rebalance hits comes back unpaused (else the worker polls and scores nothing).

Quix's time-alignment buffer pauses a partition whose buffer is full and forgets it on a rebalance;
librdkafka keeps the pause for a partition that the same consumer gets back. The control case shows that
librdkafka behaviour against the real broker; the other shows :func:`app.stream.unpause`, which the
worker's Application calls when partitions are revoked or lost, undoing it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from app.stream import unpause
from pipelines.infra.settings import Settings
from pipelines.infra.topics import client_config, consumer_config, ensure_topics

pytestmark = pytest.mark.integration


def _poll_until(consumers: list[Consumer], done: Any, seconds: float = 40.0) -> list[Any]:
    """Poll every consumer in turn until ``done()``; the messages the first one got."""
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the group did not settle in time"
        for consumer in consumers:
            message = consumer.poll(0.1)
            if consumer is consumers[0] and message is not None and message.error() is None:
                got.append(message)
    return got


@pytest.mark.parametrize("resume_on_release", [False, True], ids=["librdkafka-alone", "unpause"])
def test_a_partition_paused_before_a_rebalance_is_fetched_after_it(
    broker_address: str, settings: Settings, unique_name: str, resume_on_release: bool
) -> None:
    topic, group = f"pause-{unique_name}", f"pause-{unique_name}"
    ensure_topics(broker_address, settings, (topic,))
    config = {**consumer_config(broker_address, group), "enable.auto.commit": False}
    first = Consumer(config)
    released: list[int] = []

    def on_release(consumer: Consumer, partitions: list[Any]) -> None:
        released.append(len(partitions))
        if resume_on_release:
            unpause(consumer, partitions)

    first.subscribe([topic], on_revoke=on_release, on_lost=on_release)
    _poll_until([first], lambda: len(first.assignment()) == settings.partitions)
    first.pause(first.assignment())

    # a second member joins and leaves: the first is revoked and gets every partition back
    second = Consumer(config)
    second.subscribe([topic])
    _poll_until([first, second], lambda: bool(second.assignment()))
    second.close()
    _poll_until([first], lambda: len(first.assignment()) == settings.partitions)
    assert released, "the rebalance never revoked the first member's partitions"

    producer = Producer(client_config(broker_address))
    for partition in range(settings.partitions):
        producer.produce(topic, value=b"x", partition=partition)
    assert producer.flush(10) == 0
    deadline = time.monotonic() + 8
    got: list[Any] = []
    while time.monotonic() < deadline and len(got) < settings.partitions:
        message = first.poll(0.2)
        if message is not None and message.error() is None:
            got.append(message)
    first.close()

    if resume_on_release:
        assert len(got) == settings.partitions  # every partition fetched again
    else:
        assert got == []  # librdkafka kept the pause through the rebalance: nothing is ever fetched
