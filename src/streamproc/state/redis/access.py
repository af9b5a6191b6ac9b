"""What a failed Redis connection means, in one line that names no password.

`balance`, `replay --redis` and the worker's start check share it, so a wrong password, an
untrusted certificate and a server that is not there read the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from redis import exceptions as rex

from streamproc.config import RedisAccess
from streamproc.state.errors import StateError, StateUnavailable

T = TypeVar("T")


class RedisUnavailable(StateUnavailable):
    """Redis refused us (`refused`: wrong login, no permission, untrusted certificate) or is
    not reachable; the message is one line."""

    def __init__(self, message: str, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0]


def explain(exc: BaseException, access: RedisAccess) -> RedisUnavailable | None:
    """The one-line reading of a connection error, or None if it is not one."""
    if isinstance(exc, StateError) and exc.__cause__ is not None:
        exc = exc.__cause__  # read what Redis said
    where = f"Redis at {access.shown}"
    if isinstance(exc, rex.AuthenticationError | rex.NoPermissionError):
        who = repr(access.username) if access.username else "the default user"
        return RedisUnavailable(f"{where} refused {who}: {_first_line(exc)}", True)
    if isinstance(exc, rex.ResponseError) and "NOAUTH" in str(exc):
        return RedisUnavailable(f"{where} wants a login: set STREAMPROC_REDIS_USERNAME and "
                                "STREAMPROC_REDIS_PASSWORD (or its _FILE)", True)
    if isinstance(exc, rex.ConnectionError | rex.TimeoutError | OSError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return RedisUnavailable(f"{where}: its certificate is not trusted "
                                    "(STREAMPROC_REDIS_TLS_CAFILE)", True)
        return RedisUnavailable(f"cannot reach {where}: {_first_line(exc)}", False)
    return None


def read_or_explain(call: Callable[[], T], access: RedisAccess) -> T:
    """`call()`, with connection errors turned into `RedisUnavailable`."""
    try:
        return call()
    except Exception as exc:
        reading = explain(exc, access)
        if reading is None:
            raise
        raise reading from None


async def ping(access: RedisAccess, timeout_s: float = 10.0) -> None:
    """PING with these credentials and TLS settings; `RedisUnavailable` says why not."""
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(access.url, socket_connect_timeout=timeout_s,
                                   socket_timeout=timeout_s, **access.client_kwargs())
    try:
        await client.ping()
    except Exception as exc:
        reading = explain(exc, access)
        if reading is None:
            raise
        raise reading from None
    finally:
        await client.aclose()
