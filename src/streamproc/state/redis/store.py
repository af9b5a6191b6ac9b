"""Redis as the state store, one Kafka partition per atomic call.

A batch is loaded with one MGET per partition it spans (its keys share the partition's slot),
computed in memory in Kafka order, its claims on shared budgets and single-use codes made in
their own slot (`lua/claims.lua`), then written back with one atomic, fenced, idempotent call
per partition (`lua/apply_batch.lua`). Works on a standalone Redis and on Redis Cluster alike:
every call touches one slot. See docs/state-model.md.

`BatchView` implements the engine's `StateView` over prefetched data and records what changed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
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
from streamproc.state.errors import Conflict
from streamproc.state.partitioning import Placement
from streamproc.state.redis.errors import redis_errors
from streamproc.state.redis.keys import Keys
from streamproc.state.redis.pipelined import PipelinedRedis, Script
from streamproc.state.redis.profiles import decode_profile, encode_profile
from streamproc.state.redis.records import merge_fast as merge_records
from streamproc.state.redis.records import pack_fast as pack_records
from streamproc.state.redis.records import prune as prune_records
from streamproc.state.redis.records import unpack_fast as unpack_records
from streamproc.state.redis.scripts import lua_script

LUA_APPLY = lua_script("apply_batch.lua", "state_version.lua")
LUA_CLAIMS = lua_script("claims.lua")

GRANTED, REFUSED, FIRST_REFUSAL = "g", "r", "f"
DROP_CHUNK = 1000  # keys an UNLINK of committed messages' answers or claims names at most
LEAN_STALL_S = 30.0
encode_state, decode_state = state_codec()  # a customer's blob: docs/state-model.md


def decode_receipt(rid: str, raw: bytes) -> ReceiptRecord:
    """A receipt record of the earlier layout (JSON, one key a receipt): `state migrate`."""
    return ReceiptRecord.from_obj(rid, orjson.loads(raw))


RecordSet = tuple[str, str]  # ("h", customer id) or ("a", anonymous receipt id)


def record_set(customer_id: str | None, receipt_id: str) -> RecordSet:
    """Where a receipt's record is kept: with its customer's, or alone when anonymous."""
    return ("h", customer_id) if customer_id else ("a", receipt_id)


def _owner(rs: RecordSet) -> tuple[str | None, str | None]:
    """(customer id, receipt id the key names) of a record set's key."""
    return (rs[1], None) if rs[0] == "h" else (None, rs[1])


def connect(url: str, cluster: bool = False,
            connection: Mapping[str, Any] | None = None) -> Any:
    """An asyncio client: standalone (or a Sentinel primary's URL), or Redis Cluster from any
    node's URL (it follows MOVED/ASK and loads scripts per node). Credentials and TLS come as
    parameters (config.RedisAccess), never inside the URL."""
    if cluster:
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url(url, **(connection or {}))
    return aredis.Redis.from_url(url, **(connection or {}))


class BatchView:
    """A batch's slice of Redis state, held in memory while the batch is computed.

    Shared budgets and codes are answered from this batch's claims where the receipt has one
    (`claims`, kept across recomputations), else optimistically from the snapshot read at load;
    what the computation assumed is listed in `wants` for `RedisStore.claim`."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.part: dict[str, int] = {}  # customer -> partition
        self.customers: dict[str, CustomerState] = {}
        self.loaded_version: dict[str, int] = {}
        self.profiles: dict[str, Profile | None] = {}
        # receipt records by set (a customer's, or an anonymous receipt's): the bytes read
        # (the write's guard), decoded on first use (`records.py`)
        self.record_raw: dict[RecordSet, bytes] = {}
        self.record_sets: dict[RecordSet, dict[str, ReceiptRecord]] = {}
        # records put in a set not decoded (yet): merged when it is (a commit, a lookup)
        self.record_new: dict[RecordSet, dict[str, ReceiptRecord]] = {}
        self.record_part: dict[RecordSet, int] = {}
        self.dirty_records: set[RecordSet] = set()
        self.rpart: dict[str, int] = {}  # receipt id -> partition (its claims)
        self.owner: str | None = None  # the customer of the receipt being computed
        # outputs by origin (topic/partition/offset): what each message was answered, kept
        # until its offset is committed, so a redelivery gives the first answer whatever
        # happened since (docs/state-model.md)
        self.outputs: dict[str, bytes | None] = {}
        self.budgets: dict[str, int] = {}
        self.coupons: dict[str, str | None] = {}
        self.claims: dict[tuple[str, str], tuple[str, int]] = {}
        self.wants: list[tuple[str, str, str, int]] = []  # (receipt, kind, name, amount)
        self.current: str = ""  # the receipt being computed
        self.current_part: int = 0
        self.dirty_customers: set[str] = set()
        self.new_outputs: dict[str, tuple[int, bytes]] = {}  # origin -> (partition, output)
        # origin -> (hash key, field) of its answer, as named at load (`Keys.answer`)
        self.answer_keys: dict[str, tuple[str, str]] = {}
        self.loaded_points: dict[str, int] = {}
        self.outbox: dict[int, list[tuple[str, bytes]]] = {}
        # customer -> (version, blob, outstanding points) sent
        self.written: dict[str, tuple[int, bytes, int]] = {}

    def adopt(self, p: int, cid: str, blob: bytes | None, points: int | None = None) -> None:
        """Take a customer as read from Redis (absent: a new customer, version 0); the blob
        carries its version. `points`: its outstanding points when known (held in memory),
        else counted from its buckets."""
        self.part[cid] = p
        if blob is None:
            self.loaded_version[cid] = 0
            return
        st = decode_state(cid, blob)
        self.customers[cid] = st
        self.loaded_version[cid] = st.version
        self.loaded_points[cid] = st.outstanding() if points is None else points

    def adopt_decoded(self, p: int, cid: str, st: CustomerState, points: int) -> None:
        """Take a customer already decoded (held in memory as last written, handed to this
        view alone: `RedisStore.cache`), sparing the decode of its blob."""
        self.part[cid] = p
        self.customers[cid] = st
        self.loaded_version[cid] = st.version
        self.loaded_points[cid] = points

    def at(self, receipt_id: str, partition: int, customer_id: str | None = None) -> None:
        """The processor is about to compute this receipt (claims are the receipt's own, the
        records it reads its customer's)."""
        self.current = receipt_id
        self.current_part = partition
        self.owner = customer_id
        self.rpart.setdefault(receipt_id, partition)

    def adopt_records(self, p: int, rs: RecordSet, raw: bytes | None) -> None:
        """A record set as read from Redis (absent: none yet)."""
        self.record_part[rs] = p
        self.record_raw[rs] = raw or b""

    def _records(self, rs: RecordSet) -> dict[str, ReceiptRecord]:
        got = self.record_sets.get(rs)
        if got is None:
            raw = self.record_raw.get(rs)
            got = self.record_sets[rs] = unpack_records(raw, *_owner(rs)) if raw else {}
            got.update(self.record_new.pop(rs, {}))
        return got

    # StateView ------------------------------------------------------------------
    def customer(self, customer_id: str) -> CustomerState:
        st = self.customers.get(customer_id)
        if st is None:
            st = self.customers[customer_id] = CustomerState(customer_id)
            self.loaded_version.setdefault(customer_id, 0)
            self.part.setdefault(customer_id, self.current_part)
        return st

    def profile(self, customer_id: str) -> Profile | None:
        return self.profiles.get(customer_id)

    def receipt(self, receipt_id: str) -> ReceiptRecord | None:
        """Among the current customer's records (anonymous: the receipt id's own).

        A customer's packed records spell out every receipt id, so an id whose bytes are
        nowhere in them is not there: most receipts are new, and this spares decoding the
        customer's records in Python (a quote, which writes nothing, never decodes them)."""
        rs = record_set(self.owner, receipt_id)
        if rs not in self.record_sets:
            new = self.record_new.get(rs)
            if new is not None and receipt_id in new:
                return new[receipt_id]
            if rs[0] == "h" and receipt_id.encode() not in self.record_raw.get(rs, b""):
                return None
        return self._records(rs).get(receipt_id)

    def put_receipt(self, rec: ReceiptRecord) -> None:
        rs = record_set(rec.customer_id, rec.receipt_id)
        got = self.record_sets.get(rs)  # not decoded yet: decoded when written (commit)
        (got if got is not None else self.record_new.setdefault(rs, {}))[rec.receipt_id] = rec
        self.record_part.setdefault(rs, self.current_part)
        self.rpart.setdefault(rec.receipt_id, self.current_part)
        self.dirty_records.add(rs)

    def budget_spent(self, campaign_id: str) -> int:
        known = self.claims.get((self.current, "b:" + campaign_id))
        if known is not None:  # the receipt's own answer: it fits, or nothing is left
            return 0 if known[0] == GRANTED else self.program.campaign(campaign_id).budget or 0
        return self.budgets.get(campaign_id, 0)

    def add_budget_spent(self, campaign_id: str, amount: int) -> None:
        if amount <= 0:
            return
        self.budgets[campaign_id] = self.budgets.get(campaign_id, 0) + amount
        self.wants.append((self.current, "b", campaign_id, amount))

    def coupon_used(self, code: str) -> bool:
        known = self.claims.get((self.current, "c:" + code))
        if known is not None:
            return known[0] != GRANTED
        owner = self.coupons.get(code)
        return owner is not None and owner != self.current

    def use_coupon(self, code: str, receipt_id: str) -> None:
        self.coupons[code] = receipt_id
        self.wants.append((receipt_id, "c", code, 0))

    def exhausted_noted(self, campaign_id: str) -> bool:
        """Only the receipt whose claim was the campaign's first refusal emits the event."""
        known = self.claims.get((self.current, "b:" + campaign_id))
        if known is None:
            self.wants.append((self.current, "x", campaign_id, 0))
            return True
        return known[0] != FIRST_REFUSAL

    def note_exhausted(self, campaign_id: str) -> None:
        pass  # recorded by the claim

    def touch(self, st: CustomerState) -> None:
        self.dirty_customers.add(st.customer_id)

    # redelivery -------------------------------------------------------------------
    def stored_output(self, receipt_id: str) -> bytes | None:
        """Not by receipt id: outputs are kept by origin (`output_for`), answered before the
        processor runs."""
        return None

    def keep_output(self, receipt_id: str, outcome: KeptOutput) -> None:
        pass  # kept by origin, for every answer (`keep_answer`)

    def output_for(self, origin: str) -> bytes | None:
        """The answer stored for this message when it was first processed, if any."""
        return self.outputs.get(origin)

    def keep_answer(self, partition: int, origin: str, output: bytes) -> None:
        self.new_outputs[origin] = (partition, output)

    # timers -------------------------------------------------------------------------
    def keep_timer_events(self, p: int, records: list[tuple[str, bytes]]) -> None:
        """Timer events to write with the marks (the outbox) until Kafka has them."""
        self.outbox.setdefault(p, []).extend(records)


class RedisStore:
    """Loads and commits batches, partition by partition, against Redis or Redis Cluster."""

    def __init__(self, url: str, program: Program, prefix: str = "sp",
                 output_ttl_s: int = 604_800, record_ttl: bool = True, partitions: int = 6,
                 partitioner: str = "murmur2", cluster: bool = False,
                 client: Any = None, connection: Mapping[str, Any] | None = None,
                 keep_outputs: bool = True, cache_state: bool = False) -> None:
        self.url = url
        self.program = program
        self.keys = Keys(prefix)
        self.output_ttl_ms = output_ttl_s * 1000
        # answers kept per origin for redeliveries (a stream); a file replay has none
        self.keep_outputs = keep_outputs
        # the state of the customers of the partitions this worker owns, as last written
        # (version, blob, outstanding points): a batch reads Redis only for customers it has
        # not seen; dropped when a partition is revoked, fenced or found moved (`forget`)
        self.cache: dict[int, dict[str, tuple[int, bytes, int]]] | None = \
            {} if cache_state else None
        # the same states decoded, as the last batch that wrote them left them: a batch takes
        # one out (it is then its own, mutated as it computes) and only a successful write
        # puts it back, so no batch ever starts from an object another computation changed
        self.decoded: dict[int, dict[str, CustomerState]] = {}
        # profiles decoded, by the bytes read (immutable: the same bytes, the same profile)
        self.profiles_held: dict[int, dict[str, tuple[bytes, Profile | None]]] = {}
        # receipt records must outlive the return window (in wall time, with a margin)
        self.record_ttl_ms = (program.return_window_days + 7) * 86_400_000 if record_ttl else 0
        self.placement = Placement(partitions, partitioner)
        self.layout_known = False  # adopted from `sp:layout` (callers outside the stream)
        self.cluster = cluster
        self.connection = dict(connection or {})
        self.client = client if client is not None else connect(url, cluster, connection)
        self._nodes: dict[tuple[str, int], Any] = {}  # cluster primaries, for WAIT
        self.apply_script = self.client.register_script(LUA_APPLY)
        self.claims_script = self.client.register_script(LUA_CLAIMS)
        # a standalone Redis: a batch's calls (load, claims, apply, drops) go over one lean
        # pipelined connection, their arguments packed as one buffer in C (`pipelined.py`),
        # not one by one by redis-py (its packing was ~9 % of the worker's CPU); Redis Cluster
        # keeps redis-py, which follows MOVED. A stall long enough to mean a dead peer, not a
        # slow apply, drops the connection (the call is retried like any lost connection).
        self.lean = None if cluster or client is not None \
            else PipelinedRedis(url, connection, stall_s=LEAN_STALL_S)
        self.apply_lean, self.claims_lean = Script(LUA_APPLY), Script(LUA_CLAIMS)
        self.budgeted = [c.id for c in program.campaigns if c.budget is not None]
        # when a customer's next timer is due (its entry in the partition's timer set): the
        # processor's, compiled when it is (`BatchProcessor` hands it over)
        self.next_due: Callable[[CustomerState], int | None] = \
            lambda st: timers.next_due(st, program)
        self.single_use = {code for c in program.campaigns if c.single_use
                           for code in c.coupon_codes}

    async def _all(self, calls: Sequence[Awaitable[Any]]) -> list[Any]:
        """Run independent calls at once on one Redis; one after another on Cluster, where
        redis-py's asyncio client mishandles concurrent script calls on a new connection
        (NoScriptError, then a connection used while closed)."""
        if self.cluster:
            return [await c for c in calls]
        return list(await asyncio.gather(*calls))

    @property
    def partitions(self) -> int:
        return self.placement.partitions

    def set_partitions(self, n: int) -> None:
        """The receipts topic's real partition count (known once the consumer has joined)."""
        if n != self.placement.partitions:
            self.placement = Placement(n, self.placement.kind)

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop what is held in memory for these partitions (revoked, fenced, or moved)."""
        if self.cache is not None:
            for p in partitions:
                self.cache.pop(p, None)
                self.decoded.pop(p, None)
                self.profiles_held.pop(p, None)

    def partition_of(self, key: str) -> int:
        """Where producers put this key (customer id, or receipt id when anonymous)."""
        return self.placement(key)

    @redis_errors
    async def close(self) -> None:
        if self.lean is not None:
            await self.lean.aclose()
        for c in self._nodes.values():
            await c.aclose()
        await self.client.aclose()

    @redis_errors
    async def ping(self) -> bool:
        return bool(await self.client.ping())

    @redis_errors
    async def write_layout(self) -> None:
        """Record the partition count and partitioner, for lookups outside the stream."""
        await self.client.hset(self.keys.layout, mapping={
            "partitions": self.placement.partitions, "partitioner": self.placement.kind})

    @redis_errors
    async def adopt_layout(self) -> None:
        """Place keys as the workers recorded (`sp:layout`), for callers outside the stream."""
        raw = await self.client.hgetall(self.keys.layout)
        if raw:
            self.placement = Placement(int(raw[b"partitions"]), raw[b"partitioner"].decode())
            self.layout_known = True

    # load -----------------------------------------------------------------------------
    @redis_errors
    async def load(self, items: Sequence[tuple[Any, ...]]) -> BatchView:
        """Everything the batch's receipts can touch: one call per partition, one for the
        shared budgets and codes, all at once. With an origin per receipt, the answers stored
        for those messages too (a redelivery)."""
        view = BatchView(self.program)
        by_part: dict[int, list[Receipt]] = {}
        origins: dict[int, list[str]] = {}
        for it in items:
            by_part.setdefault(it[0], []).append(it[1])
            if len(it) > 2 and self.keep_outputs:
                origins.setdefault(it[0], []).append(it[2])
        codes = list(dict.fromkeys(c for it in items for c in it[1].coupons
                                   if c in self.single_use))
        calls = [self._load_partition(view, p, rs, origins.get(p, []))
                 for p, rs in by_part.items()]
        if self.budgeted or codes:
            calls.append(self._load_globals(view, codes))
        await self._all(calls)
        return view

    async def _load_partition(self, view: BatchView, p: int, receipts: list[Receipt],
                              own: list[str]) -> None:
        cids = list(dict.fromkeys(r.customer_id for r in receipts if r.customer_id))
        held = self.cache.get(p, {}) if self.cache is not None else {}
        read = [c for c in cids if c not in held]  # customers not held in memory
        # record sets: each customer's; an anonymous receipt's own (and its original's)
        sets = [("h", c) for c in cids] + list(dict.fromkeys(
            ("a", rid) for r in receipts if not r.customer_id
            for rid in (r.receipt_id, r.original_receipt_id) if rid))
        k = self.keys
        ckey, pkey, hkey = k.customer(p, ""), k.profile(p, ""), k.records(p, "")
        keys = [ckey + c for c in read] + [pkey + c for c in cids] + [hkey + c for c in cids] \
            + [self.record_key(p, rs) for rs in sets[len(cids):]]
        hashes = self._answer_hashes(p, own, view.answer_keys)
        # the state's keys and the answers' hashes in one round trip (the answers are this
        # partition's owner's, written with the state under its fence)
        res, *answers = await self._all(
            [self._mget(keys)]
            + [self._hmget(h, [f for _, f in fields]) for h, fields in hashes.items()])
        i = 0
        for cid in read:
            view.adopt(p, cid, res[i])
            i += 1
        decoded = self.decoded.get(p, {})
        for cid in cids:
            got = held.get(cid)
            if got is not None:
                st = decoded.pop(cid, None)
                if st is not None and st.version == got[0]:
                    view.adopt_decoded(p, cid, st, got[2])
                else:
                    view.adopt(p, cid, got[1], got[2])
        if self.cache is None:
            for cid in cids:
                view.profiles[cid] = decode_profile(res[i], cid)
                i += 1
        else:
            profiles = self.profiles_held.setdefault(p, {})
            for cid in cids:
                raw = res[i]
                i += 1
                if raw is None:
                    view.profiles[cid] = None
                    profiles.pop(cid, None)
                    continue
                known = profiles.get(cid)
                if known is None or known[0] != raw:
                    known = profiles[cid] = (raw, decode_profile(raw, cid))
                view.profiles[cid] = known[1]
        for rs in sets:
            view.adopt_records(p, rs, res[i])
            i += 1
        for fields, got in zip(hashes.values(), answers, strict=True):
            for (origin, _), answer in zip(fields, got, strict=True):
                view.outputs[origin] = answer

    def _answer_hashes(self, p: int, origins: Iterable[str],
                       named: dict[str, tuple[str, str]] | None = None,
                       ) -> dict[str, list[tuple[str, str]]]:
        """The hashes the answers of these messages are kept in: key -> [(origin, field)].
        `named`: (key, field) by origin, as named before (the batch's load); those not there
        yet are named and added."""
        out: dict[str, list[tuple[str, str]]] = {}
        answer = self.keys.answer
        for origin in origins:
            got = named.get(origin) if named is not None else None
            if got is None:
                got = answer(p, origin)
                if named is not None:
                    named[origin] = got
            key, field = got
            got_key = out.get(key)
            if got_key is None:
                out[key] = [(origin, field)]
            else:
                got_key.append((origin, field))
        return out

    async def _mget(self, keys: list[str]) -> list[bytes | None]:
        """The values of keys of one slot, in one atomic read (MGET)."""
        if not keys:
            return []
        if self.lean is not None:
            return list(await self.lean.execute("MGET", *keys))
        return list(await self.client.mget(keys))

    async def _hmget(self, key: str, fields: list[str]) -> list[bytes | None]:
        if self.lean is not None:
            return list(await self.lean.execute("HMGET", key, *fields))
        return list(await self.client.hmget(key, fields))

    def record_key(self, p: int, rs: RecordSet) -> str:
        return self.keys.records(p, rs[1]) if rs[0] == "h" else self.keys.anonymous(p, rs[1])

    async def _load_globals(self, view: BatchView, codes: list[str]) -> None:
        k = self.keys
        if self.budgeted:
            spent = await self._hmget(k.budget, self.budgeted)
            for cid, s in zip(self.budgeted, spent, strict=True):
                view.budgets[cid] = int(s or 0)
        if codes:
            owners = await self._hmget(k.coupons, codes)
            for code, rid in zip(codes, owners, strict=True):
                view.coupons[code] = rid.decode() if rid is not None else None

    def settle_claims(self, view: BatchView) -> None:
        """Before a recomputation: this batch's own granted claims are in the budgets read;
        take them out so the receipts that made them add them back in order."""
        for (_, name), (ans, amount) in view.claims.items():
            if name.startswith("b:") and ans == GRANTED:
                cid = name[2:]
                view.budgets[cid] = view.budgets.get(cid, 0) - amount

    # claims ---------------------------------------------------------------------------
    @redis_errors
    async def claim(self, wants: list[tuple[str, str, str, int]]) -> list[str]:
        """Make the batch's claims, in order; one answer per claim (see `lua/claims.lua`)."""
        k = self.keys
        rids = list(dict.fromkeys(rid for rid, _, _, _ in wants))
        idx = {rid: i + 1 for i, rid in enumerate(rids)}
        rows = []
        for rid, kind, name, amount in wants:
            limit = self.program.campaign(name).budget if kind == "b" else 0
            rows.append([str(idx[rid]), kind, name, str(amount), str(limit or 0), rid])
        keys = [k.budget, k.coupons, k.exhausted] + [k.claims(r) for r in rids]
        header = {"ttl": str(self.record_ttl_ms or self.output_ttl_ms), "c": rows}
        args = [orjson.dumps(header)]
        if self.lean is not None:
            res = await self.lean.evalsha(self.claims_lean, keys, args)
        else:
            res = await self.claims_script(keys=keys, args=args)
        return [a.decode() if isinstance(a, bytes) else a for a in res]

    # commit ---------------------------------------------------------------------------
    @redis_errors
    async def commit(self, view: BatchView, fences: dict[int, str] | None = None) -> set[int]:
        """Write the batch's changes, one atomic call per partition. Returns the partitions
        whose fence refused the write (another worker owns them now); raises `Conflict` if
        state moved under a caller without a fence."""
        parts: dict[int, dict[str, list[Any]]] = {}

        def part(p: int) -> dict[str, list[Any]]:
            d = parts.get(p)
            if d is None:
                d = parts[p] = {"c": [], "r": [], "o": []}
            return d

        for rs in view.dirty_records:
            if rs[0] == "h":  # a customer's records are written with its state (the guard)
                view.part.setdefault(rs[1], view.record_part[rs])
                view.touch(view.customer(rs[1]))
            part(view.record_part[rs])["r"].append(rs)
        for cid in view.dirty_customers:
            part(view.part[cid])["c"].append(cid)
        for origin, (p, _) in view.new_outputs.items():
            part(p)["o"].append(origin)
        for p in view.outbox:
            part(p)
        results = await self._all([
            self._commit_partition(view, p, d, (fences or {}).get(p, ""))
            for p, d in parts.items()])
        fenced = set()
        moved = None
        refused: set[int] = set()
        for p, res in zip(parts, results, strict=True):
            if int(res[0]) == 1:
                continue
            what = res[1].decode() if isinstance(res[1], bytes) else res[1]
            refused.add(p)
            self.forget([p])
            if what == "fence":
                fenced.add(p)
                continue
            moved = f"{what} changed: {res[2]!r}"
        if self.cache is not None:  # the partitions written hold what was written
            for p, d in parts.items():
                if p not in refused:
                    held = self.cache.setdefault(p, {})
                    objs = self.decoded.setdefault(p, {})
                    for cid in d["c"]:
                        held[cid] = view.written[cid]
                        objs[cid] = view.customers[cid]  # what was encoded, as it was
        if moved is not None:
            raise Conflict(moved)
        for cid in view.dirty_customers:
            if view.part[cid] not in fenced:
                view.loaded_version[cid] = view.customers[cid].version
                view.loaded_points[cid] = view.written[cid][2]
        return fenced

    async def _commit_partition(self, view: BatchView, p: int, d: dict[str, list[Any]],
                                token: str) -> Any:
        k = self.keys
        keys = [k.fence(p), k.timers(p), k.outbox(p), k.liability(p)]
        blobs: list[bytes] = []
        cv: list[str] = []
        tm: list[list[str]] = []
        liability = 0
        next_due = self.next_due
        customers, loaded, loaded_points = view.customers, view.loaded_version, view.loaded_points
        written = view.written
        ckey = k.customer(p, "")  # the partition's customer key, without the id
        for cid in d["c"]:
            st = customers[cid]
            old = loaded.get(cid, 0)
            st.version = v = old + 1
            keys.append(ckey + cid)
            blob = encode_state(st)
            points = st.outstanding()
            written[cid] = (v, blob, points)
            blobs.append(blob)
            cv.append(str(old))
            due = next_due(st)
            tm.append([cid, "" if due is None else str(due)])
            liability += points - loaded_points.get(cid, 0)
        rs: list[str] = []
        window = self.program.return_window_us
        for rset in d["r"]:
            keys.append(self.record_key(p, rset))
            old_raw = view.record_raw.get(rset, b"")
            # a customer's: guarded by its version, written in this call too (`commit`)
            rs.append("-" if rset[0] == "h" else
                      hashlib.sha1(old_raw).hexdigest() if old_raw else "")
            got = view.record_sets.get(rset)
            if got is None:  # not decoded: the bytes read spliced with the records put
                blobs.append(merge_records(old_raw, view.record_new.get(rset, {}),
                                           *_owner(rset), window))
            else:
                blobs.append(pack_records(prune_records(got, window), _owner(rset)[1]))
        per_hash: list[str] = []
        for key, fields in self._answer_hashes(p, d["o"], view.answer_keys).items():
            keys.append(key)
            per_hash.append(str(len(fields)))
            for origin, field in fields:
                blobs.append(field.encode())
                blobs.append(view.new_outputs[origin][1])
        header = {
            "tok": token, "nc": str(len(d["c"])), "nr": str(len(d["r"])),
            "no": per_hash, "cv": cv, "rs": rs,
            "rttl": str(self.record_ttl_ms), "ottl": str(self.output_ttl_ms),
            "t": tm, "dl": str(liability),
            "ob": [[eid, ev.decode()] for eid, ev in view.outbox.get(p, [])],
        }
        args = [orjson.dumps(header), *blobs]
        if self.lean is not None:
            return await self.lean.evalsha(self.apply_lean, keys, args)
        return await self.apply_script(keys=keys, args=args)

    # fence ----------------------------------------------------------------------------
    @redis_errors
    async def take_partitions(self, partitions: list[int], generation: int,
                              member: str) -> str:
        """Make this member the owner of the partitions (on assignment); return the token the
        apply calls must carry. A newer generation always wins; an older one never does."""
        token = f"{generation} {member}"
        script = ("local cur = redis.call('GET', KEYS[1]) "
                  "if cur then local g = tonumber(string.match(cur, '^(%d+) ')) "
                  "if g and g > tonumber(ARGV[2]) then return 0 end end "
                  "redis.call('SET', KEYS[1], ARGV[1]) return 1")
        await self._all([self.client.eval(script, 1, self.keys.fence(p), token,
                                                str(generation)) for p in partitions])
        return token

    # durability -------------------------------------------------------------------------
    @redis_errors
    async def check_durability(self, mode: str) -> None:
        """At start: refuse a durability mode the server cannot give."""
        if mode not in ("none", "wait", "fsync"):
            raise ValueError(f"redis durability must be none, wait or fsync, not {mode!r}")
        if mode == "fsync":
            for cfg in await self._each_primary(lambda n: self.client.config_get(
                    "append*", **({"target_nodes": n} if n is not None else {}))):
                if cfg.get("appendonly") != "yes" or cfg.get("appendfsync") != "always":
                    raise ValueError("redis durability 'fsync' needs appendonly yes and "
                                     f"appendfsync always; the server has {cfg}")

    @redis_errors
    async def durable(self, mode: str, replicas: int = 1, timeout_ms: int = 1000) -> None:
        """Before offsets commit: the batches written so far survive a Redis crash.

        `wait`: WAIT until `replicas` replicas have them. WAIT covers the writes of its own
        connection, so it follows a marker write on the same connection: replication is one
        ordered stream per primary, so a replica that has the marker has every earlier write.
        A timeout raises a transient error (the caller waits and asks again). `fsync`: every
        reply already came after the fsync (appendfsync always). `none`: nothing."""
        if mode != "wait":
            return
        markers = [f"{self.keys.prefix}:d:{{{p}}}" for p in range(self.partitions)]
        markers.append(f"{self.keys.prefix}:g:{{g}}:d")
        groups: dict[tuple[str, int] | None, list[str]] = {}
        if not self.cluster:
            groups[None] = markers[:1]
        else:
            for m in markers:
                node = self.client.get_node_from_key(m)
                groups.setdefault((node.host, node.port), [m])
        await asyncio.gather(*[self._wait_on(addr, ms[0], replicas, timeout_ms)
                               for addr, ms in groups.items()])

    async def _wait_on(self, addr: tuple[str, int] | None, marker: str, replicas: int,
                       timeout_ms: int) -> None:
        client = self.client if addr is None else self._node_client(addr)
        pipe = client.pipeline(transaction=False)
        pipe.incr(marker)
        pipe.execute_command("WAIT", replicas, timeout_ms)
        _, got = await pipe.execute()
        if int(got) < replicas:
            raise redis.exceptions.TimeoutError(
                f"WAIT: {got} of {replicas} replicas acknowledged in {timeout_ms} ms")

    def _node_client(self, addr: tuple[str, int]) -> Any:
        c = self._nodes.get(addr)
        if c is None:
            # the same login and TLS as the cluster client (a rediss:// URL means TLS)
            c = self._nodes[addr] = aredis.Redis(host=addr[0], port=addr[1],
                                                 ssl=self.url.startswith("rediss://"),
                                                 **self.connection)
        return c

    async def _each_primary(self, fn: Any) -> list[Any]:
        if self.cluster:
            return list(await asyncio.gather(*[fn(n) for n in self.client.get_primaries()]))
        return [await fn(None)]

    # profiles, timers, reads ----------------------------------------------------------
    @redis_errors
    async def put_profiles(self, profiles: list[Profile]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for p in profiles:
            pipe.set(self.keys.profile(self.partition_of(p.customer_id), p.customer_id),
                     encode_profile(p))
        await pipe.execute()

    @redis_errors
    async def due_customers(self, p: int, now_us: int, limit: int = 500) -> list[str]:
        raw = await self.client.zrangebyscore(self.keys.timers(p), "-inf", now_us, 0, limit)
        return [m.decode() for m in cast("list[bytes]", raw)]

    @redis_errors
    async def drop_timers(self, p: int, cids: list[str]) -> None:
        """Orphans: timer entries whose customer is gone (erased) must not block the rest."""
        if cids:
            await self.client.zrem(self.keys.timers(p), *cids)

    @redis_errors
    async def load_customers(self, p: int, cids: list[str]) -> BatchView:
        view = BatchView(self.program)
        view.current_part = p
        k = self.keys
        res = await self._mget([k.customer(p, c) for c in cids])
        for cid, s in zip(cids, res[:len(cids)], strict=True):
            view.adopt(p, cid, s)
        return view

    @redis_errors
    async def drop_outputs(self, origins: dict[int, list[str]]) -> None:
        """These messages' offsets are committed: no redelivery will ask for their answers."""
        if not any(origins.values()):
            return
        # an HDEL per hash (and chunk), not a command per message (benchmarks/README.md); the
        # hash goes with its last field
        cmds = []
        for p, os_ in origins.items():
            for key, fields in self._answer_hashes(p, os_).items():
                fs = [f for _, f in fields]
                cmds += [("HDEL", key, *fs[i:i + DROP_CHUNK])
                         for i in range(0, len(fs), DROP_CHUNK)]
        await self._each(cmds)

    async def _each(self, cmds: list[tuple[str, ...]]) -> None:
        """Run these commands (each on one slot), all in one round trip."""
        if self.lean is not None:
            await asyncio.gather(*[self.lean.execute(*c) for c in cmds])
            return
        pipe = self.client.pipeline(transaction=False)
        for c in cmds:
            pipe.execute_command(*c)
        await pipe.execute()

    @redis_errors
    async def drop_claims(self, receipt_ids: list[str]) -> None:
        """These receipts' offsets are committed: their claims will not be asked again."""
        if not receipt_ids:
            return
        await self._each([("UNLINK", *[self.keys.claims(r) for r in receipt_ids[i:i + DROP_CHUNK]])
                          for i in range(0, len(receipt_ids), DROP_CHUNK)])  # one slot: {g}

    @redis_errors
    async def outbox(self, p: int) -> list[tuple[str, bytes]]:
        """Timer events written but not yet known to be in Kafka."""
        got = await self.client.hgetall(self.keys.outbox(p))
        return sorted((k.decode(), v) for k, v in got.items())

    @redis_errors
    async def clear_outbox(self, p: int, event_ids: list[str]) -> None:
        if event_ids:
            await self.client.hdel(self.keys.outbox(p), *event_ids)

    @redis_errors
    async def liability(self) -> int:
        k = self.keys
        vals = await self._all([self.client.get(k.liability(p))
                                      for p in range(self.partitions)])
        return sum(int(v or 0) for v in vals)

    @redis_errors
    async def budgets_remaining(self) -> dict[str, int]:
        if not self.budgeted:
            return {}
        spent = await self.client.hmget(self.keys.budget, self.budgeted)
        return {cid: self.program.campaign(cid).budget - int(s or 0)  # type: ignore[operator]
                for cid, s in zip(self.budgeted, spent, strict=True)}


def read_layout(client: Any, prefix: str) -> tuple[int, str] | None:
    """The partition count and partitioner the workers recorded (`sp:layout`), if any."""
    raw = cast("dict[bytes, bytes]", client.hgetall(Keys(prefix).layout))
    if not raw:
        return None
    return int(raw[b"partitions"]), raw[b"partitioner"].decode()


def read_customer(url: str, cid: str, prefix: str = "sp",
                  connection: Mapping[str, Any] | None = None, partitions: int | None = None,
                  partitioner: str | None = None, cluster: bool = False
                  ) -> CustomerState | None:
    """A customer's state for `streamproc balance` (synchronous). The partition is found the
    way producers place the key: the layout the workers recorded, unless given."""
    if cluster:
        from redis.cluster import RedisCluster

        client: Any = RedisCluster.from_url(url, **(connection or {}))
    else:
        client = redis.Redis.from_url(url, **(connection or {}))
    try:
        layout = read_layout(client, prefix)
        n = partitions or (layout[0] if layout else 6)
        kind = partitioner or (layout[1] if layout else "murmur2")
        p = Placement(n, kind)(cid)
        s = cast("bytes | None", client.get(Keys(prefix).customer(p, cid)))
    finally:
        client.close()
    return None if s is None else decode_state(cid, s)
