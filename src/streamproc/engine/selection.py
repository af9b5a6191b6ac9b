"""Choose the sale engine and the receipt decoder: compiled `_fastcalc` (default) or reference.

The compiled code is never replaced silently: when the extension is not built, or was built
from other sources than the ones beside it, asking for it raises `CompiledEngineMissing`; the
reference runs only when asked for by name.

A decoder is `parse_receipt(raw: bytes | str) -> Receipt` that raises `Reject` for anything
outside spec section 2. Both decoders are interchangeable: the compiled one
(`streamproc._fastcalc.parse_receipt`: `orjson.loads` plus a compiled `receipt_from_obj`)
returns equal `Receipt` objects and raises the same `Reject(reason, detail)` as
`streamproc.domain.receipt.parse_receipt` for every input
(tests/unit/engine/test_decode_differential.py).
"""

from __future__ import annotations

import importlib
import importlib.machinery
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

from streamproc.domain import receipt as _receipt
from streamproc.domain.program import Program
from streamproc.domain.receipt import Receipt
from streamproc.engine.calc import SaleEngine
from streamproc.engine.compiled_sources import source_digest
from streamproc.engine.reference import ReferenceEngine
from streamproc.errors import StreamprocError

if TYPE_CHECKING:
    from streamproc._fastcalc import FastEngine

__all__ = [
    "DECODER_NAMES", "ENGINE_NAMES", "CompiledEngineMissing", "Decoder", "ObjValidator",
    "SaleEngine", "compiled_engine_status", "load_fast_engine", "load_fastcalc", "make_decoder",
    "make_engine", "make_validator",
]

ENGINE_NAMES = ("compiled", "reference")
DECODER_NAMES = ENGINE_NAMES

Decoder = Callable[[bytes | str], Receipt]
ObjValidator = Callable[[object], Receipt]


class CompiledEngineMissing(StreamprocError, RuntimeError):
    """The Cython extension `streamproc._fastcalc` is not built or not importable."""


def load_fastcalc() -> ModuleType:
    """Return the compiled `_fastcalc` module, or raise with how to build it."""
    try:
        mod: ModuleType = importlib.import_module("streamproc._fastcalc")
    except ImportError as exc:
        raise CompiledEngineMissing(
            "the compiled engine streamproc._fastcalc is not built "
            f"({exc}); run `pip install -e .` (or `make build`) to compile it"
        ) from exc
    origin = getattr(mod, "__file__", "") or ""
    if not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        raise CompiledEngineMissing(f"streamproc._fastcalc at {origin} is not a compiled extension")
    sources = source_digest(Path(origin).parent)
    if sources is not None and getattr(mod, "SOURCE_DIGEST", None) != sources:
        raise CompiledEngineMissing(
            f"the compiled engine {origin} was built from other sources than the ones beside it "
            "(a checkout whose extension was not rebuilt); run `make build` (or "
            "`pip install -e .`) to compile it again")
    return mod


def compiled_engine_status() -> tuple[bool, str]:
    """(True, path of the extension) or (False, why it is missing)."""
    try:
        mod = load_fastcalc()
    except CompiledEngineMissing as exc:
        return False, str(exc)
    return True, str(mod.__file__)


def load_fast_engine(program: Program) -> FastEngine:
    """The compiled engine for `program` (raises CompiledEngineMissing when not built)."""
    return cast("FastEngine", load_fastcalc().FastEngine(program))


def make_engine(program: Program, name: str = "compiled") -> SaleEngine:
    """`compiled` (default) or `reference`; anything else is a ValueError."""
    if name == "compiled":
        return load_fast_engine(program)
    if name == "reference":
        return ReferenceEngine(program)
    raise ValueError(f"unknown engine {name!r} (one of: {', '.join(ENGINE_NAMES)})")


def make_decoder(name: str = "compiled") -> Decoder:
    """`parse_receipt(raw) -> Receipt` (raises `Reject`): `compiled` (default) or `reference`."""
    if name == "compiled":
        return cast(Decoder, load_fastcalc().parse_receipt)
    if name == "reference":
        return _receipt.parse_receipt
    raise ValueError(f"unknown decoder {name!r} (one of: {', '.join(DECODER_NAMES)})")


def make_validator(name: str = "compiled") -> ObjValidator:
    """`receipt_from_obj(obj) -> Receipt` on already decoded JSON (raises `Reject`)."""
    if name == "compiled":
        return cast(ObjValidator, load_fastcalc().receipt_from_obj)
    if name == "reference":
        return _receipt.receipt_from_obj
    raise ValueError(f"unknown decoder {name!r} (one of: {', '.join(DECODER_NAMES)})")
