"""One receipt's state for a quote, in one Redis call where the deployment allows it.

The batch load (`RedisStore.load`) makes one call for the partition's keys and one for the
shared budgets and single-use codes: two round trips, the largest cost of a quote. A quote
reads one receipt, so on a standalone Redis one script (`lua/load_quote.lua`) reads both in one
call; the shared keys are read only when the receipt can touch them (its single-use codes; the
budgets when the caller says so, see `engine.budget_reach`). On Redis Cluster the shared keys
live in their own slot (`{g}`, keys.py): a receipt that needs them still takes the batch load's
two calls, one that does not takes one. On a standalone Redis the call goes over a pipelined
connection of its own (`pipelined.py`: a fraction of redis-py's CPU per call). The view is the
batch load's `BatchView`, filled the same way, so the processor cannot tell the loads apart.
"""

from __future__ import annotations

from streamproc.domain.receipt import Receipt
from streamproc.state.redis.errors import redis_errors
from streamproc.state.redis.pipelined import PipelinedRedis, Script
from streamproc.state.redis.profiles import decode_profile
from streamproc.state.redis.scripts import lua_script
from streamproc.state.redis.store import BatchView, RedisStore

LUA_LOAD_QUOTE = lua_script("load_quote.lua")


class QuoteLoader:
    """Loads one receipt's view from the store's Redis (never from its in-memory cache)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.script = store.client.register_script(LUA_LOAD_QUOTE)  # Redis Cluster
        self.lean = Script(LUA_LOAD_QUOTE)
        self.conn = None if store.cluster else PipelinedRedis(store.url, store.connection)
        self.calls = 0  # Redis calls made, for tests and the benchmark

    async def aclose(self) -> None:
        if self.conn is not None:
            await self.conn.aclose()

    @redis_errors
    async def load(self, p: int, r: Receipt, budgets: bool) -> BatchView:
        """The view a one-receipt batch on partition `p` would load; the shared budgets only
        when `budgets` (else they read as untouched: the caller checks none was asked for)."""
        store = self.store
        codes = [c for c in dict.fromkeys(r.coupons) if c in store.single_use]
        budgeted = store.budgeted if budgets else []
        if store.cluster and (budgeted or codes):
            self.calls += 2
            return await store.load([(p, r)])  # the partition's slot and {g}: two calls
        k = store.keys
        cid = r.customer_id
        rids = [r.receipt_id]
        if r.original_receipt_id and r.original_receipt_id != r.receipt_id:
            rids.append(r.original_receipt_id)
        # the customer's receipt records; an anonymous receipt's own (and its original's)
        sets = [("h", cid)] if cid else [("a", rid) for rid in rids]
        keys = [k.customer(p, cid), k.profile(p, cid)] if cid else []
        keys += [store.record_key(p, rs) for rs in sets]
        if budgeted:
            keys.append(k.budget)
        if codes:
            keys.append(k.coupons)
        self.calls += 1
        args = [1 if cid else 0, len(sets), len(budgeted), len(codes), *budgeted, *codes]
        if self.conn is not None:
            res = await self.conn.evalsha(self.lean, keys, args)
        else:
            res = await self.script(keys=keys, args=args)
        view = BatchView(store.program)
        i = 0
        if cid:
            view.adopt(p, cid, res[0])
            view.profiles[cid] = decode_profile(res[1], cid)
            i = 2
        for rs in sets:
            view.adopt_records(p, rs, res[i])
            i += 1
        if budgeted:
            for camp, s in zip(budgeted, res[i], strict=True):
                view.budgets[camp] = int(s or 0)
            i += 1
        if codes:
            for code, owner in zip(codes, res[i], strict=True):
                view.coupons[code] = owner.decode() if owner is not None else None
        return view
