"""The scoring step's store: a write-back cache over Quix state, flushed at every checkpoint.

Quix's ``State`` serializes on every ``set`` and looks up RocksDB on every ``get``; at tens of thousands
of bids per second that costs more than the scoring itself. :class:`StateCache` keeps values as Python
objects and hands :mod:`pipelines.score` one dict per partition (:class:`PartitionCache`): a cached value is
read with a plain dict lookup, with no Python call and no view object per access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quixstreams.sinks import BaseSink

#: The Quix key under each entry's prefix (the prefix is the step's key, ``<kind>:<id>``), by kind: the layout
#: of the previous versions, whose values are the same, so state recovered from their changelog is kept.
QUIX_KEYS = {"a": "s", "u": "p", "c": "m"}


class StateCache(BaseSink):
    """Write-back cache over the Quix store: state lives here as Python objects, written once per checkpoint.

    Reading and writing Quix state costs a serialization and a RocksDB/transaction lookup per call; a hot
    auction or bidder would pay that on every bid. Here values stay as Python objects; changed keys are
    written to the partition's store transaction when Quix flushes its sinks -- step 1 of a checkpoint,
    before the changelog is produced and offsets are committed -- so the changelog, the committed
    offsets and this cache always agree. Clean values are kept across checkpoints while this process
    owns the partition; a new assignment (a new Quix store partition object) empties that partition's
    cache, so values are re-read from the store the new owner recovered from the changelog.
    """

    def __init__(self, context: Any, stream_id: str, max_entries: int = 1_000_000) -> None:
        super().__init__()
        self._context = context
        self._stream_id = stream_id
        self._max_entries = max_entries
        self._store: Any = None
        self._caches: dict[int, PartitionCache] = {}

    def _transaction(self, partition: int) -> Any:
        return self._context.checkpoint.get_store_transaction(stream_id=self._stream_id, partition=partition)

    def stores(self, partition: int) -> PartitionCache:
        """The partition's cache (a :class:`pipelines.score.Stores`); a new one after a (re)assignment."""
        store = self._store
        if store is None:  # registered once by define_pipeline; looked up again after a pause
            store = self._store = self._context.state_manager.get_store(self._stream_id)
        owner = store.partitions.get(partition)
        cache = self._caches.get(partition)
        if cache is None or cache.owner is not owner:  # (re)assigned: what we hold may be stale
            cache = self._caches[partition] = PartitionCache(owner, lambda: self._transaction(partition))
        return cache

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - fed through stores()
        raise NotImplementedError

    def flush(self) -> None:
        for partition, cache in self._caches.items():
            dirty = cache.dirty
            if dirty:
                tx = self._transaction(partition)
                for key in dirty:
                    tx.set(key=QUIX_KEYS[key[0]], value=cache[key], prefix=key.encode())
                dirty.clear()
            if len(cache) > self._max_entries:
                cache.clear()

    def on_paused(self) -> None:
        self._store = None
        self._caches.clear()


class PartitionCache(dict[str, Any]):
    """One partition's values as Python objects (a :class:`pipelines.score.Stores`), and the keys changed.

    A dict, so that reading a cached value is a plain dict lookup; a key not cached yet is read from the
    store's transaction once (``__missing__``), None included. ``changed(key)`` is ``dirty.setdefault``.
    """

    __slots__ = ("_transaction", "changed", "dirty", "owner")

    def __init__(self, owner: Any, transaction: Callable[[], Any]) -> None:
        super().__init__()
        self.owner = owner  # the Quix store partition this cache belongs to
        self._transaction = transaction
        self.dirty: dict[str, None] = {}
        self.changed: Callable[[str], object] = self.dirty.setdefault

    def __missing__(self, key: str) -> Any:
        value = self[key] = self._transaction().get(key=QUIX_KEYS[key[0]], prefix=key.encode())
        return value
