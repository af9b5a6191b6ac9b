"""Type stub of the compiled hot path (streamproc/_fastcalc.pyx)."""

from collections.abc import Callable, Iterable, Iterator

from streamproc.domain.program import Program
from streamproc.domain.receipt import Receipt, Reject
from streamproc.engine.calc import SaleCalc, SaleContext
from streamproc.engine.model import CustomerState
from streamproc.engine.plan import Plan
from streamproc.engine.processor import Outcome
from streamproc.engine.stateview import StateView

COMPILED: bool

class FastEngine:
    name: str
    program: Program
    plan: Plan
    rec_limit: int  # line records kept before the record table is cleared (200,000)
    def __init__(self, program: Program) -> None: ...
    def calc_sale(self, receipt: Receipt, ctx: SaleContext) -> SaleCalc: ...
    def calc_batch(
        self, receipts: Iterable[Receipt], contexts: Iterable[SaleContext]
    ) -> list[SaleCalc]: ...
    def calc_flat(
        self,
        receipts: Iterable[Receipt],
        contexts: Iterable[SaleContext],
        out: CalcBatch | None = None,
    ) -> CalcBatch: ...
    def decode_batch(
        self, raws: Iterable[bytes | str], out: DecodedBatch | None = None
    ) -> DecodedBatch: ...
    def pack_receipts(
        self, receipts: Iterable[Receipt], out: DecodedBatch | None = None
    ) -> DecodedBatch: ...
    def pack_contexts(
        self, contexts: Iterable[SaleContext], out: FlatContexts | None = None
    ) -> FlatContexts: ...
    def calc_decoded(
        self, receipts: DecodedBatch, contexts: FlatContexts, out: CalcBatch | None = None
    ) -> CalcBatch: ...

class DecodedBatch:
    """Receipts as C arrays for one engine (`decode_batch`, `pack_receipts`); appends."""

    n: int
    def __len__(self) -> int: ...
    def append(self, receipt: Receipt) -> None: ...
    def clear(self) -> None: ...
    def line_count(self, i: int) -> int: ...

class FlatContexts:
    """`SaleContext`s as C arrays for one engine (`pack_contexts`); appends."""

    n: int
    def __len__(self) -> int: ...
    def append(self, ctx: SaleContext) -> None: ...
    def clear(self) -> None: ...

class CalcBatch:
    """Flat results of `calc_flat`; `batch[i]` is a lazy view, `batch.calc(i)` a SaleCalc."""

    n: int
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> CalcView: ...
    def __iter__(self) -> Iterator[CalcView]: ...
    def calc(self, i: int) -> SaleCalc: ...
    def calcs(self) -> list[SaleCalc]: ...
    def redeemed_at(self, i: int) -> int: ...
    def line_count(self, i: int) -> int: ...

class CalcView:
    """One receipt of a CalcBatch: SaleCalc's attributes, each built when read."""

    i: int
    line_discount: list[int]
    line_redeemed: list[int]
    line_accrued: list[int]
    line_spend: list[int]
    discounts: list[tuple[str, int]]
    grants: list[tuple[str, int, int]]
    redeemed: int
    offers_used: list[str]
    offers_issued: list[str]
    coupons_accepted: list[str]
    coupons_rejected: list[tuple[str, str]]
    held_out: list[str]
    budget_spent: dict[str, int]
    budget_exhausted: list[str]
    gave: list[str]
    def calc(self) -> SaleCalc: ...

def receipt_from_obj(obj: object) -> Receipt: ...
def parse_receipt(raw: bytes | str) -> Receipt: ...

# customer state format (_fc_state.pxi): the same bytes as streamproc.engine.stateformat
def encode_state(st: CustomerState) -> bytes: ...
def decode_state(customer_id: str, blob: bytes) -> CustomerState: ...

# ledger and timers (_fc_ledger.pxi), processor (_fc_processor.pxi)
def next_due(st: CustomerState, program: Program) -> int | None: ...

class FastProcessor:
    """`engine.processor.Processor`'s twin over the compiled engine (same outcomes, same state)."""

    program: Program
    engine: FastEngine
    decode: Callable[[bytes | str], Receipt]
    def __init__(self, program: Program, engine: FastEngine) -> None: ...
    def next_due(self, st: CustomerState) -> int | None: ...
    def process_raw(
        self, raw: bytes | str, view: StateView, origin: str | None = None
    ) -> Outcome: ...
    def process_many(
        self, raws: Iterable[bytes | str], view: StateView, origins: Iterable[str] | None = None
    ) -> list[Outcome]: ...
    def process(
        self, receipt: Receipt, view: StateView, raw: bytes | str = b"", origin: str | None = None
    ) -> Outcome: ...
    def rejected(self, rej: Reject, raw: bytes | str) -> Outcome: ...

# result JSON (_fc_json.pxi): `orjson.dumps(o)` for results and events, None when unsure
def encode_json(o: object) -> bytes | None: ...
