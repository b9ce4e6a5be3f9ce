"""The stream worker's processing: validate each input, score bids, route outputs, feed bronze.

:func:`define_pipeline` builds the Quix graph and nothing else (the runtime lives in ``app/stream.py``).
The graph is deliberately short, because Quix's per-operation overhead dominates at tens of thousands of
messages per second: one ``update`` per input stream does all the work (:meth:`Processor.process`), which
returns ``(topic, key, value bytes)`` records that go straight to the outputs' producer
(:class:`pipelines.stream.outputs.OutputProducer`, no ``to_topic``). ``auctions`` and ``bids`` (both keyed by
``auction_id``, so co-partitioned) are concatenated into one stream whose state per partition
(:class:`pipelines.stream.state.StateCache`, with its own changelog topic) lets a bid see its auction's window,
seller and category. Quix then consumes the two topics
aligned by message timestamp, so an auction's opening is processed before its bids even when they sit in
different fetches; that alignment costs a few microseconds per message and some latency (it waits for a
partition's high watermark when its buffer runs dry), a price paid for deterministic validation.

Invalid input never crashes the worker and is never dropped: it becomes a :class:`DeadLetter`
(``dead-letters``) carrying the raw value, its source topic/partition/offset and the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from pydantic import ValidationError
from quixstreams import Application, message_context
from quixstreams.models import Topic

from pipelines.contracts import (
    DAY_MS,
    EPOCH,
    SCHEMA_VERSION,
    TOPIC_KEYS,
    TOPIC_MODELS,
    Alert,
    Event,
    to_epoch_ms,
)
from pipelines.stream.bronze import BronzeSink, RangeBuffer, epoch_day
from pipelines.stream.fastpath import fast_auction, fast_bid, fast_user
from pipelines.stream.letters import fit_letter, output_budget, raw_facts, raw_text
from pipelines.stream.outputs import BATCH_BYTES, InternalBatches, OutputProducer
from pipelines.stream.refusals import Overflow, header_bytes
from pipelines.stream.score import MemoryStores, Scored, Stores, UserDirectory, alert_id, on_auction, on_bid
from pipelines.stream.stages import (
    auction_bid,
    auction_event,
    bid_fields,
    bidder_record,
    bidder_user,
    close_fields,
    parse_record,
    single_record,
    split_batch,
)
from pipelines.stream.state import StateCache

#: what the processing step emits: (output topic, key, serialized value), and the output's timestamp when it is
#: not the input message's (the records of an internal batch keep each their own input's)
Plain = tuple[str, bytes | None, bytes]
Out = Plain | tuple[str, bytes | None, bytes, int]


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


#: where each topic's message key sits in the primitives (bids and auctions: auction_id; users: user_id)
_KEY_FIELD = {"bids": 1, "auctions": 0, "users": 0}
#: fraud_reasons as JSON, by reasons (a few hundred combinations occur)
_REASONS: dict[tuple[str, ...], bytes] = {}

#: the primitives the scoring step takes, from a validated model (what the fast path returns directly)
_FIELDS: dict[str, Callable[[Any], tuple[Any, ...]]] = {
    "bids": lambda b: (
        b.bid_id, b.auction_id, b.bidder_id, int(b.amount * 100), b.currency, to_epoch_ms(b.bid_time), b.channel,
        b.device_id, to_epoch_ms(b.event_time),
    ),
    "auctions": lambda a: (
        a.auction_id, a.seller_id, a.category, int(a.start_price * 100), a.currency, to_epoch_ms(a.start_time),
        to_epoch_ms(a.end_time), a.status, a.winner_id, to_epoch_ms(a.event_time),
    ),
    "users": lambda u: (
        u.user_id, None if u.signup_time is None else to_epoch_ms(u.signup_time), to_epoch_ms(u.event_time),
    ),
}  # fmt: skip


def _slow_path(topic: str, value: bytes | None) -> tuple[bytes, tuple[Any, ...]] | str:
    """Validate with the contract: the value in canonical form and its primitives, or why it is invalid."""
    event = decode(topic, value)
    if isinstance(event, str):
        return event
    try:
        canonical = event.model_dump_json().encode()
    except ValueError as exc:  # e.g. a lone surrogate in a string: valid JSON, not storable text
        return f"cannot be stored as text: {exc}"
    return canonical, _FIELDS[topic](event)


def scored_value(value: bytes, score: float, reasons: list[str]) -> bytes:
    """A validated bid's JSON plus its score and reasons: the ``bids-scored`` value, without re-serializing
    the bid (its canonical JSON object ends with ``}``)."""
    reasons_json = _REASONS.get(tuple(reasons))
    if reasons_json is None:
        reasons_json = _REASONS[tuple(reasons)] = orjson.dumps(reasons)
    return value.rstrip()[:-1] + b',"fraud_score":%r,"fraud_reasons":%b}' % (score, reasons_json)


class Processor:
    """Per-message work for every input topic; pure apart from the bronze buffers it appends to.

    The fast path (:mod:`pipelines.stream.fastpath`) takes canonical messages -- practically all of them -- to the
    primitives the scoring step needs without building a model; anything else goes through the pydantic
    contract, which either explains what is wrong (a dead letter) or accepts an unusual but valid spelling
    that is then stored in its canonical form.
    """

    def __init__(
        self, sink: BronzeSink, users: UserDirectory | None = None, letter_budget: int = output_budget(1_000_000)
    ) -> None:
        self.sink = sink
        self.users = users or UserDirectory()
        self.letter_budget = letter_budget
        """Bytes a dead letter (key + value) may take on the topic: a longer one is cut (the lake keeps it)."""
        self.steps = {"bids": self._bid, "auctions": self._auction, "users": self._user}

    def process(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        return self.steps[topic](partition, offset, key, value, ts, stores)

    def _validated(
        self,
        topic: str,
        fast: Callable[[bytes], Any],
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        ts: int,
    ) -> tuple[RangeBuffer, str | None, bytes, tuple[Any, ...]] | list[Out]:
        """(bronze buffer, key text, canonical value, primitives) of a valid message, or its dead letter."""
        buffer = self.sink.note(topic, partition, offset)
        key_text = key.decode("utf-8", "replace") if key is not None else None
        fields = fast(value) if value is not None else None
        if fields is None:
            checked = _slow_path(topic, value)
            if isinstance(checked, str):
                return [self._dead_letter(topic, partition, offset, key, key_text, value, ts, checked, buffer)]
            value, fields = checked
        assert value is not None
        if key_text != fields[_KEY_FIELD[topic]]:
            error = f"message key {key_text!r} is not the event's {TOPIC_KEYS[topic]}"
            return [self._dead_letter(topic, partition, offset, key, key_text, value, ts, error, buffer)]
        return buffer, key_text, value, fields

    def _bid(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        checked = self._validated("bids", fast_bid, partition, offset, key, value, ts)
        if isinstance(checked, list):
            return checked
        buffer, key_text, value, fields = checked
        bid_id, auction_id, bidder_id, cents, currency, t_ms, channel, device_id, event_ms = fields
        outcome = on_bid(bid_id, auction_id, bidder_id, cents, currency, t_ms, channel, device_id, stores, self.users)
        if isinstance(outcome, str):
            return [self._dead_letter("bids", partition, offset, key, key_text, value, ts, outcome, buffer)]
        scored = scored_value(value, outcome.fraud_score, outcome.fraud_reasons)
        buffer.add_json("bids", scored, offset, ts)  # bronze's bids and bids-scored both come from it
        outs: list[Out] = [("bids-scored", key, scored)]
        if outcome.alert_stats is not None:
            day = event_ms // DAY_MS
            outs.append(self._alert(bidder_id, auction_id, t_ms, outcome, buffer, offset, key_text, ts, day))
        return outs

    def _auction(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        checked = self._validated("auctions", fast_auction, partition, offset, key, value, ts)
        if isinstance(checked, list):
            return checked
        buffer, key_text, value, fields = checked
        auction_id, seller_id, category, start_cents, currency, start_ms, end_ms, status, winner_id, _ = fields
        closed = status == "closed"
        error = on_auction(
            auction_id, seller_id, category, start_cents, currency, start_ms, end_ms, closed, winner_id, stores
        )
        if error is not None:
            return [self._dead_letter("auctions", partition, offset, key, key_text, value, ts, error, buffer)]
        buffer.add_json("auctions", value, offset, ts)
        return []

    def _user(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        checked = self._validated("users", fast_user, partition, offset, key, value, ts)
        if isinstance(checked, list):
            return checked
        buffer, _, value, (user_id, signup_ms, _) = checked
        self.users.add(user_id, signup_ms)
        buffer.add_json("users", value, offset, ts)
        return []

    def _alert(
        self,
        bidder_id: str,
        auction_id: str,
        t_ms: int,
        scored: Scored,
        buffer: RangeBuffer,
        offset: int,
        key_text: str | None,
        ts: int,
        day: int,
    ) -> Plain:
        ident = alert_id(bidder_id, auction_id)
        bid_time = EPOCH + dt.timedelta(milliseconds=t_ms)
        alert: dict[str, Any] = {
            "event_id": ident,
            "event_time": bid_time,
            "schema_version": SCHEMA_VERSION,
            "alert_id": ident,
            "bidder_id": bidder_id,
            "auction_id": auction_id,
            "score": scored.fraud_score,
            "reasons": scored.fraud_reasons,
            "window_start": EPOCH + dt.timedelta(milliseconds=scored.window_start_ms),
            "window_end": bid_time,
            "stats": scored.alert_stats,
            "alert_time": bid_time,
        }
        text = Alert.model_construct(**alert).model_dump_json()
        row = {**alert, "stats": json.dumps(scored.alert_stats, sort_keys=True)}
        buffer.add("fraud-alerts", row, offset, key_text, ts, day)
        return ("fraud-alerts", bidder_id.encode(), text.encode())

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
        suffix: str = "",
    ) -> Plain:
        text, encoding = raw_text(value)
        moment = EPOCH + dt.timedelta(milliseconds=ts)
        size, sha256 = raw_facts(value)
        fields = {
            "event_id": f"dl-{self.sink.runs[topic]}-{partition}-{offset}{suffix}",
            "event_time": moment,
            "schema_version": SCHEMA_VERSION,
            "key": key_text,
            "raw_value": text,
            "encoding": encoding,
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "error": error,
            "raw_size": size,
            "raw_sha256": sha256,
            "truncated": False,
        }
        buffer.add("dead-letters", fields, offset, key_text, ts, epoch_day(moment))  # the whole raw value
        out_key, letter = fit_letter(fields, key, self.letter_budget)
        return ("dead-letters", out_key, letter)

    def refused(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        ts: int,
        output: str,
        error: str,
    ) -> Plain:
        """The dead letter of an input whose ``output`` the broker refuses (its bronze row included): the
        input's other rows stay in bronze, the letter says what the output topic lacks."""
        buffer = self.sink.buffer(topic, partition)
        key_text = key.decode("utf-8", "replace") if key is not None else None
        reason = f"its {output} output was refused: {error}"
        return self._dead_letter(topic, partition, offset, key, key_text, value, ts, reason, buffer, f"-{output}")


#: the name the internal topic goes by in a processor's outputs (the real name is per consumer group)
BY_BIDDER = "bids-by-bidder"


class TwoStageProcessor(Processor):
    """The two-stage topology's per-message work (:mod:`pipelines.stream.stages`).

    Auction stage: ``auctions`` and ``bids`` (keyed by auction) are validated as in one stage; a valid bid
    goes to bronze ``bids`` as it came and on to the internal topic with its auction features -- into
    ``batches`` (one message per partition and pass), or without them as a ``BY_BIDDER`` output keyed by
    bidder; a close sends each bidder's participation. Bidder stage: ``users`` (signup times) and the internal
    topic (partitioned by bidder, co-partitioned with users) give ``bids-scored`` and ``fraud-alerts``, in
    bronze by the internal topic's offsets. An internal record that is not one of ours (never written by this
    worker) is dead-lettered like any bad input.
    """

    def __init__(
        self, sink: BronzeSink, internal: str, letter_budget: int = output_budget(1_000_000), partitions: int = 1
    ) -> None:
        super().__init__(sink, None, letter_budget)
        self.internal = internal
        """The internal topic's real name (its offsets name the bidder stage's bronze files)."""
        self.partitions = partitions
        """The internal topic's partitions (those of ``users``): its records are batched by partition."""
        self.batches: InternalBatches | None = None
        """Where the auction stage's records go (:func:`define_pipeline` sets it); None: each is an output of
        its own (``BY_BIDDER``, keyed by bidder), as the tests route them."""
        self.steps = {"bids": self._stage_bid, "auctions": self._stage_auction, "users": self._stage_user,
                      internal: self._stage_record}  # fmt: skip

    def _stage_bid(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        checked = self._validated("bids", fast_bid, partition, offset, key, value, ts)
        if isinstance(checked, list):
            return checked
        buffer, key_text, value, fields = checked
        bid_id, auction_id, bidder_id, cents, currency, t_ms, channel, device_id, event_ms = fields
        features = auction_bid(bid_id, auction_id, bidder_id, cents, currency, t_ms, stores)
        if isinstance(features, str):
            return [self._dead_letter("bids", partition, offset, key, key_text, value, ts, features, buffer)]
        buffer.add_json("bids", value, offset, ts)
        head = bid_fields(f"bids:{partition}", offset, auction_id, t_ms, event_ms, channel, device_id, features)
        if self.batches is not None and self.batches.add(bidder_id, head, value, ts):
            return []
        return [(BY_BIDDER, bidder_id.encode(), single_record(head, value))]

    def _stage_auction(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        checked = self._validated("auctions", fast_auction, partition, offset, key, value, ts)
        if isinstance(checked, list):
            return checked
        buffer, key_text, value, fields = checked
        auction_id, seller_id, category, start_cents, currency, start_ms, end_ms, status, winner_id, _ = fields
        outcome = auction_event(
            auction_id, seller_id, category, start_cents, currency, start_ms, end_ms, status == "closed", winner_id,
            stores,
        )  # fmt: skip
        if isinstance(outcome, str):
            return [self._dead_letter("auctions", partition, offset, key, key_text, value, ts, outcome, buffer)]
        buffer.add_json("auctions", value, offset, ts)
        source = f"auctions:{partition}"
        outs: list[Out] = []
        for index, (bidder, won) in enumerate(outcome):
            head = close_fields(source, offset, index, auction_id, won)
            if self.batches is None or not self.batches.add(bidder, head, b"", ts):
                outs.append((BY_BIDDER, bidder.encode(), single_record(head)))
        return outs

    def _stage_user(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        checked = self._validated("users", fast_user, partition, offset, key, value, ts)
        if isinstance(checked, list):
            return checked
        buffer, _, value, (user_id, signup_ms, _) = checked
        bidder_user(user_id, signup_ms, stores)
        buffer.add_json("users", value, offset, ts)
        return []

    def _stage_record(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, ts: int, stores: Stores
    ) -> list[Out]:
        """A message of the internal topic: a batch of records (no key, :func:`stages.batch_value`) or, as
        written before batches, one record keyed by its bidder."""
        topic = self.internal
        buffer = self.sink.note(topic, partition, offset)
        outs: list[Out] = []
        if key is None:
            for index, item in enumerate(split_batch(value)):
                self._apply(partition, offset, item.bidder, item.record, item.raw, item.timestamp, stores, buffer,
                            outs, f"-{index}")  # fmt: skip
            return outs
        key_text = key.decode("utf-8", "replace")
        self._apply(partition, offset, key_text, parse_record(value), value, ts, stores, buffer, outs, "", key)
        return outs

    def _apply(
        self,
        partition: int,
        offset: int,
        bidder: str | None,
        parsed: tuple[list[Any], bytes] | str,
        raw: Any,
        ts: int,
        stores: Stores,
        buffer: RangeBuffer,
        outs: list[Out],
        suffix: str,
        key: bytes | None = None,
    ) -> None:
        """One internal record in the bidder stage: its score and alert into ``outs``, or its dead letter
        (``suffix`` tells the letters of one batch apart)."""
        topic = self.internal
        if isinstance(parsed, str) or bidder is None:
            error = parsed if isinstance(parsed, str) else "no key (a bidder id)"
            raw = raw if raw is None or isinstance(raw, bytes) else orjson.dumps(raw)  # a batch's item: as JSON
            outs.append((*self._dead_letter(topic, partition, offset, key, bidder, raw, ts, error, buffer, suffix), ts))
            return
        fields, bid = parsed
        try:
            scored = bidder_record(bidder, fields, stores)
        except (TypeError, ValueError, AttributeError) as exc:  # a record of the right shape, wrong types
            error = f"not an internal record: {exc}"
            raw = raw if raw is None or isinstance(raw, bytes) else orjson.dumps(raw)
            outs.append((*self._dead_letter(topic, partition, offset, key, bidder, raw, ts, error, buffer, suffix), ts))
            return
        if scored is None:  # a close, or a record replayed by the auction stage (applied before)
            return
        value = scored_value(bid, scored.fraud_score, scored.fraud_reasons)
        buffer.add_json(topic, value, offset, ts)
        auction_id = fields[4]
        outs.append(("bids-scored", auction_id.encode(), value, ts))
        if scored.alert_stats is not None:
            day = fields[6] // DAY_MS
            alert = self._alert(bidder, auction_id, fields[5], scored, buffer, offset, bidder, ts, day)
            outs.append((*alert, ts))


def define_pipeline(
    app: Application,
    processor: Processor,
    inputs: Mapping[str, Topic],
    outputs: Mapping[str, Topic],
    producer: OutputProducer,
    state: StateCache,
    limits: Mapping[str, int] | None = None,
) -> Callable[[], None]:
    """Build the graph: users -> process -> outputs; auctions+bids (one stateful stream) -> process -> outputs.
    Returns what the worker must call at the end of every pass over its messages (and before a bounded run
    waits for the internal topic): it sends the pass's internal batches (:class:`InternalBatches`).

    With a :class:`TwoStageProcessor` (``inputs`` then hold its internal topic, ``outputs`` ``BY_BIDDER``):
    auctions+bids+users+internal topic, one stream whose state per partition number holds both stages'.

    ``state`` holds the auctions+bids stream's state per partition and writes its changelog through
    ``producer``; ``producer`` carries the outputs. ``limits``: bytes (key + value + headers) each output
    may take (default: what a 1 MB broker limit leaves, :func:`pipelines.stream.letters.output_budget`); an output
    over it, or one ``produce()`` refuses, goes to :class:`pipelines.stream.refusals.Overflow` (a dead letter).
    """
    users = app.dataframe(inputs["users"])
    events = app.dataframe(inputs["auctions"]).concat(app.dataframe(inputs["bids"]))
    two_stage = isinstance(processor, TwoStageProcessor)
    if two_stage:  # users and the internal topic are keyed by user: both feed the bidder stage's state
        assert isinstance(processor, TwoStageProcessor)
        events = events.concat(users).concat(app.dataframe(inputs[processor.internal]))
    context, sink = events.processing_context, processor.sink
    # Each is flushed by every checkpoint, in this order, before the offsets are committed: bronze files,
    # the state's changelog records, then the producer that carries outputs and changelog alike. (Writing
    # bronze while the changelog is produced was measured: no shorter pause, the GIL and 2 cores are shared.)
    for checkpointed in (sink, state, producer):
        context.sink_manager.register(checkpointed)

    # Outputs go straight to their producer with the input's timestamp and headers as ``to_topic`` would
    # set them: no Row, no per-record serializer or topic callback, no ``expand`` of a list into rows.
    produce = producer.produce
    names = {name: topic.name for name, topic in outputs.items()}
    steps = processor.steps
    limit = {name: output_budget(1_000_000) for name in outputs} | dict(limits or {})
    overflow = Overflow(produce, names, limit, processor.refused)

    batches = None
    if two_stage:
        assert isinstance(processor, TwoStageProcessor)
        batches = processor.batches = InternalBatches(
            produce, names[BY_BIDDER], processor.partitions, min(BATCH_BYTES, limit[BY_BIDDER] // 2)
        )
    seen = [0]

    def on_event(value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> None:
        msg = message_context()
        topic, partition, offset = msg.topic, msg.partition, msg.offset
        stores = state.stores(partition)
        stores.offsets[topic] = offset
        extra = header_bytes(headers) if headers else 0
        for out in steps[topic](partition, offset, key, value, timestamp, stores):
            name, out_key, payload = out[0], out[1], out[2]
            out_ts = out[3] if len(out) == 4 else timestamp
            if len(payload) + extra <= limit[name]:
                error = produce(names[name], out_key, payload, out_ts, headers or None)
                if error is None:
                    continue
            else:
                error = None
            overflow(name, out_key, payload, (topic, partition, offset, key, value, timestamp), headers, error)
        if sink.full(topic, partition):
            sink.flush_partition_async(topic, partition)
        seen[0] += 1
        if not seen[0] & 511:  # every 512 messages: is it time to write old ranges, state left alone a while?
            lag_s = time.time() - timestamp / 1000  # how far behind its producers the worker is
            sink.tick(lag_s)
            state.tick(lag_s)

    no_state = MemoryStores()  # users are processed without state: never read

    def on_user(value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> None:
        msg = message_context()
        topic, partition, offset = msg.topic, msg.partition, msg.offset
        extra = header_bytes(headers) if headers else 0
        for out in steps[topic](partition, offset, key, value, timestamp, no_state):
            name, out_key, payload = out[0], out[1], out[2]  # one stage: users give dead letters at most
            error = None
            if len(payload) + extra <= limit[name]:
                error = produce(names[name], out_key, payload, timestamp, headers or None)
                if error is None:
                    continue
            overflow(name, out_key, payload, (topic, partition, offset, key, value, timestamp), headers, error)
        if sink.full(topic, partition):
            sink.flush_partition_async(topic, partition)

    if not two_stage:
        users.update(on_user, metadata=True)
    events.update(on_event, metadata=True)
    return batches.flush if batches is not None else _nothing


def _nothing() -> None:
    """The end of a pass with nothing to send (one stage)."""
