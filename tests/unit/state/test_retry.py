"""One retry policy for every Redis call: which errors are waited for, and that a call is
retried until it goes through (no exit), with readiness told while it waits."""

from __future__ import annotations

import asyncio

import pytest
import redis.exceptions as rexc

from streamproc.state.redis.retry import is_transient, retrying


@pytest.mark.parametrize("exc", [
    rexc.ConnectionError("Connection closed by server."),
    rexc.TimeoutError("Timeout reading from socket"),
    rexc.BusyLoadingError("Redis is loading the dataset in memory"),
    rexc.ReadOnlyError("You can't write against a read only replica."),
    rexc.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
    rexc.TryAgainError("Multiple keys request during rehashing of slot"),
    rexc.MasterDownError("Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
    rexc.ClusterDownError("The cluster is down"),
    # an error raised inside a Lua script reaches redis-py as a ResponseError with the text
    rexc.ResponseError("Error running script (call to f_abc): @user_script:12: OOM command "
                       "not allowed when used memory > 'maxmemory'"),
    rexc.ResponseError("READONLY You can't write against a read only replica."),
    OSError(111, "Connection refused"),
])
def test_infrastructure_errors_are_waited_for(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    rexc.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    rexc.ResponseError("Error running script: @user_script:3: attempt to index a nil value"),
    ValueError("a bug"),
])
def test_other_errors_are_not(exc):
    assert not is_transient(exc)


def test_retrying_waits_until_the_call_goes_through():
    calls, told = [], []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise rexc.ReadOnlyError("You can't write against a read only replica.")
        return "ok"

    assert asyncio.run(retrying(flaky, "test", on_wait=told.append)) == "ok"
    assert len(calls) == 3 and told == [True, True, False]


def test_retrying_raises_what_is_not_transient_at_once():
    calls = []

    async def broken() -> None:
        calls.append(1)
        raise rexc.ResponseError("WRONGTYPE Operation against a key")

    with pytest.raises(rexc.ResponseError):
        asyncio.run(retrying(broken, "test"))
    assert len(calls) == 1
