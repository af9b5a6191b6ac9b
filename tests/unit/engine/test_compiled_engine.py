"""The compiled hot path must be the one loaded: no silent fallback to pure Python."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types

import pytest

from streamproc.engine import selection


def test_fastcalc_is_a_compiled_extension() -> None:
    mod = selection.load_fastcalc()  # raises CompiledEngineMissing when not built
    assert mod.__name__ == "streamproc._fastcalc"
    assert mod.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), mod.__file__
    assert isinstance(mod.__spec__.loader, importlib.machinery.ExtensionFileLoader)
    ok, detail = selection.compiled_engine_status()
    assert ok, detail
    assert detail == mod.__file__


def test_status_reports_missing_when_import_is_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    # sys.modules[name] = None makes `import name` raise ImportError (ModuleNotFoundError).
    monkeypatch.setitem(sys.modules, "streamproc._fastcalc", None)
    ok, detail = selection.compiled_engine_status()
    assert not ok
    assert "not built" in detail and "make build" in detail
    with pytest.raises(selection.CompiledEngineMissing):
        selection.load_fastcalc()


def test_status_reports_missing_when_only_python_source_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pure-Python module shadowing the extension is refused too."""
    fake = types.ModuleType("streamproc._fastcalc")
    fake.__file__ = "/somewhere/streamproc/_fastcalc.py"
    monkeypatch.setitem(sys.modules, "streamproc._fastcalc", fake)
    ok, detail = selection.compiled_engine_status()
    assert not ok and "not a compiled extension" in detail


def test_status_reports_missing_when_import_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import_module = importlib.import_module

    def blocked(name: str, package: str | None = None) -> types.ModuleType:
        if name == "streamproc._fastcalc":
            raise ImportError("simulated: extension not built")
        return real_import_module(name, package)

    monkeypatch.setattr(importlib, "import_module", blocked)
    ok, detail = selection.compiled_engine_status()
    assert not ok and "simulated" in detail
