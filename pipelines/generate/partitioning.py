"""Kafka's default partitioner (murmur2 of the key), so lake files name the partition the broker would use.

librdkafka's ``murmur2_random`` partitioner and the Java client both use
``(murmur2(key) & 0x7fffffff) % partitions``; :func:`partitions_for` computes it for many keys at once
with numpy (keys grouped by length); :func:`murmur2` (:mod:`pipelines.infra.partitioner`) is the plain
reference.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from pipelines.infra.partitioner import MASK, SEED, M, murmur2, partition_of

__all__ = ["murmur2", "partition_of", "partitions_for"]


def _murmur2_fixed(block: np.ndarray) -> np.ndarray:
    """murmur2 of each row of a ``(n, length)`` uint8 matrix."""
    n, length = block.shape
    h = np.full(n, (SEED ^ length) & MASK, dtype=np.uint32)
    m = np.uint32(M)
    words = length // 4
    if words:
        chunks = np.ascontiguousarray(block[:, : words * 4]).view("<u4")
        for j in range(words):
            k = chunks[:, j] * m
            k ^= k >> np.uint32(24)
            k *= m
            h *= m
            h ^= k
    tail = length % 4
    base = words * 4
    if tail == 3:
        h ^= block[:, base + 2].astype(np.uint32) << np.uint32(16)
    if tail >= 2:
        h ^= block[:, base + 1].astype(np.uint32) << np.uint32(8)
    if tail >= 1:
        h ^= block[:, base].astype(np.uint32)
        h *= m
    h ^= h >> np.uint32(13)
    h *= m
    h ^= h >> np.uint32(15)
    return h


def partitions_for(keys: pa.Array | list[str], partitions: int) -> np.ndarray:
    """Kafka partition of every key (int32), vectorised."""
    values = keys.to_pylist() if isinstance(keys, pa.Array | pa.ChunkedArray) else list(keys)
    out = np.zeros(len(values), dtype=np.int32)
    groups: dict[int, list[int]] = defaultdict(list)
    encoded = [v.encode() for v in values]
    for i, raw in enumerate(encoded):
        groups[len(raw)].append(i)
    for length, rows in groups.items():
        block = np.frombuffer(b"".join(encoded[i] for i in rows), dtype=np.uint8).reshape(len(rows), length)
        hashes = _murmur2_fixed(block) if length else np.full(len(rows), murmur2(b""), dtype=np.uint32)
        out[np.asarray(rows)] = (hashes & np.uint32(0x7FFFFFFF)) % np.uint32(partitions)
    return out
