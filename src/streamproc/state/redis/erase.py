"""Erasure: a customer's profile, or their profile and loyalty state, leave Redis.

A tombstone on the compacted `customers` topic (how master data deletes a customer) removes
the profile; `streamproc erase` removes the profile, the points and tier state, the receipt
records and the timer entry. What stays is not personal: campaign budgets and totals, counts,
the liability counter (less the erased points). Stored outputs carry the customer id until
their offsets are committed (at most the output TTL); docs/operations.md says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from streamproc.config import RedisAccess
from streamproc.state.partitioning import Placement
from streamproc.state.redis.errors import redis_errors
from streamproc.state.redis.keys import Keys
from streamproc.state.redis.scripts import lua_script
from streamproc.state.redis.store import RedisStore, decode_state

LUA_ERASE = lua_script("erase_customer.lua", "state_version.lua")


@dataclass(frozen=True)
class Erased:
    customer_id: str
    profile: bool
    state: bool
    timer: bool
    points: int
    records: bool = False  # outstanding points taken off the liability counter

    def describe(self) -> str:
        if not (self.profile or self.state or self.timer or self.records):
            return f"customer {self.customer_id!r}: nothing stored, nothing removed"
        parts = []
        if self.profile:
            parts.append("profile")
        if self.state:
            parts.append(f"loyalty state ({self.points} outstanding points taken off the "
                         "liability)")
        if self.records:
            parts.append("receipt records")
        if self.timer:
            parts.append("timer entry")
        return f"customer {self.customer_id!r}: removed " + ", ".join(parts)


@redis_errors
async def erase_profiles(store: RedisStore, customer_ids: list[str]) -> int:
    """Delete these customers' profiles (tombstones), each under its partition; how many
    existed."""
    if not customer_ids:
        return 0
    k, place = store.keys, store.partition_of
    pipe = store.client.pipeline(transaction=False)
    for c in customer_ids:
        pipe.delete(k.profile(place(c), c))
    return sum(int(n) for n in await pipe.execute())


@redis_errors
async def erase_customer(client: Any, keys: Keys, customer_id: str, partition: int,
                         attempts: int = 20) -> Erased:
    """Delete a customer's profile, state, receipt records and timer entry atomically, under
    the partition its receipts go to (retried if a worker moved the state meanwhile)."""
    script = client.register_script(LUA_ERASE)
    p = partition
    for _ in range(attempts):
        s = cast("bytes | None", await client.get(keys.customer(p, customer_id)))
        points = 0
        v = b""
        if s is not None:
            st = decode_state(customer_id, s)
            active, pending = st.balance()
            points = active + pending
            v = str(st.version).encode()
        res = await script(keys=[keys.customer(p, customer_id), keys.profile(p, customer_id),
                                 keys.timers(p), keys.liability(p),
                                 keys.records(p, customer_id)],
                           args=[v or b"", customer_id, str(points)])
        if int(res[0]) == 1:
            return Erased(customer_id, bool(res[1]), bool(res[2]), bool(res[3]),
                          points if res[2] else 0, bool(res[4]))
    raise RuntimeError(f"customer {customer_id!r} kept changing; try again")


async def erase_with(access: RedisAccess, prefix: str, customer_id: str,
                     partitions: int | None = None, partitioner: str | None = None) -> Erased:
    """`erase_customer` on a client of its own (`streamproc erase`), under the customer's
    partition as producers place the key (the layout Redis records, unless given)."""
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(access.url, **access.client_kwargs())
    try:
        keys = Keys(prefix)
        layout = cast("dict[bytes, bytes]", await client.hgetall(keys.layout))
        n = partitions or int(layout.get(b"partitions", 6))
        kind = partitioner or layout.get(b"partitioner", b"murmur2").decode()
        p = Placement(n, kind)(customer_id)
        return await erase_customer(client, keys, customer_id, p)
    finally:
        await client.aclose()
