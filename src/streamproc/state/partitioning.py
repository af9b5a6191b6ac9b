"""Which Kafka partition a key lands on, the way producers place it.

The partition is the unit of state (docs/state-model.md): a customer's keys in Redis carry the
partition of the customer's receipts. Inside the stream the partition comes with each message;
outside it (`balance`, `erase`, the quote API, a file replay into Redis) it is computed here, so
it must follow the producers' partitioner: murmur2 (the Java client's and aiokafka's default) or
CRC32 (librdkafka's `consistent_random`, the default of confluent-kafka, Go and C# clients).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from aiokafka.partitioner import murmur2

PARTITIONERS = ("murmur2", "crc32")


def _murmur2(key: bytes, n: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % n


def _crc32(key: bytes, n: int) -> int:
    return zlib.crc32(key) % n


def partitioner(kind: str = "murmur2") -> Callable[[bytes, int], int]:
    """`f(key, partitions) -> partition` for a producer partitioner's name."""
    try:
        return {"murmur2": _murmur2, "crc32": _crc32}[kind]
    except KeyError:
        raise ValueError(f"partitioner must be one of {PARTITIONERS}, not {kind!r}") from None


class Placement:
    """Key -> partition for a topic of `partitions` partitions (cached: customers come back)."""

    def __init__(self, partitions: int, kind: str = "murmur2", cache_max: int = 500_000) -> None:
        if partitions < 1:
            raise ValueError("a topic has at least one partition")
        self.partitions = partitions
        self.kind = kind
        self._f = partitioner(kind)
        self._cache: dict[str, int] = {}
        self._cache_max = cache_max

    def __call__(self, key: str) -> int:
        p = self._cache.get(key)
        if p is None:
            if len(self._cache) >= self._cache_max:
                self._cache.clear()
            p = self._cache[key] = self._f(key.encode(), self.partitions)
        return p
