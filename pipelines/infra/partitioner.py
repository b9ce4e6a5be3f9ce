"""Kafka's default partitioner: ``(murmur2(key) & 0x7fffffff) % partitions``.

librdkafka's ``murmur2_random`` partitioner and the Java client both use it, so a partition computed here is
the one the broker's producers pick for the same key: the generator names its lake files by it and the
stream worker's two-stage topology batches its internal records by it (co-partitioned with ``users``).
"""

from __future__ import annotations

#: murmur2 constants (Kafka's)
SEED = 0x9747B28C
M = 0x5BD1E995
MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` (unsigned 32-bit)."""
    length = len(data)
    h = (SEED ^ length) & MASK
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * M) & MASK
        k ^= k >> 24
        k = (k * M) & MASK
        h = ((h * M) & MASK) ^ k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * M) & MASK
    h ^= h >> 13
    h = (h * M) & MASK
    h ^= h >> 15
    return h


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a string key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
