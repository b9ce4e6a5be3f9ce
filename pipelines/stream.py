"""The stream worker's processing: validate each input, score bids, route outputs, feed bronze.

:func:`define_pipeline` builds the Quix graph and nothing else (the runtime lives in ``app/stream.py``).
The graph is deliberately short, because Quix's per-operation overhead dominates at tens of thousands of
messages per second: one ``apply`` per input stream does all the work (:meth:`Processor.process`) and
returns ``(topic, key, value bytes)`` records, and one ``to_topic`` routes them. ``auctions`` and
``bids`` (both keyed by ``auction_id``, so co-partitioned) are concatenated into one stream with one
state store, so a bid sees its auction's window, seller and category.

Invalid input never crashes the worker and is never dropped: it becomes a :class:`DeadLetter`
(``dead-letters``) carrying the raw value, its source topic/partition/offset and the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from quixstreams import Application, message_context
from quixstreams.models import Topic
from quixstreams.models.serializers import Serializer
from quixstreams.sinks import BaseSink

from pipelines.bronze import BronzeSink
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
        buffers = self.sink.note(topic, partition, offset)
        key_text = key.decode("utf-8", "replace") if key is not None else None
        meta = {
            "_broker_run": self.sink.runs[topic],
            "_partition": partition,
            "_offset": offset,
            "_key": key_text,
            "_ingest_time": EPOCH + dt.timedelta(milliseconds=ts),
        }
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
            return [self._dead_letter(topic, partition, offset, key, key_text, value, ts, str(outcome), buffers, meta)]
        buffers[topic].append({**event.model_dump(), **meta})
        if not isinstance(event, Bid) or not isinstance(outcome, Scored):
            return []
        return self._scored(event, outcome, key, buffers, meta)

    def _scored(
        self,
        bid: Bid,
        scored: Scored,
        key: bytes | None,
        buffers: dict[str, list[dict[str, Any]]],
        meta: dict[str, Any],
    ) -> list[Out]:
        reasons = json.dumps(scored.fraud_reasons)
        body = bid.model_dump_json()
        payload = f'{body[:-1]},"fraud_score":{scored.fraud_score!r},"fraud_reasons":{reasons}}}'.encode()
        row = buffers["bids"][-1]
        buffers["bids-scored"].append({**row, "fraud_score": scored.fraud_score, "fraud_reasons": scored.fraud_reasons})
        outs: list[Out] = [("bids-scored", key, payload)]
        if scored.alert_stats is not None:
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
            buffers["fraud-alerts"].append({**alert, "stats": json.dumps(scored.alert_stats, sort_keys=True), **meta})
            outs.append(("fraud-alerts", bid.bidder_id.encode(), text.encode()))
        return outs

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
        buffers: dict[str, list[dict[str, Any]]],
        meta: dict[str, Any],
    ) -> Out:
        text, encoding = raw_text(value)
        letter = DeadLetter.model_construct(
            event_id=f"dl-{self.sink.runs[topic]}-{partition}-{offset}",
            event_time=EPOCH + dt.timedelta(milliseconds=ts),
            schema_version=SCHEMA_VERSION,
            key=key_text,
            raw_value=text,
            encoding=encoding,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            error=error,
        )
        buffers["dead-letters"].append({**letter.model_dump(), **meta})
        return ("dead-letters", key, letter.model_dump_json().encode())


class StateCache(BaseSink):
    """Write-back cache over the Quix store: state lives here between checkpoints and is written once per key.

    Setting a key in Quix state costs a serialization and a transaction-cache update; a hot auction or
    bidder would pay that on every bid. Instead the values are kept as Python objects and written to the
    partition's store transaction when Quix flushes its sinks -- step 1 of a checkpoint, before the
    changelog is produced and offsets are committed -- and the cache is then emptied, so it never
    outlives a checkpoint (a crash loses it together with the uncommitted offsets it belongs to).
    """

    def __init__(self, context: Any, stream_id: str) -> None:
        super().__init__()
        self._context = context
        self._stream_id = stream_id
        self._values: dict[int, dict[tuple[str, str], Any]] = {}
        self._dirty: dict[int, dict[tuple[str, str], None]] = {}

    def _transaction(self, partition: int) -> Any:
        return self._context.checkpoint.get_store_transaction(stream_id=self._stream_id, partition=partition)

    def stores(self, partition: int) -> Stores:
        values = self._values.setdefault(partition, {})
        dirty = self._dirty.setdefault(partition, {})
        return lambda prefix: _CachedView(self, partition, prefix, values, dirty)

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - fed through stores()
        raise NotImplementedError

    def flush(self) -> None:
        for partition, dirty in self._dirty.items():
            if not dirty:
                continue
            values, tx = self._values[partition], self._transaction(partition)
            for prefix, key in dirty:
                tx.set(key=key, value=values[(prefix, key)], prefix=prefix.encode())
        self._values.clear()
        self._dirty.clear()

    def on_paused(self) -> None:
        self._values.clear()
        self._dirty.clear()


_MISSING = object()


class _CachedView:
    __slots__ = ("_cache", "_dirty", "_partition", "_prefix", "_values")

    def __init__(
        self, cache: StateCache, partition: int, prefix: str, values: dict[Any, Any], dirty: dict[Any, None]
    ) -> None:
        self._cache, self._partition, self._prefix, self._values, self._dirty = cache, partition, prefix, values, dirty

    def get(self, key: str, default: Any = None) -> Any:
        value = self._values.get((self._prefix, key), _MISSING)
        if value is _MISSING:
            tx = self._cache._transaction(self._partition)
            value = self._values[(self._prefix, key)] = tx.get(key=key, prefix=self._prefix.encode())
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        self._values[(self._prefix, key)] = value
        self._dirty[(self._prefix, key)] = None


class PayloadSerializer(Serializer):
    """Serializes an :data:`Out` record: its value bytes were made by the processing step."""

    def __call__(self, value: Out, ctx: Any) -> bytes:
        return value[2]


class RawKeySerializer(Serializer):
    def __call__(self, value: bytes, ctx: Any) -> bytes:
        return value


def define_pipeline(
    app: Application, processor: Processor, inputs: Mapping[str, Topic], outputs: Mapping[str, Topic]
) -> None:
    """Build the graph: users -> process -> outputs; auctions+bids (one stateful stream) -> process -> outputs."""
    users = app.dataframe(inputs["users"])
    events = app.dataframe(inputs["auctions"]).concat(app.dataframe(inputs["bids"]))
    events.register_store()
    context, sink = events.processing_context, processor.sink
    state = StateCache(context, events.stream_id)
    context.sink_manager.register(sink)
    context.sink_manager.register(state)

    def on_event(value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> list[Out]:
        msg = message_context()
        out = processor.process(
            msg.topic, msg.partition, msg.offset, key, value, timestamp, state.stores(msg.partition)
        )
        if sink.full(msg.topic, msg.partition):
            sink.flush_partition(msg.topic, msg.partition)
        return out

    def on_user(value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> list[Out]:
        msg = message_context()
        out = processor.process(msg.topic, msg.partition, msg.offset, key, value, timestamp, _no_state)
        if sink.full(msg.topic, msg.partition):
            sink.flush_partition(msg.topic, msg.partition)
        return out

    def route(value: Out, key: Any, timestamp: int, headers: Any) -> Topic:
        return outputs[value[0]]

    for sdf, handler in ((users, on_user), (events, on_event)):
        sdf.apply(handler, metadata=True, expand=True).to_topic(route, key=lambda value: value[1])


def _no_state(prefix: str) -> Any:
    raise RuntimeError("users are processed without state")
