"""redis-py (sync and asyncio) against the real redis-server the fixtures start."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio
from redis.crc import key_slot

pytestmark = pytest.mark.integration

# Moves points atomically and records the receipt id in the same call (idempotent apply).
APPLY = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return -1 end
return redis.call('HINCRBY', KEYS[1], 'points', ARGV[2])
"""


def test_set_get_and_flushed(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0  # FLUSHALL ran before the test
    redis_client.set("greeting", b"hello")
    assert redis_client.get("greeting") == b"hello"


def test_lua_script_evalsha_is_idempotent(redis_client: redis.Redis) -> None:
    apply = redis_client.register_script(APPLY)
    keys = ["{c42}:balance", "{c42}:applied"]
    assert apply(keys=keys, args=["r1", 100]) == 100
    assert apply(keys=keys, args=["r2", 50]) == 150
    assert apply(keys=keys, args=["r1", 100]) == -1  # replay of r1 changes nothing
    assert redis_client.hget(keys[0], "points") == b"150"
    assert redis_client.script_exists(apply.sha) == [True]
    redis_client.script_flush()  # as after a restart: register_script reloads on NOSCRIPT
    assert apply(keys=keys, args=["r3", 1]) == 151


def test_hash_tagged_keys_share_a_slot(redis_client: redis.Redis) -> None:
    """Keys tagged `{customer}` hash to one cluster slot, so one script may touch them all."""
    a, b = b"{customer:7}:balance", b"{customer:7}:applied"
    assert key_slot(a) == key_slot(b) == key_slot(b"customer:7")
    assert key_slot(a) != key_slot(b"{customer:8}:balance")
    apply = redis_client.register_script(APPLY)
    assert apply(keys=[a, b], args=["r1", 7]) == 7
    assert redis_client.smembers(b) == {b"r1"}


async def test_asyncio_client_pipeline_and_script(redis_async_client: redis.asyncio.Redis) -> None:
    r = redis_async_client
    async with r.pipeline(transaction=False) as pipe:
        for i in range(100):
            pipe.hincrby("{c1}:balance", "points", i)
        results = await pipe.execute()
    assert results[-1] == sum(range(100))
    apply = r.register_script(APPLY)
    assert await apply(keys=["{c1}:balance", "{c1}:applied"], args=["rx", 5]) == 4955
    assert await apply(keys=["{c1}:balance", "{c1}:applied"], args=["rx", 5]) == -1
