"""Choose the receipt decoder: the compiled validator (default) or the readable reference.

A decoder is `parse_receipt(raw: bytes | str) -> Receipt` that raises `Reject` for anything
outside spec section 2. Both decoders are interchangeable: the compiled one
(`streamproc._fastcalc.parse_receipt`: `orjson.loads` plus a compiled `receipt_from_obj`)
returns equal `Receipt` objects and raises the same `Reject(reason, detail)` as
`streamproc.domain.receipt.parse_receipt` for every input
(tests/unit/engine/test_decode_differential.py). Like the engine, the compiled decoder is never
replaced silently: without the extension `make_decoder("compiled")` raises
`CompiledEngineMissing`.
"""

from __future__ import annotations

from collections.abc import Callable

from streamproc.domain import receipt as _receipt
from streamproc.domain.receipt import Receipt
from streamproc.engine.loader import load_fastcalc

DECODER_NAMES = ("compiled", "reference")

Decoder = Callable[[bytes | str], Receipt]
ObjValidator = Callable[[object], Receipt]


def make_decoder(name: str = "compiled") -> Decoder:
    """`parse_receipt(raw) -> Receipt` (raises `Reject`): `compiled` (default) or `reference`."""
    if name == "compiled":
        return load_fastcalc().parse_receipt  # type: ignore[no-any-return]
    if name == "reference":
        return _receipt.parse_receipt
    raise ValueError(f"unknown decoder {name!r} (one of: {', '.join(DECODER_NAMES)})")


def make_validator(name: str = "compiled") -> ObjValidator:
    """`receipt_from_obj(obj) -> Receipt` on already decoded JSON (raises `Reject`)."""
    if name == "compiled":
        return load_fastcalc().receipt_from_obj  # type: ignore[no-any-return]
    if name == "reference":
        return _receipt.receipt_from_obj
    raise ValueError(f"unknown decoder {name!r} (one of: {', '.join(DECODER_NAMES)})")
