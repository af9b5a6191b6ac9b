"""Choose the sale engine: the compiled `_fastcalc` (default) or the readable reference.

The compiled engine is never replaced silently: when the extension is not built,
`load_fast_engine` raises `CompiledEngineMissing`; the reference runs only when asked for.
"""

from __future__ import annotations

from typing import Any

from streamproc.domain.program import Program
from streamproc.engine.loader import load_fastcalc
from streamproc.engine.reference import ReferenceEngine

ENGINE_NAMES = ("compiled", "reference")


def load_fast_engine(program: Program) -> Any:
    """The compiled engine for `program` (raises CompiledEngineMissing when not built)."""
    mod = load_fastcalc()
    return mod.FastEngine(program)


def make_engine(program: Program, name: str = "compiled") -> Any:
    """`compiled` (default) or `reference`; anything else is a ValueError."""
    if name == "compiled":
        return load_fast_engine(program)
    if name == "reference":
        return ReferenceEngine(program)
    raise ValueError(f"unknown engine {name!r} (one of: {', '.join(ENGINE_NAMES)})")
