"""Turn the redis client's exceptions into the state layer's (`streamproc.state.errors`)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from redis import exceptions as rex

from streamproc.state.errors import StateError, StateFailed, StateUnavailable
from streamproc.state.redis.retry import is_transient

P = ParamSpec("P")
T = TypeVar("T")



def translate(exc: BaseException) -> StateError | None:
    """The state error for a redis (or socket) exception, None for anything else; which
    errors are transient is `retry.is_transient`'s call (the one retry policy)."""
    if isinstance(exc, rex.RedisError | OSError) and is_transient(exc):
        return StateUnavailable(f"Redis unavailable: {exc}")
    if isinstance(exc, rex.RedisError):
        return StateFailed(f"Redis error: {exc}")
    return None


def redis_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorate an async call on Redis so that only state errors leave it."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (rex.RedisError, OSError) as exc:
            err = translate(exc)
            assert err is not None  # every RedisError and OSError has a reading
            raise err from exc

    return wrapper
