"""The scoring step's store: a write-back cache over Quix state, flushed at every checkpoint.

Quix's ``State`` serializes on every ``set`` and looks up RocksDB on every ``get``; at tens of thousands
of bids per second that costs more than the scoring itself. :class:`StateCache` keeps values as Python
objects and hands :mod:`pipelines.score` the same small get/set interface.
"""

from __future__ import annotations

from typing import Any

from quixstreams.sinks import BaseSink

from pipelines.score import Stores


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
        self._owners: dict[int, Any] = {}
        self._values: dict[int, dict[tuple[str, str], Any]] = {}
        self._dirty: dict[int, dict[tuple[str, str], None]] = {}

    def _transaction(self, partition: int) -> Any:
        return self._context.checkpoint.get_store_transaction(stream_id=self._stream_id, partition=partition)

    def stores(self, partition: int) -> Stores:
        owner = self._context.state_manager.get_store(self._stream_id).partitions.get(partition)
        if self._owners.get(partition) is not owner:  # (re)assigned: what we hold may be stale
            self._owners[partition] = owner
            self._values[partition], self._dirty[partition] = {}, {}
        values, dirty = self._values[partition], self._dirty[partition]
        return lambda prefix: _CachedView(self, partition, prefix, values, dirty)

    def add(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - fed through stores()
        raise NotImplementedError

    def flush(self) -> None:
        for partition, dirty in self._dirty.items():
            if dirty:
                values, tx = self._values[partition], self._transaction(partition)
                for prefix, key in dirty:
                    tx.set(key=key, value=values[(prefix, key)], prefix=prefix.encode())
                dirty.clear()
            if len(self._values[partition]) > self._max_entries:
                self._values[partition].clear()

    def on_paused(self) -> None:
        self._owners.clear()
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
