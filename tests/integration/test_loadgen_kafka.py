"""`streamproc loadgen --kafka`: every generated message reaches the real broker, with its key,
in order, and `--rate` holds the pace."""

from __future__ import annotations

import asyncio
import time

import pytest
from e2e_support import read_all

from streamproc.tools.kafka_io import produce
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

pytestmark = pytest.mark.integration


def test_produce_sends_every_pair_with_its_key(kafka_bootstrap, make_topics):
    topic = make_topics("loadgen", partitions=1)  # one partition: the order is checkable
    pairs = list(generate_messages(LoadgenConfig(receipts=3_000, customers=300)))
    n = asyncio.run(produce(kafka_bootstrap, topic, iter(pairs), progress=False,
                                     in_flight=500))
    got = asyncio.run(read_all(kafka_bootstrap, topic))
    assert n == len(pairs) == len(got)
    assert [(r.key, r.value) for r in got] == pairs


def test_produce_rate_limit(kafka_bootstrap, make_topics):
    topic = make_topics("loadgen-rate", partitions=1)
    pairs = [(b"k", b"{}")] * 300
    t0 = time.perf_counter()
    n = asyncio.run(produce(kafka_bootstrap, topic, pairs, rate=1000, progress=False))
    elapsed = time.perf_counter() - t0
    assert n == 300 == len(asyncio.run(read_all(kafka_bootstrap, topic)))
    assert 0.15 < elapsed < 5.0  # 300 at 1000/s, less the first burst of 100, plus connecting
