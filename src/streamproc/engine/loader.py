"""Find the compiled hot path, and refuse to run silently without it."""

from __future__ import annotations

import importlib
import importlib.machinery


class CompiledEngineMissing(RuntimeError):
    """The Cython extension `streamproc._fastcalc` is not built or not importable."""


def load_fastcalc():  # -> module
    """Return the compiled `_fastcalc` module, or raise with how to build it."""
    try:
        mod = importlib.import_module("streamproc._fastcalc")
    except ImportError as exc:
        raise CompiledEngineMissing(
            "the compiled engine streamproc._fastcalc is not built "
            f"({exc}); run `pip install -e .` (or `make build`) to compile it"
        ) from exc
    origin = getattr(mod, "__file__", "") or ""
    if not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        raise CompiledEngineMissing(f"streamproc._fastcalc at {origin} is not a compiled extension")
    return mod


def compiled_engine_status() -> tuple[bool, str]:
    try:
        mod = load_fastcalc()
    except CompiledEngineMissing as exc:
        return False, str(exc)
    return True, mod.__file__
