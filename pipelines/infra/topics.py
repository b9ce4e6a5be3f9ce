"""Topics: idempotent creation with explicit config, listing, client configs and tailing."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings

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


def topic_config(settings: Settings, compact: bool = False) -> dict[str, str]:
    """Explicit config for every topic (tansu reports `retention.ms` only when set at creation).

    ``compact``: keep the last record of each key (the stream state's changelog) instead of deleting by age.
    """
    policy = "compact" if compact else "delete"
    return {"retention.ms": str(settings.retention_ms), "retention.bytes": "-1", "cleanup.policy": policy}


def changelog_topic(group: str) -> str:
    """The stream state's changelog topic of a consumer group (state is only valid with its group's offsets)."""
    return f"changelog-{group}-scoring"


def bidder_topic(group: str) -> str:
    """The two-stage stream's internal topic of a consumer group: valid bids with their auction features,
    keyed by bidder (its contents depend on the group's processing, like the changelog)."""
    return f"internal-{group}-bids-by-bidder"


def _admin(address: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(client_config(address))


def ensure_topics(
    address: str, settings: Settings, names: tuple[str, ...] = TOPICS, compact: bool = False
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Existing ones are left as is."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic

    admin = _admin(address)
    existing = set(admin.list_topics(timeout=settings.broker_timeout_s).topics)
    wanted = [
        NewTopic(name, num_partitions=settings.partitions, replication_factor=1, config=topic_config(settings, compact))
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


def describe_topics(address: str, timeout_s: float = 10.0) -> list[TopicInfo]:
    """Each topic with its partition count and explicit config.

    No message counts: tansu's ListOffsets reports high watermarks that are too low.
    """
    from confluent_kafka.admin import ConfigResource

    admin = _admin(address)
    metadata = admin.list_topics(timeout=timeout_s)
    names = sorted(n for n in metadata.topics if not n.startswith("__"))
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    configs: dict[str, dict[str, str]] = {}
    for res, future in (admin.describe_configs(resources) if resources else {}).items():
        entries = future.result(timeout=timeout_s)
        configs[res.name] = {k: v.value for k, v in entries.items() if v.value is not None and k in _SHOWN_CONFIGS}
    return [TopicInfo(n, len(metadata.topics[n].partitions), configs.get(n, {})) for n in names]


_SHOWN_CONFIGS = {"retention.ms", "retention.bytes", "cleanup.policy", "max.message.bytes"}


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


def tail(address: str, topic: str, n: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The newest ``n`` messages of a topic (by timestamp), oldest first.

    Reads every partition to its end: tansu's ListOffsets reports a high watermark that is too low, so
    the end is taken from the fetch responses (partition EOF), not from ``get_watermark_offsets``.
    """
    import heapq

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {**client_config(address), "group.id": "auction-tail", "enable.auto.commit": False,
         "enable.partition.eof": True}
    )  # fmt: skip
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise UserError(f"topic {topic!r} does not exist (python -m app topics lists them)")
        partitions = list(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        newest: list[tuple[int, int, int, dict[str, Any]]] = []
        remaining = set(partitions)
        while remaining:
            msg = consumer.poll(timeout_s)
            if msg is None:
                break
            if msg.error():
                remaining.discard(msg.partition())
                continue
            row = _row(msg)
            item = (msg.timestamp()[1], msg.partition(), msg.offset(), row)
            if len(newest) < n:
                heapq.heappush(newest, item)
            else:
                heapq.heappushpop(newest, item)
        return [item[3] for item in sorted(newest, key=lambda i: i[:3])]
    finally:
        consumer.close()


def end_offsets(
    address: str, topic: str, partitions: int, starts: dict[int, int] | None = None, timeout_s: float = 10.0
) -> dict[tuple[str, int], int]:
    """The end offset (exclusive) of each partition of ``topic``, read to the partition EOF from ``starts``
    (partition -> offset; default the beginning): tansu's ListOffsets high watermark is too low."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    starts = starts or {}
    consumer = Consumer(
        {**client_config(address), "group.id": "auction-ends", "enable.auto.commit": False,
         "enable.partition.eof": True, "fetch.wait.max.ms": 50}  # the end is known once a fetch comes back
    )  # fmt: skip
    ends = {(topic, p): max(starts.get(p, 0), 0) for p in range(partitions)}
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            return {}  # no such topic: nothing to wait for
        consumer.assign([TopicPartition(topic, p, starts.get(p, OFFSET_BEGINNING)) for p in range(partitions)])
        remaining = set(range(partitions))
        deadline = time.monotonic() + timeout_s
        while remaining:
            # consume(n, timeout) returns early only once n messages are in: a short wait per call, or the
            # last call would sit out the whole timeout for a tail shorter than n (seen: 10 s of a 19 s run)
            batch = consumer.consume(10_000, timeout=0.05)
            if batch:
                deadline = time.monotonic() + timeout_s
            elif time.monotonic() > deadline:
                raise UserError(f"no answer from the broker at {address} reading {topic} to its end")
            for msg in batch:
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise UserError(f"cannot read {topic} to its end: {error.str()}")
                    remaining.discard(msg.partition())
                    continue
                key = (topic, msg.partition())
                ends[key] = max(ends[key], msg.offset() + 1)
        return ends
    finally:
        consumer.close()


def internal_ends(
    address: str, settings: Settings, committed: dict[tuple[str, int], int]
) -> dict[tuple[str, int], int]:
    """Two stages: where the consumer group's internal topic ends, read from the group's ``committed`` offsets
    there on. Called once the inputs are committed: the auction stage sends its records before it commits
    their inputs, so nothing more comes for them."""
    internal = bidder_topic(settings.consumer_group)
    starts = {p: offset for (topic, p), offset in committed.items() if topic == internal}
    return end_offsets(address, internal, settings.partitions, starts, settings.broker_timeout_s)


def _row(msg: Any) -> dict[str, Any]:
    raw = msg.value() or b""
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw.decode("utf-8", "replace")
    key = msg.key()
    return {
        "partition": msg.partition(),
        "offset": msg.offset(),
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value": value,
    }


def committed_offsets(address: str, group: str, timeout_s: float) -> dict[tuple[str, int], int]:
    """The consumer group's committed offsets per (topic, partition)."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(client_config(address))
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    result = future.result(timeout=timeout_s)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}
