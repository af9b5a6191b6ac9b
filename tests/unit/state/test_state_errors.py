"""Redis's exceptions stop at the state layer: each becomes a `StateError` subclass."""

from __future__ import annotations

import asyncio

import pytest
from redis import exceptions as rex

from streamproc.errors import StreamprocError
from streamproc.state.errors import Conflict, StateError, StateFailed, StateUnavailable
from streamproc.state.redis.errors import redis_errors, translate


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (rex.ConnectionError("refused"), StateUnavailable),
        (rex.TimeoutError("slow"), StateUnavailable),
        (rex.BusyLoadingError("loading"), StateUnavailable),
        (rex.TryAgainError("again"), StateUnavailable),
        (ConnectionRefusedError(111, "refused"), StateUnavailable),
        (TimeoutError(), StateUnavailable),
        (rex.ResponseError("WRONGTYPE"), StateFailed),
        (rex.NoScriptError("no script"), StateFailed),
    ],
)
def test_translate(exc: BaseException, expected: type[StateError]) -> None:
    err = translate(exc)
    assert type(err) is expected
    assert isinstance(err, StreamprocError)


def test_translate_leaves_other_errors_alone() -> None:
    assert translate(ValueError("x")) is None
    assert translate(KeyError("x")) is None


def test_decorated_call_raises_state_errors_only() -> None:
    @redis_errors
    async def down() -> int:
        raise rex.ConnectionError("Connection refused")

    @redis_errors
    async def conflict() -> int:
        raise Conflict("customer moved")

    @redis_errors
    async def fine() -> int:
        return 7

    with pytest.raises(StateUnavailable) as info:
        asyncio.run(down())
    assert isinstance(info.value.__cause__, rex.ConnectionError)  # what Redis said is kept
    with pytest.raises(Conflict):  # our own errors pass through untouched
        asyncio.run(conflict())
    assert asyncio.run(fine()) == 7
