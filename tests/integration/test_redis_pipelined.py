"""The quote's pipelined Redis connection (`state/redis/pipelined.py`) on a real redis-server:
replies matched in order under concurrency, errors, scripts, a caller that stops waiting, a
lost connection, and TLS with an ACL user."""

from __future__ import annotations

import asyncio
import contextlib
import select

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from streamproc.state.redis.pipelined import PipelinedRedis, Script, pack

pytestmark = pytest.mark.integration

# busy for ~100 ms inside Redis (TIME is allowed in scripts): a reply that comes late
SLOW = Script("local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] "
              "repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - s > 100000 "
              "return ARGV[1]")


def test_pack_is_the_redis_protocol():
    assert pack("GET", b"k", 7) == b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\n7\r\n"


def test_concurrent_commands_share_one_connection_and_get_their_own_replies(redis_url):
    r = redis.Redis.from_url(redis_url)
    r.mset({f"pl:k{i}": f"v{i}" for i in range(500)})
    clients = r.info("clients")["connected_clients"]

    async def main() -> tuple[list, int]:
        conn = PipelinedRedis(redis_url)
        try:
            got = await asyncio.gather(*[conn.execute("GET", f"pl:k{i}") for i in range(500)],
                                       conn.execute("HGET", "pl:nope", "x"))
            during = r.info("clients")["connected_clients"]
        finally:
            await conn.aclose()
        return got, during

    got, during = asyncio.run(main())
    assert got == [f"v{i}".encode() for i in range(500)] + [None]
    assert during == clients + 1


def test_an_error_reply_fails_its_call_only(redis_url):
    redis.Redis.from_url(redis_url).set("pl:str", "x")

    async def main() -> list:
        conn = PipelinedRedis(redis_url)
        try:
            return await asyncio.gather(conn.execute("HGET", "pl:str", "f"),
                                        conn.execute("GET", "pl:str"), return_exceptions=True)
        finally:
            await conn.aclose()

    err, ok = asyncio.run(main())
    assert isinstance(err, ResponseError) and "WRONGTYPE" in str(err)
    assert ok == b"x"


def test_a_script_unknown_to_redis_is_loaded_once(redis_url):
    r = redis.Redis.from_url(redis_url)
    script = Script("return {KEYS[1], ARGV[1]}")

    async def main() -> list:
        conn = PipelinedRedis(redis_url)
        try:
            r.script_flush()
            first = await conn.evalsha(script, ["pl:a"], ["1"])
            return [first, await conn.evalsha(script, ["pl:b"], [2])]
        finally:
            await conn.aclose()

    assert asyncio.run(main()) == [[b"pl:a", b"1"], [b"pl:b", b"2"]]
    assert r.script_exists(script.sha) == [True]


def test_a_caller_that_stops_waiting_leaves_the_next_replies_in_step(redis_url):
    redis.Redis.from_url(redis_url).set("pl:after", "fine")

    async def main() -> tuple[bool, bytes, bytes]:
        conn = PipelinedRedis(redis_url)
        try:
            await conn.execute("PING")
            timed_out = False
            try:
                async with asyncio.timeout(0.01):
                    await conn.evalsha(SLOW, [], ["late"])
            except TimeoutError:
                timed_out = True
            # sent after the slow script: answered after it, with its own reply
            after = await conn.execute("GET", "pl:after")
            return timed_out, after, await conn.evalsha(SLOW, [], ["again"])
        finally:
            await conn.aclose()

    assert asyncio.run(main()) == (True, b"fine", b"again")


def test_a_lost_connection_fails_the_calls_in_flight_and_the_next_call_reconnects(redis_url):
    r = redis.Redis.from_url(redis_url)
    r.set("pl:back", "yes")

    async def main() -> tuple[BaseException | None, bytes]:
        conn = PipelinedRedis(redis_url)
        try:
            cid = await conn.execute("CLIENT", "ID")
            waiting = asyncio.ensure_future(conn.execute("BLPOP", "pl:never", 30))
            await conn.execute("PING")  # BLPOP goes out in the same write, after it
            await asyncio.to_thread(r.client_kill_filter, _id=cid)
            try:
                await waiting
                lost = None
            except RedisConnectionError as exc:
                lost = exc
            return lost, await conn.execute("GET", "pl:back")
        finally:
            await conn.aclose()

    lost, back = asyncio.run(main())
    assert isinstance(lost, RedisConnectionError)
    assert back == b"yes"


def test_tls_and_an_acl_user_as_the_stores_client_has_them(secure_redis):
    good = {"username": "streamproc", "password": secure_redis.passwords["streamproc"],
            "ssl_ca_certs": str(secure_redis.cafile)}

    script = Script("return redis.call('GET', KEYS[1])")

    async def main(connection: dict) -> object:
        conn = PipelinedRedis(secure_redis.url, connection)
        try:  # the worker's ACL (docs/operations.md) lets the quote's script run, and load
            return await conn.evalsha(script, ["sp:nothing"], [])
        except ResponseError as exc:
            return exc
        finally:
            await conn.aclose()

    redis.Redis.from_url(secure_redis.url, username="admin",
                         password=secure_redis.passwords["admin"],
                         ssl_ca_certs=str(secure_redis.cafile)).script_flush()
    assert asyncio.run(main(good)) is None
    refused = asyncio.run(main({**good, "password": "wrong-password"}))
    assert isinstance(refused, ResponseError)


def test_a_connection_that_answers_nothing_is_replaced(redis_url):
    """A peer gone without a word (no FIN): after `stall_s` without a reply while calls wait,
    the next call opens a new connection. The clock is the test's."""
    now = [0.0]
    accepted = []

    async def main() -> tuple[bool, bool]:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)  # reads nothing, answers nothing, never closes

        hole = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = hole.sockets[0].getsockname()[1]
        conn = PipelinedRedis(f"redis://127.0.0.1:{port}/0", stall_s=2.0,
                              clock=lambda: now[0])
        try:
            timed_out = False
            try:
                async with asyncio.timeout(0.05):
                    await conn.execute("PING")
            except TimeoutError:
                timed_out = True
            now[0] += 1.0  # not yet stalled: the same connection
            first = conn._proto
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await conn.execute("PING")
            same = conn._proto is first
            now[0] += 1.5  # 2.5 s without a reply: a new connection
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await conn.execute("PING")
            return timed_out and same, conn._proto is not first
        finally:
            await conn.aclose()
            for w in accepted:
                w.close()
            hole.close()

    assert asyncio.run(main()) == (True, True)


def test_a_reply_waiting_unread_after_a_frozen_loop_keeps_the_connection(redis_url):
    """The process, not the connection, was slow: the loop did not run for longer than
    `stall_s` while the reply sat in the socket. Nothing is replaced; both calls answer."""
    now = [0.0]

    async def main() -> tuple[bool, list]:
        conn = PipelinedRedis(redis_url, stall_s=2.0, clock=lambda: now[0])
        try:
            proto = await conn._connection()
            first = proto.send(pack("PING"))
            proto._flush()
            fd = proto.transport.get_extra_info("socket").fileno()
            select.select([fd], [], [], 10)  # the loop frozen until the reply is there
            now[0] += 3.0
            second = proto.send(pack("ECHO", "still"))
            return conn._proto is proto and proto.lost is None, [await first, await second]
        finally:
            await conn.aclose()

    assert asyncio.run(main()) == (True, [b"PONG", b"still"])
