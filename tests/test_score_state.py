"""The scoring step's write-back cache over a stand-in for Quix's store: what a checkpoint writes, and restarts."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson

from pipelines.score import UserDirectory, on_auction, on_bid
from pipelines.state import StateCache
from tests.test_rules import _auction, _bid
from tests.test_stream_support import T0


class _Transaction:
    """Quix's store transaction as the cache uses it; values go through JSON like Quix's serializer."""

    def __init__(self, data: dict[tuple[bytes, str], bytes], writes: list[bytes]) -> None:
        self.data, self.writes = data, writes

    def get(self, key: str, prefix: bytes, default: Any = None) -> Any:
        raw = self.data.get((prefix, key))
        return default if raw is None else orjson.loads(raw)

    def set(self, key: str, value: Any, prefix: bytes) -> None:
        self.writes.append(prefix)
        self.data[(prefix, key)] = orjson.dumps(value)


class _Context:
    """The slice of Quix's processing context the cache reads: store partitions and checkpoint transactions."""

    def __init__(self) -> None:
        self.data: dict[tuple[bytes, str], bytes] = {}  # partition 0's store: survives "restarts"
        self.writes: list[bytes] = []
        self.store = SimpleNamespace(partitions={0: object()})
        self.state_manager = SimpleNamespace(get_store=lambda stream_id: self.store)
        self.checkpoint = SimpleNamespace(get_store_transaction=self._transaction)

    def _transaction(self, stream_id: str, partition: int) -> _Transaction:
        return _Transaction(self.data, self.writes)

    def reassign(self) -> None:
        self.store.partitions[0] = object()  # Quix builds a new store partition, recovered from the changelog


def test_a_checkpoint_writes_each_changed_key_once_under_its_prefix() -> None:
    context = _Context()
    cache, users = StateCache(context, "s"), UserDirectory()
    stores = cache.stores(0)
    on_auction(*_auction(1, seller=1), stores)
    for i in range(3):
        on_bid(*_bid(i, 1, 20 + i, T0 + 1000 * (i + 1), 2000 + 100 * i), stores, users)
    assert context.writes == []  # nothing reaches the store between checkpoints
    cache.flush()
    assert sorted(context.writes) == [b"a:a1", b"c:books", b"u:u20", b"u:u21", b"u:u22"]
    # the Quix layout of earlier versions (prefix = entry, one key per kind): their changelog stays readable
    assert {(b"a:a1", "s"), (b"u:u20", "p"), (b"c:books", "m")} <= set(context.data)
    assert orjson.loads(context.data[(b"a:a1", "s")])[1] == 3  # three bids
    context.writes.clear()
    cache.flush()
    assert context.writes == []  # nothing changed since


def test_state_comes_back_from_the_store_after_a_reassignment_and_still_rejects_duplicates() -> None:
    context = _Context()
    cache, users = StateCache(context, "s"), UserDirectory()
    on_auction(*_auction(1, seller=1), cache.stores(0))
    first = on_bid(*_bid(1, 1, 20, T0 + 1000, 2000), cache.stores(0), users)
    cache.flush()
    on_bid(*_bid(2, 1, 21, T0 + 2000, 2100), cache.stores(0), users)  # not checkpointed: lost on reassignment
    context.reassign()
    again = cache.stores(0)
    assert again.auctions["a1"][1] == 1  # re-read from the store: one bid
    assert on_bid(*_bid(1, 1, 20, T0 + 3000, 2200), again, users) == "duplicate bid_id b1"
    replayed = on_bid(*_bid(2, 1, 21, T0 + 2000, 2100), again, users)
    assert not isinstance(first, str) and not isinstance(replayed, str)
    assert replayed.window_start_ms == T0 + 2000


def test_a_pause_drops_the_cache_and_the_next_read_goes_to_the_store() -> None:
    context = _Context()
    cache = StateCache(context, "s")
    on_auction(*_auction(1, seller=1), cache.stores(0))
    cache.flush()
    cache.on_paused()
    context.data[(b"a:a1", "s")] = orjson.dumps([None, 7, "", {}, {}, [], 0])  # what recovery restored
    assert cache.stores(0).auctions["a1"][1] == 7
    assert cache.stores(0).auctions["a2"] is None  # never written


class _Partition:
    """A store partition that says whether it recovered anything (Quix's ``main_cf_has_user_data``)."""

    def __init__(self, has_data: bool) -> None:
        self.has_data = has_data

    def main_cf_has_user_data(self) -> bool:
        return self.has_data


def test_a_partition_that_recovered_nothing_is_not_read_for_new_ids() -> None:
    context = _Context()
    context.data[(b"a:a1", "s")] = orjson.dumps("stale")  # would be read if the cache asked the store
    context.store.partitions[0] = _Partition(has_data=False)
    fresh = StateCache(context, "s", max_entries=1).stores(0)
    assert fresh.auctions["a1"] is None and fresh.bidders["u1"] is None
    fresh.auctions["a2"] = [1]
    fresh.auctions.changed("a2")
    fresh.auctions.clear()  # evicted: what the store holds is no longer all here
    assert fresh.auctions["a1"] == "stale"

    context.store.partitions[0] = _Partition(has_data=True)  # reassigned, state recovered from the changelog
    assert StateCache(context, "s").stores(0).auctions["a1"] == "stale"
