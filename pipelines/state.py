"""The scoring step's store: a write-back cache over Quix state, flushed at every checkpoint.

Quix's ``State`` serializes on every ``set`` and looks up RocksDB on every ``get``; at tens of thousands
of bids per second that costs more than the scoring itself. :class:`StateCache` keeps values as Python
objects and hands :mod:`pipelines.score` one :class:`PartitionStores` per partition: a dict per kind of
state, so a cached value is read with a plain dict lookup -- no Python call, no view object per access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from quixstreams.sinks import BaseSink


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
        self._caches: dict[int, PartitionStores] = {}

    def _transaction(self, partition: int) -> Any:
        return self._context.checkpoint.get_store_transaction(stream_id=self._stream_id, partition=partition)

    def stores(self, partition: int) -> PartitionStores:
        """The partition's cache (a :class:`pipelines.score.Stores`); a new one after a (re)assignment."""
        store = self._store
        if store is None:  # registered once by define_pipeline; looked up again after a pause
            store = self._store = self._context.state_manager.get_store(self._stream_id)
        owner = store.partitions.get(partition)
        cache = self._caches.get(partition)
        if cache is None or cache.owner is not owner:  # (re)assigned: what we hold may be stale
            cache = self._caches[partition] = PartitionStores(owner, lambda: self._transaction(partition))
        return cache

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - fed through stores()
        raise NotImplementedError

    def flush(self) -> None:
        for partition, cache in self._caches.items():
            tx = None
            for table in cache.tables():
                if table.dirty:
                    if tx is None:
                        tx = self._transaction(partition)
                    table.write(tx)
                if len(table) > self._max_entries:
                    table.clear()

    def on_paused(self) -> None:
        self._store = None
        self._caches.clear()


class PartitionStores:
    """One partition's state (a :class:`pipelines.score.Stores`): a :class:`CachedTable` per kind.

    In Quix's store an entry's prefix is ``<kind>:<id>`` and its key one letter per kind: the layout of the
    previous versions, whose values are the same, so state recovered from their changelog is kept.
    """

    __slots__ = ("auctions", "bidders", "categories", "owner")

    def __init__(self, owner: Any, transaction: Callable[[], Any]) -> None:
        self.owner = owner  # the Quix store partition this cache belongs to
        # A store partition that recovered nothing from the changelog holds only what this cache writes to
        # it, so an id missing here is missing there too: no transaction lookup (a few µs each) per new id.
        has_data = getattr(owner, "main_cf_has_user_data", None)
        empty = has_data is not None and not has_data()
        self.auctions = CachedTable("a:", "s", transaction, empty)
        self.bidders = CachedTable("u:", "p", transaction, empty)
        self.categories = CachedTable("c:", "m", transaction, empty)

    def tables(self) -> Iterator[CachedTable]:
        yield from (self.auctions, self.bidders, self.categories)


class CachedTable(dict[str, Any]):
    """One kind of state of one partition as Python objects (a :class:`pipelines.score.Table`), by id.

    A dict, so that reading a cached value is a plain dict lookup; an id not cached yet is read from the
    store's transaction once (``__missing__``), None included. ``changed(id)`` is ``dirty.setdefault``.
    """

    __slots__ = ("_key", "_prefix", "_transaction", "changed", "dirty", "store_empty")

    def __init__(self, prefix: str, key: str, transaction: Callable[[], Any], store_empty: bool = False) -> None:
        super().__init__()
        self._prefix, self._key, self._transaction = prefix, key, transaction
        self.dirty: dict[str, None] = {}
        self.changed: Callable[[str], object] = self.dirty.setdefault
        self.store_empty = store_empty
        """True while everything the store holds for this table is also held here (nothing to look up)."""

    def __missing__(self, ident: str) -> Any:
        if self.store_empty:
            self[ident] = None
            return None
        value = self[ident] = self._transaction().get(key=self._key, prefix=(self._prefix + ident).encode())
        return value

    def clear(self) -> None:
        """Forget every cached value (the store keeps them: from now on a missing id is looked up)."""
        super().clear()
        self.store_empty = False

    def write(self, tx: Any) -> None:
        """Write the changed values to the store transaction ``tx`` and forget that they changed."""
        prefix, key = self._prefix, self._key
        for ident in self.dirty:
            tx.set(key=key, value=self[ident], prefix=(prefix + ident).encode())
        self.dirty.clear()
