"""Redis as the state store: load what a batch needs in one round trip, compute in memory,
write back with one atomic, idempotent Lua call (`lua/apply_batch.lua`).

`BatchView` implements the engine's `StateView` over prefetched data and records what
changed; `RedisStore.commit` turns that into the guarded write. On a conflict (someone else
moved the state) nothing is written and the caller recomputes the batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from importlib import resources
from typing import Any, cast

import orjson
import redis
import redis.asyncio as aredis

from streamproc.domain.program import Program
from streamproc.domain.receipt import Profile, Receipt
from streamproc.engine import timers
from streamproc.engine.model import CustomerState, ReceiptRecord
from streamproc.engine.stateformat import state_codec
from streamproc.engine.stateview import KeptOutput
from streamproc.state.redis.keys import Keys

LUA_DIR = resources.files("streamproc.state.redis").joinpath("lua")
LUA_APPLY = LUA_DIR.joinpath("apply_batch.lua").read_text()
LUA_LOAD = LUA_DIR.joinpath("load_batch.lua").read_text()
encode_state, decode_state = state_codec()  # a customer's blob: docs/state-model.md


class Conflict(Exception):
    """The state moved between read and write; recompute the batch."""


def _profile_from(raw: bytes | None, cid: str) -> Profile | None:
    if raw is None:
        return None
    from datetime import date

    o = orjson.loads(raw)
    bday = date.fromisoformat(o["birthday"]) if o.get("birthday") else None
    return Profile(cid, bday, frozenset(o.get("segments") or ()))


def decode_receipt(rid: str, raw: bytes) -> ReceiptRecord:
    """A receipt record as stored under `Keys.receipt` (read by batches and snapshots)."""
    return ReceiptRecord.from_obj(rid, orjson.loads(raw))


def profile_blob(p: Profile) -> bytes:
    return orjson.dumps({"birthday": p.birthday.isoformat() if p.birthday else None,
                         "segments": sorted(p.segments)})


class BatchView:
    """A batch's slice of Redis state, held in memory while the batch is computed."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.customers: dict[str, CustomerState] = {}
        self.loaded_version: dict[str, int] = {}
        self.profiles: dict[str, Profile | None] = {}
        self.receipts: dict[str, ReceiptRecord | None] = {}
        self.receipt_raw: dict[str, bytes] = {}
        self.outputs: dict[str, bytes | None] = {}
        self.budgets: dict[str, int] = {}
        self.budget_loaded: dict[str, int] = {}
        self.coupons: dict[str, str | None] = {}
        self.new_coupons: dict[str, str] = {}
        self.exhausted: set[str] = set()
        self.new_exhausted: list[str] = []
        self.dirty_customers: set[str] = set()
        self.dirty_receipts: set[str] = set()
        self.new_outputs: dict[str, bytes] = {}
        self.loaded_points: dict[str, int] = {}

    def adopt(self, cid: str, version: bytes | None, blob: bytes | None) -> None:
        """Take a customer as read from Redis (absent: a new customer, version 0)."""
        if blob is None:
            self.loaded_version[cid] = 0
            return
        st = decode_state(cid, blob)
        st.version = int(version or 0)
        self.customers[cid] = st
        self.loaded_version[cid] = st.version
        self.loaded_points[cid] = sum(st.balance())

    # StateView ------------------------------------------------------------------
    def customer(self, customer_id: str) -> CustomerState:
        st = self.customers.get(customer_id)
        if st is None:
            st = self.customers[customer_id] = CustomerState(customer_id)
            self.loaded_version.setdefault(customer_id, 0)
        return st

    def profile(self, customer_id: str) -> Profile | None:
        return self.profiles.get(customer_id)

    def receipt(self, receipt_id: str) -> ReceiptRecord | None:
        return self.receipts.get(receipt_id)

    def put_receipt(self, rec: ReceiptRecord) -> None:
        self.receipts[rec.receipt_id] = rec
        self.dirty_receipts.add(rec.receipt_id)

    def budget_spent(self, campaign_id: str) -> int:
        return self.budgets.get(campaign_id, 0)

    def add_budget_spent(self, campaign_id: str, amount: int) -> None:
        self.budgets[campaign_id] = self.budgets.get(campaign_id, 0) + amount

    def coupon_used(self, code: str) -> bool:
        return self.coupons.get(code) is not None

    def use_coupon(self, code: str, receipt_id: str) -> None:
        self.coupons[code] = receipt_id
        self.new_coupons[code] = receipt_id

    def exhausted_noted(self, campaign_id: str) -> bool:
        return campaign_id in self.exhausted

    def note_exhausted(self, campaign_id: str) -> None:
        self.exhausted.add(campaign_id)
        self.new_exhausted.append(campaign_id)

    def touch(self, st: CustomerState) -> None:
        self.dirty_customers.add(st.customer_id)

    # redelivery -------------------------------------------------------------------
    def stored_output(self, receipt_id: str) -> bytes | None:
        """A receipt's result JSON as stored when it was applied."""
        return self.outputs.get(receipt_id)

    def keep_output(self, receipt_id: str, outcome: KeptOutput) -> None:
        self.new_outputs[receipt_id] = outcome.result_json()


class RedisStore:
    """Loads and commits batches against one Redis (standalone or a Sentinel primary)."""

    def __init__(self, url: str, program: Program, prefix: str = "sp",
                 output_ttl_s: int = 86_400, record_ttl: bool = True,
                 connection: Mapping[str, Any] | None = None) -> None:
        self.url = url
        self.program = program
        self.keys = Keys(prefix)
        self.output_ttl_ms = output_ttl_s * 1000
        # receipt records must outlive the return window (in wall time, with a margin)
        self.record_ttl_ms = (program.return_window_days + 7) * 86_400_000 if record_ttl else 0
        # credentials and TLS as parameters (config.RedisAccess), never inside the URL
        self.client = aredis.Redis.from_url(url, **(connection or {}))
        self.apply_script = self.client.register_script(LUA_APPLY)
        self.load_script = self.client.register_script(LUA_LOAD)
        self.budgeted = [c.id for c in program.campaigns if c.budget is not None]
        self.single_use = {code for c in program.campaigns if c.single_use
                           for code in c.coupon_codes}

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    # load -----------------------------------------------------------------------------
    async def load(self, receipts: list[Receipt]) -> BatchView:
        """Everything the batch's receipts can touch, in one call (`lua/load_batch.lua`)."""
        view = BatchView(self.program)
        cids = list(dict.fromkeys(r.customer_id for r in receipts if r.customer_id))
        own = list(dict.fromkeys(r.receipt_id for r in receipts))
        rids = list(dict.fromkeys(
            own + [r.original_receipt_id for r in receipts if r.original_receipt_id]))
        codes = list(dict.fromkeys(c for r in receipts for c in r.coupons
                                   if c in self.single_use))
        k = self.keys
        keys = [k.customer(c) for c in cids] + [k.profile(c) for c in cids] \
            + [k.receipt(r) for r in rids] + [k.output(r) for r in own] \
            + [k.budget, k.coupons, k.exhausted]
        args: list[int | str] = [len(cids), len(rids), len(own), len(self.budgeted),
                                 *self.budgeted, *codes]
        res = await self.load_script(keys=keys, args=args)
        i = 0
        for cid in cids:
            view.adopt(cid, *res[i])
            i += 1
        for cid in cids:
            view.profiles[cid] = _profile_from(res[i], cid)
            i += 1
        for rid in rids:
            raw = res[i]
            i += 1
            view.receipt_raw[rid] = raw or b""
            view.receipts[rid] = None if raw is None else decode_receipt(rid, raw)
        for rid in own:
            view.outputs[rid] = res[i]
            i += 1
        for cid, spent in zip(self.budgeted, res[i], strict=True):
            view.budgets[cid] = int(spent or 0)
            view.budget_loaded[cid] = int(spent or 0)
        for code, rid in zip(codes, res[i + 1], strict=True):
            view.coupons[code] = rid.decode() if rid is not None else None
        view.exhausted = {m.decode() for m in res[i + 2]}
        return view

    # commit ---------------------------------------------------------------------------
    async def commit(self, view: BatchView) -> None:
        """Write the batch's changes atomically; raise Conflict if anything moved."""
        k = self.keys
        keys: list[str] = []
        blobs: list[bytes] = []
        cv: list[list[str]] = []
        tm: list[list[str]] = []
        liability = 0
        for cid in view.dirty_customers:
            st = view.customers[cid]
            old = view.loaded_version.get(cid, 0)
            st.version = old + 1
            keys.append(k.customer(cid))
            blobs.append(encode_state(st))
            cv.append([str(old), str(st.version)])
            due = timers.next_due(st, self.program)
            tm.append([cid, "" if due is None else str(due)])
            liability += sum(st.balance()) - view.loaded_points.get(cid, 0)
        rs: list[str] = []
        for rid in view.dirty_receipts:
            keys.append(k.receipt(rid))
            old_raw = view.receipt_raw.get(rid, b"")
            rs.append(hashlib.sha1(old_raw).hexdigest() if old_raw else "")
            blobs.append(orjson.dumps(view.receipts[rid].to_obj()))  # type: ignore[union-attr]
        for rid, blob in view.new_outputs.items():
            keys.append(k.output(rid))
            blobs.append(blob)
        keys += [k.budget, k.coupons, k.exhausted, k.timers, k.liability]
        header = {
            "nc": str(len(view.dirty_customers)), "nr": str(len(view.dirty_receipts)),
            "no": str(len(view.new_outputs)), "cv": cv, "rs": rs,
            "rttl": str(self.record_ttl_ms), "ottl": str(self.output_ttl_ms),
            "b": [[cid, str(view.budget_loaded.get(cid, 0)), str(spent)]
                  for cid, spent in view.budgets.items()
                  if spent != view.budget_loaded.get(cid, 0)],
            "cp": [[code, rid] for code, rid in view.new_coupons.items()],
            "ex": view.new_exhausted, "t": tm, "dl": str(liability),
        }
        res = await self.apply_script(keys=keys, args=[orjson.dumps(header), *blobs])
        if int(res[0]) != 1:
            raise Conflict(f"{res[1].decode()} changed: {res[2].decode()}")
        for cid in view.dirty_customers:
            view.loaded_version[cid] = view.customers[cid].version
            view.loaded_points[cid] = sum(view.customers[cid].balance())

    # profiles, timers, reads ----------------------------------------------------------
    async def put_profiles(self, profiles: list[Profile]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for p in profiles:
            pipe.set(self.keys.profile(p.customer_id), profile_blob(p))
        await pipe.execute()

    async def due_customers(self, now_us: int, limit: int = 500) -> list[str]:
        raw = await self.client.zrangebyscore(self.keys.timers, "-inf", now_us, 0, limit)
        return [m.decode() for m in cast("list[bytes]", raw)]

    async def load_customers(self, cids: list[str]) -> BatchView:
        view = BatchView(self.program)
        pipe = self.client.pipeline(transaction=False)
        for cid in cids:
            pipe.hmget(self.keys.customer(cid), "v", "s")
        for cid, (v, s) in zip(cids, await pipe.execute(), strict=True):
            view.adopt(cid, v, s)
        return view

    async def liability(self) -> int:
        return int(await self.client.get(self.keys.liability) or 0)

    async def budgets_remaining(self) -> dict[str, int]:
        if not self.budgeted:
            return {}
        spent = await self.client.hmget(self.keys.budget, self.budgeted)
        return {cid: self.program.campaign(cid).budget - int(s or 0)  # type: ignore[operator]
                for cid, s in zip(self.budgeted, spent, strict=True)}


def read_customer(url: str, cid: str, prefix: str = "sp",
                  connection: Mapping[str, Any] | None = None) -> CustomerState | None:
    """A customer's state for `streamproc balance` (synchronous, one call)."""
    client = redis.Redis.from_url(url, **(connection or {}))
    try:
        v, s = cast("list[bytes | None]", client.hmget(Keys(prefix).customer(cid), "v", "s"))
    finally:
        client.close()
    if s is None or v is None:
        return None
    st = decode_state(cid, s)
    st.version = int(v)
    return st

