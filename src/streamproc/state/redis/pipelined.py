"""A lean Redis connection for the quote server's one read per request: commands pipelined on
one connection, replies parsed by hiredis.

redis-py's asyncio client spends tens of microseconds of CPU per command in its own layers
(connection pool, retries, events, argument encoding), more than Redis takes to answer a
quote's read. Here a command is encoded once, written together with the others of the same
event-loop turn in one send, and its reply matched in order (Redis answers a connection's
commands in the order sent). Only what a quote needs: a standalone Redis (or the primary a
Sentinel setup points the URL at; Redis Cluster keeps redis-py, which follows MOVED), with
the same URL, ACL user, password and TLS as the store's client. A lost connection fails the
calls in flight with redis-py's `ConnectionError` (the quote answers 503); the next call
connects again. A caller that stops waiting (a timeout) leaves its reply to be read and
dropped, so the replies of later calls stay in step. A connection that answers nothing for
`stall_s` while calls wait, with nothing unread in its socket, is taken for dead (a peer gone
without a word: no FIN ever comes) and replaced on the next call; TCP keepalive is on too.
"""

from __future__ import annotations

import asyncio
import hashlib
import select
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError


def pack(*args: bytes | str | int) -> bytes:
    """One command in the Redis protocol (an array of bulk strings), packed by hiredis in C
    (a batch's apply call has thousands of arguments)."""
    return hiredis.pack_command(args)  # type: ignore[arg-type]  # (its stub: a 1-tuple)


class _Protocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float],
                 stall_s: float) -> None:
        self.loop = loop
        self.clock = clock
        self.stall_s = stall_s
        self.progress = clock()  # the last reply, or the first send to an idle connection
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        self.progress = self.clock()
        reader = self.reader
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self.transport.abort()  # type: ignore[union-attr]
                self.connection_lost(exc)
                return
            if reply is False:
                return
            fut = self.waiting.popleft()
            if fut.done():  # its caller stopped waiting
                continue
            if isinstance(reply, ResponseError):
                if str(reply).startswith("NOSCRIPT"):
                    reply = NoScriptError(str(reply))
                fut.set_exception(reply)
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(self.lost)

    def _unread(self) -> bool:
        """Bytes (or the peer's close) wait in the socket, not yet read: this process, not
        the connection, was slow (a loop that was not scheduled for a while)."""
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is None:
            return True  # cannot tell: never take the connection for dead
        return bool(select.select([sock.fileno()], [], [], 0)[0])

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.waiting:
            if self.clock() - self.progress > self.stall_s and self.lost is None \
                    and not self._unread():
                self.connection_lost(TimeoutError(f"no reply for {self.stall_s} s"))
                self.transport.abort()  # type: ignore[union-attr]
        else:
            self.progress = self.clock()
        if self.lost is not None:
            raise self.lost
        fut = self.loop.create_future()
        self.waiting.append(fut)
        if not self.out:  # the first of this loop turn: one send for them all, at its end
            self.loop.call_soon(self._flush)
        self.out.append(command)
        return fut

    def _flush(self) -> None:
        data, self.out = b"".join(self.out), []
        if self.lost is None and self.transport is not None:
            self.transport.write(data)


class PipelinedRedis:
    """One pipelined connection to a standalone Redis, opened on first use."""

    def __init__(self, url: str, connection: Mapping[str, Any] | None = None,
                 connect_timeout_s: float = 5.0, stall_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        kw = {**parse_url(url), **(connection or {})}
        self.host = kw.get("host", "localhost")
        self.port = int(kw.get("port", 6379))
        self.path = kw.get("path")  # unix://
        self.db = int(kw.get("db", 0) or 0)
        self.username = kw.get("username")
        self.password = kw.get("password")
        self.tls: ssl.SSLContext | None = None
        if url.startswith("rediss://"):
            self.tls = ssl.create_default_context(cafile=kw.get("ssl_ca_certs") or None)
        self.connect_timeout_s = connect_timeout_s
        self.stall_s = stall_s
        self.clock = clock
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and proto.lost is None:
            return proto
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # one connect at a time; the others use its result
            proto = self._proto
            if proto is None or proto.lost is not None:
                proto = self._proto = await self._connect()
        return proto

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        proto: _Protocol | None = None

        def factory() -> _Protocol:
            return _Protocol(loop, self.clock, self.stall_s)

        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if self.path:
                    _, proto = await loop.create_unix_connection(factory, self.path)
                else:
                    _, proto = await loop.create_connection(
                        factory, self.host, self.port, ssl=self.tls,
                        server_hostname=self.host if self.tls else None)
                hello = []
                if self.password:
                    auth = ("AUTH", self.username, self.password) if self.username \
                        else ("AUTH", self.password)
                    hello.append(proto.send(pack(*auth)))
                if self.db:
                    hello.append(proto.send(pack("SELECT", self.db)))
                for reply in hello:
                    await reply
        except BaseException as exc:
            if proto is not None and proto.transport is not None:
                proto.transport.close()
            if isinstance(exc, OSError | TimeoutError):
                raise RedisConnectionError(f"cannot connect to Redis: {exc!r}") from exc
            raise
        return proto

    async def execute(self, *args: bytes | str | int) -> Any:
        cmd = pack(*args)
        proto = await self._connection()
        try:
            fut = proto.send(cmd)
        except RedisConnectionError:  # found dead on this send: once more on a new one
            fut = (await self._connection()).send(cmd)
        return await fut

    async def evalsha(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run a script by its hash; load it once if this Redis does not have it."""
        cmd = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self.execute(*cmd)
        except NoScriptError:
            await self.execute("SCRIPT", "LOAD", script.text)
            return await self.execute(*cmd)

    async def aclose(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()


class Script:
    """A Lua script's text and SHA1, as EVALSHA names it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()
