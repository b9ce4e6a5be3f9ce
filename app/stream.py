"""The stream worker's runtime: the Quix Application, its topics and state directory, bounded runs.

The graph itself is :func:`pipelines.stream.define_pipeline`. Several `python -m app stream` processes
share the partitions (one consumer group). Delivery is at-least-once (tansu's transactions are
unsound) with idempotent sinks. The scoring state is the worker's own (:mod:`pipelines.stream.state`: memory
plus a changelog topic per consumer group, read back when a partition is assigned), not a Quix store;
Quix still wants a state directory, which is private to the process and wiped on start.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings
from pipelines.infra.topics import (
    INPUT_TOPICS,
    TOPICS,
    bidder_topic,
    broker_run_id,
    changelog_topic,
    client_config,
    committed_offsets,
    consumer_config,
    end_offsets,
    ensure_topics,
    producer_config,
    topic_config,
)

OUTPUT_TOPICS = ("bids-scored", "fraud-alerts", "dead-letters")
#: the smallest budget a dead letter can be cut to (pipelines.stream.letters.MIN_BUDGET)
MIN_LETTER_BUDGET = 64 * 1024
#: the inputs whose partitions share one state (co-partitioned by auction_id)
STATEFUL_TOPICS = ("auctions", "bids")
#: collect the young generation every 50k allocations instead of 700 (the state is long-lived)
GC_THRESHOLDS = (50_000, 20, 100)
MARK_EVERY = 1000


@dataclass
class WorkerSummary:
    """What a worker did before it stopped."""

    processed: dict[str, int] = field(default_factory=dict)
    """Input messages processed, by input topic."""
    internal_messages: int = 0
    """Two stages: messages of the internal topic the bidder stage processed (each a batch of records: bids by
    bidder, closes; :class:`pipelines.stream.outputs.InternalBatches`)."""
    bronze_files: int = 0
    stopped_by: str = "signal"
    first_message_at: float = 0.0
    """Wall-clock time (epoch s) the first message was processed: throughput excludes start-up and joins."""
    last_message_at: float = 0.0
    marks: list[float] = field(default_factory=list)
    """Wall-clock time of every ``MARK_EVERY``-th message: throughput over any window (benchmarks)."""
    state_recoveries: int = 0
    """Partitions whose state was read back from the changelog (each assignment's first use)."""
    state_releases: int = 0
    """Times this worker dropped the state of partitions it gave up (rebalances)."""
    state_records: int = 0
    """Changelog records written."""
    state_records_early: int = 0
    """Of those, records written before their checkpoint (values left alone while the worker kept up)."""
    bronze_early_ranges: int = 0
    """Bronze ranges written before their checkpoint (open a third of an interval while the worker kept up)."""
    rejoins: int = 0
    """Times the group lost this worker (a commit refused) and it joined again with a new Application."""
    commits: int = 0
    """Checkpoints with offsets that Quix finished without an error: committed (or, rarely, abandoned on a
    revoke whose output flush timed out, left to the partitions' next owner)."""


@dataclass(frozen=True)
class WorkerOptions:
    """Knobs of one worker run (the CLI and the benchmarks set them)."""

    stop_at: Mapping[tuple[str, int], int] | None = None
    """Stop once these input (topic, partition) end offsets (exclusive) are processed."""
    idle_timeout_s: float = 0.0
    """Stop after this many seconds without a new message (0: run until signalled)."""
    commit_interval_s: float = 2.0
    """Seconds between checkpoints: bronze files are written and offsets committed at each."""
    on_ready: Callable[[Any], None] | None = None
    """Called with the Application before it runs (benchmarks use it to stop the app from a thread)."""
    loglevel: str = "WARNING"
    fail_exit_after_s: float | None = None
    """After a failure, exit the process if shutting down takes longer than this (None: wait for ever).

    librdkafka can block for good in ``Consumer.close()`` after an error raised inside a rebalance callback
    (seen here with tansu after a broker restart); a supervised worker process must fail fast instead.
    """


def _private_state_dir(settings: Settings) -> Path:
    """A fresh state directory for this process; directories of dead workers are removed."""
    root = Path(settings.state_dir)
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("worker-*"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / f"worker-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(mine, ignore_errors=True)
    return mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Built:
    """What :func:`build_application` returns."""

    app: Any
    processor: Any
    """The :class:`pipelines.stream.Processor` (its bronze sink counts files)."""
    state: Any
    """The :class:`pipelines.stream.state.StateCache` (recoveries, releases, changelog records)."""
    reader: Any
    """The changelog reader (a confluent-kafka Consumer): the caller closes it."""
    output: Any = None
    """The outputs' :class:`pipelines.stream.outputs.OutputProducer` (a bounded run flushes it to find where the
    internal topic ends; the caller closes it)."""
    end_pass: Callable[[], None] = lambda: None
    """Sends what a pass left queued (two stages: the internal batches); the app calls it after every pass."""


#: The worker's fetches may wait this long. tansu answers a fetch that it cannot serve within the wait with
#: no records, and its time to serve one grows with the partition and its load: measured in a 30-minute `run`,
#: with 60k-80k records a partition a fetch with 10 ms got nothing at all (the worker then polled for good with
#: a growing lag, alive and idle), while a probe on that live broker got records at once with 50 ms. The wait is
#: not free either: tansu does not answer a waiting fetch as soon as records arrive, so each hop through the
#: broker waits for about half of it, and two stages have two hops (measured at 5k bids/s, two stages: p50 /
#: p99 125 / 272-282 ms with 50 ms, 153-154 / 310-314 ms with 100 ms). 50 ms: five times what stalled.
FETCH_WAIT_MS = 50


def unpause(consumer: Any, partitions: list[Any]) -> None:
    """Resume ``partitions`` in librdkafka as they leave this consumer (revoked or lost).

    Quix's time-alignment buffer pauses a partition whose buffer is full and forgets that on a rebalance
    (its buffers start afresh), but librdkafka keeps a partition's pause across a rebalance when the same
    consumer gets it back (confluentinc/confluent-kafka-go#193, apache/kafka#22538). A member dropped and
    re-admitted (a session timeout on a loaded machine) then never fetches that partition again: the
    worker lived, polled and scored nothing for good (seen in a 30-minute `run`: every `bids` partition
    stuck, lag growing by the generator's rate). Resuming on the way out gives a partition back unpaused.
    """
    from confluent_kafka import KafkaException

    if consumer is None:  # no consumer behind the callback (a test calling it directly)
        return
    with contextlib.suppress(KafkaException):  # the partitions are gone already: nothing is paused any more
        consumer.resume(partitions)


def release_producers(built: Built) -> None:
    """Free the finished Application's producers while the broker is still up.

    Both live in reference cycles (a delivery callback holding its producer's owner), so they would be
    freed only when the cycle collector gets to them, after `demo` has stopped the broker: their librdkafka
    threads would retry it meanwhile and print ``Connection refused`` to the user's terminal.
    """
    if built.output is not None:
        built.output.close()
    inner = getattr(getattr(built.app, "_producer", None), "_producer", None)  # Quix's own (changelogs etc.)
    if inner is not None and getattr(inner, "_inner_producer", None) is not None:
        inner.flush(0)
        inner._inner_producer = None


def _application_class() -> type:
    """Quix's Application, telling the stream's state which partitions this process gave up."""
    from quixstreams import Application

    from app.quix_batch import batchable, process_batch

    class WorkerApplication(Application):
        """Calls ``on_released(partitions)`` after partitions were revoked (their last checkpoint committed) or
        lost (not committed): their state here may be stale from then on, the next owner recovers it."""

        on_released: Callable[[set[int]], None] = staticmethod(lambda partitions: None)
        unaligned: frozenset[str] = frozenset()
        """Topics whose empty buffer never holds back its partition group (the internal topic, see _on_assign)."""
        end_pass: Callable[[], None] = staticmethod(lambda: None)
        """Called after every pass over messages, before a checkpoint can commit (sends internal batches)."""

        def _on_assign(self, consumer: Any, topic_partitions: list[Any]) -> None:
            super()._on_assign(consumer, topic_partitions)
            if self.unaligned:
                never_wait(self._consumer, self.unaligned)

        def _on_revoke(self, consumer: Any, topic_partitions: list[Any]) -> None:
            unpause(consumer, topic_partitions)
            try:
                super()._on_revoke(consumer, topic_partitions)
            finally:
                self.on_released({tp.partition for tp in topic_partitions})

        def _on_lost(self, consumer: Any, topic_partitions: list[Any]) -> None:
            unpause(consumer, topic_partitions)
            try:
                super()._on_lost(consumer, topic_partitions)
            finally:
                self.on_released({tp.partition for tp in topic_partitions})

        _batched: bool | None = None

        def _process_message(self, dataframe_composed: Any) -> None:
            """Up to ``BATCH`` messages per pass of Quix's run loop instead of one (see :func:`process_batch`)."""
            if self._batched is None:
                self._batched = batchable(self)
            if not self._batched:
                super()._process_message(dataframe_composed)
            else:
                process_batch(self, dataframe_composed)
            self.end_pass()

    return WorkerApplication


def never_wait(consumer: Any, topics: frozenset[str]) -> int:
    """Make the time-alignment buffers of ``topics`` count as idle when empty; returns how many it changed.

    Quix aligns every topic of a partition number by timestamp: a partition group waits while any of its
    buffers is empty and its partition not known to be idle. The internal topic is written by this worker
    while it works, so its buffer is empty-but-active after nearly every pass, and bids and auctions would
    wait for each fetch of it. Its records need no alignment (the bidder stage skips replays by source
    position, not by order), so an empty internal buffer never holds the group back; when it has records
    they still go in timestamp order. (Measured at 5k bids/s: p50 134 -> 122 ms, within this machine's noise.)
    """
    from quixstreams.internal_consumer.buffering import Idleness

    changed = 0
    for group in getattr(consumer._buffer, "_partition_groups", {}).values():
        for topic, buffer in group._partition_buffers.items():
            if topic in topics:
                buffer.idleness = lambda: Idleness.IDLE
                changed += 1
    return changed


def check_partitions(address: str, settings: Settings, names: tuple[str, ...]) -> None:
    """Every topic the worker reads or writes by partition number has ``settings.partitions`` partitions.

    auctions and bids are co-partitioned by auction_id and partition p's state goes to the changelog's
    partition p: a topic auto-created with the broker's defaults (e.g. by a producer) breaks both.
    """
    from pipelines.infra.topics import describe_topics

    found = {info.name: info for info in describe_topics(address, settings.broker_timeout_s)}
    for name in names:
        info = found.get(name)
        problem = ""
        if info is None:
            problem = f"topic {name} does not exist"
        elif info.partitions != settings.partitions:
            problem = f"topic {name} has {info.partitions} partitions, not AUCTION_PARTITIONS={settings.partitions}"
        elif "retention.ms" not in info.config:
            problem = f"topic {name} has no explicit retention.ms"
        if problem:
            raise UserError(
                f"{problem} (auto-created, e.g. by a producer, before `python -m app topics`?): "
                "delete the topics and create them with `python -m app topics`"
            )


def build_application(
    settings: Settings,
    address: str,
    state_dir: Path,
    options: WorkerOptions,
    on_processed: Callable[[str, int, int], None] | None = None,
) -> Built:
    """The Quix Application with the pipeline defined on it, and the parts the caller reports on or closes."""
    from confluent_kafka import Consumer
    from quixstreams.models import TopicConfig

    from pipelines.stream.bronze import BronzeSink, two_stage_tables
    from pipelines.stream.graph import BY_BIDDER, Processor, TwoStageProcessor, define_pipeline
    from pipelines.stream.outputs import OutputProducer
    from pipelines.stream.refusals import write_refused
    from pipelines.stream.state import StateCache, recover

    consumer = {k: v for k, v in consumer_config(address, settings.consumer_group).items()
                if k not in ("bootstrap.servers", "group.id", "auto.offset.reset")}  # fmt: skip
    producer = {k: v for k, v in producer_config(address).items() if k != "bootstrap.servers"}
    # tansu: idempotent producers loop on UNKNOWN_PRODUCER_ID after a broker restart; sinks are idempotent
    producer["enable.idempotence"] = False
    # latency (measured by `bench stream`): output batches wait less than the shared defaults
    consumer["fetch.wait.max.ms"] = FETCH_WAIT_MS
    producer["linger.ms"] = 5
    producer["message.max.bytes"] = settings.max_message_bytes
    app = _application_class()(
        broker_address=address,
        consumer_group=settings.consumer_group,
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        commit_interval=options.commit_interval_s,
        consumer_extra_config=consumer,
        producer_extra_config=producer,
        state_dir=state_dir,
        loglevel=options.loglevel,
        # Quix's time-aligned consumption (auctions with bids) fills its buffer with one consume() call
        # that waits this long for a full batch: at 0.2 s every message waited ~0.2 s (p50 0.4 s at 5k bids/s)
        consumer_poll_timeout=0.005,
        on_message_processed=on_processed,
        broker_availability_timeout=settings.broker_outage_s,
    )
    config = TopicConfig(num_partitions=settings.partitions, replication_factor=1, extra_config=topic_config(settings))
    inputs = {
        name: app.topic(name, key_deserializer="bytes", value_deserializer="bytes", config=config)
        for name in INPUT_TOPICS
    }
    outputs = {
        name: app.topic(name, key_serializer="bytes", value_serializer="bytes", config=config) for name in OUTPUT_TOPICS
    }
    two_stage = settings.stream_topology == "two-stage"
    internal = bidder_topic(settings.consumer_group)
    if two_stage:  # the bidder stage's input: read as bytes, written by the auction stage's producer
        inputs[internal] = outputs[BY_BIDDER] = app.topic(
            internal, key_deserializer="bytes", value_deserializer="bytes", key_serializer="bytes",
            value_serializer="bytes", config=config,
        )  # fmt: skip
    lake = Lake.from_settings(settings)
    lake.check_writable()
    runs = {name: broker_run_id(address, name, settings.broker_timeout_s) for name in inputs}
    # ranges open for a third of the checkpoint interval are written before the checkpoint: a shorter pause
    # (measured at 10k bids/s: p99 ~240 ms with half, ~170 ms with a third; a bids range is then written
    # about every 0.7 s, three files per checkpoint where the checkpoint alone writes one)
    limits = output_limits(settings, address)
    early = options.commit_interval_s / 3
    processor: Processor
    if two_stage:
        destinations, tables = two_stage_tables(internal)
        sink = BronzeSink(lake, runs, early_after_s=early, destinations=destinations, json_tables=tables)
        processor = TwoStageProcessor(
            sink, internal, letter_budget=limits["dead-letters"], partitions=settings.partitions
        )
        limits[BY_BIDDER] = output_budget_of(settings)
    else:
        processor = Processor(BronzeSink(lake, runs, early_after_s=early), letter_budget=limits["dead-letters"])
    # records refused at delivery (or changelog records refused) become dead letters in bronze, named by content
    output = OutputProducer(
        {"bootstrap.servers": address, **producer},
        on_refused=lambda refused: write_refused(lake, refused, runs["bids"]),
    )
    changelog = changelog_topic(settings.consumer_group)
    reader = Consumer(
        {**client_config(address), "group.id": settings.consumer_group, "enable.auto.commit": False,
         "enable.partition.eof": True, "fetch.wait.max.ms": FETCH_WAIT_MS}
    )  # fmt: skip
    state = StateCache(
        output.produce_to,
        changelog,
        # a broker away while a partition's state is read back is waited for as long as Quix waits for it
        lambda partition: recover(
            reader,
            changelog,
            partition,
            stateful_topics(settings),
            settings.broker_timeout_s,
            settings.broker_outage_s,
        ),
        # values left alone for an eighth of the interval are written before the checkpoint: a shorter pause
        idle_write_s=options.commit_interval_s / 8,
    )
    app.on_released = state.forget
    if two_stage:
        app.unaligned = frozenset({internal})
    end_pass = define_pipeline(app, processor, inputs, outputs, output, state, limits)
    app.end_pass = end_pass
    return Built(app, processor, state, reader, output, end_pass)


def stateful_topics(settings: Settings) -> tuple[str, ...]:
    """The inputs whose partition p share one state (and whose committed offsets say which changelog
    records count): auctions and bids; with two stages also users and the internal topic."""
    if settings.stream_topology == "two-stage":
        return (*INPUT_TOPICS, bidder_topic(settings.consumer_group))
    return STATEFUL_TOPICS


def output_budget_of(settings: Settings) -> int:
    """Bytes an internal record may take (AUCTION_MAX_MESSAGE_BYTES less a record's overhead)."""
    from pipelines.stream.letters import output_budget

    return output_budget(settings.max_message_bytes)


def output_limits(settings: Settings, address: str) -> dict[str, int]:
    """Bytes each output topic's records may take: AUCTION_MAX_MESSAGE_BYTES or the topic's own smaller
    ``max.message.bytes`` (when the broker reports it), less a record's overhead."""
    from pipelines.infra.topics import describe_topics
    from pipelines.stream.letters import output_budget

    found = {info.name: info.config for info in describe_topics(address, settings.broker_timeout_s)}
    limits = {}
    for name in OUTPUT_TOPICS:
        topic_max = found.get(name, {}).get("max.message.bytes")
        limits[name] = output_budget(settings.max_message_bytes, int(topic_max) if topic_max else None)
    if limits["dead-letters"] < MIN_LETTER_BUDGET:
        raise UserError(
            f"the dead-letters topic takes records of {limits['dead-letters']} bytes at most: too few for a dead "
            f"letter (at least {MIN_LETTER_BUDGET}); raise its max.message.bytes or AUCTION_MAX_MESSAGE_BYTES"
        )
    return limits


def exit_if_stuck_after_failure(app: Any, seconds: float, exit: Callable[[int], Any] = os._exit) -> threading.Event:
    """Wrap ``app.stop``: when Quix stops because of a failure, a watchdog ends the process after ``seconds``
    unless the returned event is set first (the caller sets it once the run has shut down)."""
    stop = app.stop
    shut_down = threading.Event()

    def guarded_stop(fail: bool = False) -> None:
        if fail:

            def watchdog() -> None:
                if not shut_down.wait(seconds):
                    logging.getLogger(__name__).error(
                        "the worker failed and did not shut down in %g s: exiting", seconds
                    )
                    exit(70)

            threading.Thread(target=watchdog, name="exit-if-stuck", daemon=True).start()
        stop(fail=fail)

    app.stop = guarded_stop
    return shut_down


#: commit errors that say this consumer is no longer a member of the group's current generation (the broker
#: restarted without its group state, or the member was dropped after a session timeout): rejoining fixes them
REJOIN_ERRORS = frozenset({"UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "FENCED_INSTANCE_ID"})
#: rejoins in a row without a checkpoint committed in between before the worker gives up
MAX_REJOINS = 5


def lost_membership(exc: BaseException) -> bool:
    """``exc`` is Quix's failed offset commit because the group no longer knows this member."""
    from confluent_kafka import KafkaError
    from quixstreams.checkpointing.exceptions import CheckpointConsumerCommitError

    if not isinstance(exc, CheckpointConsumerCommitError):
        return False
    return any(exc.code == getattr(KafkaError, name, None) for name in REJOIN_ERRORS)


def run_worker(settings: Settings, address: str, options: WorkerOptions | None = None) -> WorkerSummary:
    """Run one stream worker until signalled, idle, or past ``options.stop_at``; returns what it did.

    An offset commit refused because the group lost this member (see :data:`REJOIN_ERRORS`) does not end
    the worker: it drops everything not committed, as a crash would, and joins again with a new Application.
    The partitions' next owner (this worker or another) reprocesses from the committed offsets; bronze
    and the scoring state are idempotent under that replay (the crash tests hold them to it).
    """
    import signal as signals

    options = options or WorkerOptions()
    changelog = changelog_topic(settings.consumer_group)
    ensure_topics(address, settings)
    ensure_topics(address, settings, (changelog,), compact=True)
    internal_topics: tuple[str, ...] = ()
    if settings.stream_topology == "two-stage":
        internal_topics = (bidder_topic(settings.consumer_group),)
        ensure_topics(address, settings, internal_topics)
    check_partitions(address, settings, (*TOPICS, changelog, *internal_topics))
    summary = WorkerSummary()
    remaining = dict(options.stop_at or {})
    holder: dict[str, Any] = {}

    processed, count = summary.processed, [0]
    # two stages: a bounded run ends at the inputs' end offsets *and* where the internal topic then ends
    internal = bidder_topic(settings.consumer_group) if settings.stream_topology == "two-stage" else None
    positions: dict[int, int] = {}  # internal partition -> next offset to process
    extended = [False]

    def extend_to_internal_end(starts: dict[int, int]) -> bool:
        """Once every input end offset is processed: the internal topic's ends past ``starts`` join
        ``remaining`` (the auction stage produces nothing more). True if some are left to process."""
        if internal is None or extended[0]:
            return False
        extended[0] = True
        built = holder.get("built")
        if built is not None and built.output is not None:
            built.end_pass()  # the batches of the pass under way (this is called from within it)
            built.output.flush()  # everything the auction stage produced is on the broker
        ends = end_offsets(address, internal, settings.partitions, starts, settings.broker_timeout_s)
        remaining.update({tp: end for tp, end in ends.items() if end > starts.get(tp[1], 0)})
        return bool(remaining)

    def on_processed(topic: str, partition: int, offset: int) -> None:
        if topic == internal:
            summary.internal_messages += 1
            positions[partition] = offset + 1
        else:
            processed[topic] = processed.get(topic, 0) + 1
        now = time.time()
        if not summary.first_message_at:
            summary.first_message_at = now
        summary.last_message_at = now
        count[0] += 1
        if count[0] % MARK_EVERY == 0:
            summary.marks.append(now)
        end = remaining.get((topic, partition))
        if end is not None and offset + 1 >= end:
            del remaining[(topic, partition)]
            if not remaining and not extend_to_internal_end(positions):
                summary.stopped_by = "end offsets"
                holder["app"].stop()

    logging.getLogger("quixstreams").setLevel(options.loglevel)
    if options.stop_at is not None and not remaining:
        return summary
    thresholds = gc.get_threshold()
    # The scoring state is millions of small long-lived lists and dicts: with the default thresholds
    # (700, 10, 10) the cyclic collector keeps rescanning them (~5 % of a worker's time, measured).
    gc.set_threshold(*GC_THRESHOLDS)
    log = logging.getLogger(__name__)

    def on_signal(_number: int, _frame: Any) -> None:
        holder["signalled"] = True

    try:
        in_a_row = 0
        while True:
            seen = summary.commits
            if not _run_once(settings, address, options, on_processed, holder, summary):
                break
            in_a_row = in_a_row + 1 if summary.commits == seen else 1
            summary.rejoins += 1
            if options.stop_at is not None:  # what was not committed is processed again
                done = committed_offsets(address, settings.consumer_group, settings.broker_timeout_s)
                remaining.clear()
                remaining.update({tp: end for tp, end in options.stop_at.items() if done.get(tp, 0) < end})
                extended[0] = False
                positions.clear()
                positions.update({p: offset for (topic, p), offset in done.items() if topic == internal})
                if not remaining and not extend_to_internal_end(positions):
                    summary.stopped_by = "end offsets"
                    break
            if in_a_row > MAX_REJOINS:
                raise UserError(
                    f"the consumer group {settings.consumer_group} at {address} dropped this worker {in_a_row} times "
                    "in a row (each time an offset commit was refused, none went through in between): the worker "
                    "stopped (what it had not committed is processed again when it is started)"
                )
            log.warning("the group %s no longer knows this worker (commit refused): joining again (%d)",
                        settings.consumer_group, summary.rejoins)  # fmt: skip
            # until the next Application installs its own handlers a signal would reach the finished one
            for sig in (signals.SIGINT, signals.SIGTERM):
                signals.signal(sig, on_signal)
    finally:
        gc.set_threshold(*thresholds)
    return summary


def _watch_commits(app: Any, summary: WorkerSummary) -> dict[str, bool]:
    """Count in ``summary.commits`` every checkpoint of ``app`` that committed offsets (Quix starts a new one
    after each; an empty one is closed, not committed). The returned dict's ``"stopping"`` says whether the
    app was already stopping when a commit failed (its last checkpoint, after a signal or the idle timeout)."""
    context = app._processing_context
    commit = context.commit_checkpoint
    failed = {"stopping": False}

    def counted(force: bool = False, revoking: bool = False) -> None:
        checkpoint = context.checkpoint
        stored = not checkpoint.empty()
        try:
            commit(force=force, revoking=revoking)
        except Exception:
            failed["stopping"] = not app._run_tracker.running
            raise
        if stored and context.checkpoint is not checkpoint:
            summary.commits += 1

    context.commit_checkpoint = counted
    return failed


def _run_once(
    settings: Settings,
    address: str,
    options: WorkerOptions,
    on_processed: Callable[[str, int, int], None],
    holder: dict[str, Any],
    summary: WorkerSummary,
) -> bool:
    """One Application from join to stop, its counts added to ``summary``; True if the group lost the member."""
    from quixstreams.kafka.exceptions import KafkaBrokerUnavailableError

    from pipelines.stream.state import BrokerUnreachable

    state_dir = _private_state_dir(settings)
    built = build_application(settings, address, state_dir, options, on_processed)
    app = built.app
    shut_down = None
    if options.fail_exit_after_s is not None:
        shut_down = exit_if_stuck_after_failure(app, options.fail_exit_after_s)
    holder["app"], holder["built"] = app, built
    failed = _watch_commits(app, summary)
    if options.on_ready is not None:
        options.on_ready(app)
    rejoin = False
    try:
        if holder.get("signalled"):  # between two Applications (a rejoin)
            return False
        # collect=False: with a timeout Quix otherwise keeps every message's final value in a list (memory)
        try:
            app.run(timeout=options.idle_timeout_s, collect=False)
        finally:
            if summary.stopped_by == "signal" and options.idle_timeout_s:
                summary.stopped_by = "idle"
    except (KafkaBrokerUnavailableError, BrokerUnreachable) as exc:
        raise UserError(
            f"the broker at {address} was unreachable for more than AUCTION_BROKER_OUTAGE_S="
            f"{settings.broker_outage_s:g} s, the worker stopped (what it had not committed is processed "
            f"again when it is started): {str(exc).split('. ')[0]}"
        ) from None
    except Exception as exc:
        if not lost_membership(exc):
            raise
        # asked to stop (signal, idle): the last checkpoint is left to the partitions' next owner; a bounded
        # run (stop_at) joins again until its end offsets are committed
        rejoin = not failed["stopping"] or options.stop_at is not None
        if not rejoin:
            logging.getLogger(__name__).warning(
                "the group %s no longer knows this worker: its last checkpoint was not committed (it is "
                "processed again by the partitions' next owner)",
                settings.consumer_group,
            )
    finally:
        if shut_down is not None:
            shut_down.set()
        built.reader.close()
        built.processor.sink.close()
        release_producers(built)
        shutil.rmtree(state_dir, ignore_errors=True)
        summary.bronze_files += built.processor.sink.files_written
        summary.state_recoveries += built.state.recoveries
        summary.state_releases += built.state.releases
        summary.state_records += built.state.records_written
        summary.state_records_early += built.state.records_written_early
        summary.bronze_early_ranges += built.processor.sink.early_ranges
    return rejoin
