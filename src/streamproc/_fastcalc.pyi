"""Type stub of the compiled hot path (streamproc/_fastcalc.pyx): its Python-visible API.

One section per part of the module (the `_fc_*.pxi` files it includes); the shared C-level
helpers (`_fc_common.pxd`, `_fc_math.pxd`) have no Python API.
"""

from collections.abc import Callable, Iterable
from datetime import date
from zoneinfo import ZoneInfo

from streamproc.domain.program import Program
from streamproc.domain.receipt import Receipt, Reject
from streamproc.domain.result import Event
from streamproc.engine.calc import SaleCalc, SaleContext
from streamproc.engine.model import CustomerState, ReceiptRecord
from streamproc.engine.plan import Plan
from streamproc.engine.processor import Outcome
from streamproc.engine.stateview import StateView
from streamproc.replay.report import RunReport
from streamproc.state.memory import MemoryState

COMPILED: bool
SOURCE_DIGEST: str  # of the sources it was built from (engine/compiled_sources.py)

# engine (_fc_engine.pxi)
class FastEngine:
    name: str
    program: Program
    plan: Plan
    rec_limit: int  # line records kept before the record table is cleared (200,000)
    def __init__(self, program: Program) -> None: ...
    def calc_sale(self, receipt: Receipt, ctx: SaleContext) -> SaleCalc: ...
    def local_time(self, ts_us: int) -> tuple[int, int, date]: ...

# receipt decoder (_fc_decoder.pxi)
def receipt_from_obj(obj: object) -> Receipt: ...
def parse_receipt(raw: bytes | str) -> Receipt: ...

# customer state format (_fc_state.pxi): the same bytes as streamproc.engine.stateformat
def encode_state(st: CustomerState) -> bytes: ...
def decode_state(customer_id: str, blob: bytes) -> CustomerState: ...

# receipt records (_fc_records.pxi): the same bytes as streamproc.state.redis.records; None
# where the reference raises or must decide (the caller then runs it)
def pack_records(records: Iterable[ReceiptRecord], named: str | None = None) -> bytes | None: ...
def unpack_records(
    raw: bytes, customer_id: str | None, named: str | None = None
) -> dict[str, ReceiptRecord] | None: ...
def splice_records(old: bytes, new: bytes, named: str | None, window_us: int) -> bytes | None: ...

# ledger and timers (_fc_ledger.pxi), processor (_fc_processor.pxi)
def next_due(st: CustomerState, program: Program) -> int | None: ...
def fire_due(
    st: CustomerState, program: Program, now_us: int, text: bool = True
) -> list[Event]: ...
def format_us(us: int, tz: ZoneInfo) -> str: ...

class FastProcessor:
    """`engine.processor.Processor`'s twin over the compiled engine (same outcomes, same state)."""

    program: Program
    engine: FastEngine
    decode: Callable[[bytes | str], Receipt]
    def __init__(self, program: Program, engine: FastEngine) -> None: ...
    def next_due(self, st: CustomerState) -> int | None: ...
    def fire_due(
        self, st: CustomerState, now_us: int, text: bool = True
    ) -> list[Event]: ...
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
    def replay_parts(
        self, state: MemoryState, report: RunReport,
        on_error: Callable[[int, bytes, Exception, str], Outcome],
        records: dict[str, tuple[int, bytes]] | None = None,
    ) -> tuple[TimerHeap, ReplayLoop]: ...

# result JSON (_fc_json.pxi): `orjson.dumps(o)` for results and events, None when unsure
def encode_json(o: object) -> bytes | None: ...

# replay loop (_fc_replay.pxi): `replay.in_memory.Replay.step` a chunk of messages a call
class TimerHeap:
    """`replay.in_memory.TimerQueue` over the compiled timers."""

    due: dict[str, int]
    text: bool
    failures: int
    def __init__(self, state: MemoryState, processor: FastProcessor, text: bool = True) -> None: ...
    def reschedule(self, customer_id: str, st: CustomerState | None = None) -> None: ...
    def fire(self, now_us: int) -> list[Event]: ...

class MemView:
    """`MemoryState`'s `StateView` methods over its dicts (the replay loop's view)."""

    def __init__(self, state: MemoryState, records: dict[str, tuple[int, bytes]]) -> None: ...
    def budgets_left(self, budgeted: list[tuple[str, int]]) -> dict[str, int]: ...

class ReplayLoop:
    def __init__(
        self, processor: FastProcessor, state: MemoryState, timers: TimerHeap, report: RunReport,
        on_error: Callable[[int, bytes, Exception, str], Outcome],
        view: MemView | MemoryState | None = None,
    ) -> None: ...
    def run_chunk(
        self, msgs: list[tuple[int, bytes]], source: str, clock_us: int | None,
        results: bytearray | None, events: bytearray | None, rejects: bytearray | None,
    ) -> int | None: ...
