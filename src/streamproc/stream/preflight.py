"""Before the worker starts faust: can it log in to Kafka and Redis? One line if not.

An unreachable server is infrastructure, so it is waited for (backoff, one warning a try), as
long as it takes unless `startup_timeout_s` sets a limit; a refused login or an untrusted
certificate will not fix itself, so it stops the start at once. Either way the reason is one
line without a traceback, and never carries a password.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Awaitable, Callable

from streamproc.config import RedisAccess, WorkerSettings, kafka_client_kwargs, redis_access
from streamproc.errors import StreamprocError

log = logging.getLogger("streamproc.worker")


class Unreachable(StreamprocError):
    """Not there (yet): refused, timed out, no route."""


class Refused(StreamprocError):
    """There, but it will not have us: wrong password, no permission, bad certificate."""


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


async def check_kafka(s: WorkerSettings, timeout_s: float = 10.0) -> None:
    """Open one connection to a bootstrap server with the worker's security settings."""
    from aiokafka import errors
    from aiokafka.conn import create_conn

    kw = kafka_client_kwargs(s)
    last: BaseException | None = None
    for server in s.kafka.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(create_conn(
                host.strip("[]"), int(port), request_timeout_ms=int(timeout_s * 1000), **kw),
                timeout_s)
        except (errors.SaslAuthenticationFailed, errors.UnsupportedSaslMechanismError,
                errors.IllegalSaslStateError) as exc:
            raise Refused(f"Kafka at {server} refused the login of "
                          f"{s.kafka_sasl_username!r}: {_why(exc)}") from None
        except ssl.SSLCertVerificationError as exc:
            raise Refused(f"Kafka at {server}: its certificate is not trusted "
                          f"(STREAMPROC_KAFKA_SSL_CAFILE): {exc.verify_message}") from None
        except (OSError, TimeoutError, errors.KafkaError) as exc:
            last = exc
            continue
        conn.close()
        return
    raise Unreachable(f"cannot reach Kafka at {s.kafka}: {_why(last) if last else 'no server'}")


async def check_redis(access: RedisAccess, timeout_s: float = 10.0) -> None:
    """PING with the worker's credentials and TLS settings."""
    from streamproc.state.redis.access import RedisUnavailable, ping

    try:
        await ping(access, timeout_s)
    except RedisUnavailable as reading:
        raise (Refused if reading.refused else Unreachable)(str(reading)) from None


async def wait_for(name: str, check: Callable[[], Awaitable[None]], deadline: float) -> None:
    """Retry `check` with backoff while the server is unreachable, until `deadline` (never
    gives up when it is infinite)."""
    delay = 0.5
    while True:
        try:
            await check()
            return
        except Unreachable as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s; retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def preflight(s: WorkerSettings) -> None:
    """Raise `Unreachable` or `Refused` (one-line message) unless Kafka and Redis answer."""
    limit = s.startup_timeout_s
    deadline = time.monotonic() + limit if limit > 0 else math.inf
    await wait_for("kafka", lambda: check_kafka(s), deadline)
    await wait_for("redis", lambda: check_redis(redis_access(s)), deadline)
