"""Topics: idempotent creation with explicit config, listing, client configs and tailing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.errors import UserError
from app.settings import Settings

TOPICS = ("users", "auctions", "bids", "bids-scored", "fraud-alerts", "dead-letters")
INPUT_TOPICS = ("users", "auctions", "bids")


def client_config(address: str) -> dict[str, Any]:
    """Settings shared by every client. tansu is slow to join groups with librdkafka's defaults."""
    return {"bootstrap.servers": address, "log_level": 3}


def producer_config(address: str) -> dict[str, Any]:
    return {
        **client_config(address),
        "linger.ms": 20,
        "batch.num.messages": 10_000,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "compression.type": "lz4",
        # fail fast after a broker restart instead of hanging in flush() for the default 300 s
        "message.timeout.ms": 30_000,
        # Kafka's partitioner (murmur2), so partitions agree with the JVM clients and Redpanda tools
        "partitioner": "murmur2_random",
    }


def consumer_config(address: str, group: str) -> dict[str, Any]:
    return {
        **client_config(address),
        "group.id": group,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 50,
    }


def topic_config(settings: Settings) -> dict[str, str]:
    """Explicit config for every topic (tansu reports `retention.ms` only when set at creation)."""
    return {"retention.ms": str(settings.retention_ms), "retention.bytes": "-1", "cleanup.policy": "delete"}


def _admin(address: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(client_config(address))


def ensure_topics(address: str, settings: Settings, names: tuple[str, ...] = TOPICS) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Existing ones are left as is."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic

    admin = _admin(address)
    existing = set(admin.list_topics(timeout=settings.broker_timeout_s).topics)
    wanted = [
        NewTopic(name, num_partitions=settings.partitions, replication_factor=1, config=topic_config(settings))
        for name in names
        if name not in existing
    ]
    created: list[str] = []
    if not wanted:
        return created
    for name, future in admin.create_topics(wanted, request_timeout=settings.broker_timeout_s).items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:
            err = exc.args[0] if exc.args else None
            if getattr(err, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise UserError(f"cannot create topic {name}: {exc}") from None
    return created


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    config: dict[str, str]
    messages: int


def describe_topics(address: str, timeout_s: float = 10.0) -> list[TopicInfo]:
    """Each topic with its partition count, explicit config and message count (from the watermarks)."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import ConfigResource

    admin = _admin(address)
    metadata = admin.list_topics(timeout=timeout_s)
    names = sorted(n for n in metadata.topics if not n.startswith("__"))
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    configs: dict[str, dict[str, str]] = {}
    for res, future in (admin.describe_configs(resources) if resources else {}).items():
        entries = future.result(timeout=timeout_s)
        configs[res.name] = {k: v.value for k, v in entries.items() if v.value is not None and k in _SHOWN_CONFIGS}
    consumer = Consumer({**client_config(address), "group.id": "auction-describe", "enable.auto.commit": False})
    try:
        infos = []
        for name in names:
            count = 0
            for part in metadata.topics[name].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, part), timeout=timeout_s)
                count += max(0, high - low)
            infos.append(TopicInfo(name, len(metadata.topics[name].partitions), configs.get(name, {}), count))
        return infos
    finally:
        consumer.close()


_SHOWN_CONFIGS = {"retention.ms", "retention.bytes", "cleanup.policy"}


def broker_run_id(address: str, topic: str, timeout_s: float = 10.0) -> str:
    """An id unique to this topic's life on this broker: hash of the cluster id and the topic id.

    tansu keeps topics in memory, so after a restart offsets start again at 0 under a new topic id;
    bronze files carry this id so a new run never overwrites an earlier run's files.
    """
    from confluent_kafka import TopicCollection

    admin = _admin(address)
    cluster = admin.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s).cluster_id
    described = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout_s)[topic]
    topic_id = described.result(timeout=timeout_s).topic_id
    return hashlib.sha1(f"{cluster}:{topic_id}".encode()).hexdigest()[:12]


def tail(address: str, topic: str, n: int, timeout_s: float = 10.0) -> Iterator[dict[str, Any]]:
    """The last ``n`` messages of each partition of a topic, oldest first within a partition."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {**client_config(address), "group.id": "auction-tail", "enable.auto.commit": False,
         "enable.partition.eof": True}
    )  # fmt: skip
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise UserError(f"topic {topic!r} does not exist (python -m app topics lists them)")
        assignment, remaining = [], set()
        for part in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, part), timeout=timeout_s)
            if high > low:
                assignment.append(TopicPartition(topic, part, max(low, high - n)))
                remaining.add(part)
        consumer.assign(assignment)
        while remaining:
            msg = consumer.poll(timeout_s)
            if msg is None:
                break
            if msg.error():
                remaining.discard(msg.partition())
                continue
            raw = msg.value() or b""
            try:
                value: Any = json.loads(raw)
            except ValueError:
                value = raw.decode("utf-8", "replace")
            key = msg.key()
            yield {
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": key.decode("utf-8", "replace") if key is not None else None,
                "value": value,
            }
    finally:
        consumer.close()
