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


def test_the_extension_was_built_from_the_sources_beside_it() -> None:
    from pathlib import Path

    from streamproc.engine.compiled_sources import source_digest

    mod = selection.load_fastcalc()
    assert source_digest(Path(mod.__file__).parent) == mod.SOURCE_DIGEST


def test_an_extension_built_from_other_sources_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """A checkout whose sources moved on without a rebuild: refused, with how to rebuild."""
    import shutil
    from pathlib import Path

    from streamproc.engine.compiled_sources import source_digest

    pkg = Path(selection.load_fastcalc().__file__).parent
    copy = tmp_path / "streamproc"
    copy.mkdir()
    for f in [pkg / "_fastcalc.pyx", *pkg.glob("_fc_*.pxi"), *pkg.glob("_fc_*.pxd")]:
        shutil.copy(f, copy / f.name)
    assert source_digest(copy) == source_digest(pkg)
    part = next(copy.glob("_fc_ledger.pxi"))
    part.write_text(part.read_text() + "\n# one more line\n")
    edited = source_digest(copy)
    assert edited != source_digest(pkg)
    monkeypatch.setattr(selection, "source_digest", lambda _: edited)
    ok, detail = selection.compiled_engine_status()
    assert not ok and "other sources" in detail and "make build" in detail
