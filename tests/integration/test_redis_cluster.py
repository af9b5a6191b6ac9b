"""The state on a 3-master Redis Cluster: every call touches one slot (a partition's or the
claims'), so batches spanning all partitions apply without CROSSSLOT, and the stream with 6
partitions and 2 workers equals the replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from e2e_support import WorkerProcess, produce, read_stream, replay_oracle, worker_env
from test_worker_stream import _compare, _contested, _setup, _wait_profiles

from streamproc.domain.program import load_program
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import BatchProcessor, InMessage
from streamproc.state.redis.store import RedisStore
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")


async def _apply(url: str, prefix: str, cluster: bool, msgs: list[bytes]) -> list[bytes]:
    program = load_program(PROGRAM)
    store = RedisStore(url, program, prefix=prefix, cluster=cluster)
    bp = BatchProcessor(program, make_engine(program), store, partition_by_key=True)
    out: list[bytes] = []
    try:
        for i in range(0, len(msgs), 250):
            res = await bp.process([InMessage("receipts", 0, i + j, None, v)
                                    for j, v in enumerate(msgs[i:i + 250])])
            out += [v for _, v in res.results] + [v for _, v in res.events]
    finally:
        await store.close()
    return out


def test_batches_on_the_cluster_equal_the_standalone_store(redis_cluster, redis_url):
    msgs = [v for _, v in generate_messages(LoadgenConfig(seed=9, receipts=3000, customers=300,
                                                          days=10))]
    on_cluster = asyncio.run(_apply(redis_cluster.url, "cl1", True, msgs))
    standalone = asyncio.run(_apply(redis_url, "cl1", False, msgs))
    assert on_cluster == standalone
    # the keys really are spread over the three primaries
    per_node = [redis.Redis(port=n.port).dbsize() for n in redis_cluster.nodes]
    assert all(k > 0 for k in per_node), per_node


def test_stream_equals_replay_on_a_redis_cluster(tmp_path, kafka_bootstrap, redis_cluster):
    prefix = "cleq"
    url = redis_cluster.url
    cfg = LoadgenConfig(seed=13, receipts=8_000, customers=1_500, days=10)
    receipts, customers, rpath, cpath = _setup(tmp_path, kafka_bootstrap, prefix, cfg)
    oracle = replay_oracle(PROGRAM, rpath, cpath)
    env = worker_env(kafka_bootstrap, url, PROGRAM, prefix)
    env["STREAMPROC_REDIS_CLUSTER"] = "1"
    asyncio.run(produce(kafka_bootstrap, f"{prefix}-customers", customers))
    workers = [WorkerProcess(tmp_path, f"w{i}", env).start() for i in range(2)]
    try:
        _wait_profiles(url, prefix, len(customers), workers, cluster=True)
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", receipts))

        stream, dlq = read_stream(kafka_bootstrap, prefix, oracle, workers)
    finally:
        for w in workers:
            w.stop()
    assert len(stream) == len(oracle[0]), "no redelivery without a crash"
    _compare(stream, dlq, oracle, _contested(receipts), url, prefix, len(receipts),
             cluster=True)
