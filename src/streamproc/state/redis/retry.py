"""One retry policy for every Redis call: wait for Redis, never exit on its errors.

Transient: the connection lost or refused, a timeout, a replica promoted under us (READONLY),
a full memory (OOM, until someone frees or grows it), a restart loading its data (LOADING),
a cluster resharding or failing over (TRYAGAIN, CLUSTERDOWN, MASTERDOWN). Anything else (a
script bug, a wrong type) is not retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.exceptions as rexc

from streamproc.state.errors import StateUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError, rexc.TryAgainError,
    rexc.ReadOnlyError, rexc.OutOfMemoryError, rexc.ClusterDownError, rexc.MasterDownError,
    OSError, StateUnavailable)  # StateUnavailable: one of these, as the store raises it
_TRANSIENT_PREFIXES = ("READONLY", "OOM", "LOADING", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN",
                       "NOREPLICAS", "UNBLOCKED")


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_TYPES):
        return True
    if isinstance(exc, rexc.ResponseError):
        # redis-py wraps an error raised inside a script as ResponseError with the text
        text = str(exc).lstrip("-")
        return any(text.startswith(p) or f" {p} " in text or f"@user_script: {p}" in text
                   for p in _TRANSIENT_PREFIXES)
    return False


async def retrying(call: Callable[[], Awaitable[T]], what: str, metrics: Any = None,
                   max_seconds: float = float("inf"),
                   on_wait: Callable[[bool], None] = lambda _: None) -> T:
    """`await call()` until it does not fail transiently; back off 50 ms .. 5 s.
    `on_wait(True)` while waiting (readiness follows Redis), `on_wait(False)` once through."""
    started = time.monotonic()
    delay = 0.05
    waited = False
    while True:
        try:
            res = await call()
            if waited:
                on_wait(False)
            return res
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() - started > max_seconds:
                raise
            if metrics is not None:
                metrics.count_redis_error(what)
            waited = True
            on_wait(True)
            log.warning("Redis unavailable during %s (%s); retrying in %.2fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
