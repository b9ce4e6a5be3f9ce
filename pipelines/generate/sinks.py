"""Where generated events go: bronze Parquet in the lake, or JSON messages on the broker.

Lake files follow the DESIGN layout with the broker metadata a real consumer would record:
``_broker_run`` = ``gen<config hash>``, ``_partition`` = Kafka's murmur2 partition of the key,
``_offset`` = the row's sequence within its partition (event-time order), ``_key`` and
``_ingest_time`` (= the event time, so reruns write identical files).
"""

from __future__ import annotations

import io
import itertools
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.contracts import DAY_MS, bronze_schema
from pipelines.generate.config import GenerateSummary, GeneratorConfig
from pipelines.generate.tables import TOPIC_ORDER, Built, build
from pipelines.generate.wire import json_batches

if TYPE_CHECKING:
    from pipelines.infra.lake import Lake
    from pipelines.infra.settings import Settings

#: most rows in one bronze file (a partition's day is cut into files of at most this many rows)
MAX_FILE_ROWS = 250_000
#: string columns with few distinct values: the only ones worth Parquet dictionary encoding
REPEATING_COLUMNS = frozenset(
    {"_broker_run", "currency", "channel", "fraud_label", "category", "country", "city", "status", "title"}
)


def _progress(total: int, enabled: bool, unit: str = "ev") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, unit=unit, unit_scale=True, leave=False)


def bronze_files(built: Built, topic: str) -> Iterator[tuple[str, pa.Table]]:
    """``(relative path, table)`` of every bronze file of a topic: one per partition, day and row cap.

    Made lazily, one at a time, so only the files being written are held besides the run's tables.
    """
    from pipelines.infra.lake import bronze_file_name, date_partition

    table = built.tables[topic]
    parts = built.partitions[topic]
    run = built.config.broker_run()
    days = table["event_time"].cast(pa.int64()).to_numpy() // DAY_MS if table.num_rows else np.zeros(0, np.int64)
    for partition in range(built.config.partitions):
        rows = np.flatnonzero(parts == partition)
        if not len(rows):
            continue
        cuts = np.flatnonzero(np.diff(days[rows])) + 1
        bounds = sorted({0, len(rows), *cuts.tolist(), *range(0, len(rows), MAX_FILE_ROWS)})
        for first, end in itertools.pairwise(bounds):
            picked = rows[first:end]
            piece = table.take(picked)
            n = len(picked)
            meta = [
                pa.array([run]).take(np.zeros(n, dtype=np.int32)),
                pa.array(np.full(n, partition, dtype=np.int32)),
                pa.array(np.arange(first, end, dtype=np.int64)),
                built.keys[topic].take(picked),
                piece["event_time"],
            ]
            out = pa.Table.from_arrays([*piece.columns, *meta], schema=bronze_schema(topic))
            day = np.datetime64(int(days[picked[0]]), "D").astype(object)
            path = f"bronze/{topic}/{date_partition(day)}/{bronze_file_name(run, partition, first, end - 1)}"
            yield path, out


def write_lake(config: GeneratorConfig, lake: Lake, progress: bool = False) -> GenerateSummary:
    """Generate and write bronze Parquet; the same config always writes the same files (idempotent)."""
    lake.check_writable()
    began = time.perf_counter()
    built = build(config)
    written = 0
    pending: deque[Future[int]] = deque()
    with _progress(config.events, progress) as bar, ThreadPoolExecutor(max_workers=2) as pool:
        for topic in TOPIC_ORDER:
            for path, table in bronze_files(built, topic):
                if len(pending) >= 2:  # at most two files in flight (Parquet encoding releases the GIL)
                    bar.update(pending.popleft().result())
                pending.append(pool.submit(_write, lake, path, table))
                written += 1
        while pending:
            bar.update(pending.popleft().result())
    return GenerateSummary(built.counts, time.perf_counter() - began, files=written, target=lake.url)


def _write(lake: Lake, path: str, table: pa.Table) -> int:
    """One bronze file, atomically. Dictionary encoding only where values repeat (2x faster, smaller)."""
    buffer = io.BytesIO()
    repeating = [name for name in table.column_names if name in REPEATING_COLUMNS]
    pq.write_table(table, buffer, compression="zstd", use_dictionary=repeating)
    lake.write_bytes(path, buffer.getvalue())
    return int(table.num_rows)


class _Pacer:
    """Token bucket: at most ``rate`` events per second, bursts of a hundredth of a second."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.began = time.monotonic()
        self.sent = 0

    def take(self, n: int) -> None:
        if self.rate is None:
            return
        self.sent += n
        ahead = self.began + self.sent / self.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def produce(
    config: GeneratorConfig,
    address: str,
    rate: float | None = None,
    progress: bool = False,
    settings: Settings | None = None,
    stop: threading.Event | None = None,
    ends: dict[tuple[str, int], int] | None = None,
) -> GenerateSummary:
    """Produce every event as JSON to its topic (string key per ``TOPIC_KEYS``) and wait for the acks.

    Setting ``stop`` ends the run early (between chunks of at most a hundredth of a second at ``rate``);
    what was produced until then is flushed and counted. ``ends``, when given, is updated live with the
    end offset of each partition as the acks come (a supervisor shows lag from it).
    """
    from confluent_kafka import KafkaException, Producer

    from pipelines.infra.errors import UserError
    from pipelines.infra.settings import load_settings
    from pipelines.infra.topics import ensure_topics, producer_config

    settings = settings or load_settings(partitions=config.partitions)
    ensure_topics(address, settings, TOPIC_ORDER)
    producer = Producer(producer_config(address))
    ends = {} if ends is None else ends
    failures: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))
            return
        key = (msg.topic(), msg.partition())
        offset = msg.offset() + 1
        if offset > ends.get(key, 0):
            ends[key] = offset

    counts = dict.fromkeys(TOPIC_ORDER, 0)
    step = max(1, int(rate // 100)) if rate else config.batch_size
    began = time.perf_counter()
    built = build(config)
    pacer = _Pacer(rate)  # the clock starts once the events exist: no catch-up burst for the build time
    send: Callable[..., None] = producer.produce
    with _progress(config.events, progress) as bar:
        for batch in json_batches(built, config.batch_size):
            for begin in range(0, len(batch), step):
                if stop is not None and stop.is_set():
                    break
                chunk = batch[begin : begin + step]
                pacer.take(len(chunk))
                for topic, key, value in chunk:
                    while True:
                        try:
                            send(topic, value, key, on_delivery=delivered)
                            break
                        except BufferError:
                            producer.poll(0.05)
                    counts[topic] += 1
                producer.poll(0)
                bar.update(len(chunk))
                if failures:
                    break
            if failures or (stop is not None and stop.is_set()):
                break
        try:
            left = producer.flush(settings.broker_timeout_s + 30)
        except KafkaException as exc:  # pragma: no cover - librdkafka fatal error
            raise UserError(f"producing to {address} failed: {exc}") from None
    if failures:
        raise UserError(f"broker {address} rejected messages: {failures[0]} ({len(failures)} failed)")
    if left:
        raise UserError(f"broker {address} did not acknowledge {left} messages in time")
    return GenerateSummary(counts, time.perf_counter() - began, end_offsets=dict(sorted(ends.items())), target=address)
