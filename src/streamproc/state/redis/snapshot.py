"""A read-only snapshot of a live Redis store into memory: `whatif --state-from`.

It reads with SCAN, GET, HGETALL and SMEMBERS only (never a script, never a write), and
decodes with the store's own functions (`BatchView.adopt`, `decode_profile`, `records.unpack`),
so a snapshot reads exactly the format the workers write. The test dumps every key before and
after a what-if and compares them byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

import redis

from streamproc.domain.program import Program
from streamproc.state.memory import MemoryState
from streamproc.state.partitioning import Placement
from streamproc.state.redis.keys import Keys
from streamproc.state.redis.profiles import decode_profile
from streamproc.state.redis.records import unpack
from streamproc.state.redis.store import BatchView, read_layout

CHUNK = 1000


def _ids(client: redis.Redis, prefix: str, kind: str) -> Iterator[tuple[str, str]]:
    """(key, id) of every key `<prefix>:<kind>:{<partition>}:<id>` (docs/state-model.md)."""
    pre = f"{prefix}:{kind}:{{"
    for key in client.scan_iter(match=pre + "*", count=CHUNK):
        k = key.decode()
        end = k.find("}:", len(pre))
        if end > 0 and k[len(pre):end].isdigit():
            yield k, k[end + 2:]


def _partition(client: redis.Redis, prefix: str, key: str) -> int:
    """Where producers put this key, as the workers recorded the layout."""
    layout = read_layout(client, prefix)
    n, kind = layout if layout else (6, "murmur2")
    return Placement(n, kind)(key)


def _chunks(it: Iterator[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    buf: list[tuple[str, str]] = []
    for x in it:
        buf.append(x)
        if len(buf) >= CHUNK:
            yield buf
            buf = []
    if buf:
        yield buf


def read_snapshot(url: str, program: Program, prefix: str = "sp",
                  on_customer: Callable[[int], None] | None = None) -> MemoryState:
    """Customers, profiles, remembered receipts, budgets, used codes and exhausted budgets."""
    keys = Keys(prefix)
    state = MemoryState()
    client = redis.Redis.from_url(url)
    try:
        for chunk in _chunks(_ids(client, prefix, "c")):
            pipe = client.pipeline(transaction=False)
            for key, _ in chunk:
                pipe.get(key)
            view = BatchView(program)
            for (_, cid), s in zip(chunk, pipe.execute(), strict=True):
                if s is not None:
                    view.adopt(0, cid, s)
            state.customers.update(view.customers)
            if on_customer is not None:
                on_customer(len(chunk))
        for chunk in _chunks(_ids(client, prefix, "p")):
            pipe = client.pipeline(transaction=False)
            for key, _ in chunk:
                pipe.get(key)
            for (_, cid), raw in zip(chunk, pipe.execute(), strict=True):
                prof = decode_profile(raw, cid)
                if prof is not None:
                    state.profiles[cid] = prof
        for kind in ("h", "a"):  # a customer's records; an anonymous receipt's
            for chunk in _chunks(_ids(client, prefix, kind)):
                pipe = client.pipeline(transaction=False)
                for key, _ in chunk:
                    pipe.get(key)
                for (_, ident), raw in zip(chunk, pipe.execute(), strict=True):
                    if raw is not None:
                        state.receipts.update(unpack(raw, ident) if kind == "h"
                                              else unpack(raw, None, ident))
        _read_globals(client, keys, state)
    finally:
        client.close()
    return state


def read_for_receipt(url: str, program: Program, customer_id: str | None,
                     receipt_ids: list[str], prefix: str = "sp") -> MemoryState:
    """What one receipt can read (its customer, profile, remembered receipts, budgets, used
    codes), read-only: `streamproc explain --state-from`."""
    keys = Keys(prefix)
    state = MemoryState()
    client = redis.Redis.from_url(url)
    try:
        p = _partition(client, prefix, customer_id or (receipt_ids[0] if receipt_ids else ""))
        if customer_id is not None:
            s = cast("bytes | None", client.get(keys.customer(p, customer_id)))
            if s is not None:
                view = BatchView(program)
                view.adopt(p, customer_id, s)
                state.customers.update(view.customers)
            prof = decode_profile(cast("bytes | None", client.get(keys.profile(p, customer_id))),
                                 customer_id)
            if prof is not None:
                state.profiles[customer_id] = prof
        if customer_id is not None:  # the records this receipt reads are its customer's
            raw = cast("bytes | None", client.get(keys.records(p, customer_id)))
            got = unpack(raw, customer_id) if raw is not None else {}
        else:
            got = {}
            for rid in receipt_ids:
                raw = cast("bytes | None", client.get(keys.anonymous(p, rid)))
                if raw is not None:
                    got.update(unpack(raw, None, rid))
        for rid in receipt_ids:
            if rid in got:
                state.receipts[rid] = got[rid]
        _read_globals(client, keys, state)
    finally:
        client.close()
    return state


def _read_globals(client: redis.Redis, keys: Keys, state: MemoryState) -> None:
    """Budgets spent, used single-use codes and exhausted campaigns: shared by every customer."""
    budgets = cast("dict[bytes, bytes]", client.hgetall(keys.budget))
    coupons = cast("dict[bytes, bytes]", client.hgetall(keys.coupons))
    exhausted = cast("set[bytes]", client.smembers(keys.exhausted))
    state.budgets = {k.decode(): int(v) for k, v in budgets.items()}
    state.coupons = {k.decode(): v.decode() for k, v in coupons.items()}
    state.exhausted = {m.decode() for m in exhausted}
