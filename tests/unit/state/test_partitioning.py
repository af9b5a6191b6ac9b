"""Key placement follows the producers' partitioners (murmur2: Java/aiokafka; crc32:
librdkafka's consistent_random); checked against the clients' own code where it is local."""

from __future__ import annotations

import zlib

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streamproc.state.partitioning import Placement, partitioner


def test_murmur2_is_aiokafka_default_partitioner():
    parts = list(range(6))
    default = DefaultPartitioner()
    place = Placement(6)
    for i in range(2000):
        key = f"C{i:06d}"
        assert place(key) == default(key.encode(), parts, parts)


def test_crc32_is_librdkafka_consistent():
    place = Placement(12, "crc32")
    for i in range(2000):
        key = f"C{i:06d}"
        assert place(key) == zlib.crc32(key.encode()) % 12


def test_known_values():
    # Kafka's UtilsTest murmur2 vectors (signed ints, masked to positive as the Java client
    # does), and CRC-32's check value: a change of implementation cannot pass unnoticed
    m = partitioner("murmur2")
    for key, java in ((b"21", -973932308), (b"foobar", -790332482), (b"abc", 479470107)):
        assert m(key, 1 << 31) == (java & 0xFFFFFFFF) & 0x7FFFFFFF
    assert partitioner("crc32")(b"123456789", 1 << 32) == 0xCBF43926


def test_unknown_partitioner_refused():
    with pytest.raises(ValueError, match="murmur2"):
        Placement(6, "random")
