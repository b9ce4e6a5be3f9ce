"""The stream worker's processing: validate each input, score bids, route outputs, feed bronze.

:func:`define_pipeline` builds the Quix graph and nothing else (the runtime lives in ``app/stream.py``).
The graph is deliberately short, because Quix's per-operation overhead dominates at tens of thousands of
messages per second: one ``update`` per input stream does all the work (:meth:`Processor.process`), which
returns ``(topic, key, value bytes)`` records that go straight to Quix's producer (no ``to_topic``). ``auctions`` and
``bids`` (both keyed by ``auction_id``, so co-partitioned) are concatenated into one stream with one
state store, so a bid sees its auction's window, seller and category. Quix then consumes the two topics
aligned by message timestamp, so an auction's opening is processed before its bids even when they sit in
different fetches; that alignment costs a few microseconds per message and some latency (it waits for a
partition's high watermark when its buffer runs dry), a price paid for deterministic validation.

Invalid input never crashes the worker and is never dropped: it becomes a :class:`DeadLetter`
(``dead-letters``) carrying the raw value, its source topic/partition/offset and the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import ValidationError
from quixstreams import Application, message_context
from quixstreams.models import Topic
from quixstreams.state.memory import MemoryStore

from pipelines.bronze import BronzeSink, RangeBuffer, epoch_day
from pipelines.contracts import (
    EPOCH,
    SCHEMA_VERSION,
    TOPIC_KEYS,
    TOPIC_MODELS,
    Alert,
    Auction,
    Bid,
    DeadLetter,
    Event,
    User,
)
from pipelines.score import Scored, Stores, UserDirectory, alert_id, on_auction, on_bid
from pipelines.state import StateCache

#: what the processing step emits: (output topic, key, serialized value)
Out = tuple[str, bytes | None, bytes]


def decode(topic: str, value: bytes | None) -> Event | str:
    """The value parsed and validated against the topic's contract, or the reason it is invalid."""
    if value is None:
        return "empty value (tombstone)"
    try:
        return TOPIC_MODELS[topic].model_validate_json(value)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False)[:3]:
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}" if where else err["msg"])
        return "; ".join(problems)


def raw_text(value: bytes | None) -> tuple[str, str]:
    """The raw value as text when it is UTF-8, else base64: ``(text, encoding)``."""
    if value is None:
        return "", "utf-8"
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


class Processor:
    """Per-message work for every input topic; pure apart from the bronze buffers it appends to."""

    def __init__(self, sink: BronzeSink, users: UserDirectory | None = None) -> None:
        self.sink = sink
        self.users = users or UserDirectory()

    def process(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        buffer = self.sink.note(topic, partition, offset)
        key_text = key.decode("utf-8", "replace") if key is not None else None
        event = decode(topic, value)
        outcome: Scored | str | None = event if isinstance(event, str) else None
        if isinstance(event, Event):
            if key_text != getattr(event, TOPIC_KEYS[topic]):
                outcome = f"message key {key_text!r} is not the event's {TOPIC_KEYS[topic]}"
            elif isinstance(event, Bid):
                outcome = on_bid(event, stores, self.users)
            elif isinstance(event, Auction):
                outcome = on_auction(event, stores)
            elif isinstance(event, User):
                self.users.add(event)
        if isinstance(outcome, str) or not isinstance(event, Event):
            return [self._dead_letter(topic, partition, offset, key, key_text, value, ts, str(outcome), buffer)]
        day = epoch_day(event.event_time)
        if not isinstance(event, Bid) or not isinstance(outcome, Scored):
            buffer.add(topic, event.__dict__, offset, key_text, ts, day)
            return []
        values = {**event.__dict__, "fraud_score": outcome.fraud_score, "fraud_reasons": outcome.fraud_reasons}
        buffer.add("bids", values, offset, key_text, ts, day)
        # the validated input plus two fields: no re-serialization of the bid (a JSON object ends with "}")
        reasons = orjson.dumps(outcome.fraud_reasons).decode()
        payload = (value or b"").rstrip()[
            :-1
        ] + f',"fraud_score":{outcome.fraud_score!r},"fraud_reasons":{reasons}}}'.encode()
        outs: list[Out] = [("bids-scored", key, payload)]
        if outcome.alert_stats is not None:
            outs.append(self._alert(event, outcome, buffer, offset, key_text, ts, day))
        return outs

    def _alert(
        self, bid: Bid, scored: Scored, buffer: RangeBuffer, offset: int, key_text: str | None, ts: int, day: int
    ) -> Out:
        ident = alert_id(bid.bidder_id, bid.auction_id)
        alert: dict[str, Any] = {
            "event_id": ident,
            "event_time": bid.bid_time,
            "schema_version": SCHEMA_VERSION,
            "alert_id": ident,
            "bidder_id": bid.bidder_id,
            "auction_id": bid.auction_id,
            "score": scored.fraud_score,
            "reasons": scored.fraud_reasons,
            "window_start": EPOCH + dt.timedelta(milliseconds=scored.window_start_ms),
            "window_end": bid.bid_time,
            "stats": scored.alert_stats,
            "alert_time": bid.bid_time,
        }
        text = Alert.model_construct(**alert).model_dump_json()
        row = {**alert, "stats": json.dumps(scored.alert_stats, sort_keys=True)}
        buffer.add("fraud-alerts", row, offset, key_text, ts, day)
        return ("fraud-alerts", bid.bidder_id.encode(), text.encode())

    def _dead_letter(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        key_text: str | None,
        value: bytes | None,
        ts: int,
        error: str,
        buffer: RangeBuffer,
    ) -> Out:
        text, encoding = raw_text(value)
        moment = EPOCH + dt.timedelta(milliseconds=ts)
        letter = DeadLetter.model_construct(
            event_id=f"dl-{self.sink.runs[topic]}-{partition}-{offset}",
            event_time=moment,
            schema_version=SCHEMA_VERSION,
            key=key_text,
            raw_value=text,
            encoding=encoding,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            error=error,
        )
        buffer.add("dead-letters", letter.__dict__, offset, key_text, ts, epoch_day(moment))
        return ("dead-letters", key, letter.model_dump_json().encode())


def define_pipeline(
    app: Application, processor: Processor, inputs: Mapping[str, Topic], outputs: Mapping[str, Topic]
) -> None:
    """Build the graph: users -> process -> outputs; auctions+bids (one stateful stream) -> process -> outputs."""
    users = app.dataframe(inputs["users"])
    events = app.dataframe(inputs["auctions"]).concat(app.dataframe(inputs["bids"]))
    # In memory: the changelog is the only durable copy. A RocksDB store kept across a rebalance or a
    # broker restart makes Quix compare its offset with tansu's (too low) high watermark and fail with
    # InvalidStoreChangelogOffset; an in-memory partition is always rebuilt from the changelog.
    events.register_store(store_type=MemoryStore)
    context, sink = events.processing_context, processor.sink
    state = StateCache(context, events.stream_id)
    context.sink_manager.register(sink)
    context.sink_manager.register(state)

    # Outputs go straight to Quix's producer (the one its checkpoints flush before committing offsets),
    # with the input's timestamp and headers as ``to_topic`` would set them: no Row, no per-record
    # serializer or topic callback, no ``expand`` of a list into rows (measured in the README).
    produce = context.producer.produce
    names = {name: topic.name for name, topic in outputs.items()}

    def emit(records: list[Out], timestamp: int, headers: Any) -> None:
        for name, out_key, payload in records:
            produce(topic=names[name], key=out_key, value=payload, headers=headers or None, timestamp=timestamp)

    def on_event(value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> None:
        msg = message_context()
        topic, partition = msg.topic, msg.partition
        records = processor.process(topic, partition, msg.offset, key, value, timestamp, state.stores(partition))
        if records:
            emit(records, timestamp, headers)
        if sink.full(topic, partition):
            sink.flush_partition(topic, partition)

    def on_user(value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> None:
        msg = message_context()
        topic, partition = msg.topic, msg.partition
        records = processor.process(topic, partition, msg.offset, key, value, timestamp, _no_state)
        if records:
            emit(records, timestamp, headers)
        if sink.full(topic, partition):
            sink.flush_partition(topic, partition)

    users.update(on_user, metadata=True)
    events.update(on_event, metadata=True)


def _no_state(prefix: str) -> Any:
    raise RuntimeError("users are processed without state")
