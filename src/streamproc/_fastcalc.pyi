"""Type stub of the compiled hot path (streamproc/_fastcalc.pyx)."""

from collections.abc import Iterable

from streamproc.domain.program import Program
from streamproc.domain.receipt import Receipt
from streamproc.engine.calc import SaleCalc, SaleContext
from streamproc.engine.plan import Plan

COMPILED: bool

class FastEngine:
    name: str
    program: Program
    plan: Plan
    def __init__(self, program: Program) -> None: ...
    def calc_sale(self, receipt: Receipt, ctx: SaleContext) -> SaleCalc: ...
    def calc_batch(
        self, receipts: Iterable[Receipt], contexts: Iterable[SaleContext]
    ) -> list[SaleCalc]: ...

def receipt_from_obj(obj: object) -> Receipt: ...
def parse_receipt(raw: bytes | str) -> Receipt: ...
