"""The in-memory state backend (the `StateView` of `streamproc.engine.stateview`)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

import orjson

from streamproc.domain.receipt import Profile
from streamproc.engine.model import CustomerState, ReceiptRecord
from streamproc.engine.stateview import KeptOutput


class PackedRecords(MutableMapping[str, ReceiptRecord]):
    """Receipt records kept as (time, bytes): the compact JSON the Redis store writes.

    A month's replay holds a record for every receipt of the return window; as objects (a
    record and a `SaleLine` a line) that was most of a 1M-receipt replay's memory, and a heap
    the cyclic GC kept walking. A record is decoded only when read (duplicates, returns) and
    encoded again when put back, so reads give copies: change one, then put it.
    """

    def __init__(self) -> None:
        self._raw: dict[str, tuple[int, bytes]] = {}

    def __getitem__(self, rid: str) -> ReceiptRecord:
        return ReceiptRecord.from_obj(rid, orjson.loads(self._raw[rid][1]))

    def get(self, rid: str, default: None = None) -> ReceiptRecord | None:  # type: ignore[override]
        got = self._raw.get(rid)
        return None if got is None else ReceiptRecord.from_obj(rid, orjson.loads(got[1]))

    def __setitem__(self, rid: str, rec: ReceiptRecord) -> None:
        # a copy: orjson returns its over-allocated output buffer (~2 KiB for ~300 bytes)
        self._raw[rid] = (rec.ts_us, bytes(memoryview(orjson.dumps(rec.to_obj()))))

    def put_blob(self, rid: str, ts_us: int, blob: bytes) -> None:
        """A record already in its stored form (`orjson.dumps(rec.to_obj())`, exact size)."""
        self._raw[rid] = (ts_us, blob)

    def __delitem__(self, rid: str) -> None:
        del self._raw[rid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def raw(self) -> dict[str, tuple[int, bytes]]:
        """The kept (time, bytes) by receipt id, itself: the compiled replay loop's view
        (`_fastcalc.MemView`) reads and writes it as `get` and `put_blob` do."""
        return self._raw

    def stored(self, rid: str) -> tuple[int, bytes]:
        """A record as kept: (time, bytes)."""
        return self._raw[rid]

    def forget_before(self, ts_us: int) -> int:
        """Drop the records older than `ts_us` (without decoding any); how many went."""
        old = [rid for rid, (ts, _) in self._raw.items() if ts < ts_us]
        for rid in old:
            del self._raw[rid]
        return len(old)


class MemoryState:
    """Everything in dicts: `streamproc replay`'s default and the tests' store.

    The compiled replay loop reads and writes these dicts through `_fastcalc.MemView`, which
    does what these methods do: change one, change it there too (the whole-stream
    differential tests compare the states)."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerState] = {}
        self.profiles: dict[str, Profile] = {}
        self.receipts = PackedRecords()
        self.budgets: dict[str, int] = {}
        self.coupons: dict[str, str] = {}
        self.exhausted: set[str] = set()

    def customer(self, customer_id: str) -> CustomerState:
        st = self.customers.get(customer_id)
        if st is None:
            st = self.customers[customer_id] = CustomerState(customer_id)
        return st

    def profile(self, customer_id: str) -> Profile | None:
        return self.profiles.get(customer_id)

    def put_profile(self, profile: Profile) -> None:
        self.profiles[profile.customer_id] = profile

    def receipt(self, receipt_id: str) -> ReceiptRecord | None:
        return self.receipts.get(receipt_id)

    def put_receipt(self, rec: ReceiptRecord) -> None:
        self.receipts[rec.receipt_id] = rec

    def put_receipt_blob(self, receipt_id: str, ts_us: int, blob: bytes) -> None:
        """`put_receipt` for the compiled processor, which writes a sale's record bytes itself
        (no `ReceiptRecord` built only to be encoded)."""
        self.receipts.put_blob(receipt_id, ts_us, blob)

    def budget_spent(self, campaign_id: str) -> int:
        return self.budgets.get(campaign_id, 0)

    def add_budget_spent(self, campaign_id: str, amount: int) -> None:
        self.budgets[campaign_id] = self.budgets.get(campaign_id, 0) + amount

    def coupon_used(self, code: str) -> bool:
        return code in self.coupons

    def use_coupon(self, code: str, receipt_id: str) -> None:
        self.coupons[code] = receipt_id

    def exhausted_noted(self, campaign_id: str) -> bool:
        return campaign_id in self.exhausted

    def note_exhausted(self, campaign_id: str) -> None:
        self.exhausted.add(campaign_id)

    def touch(self, st: CustomerState) -> None:
        pass

    def stored_output(self, receipt_id: str) -> bytes | None:
        return None  # a replay in memory never sees a redelivery

    def keep_output(self, receipt_id: str, outcome: KeptOutput) -> None:
        pass
