"""`streamproc info`: versions, and whether the compiled engine is the one loaded."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import platform


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions and whether the compiled engine is loaded")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streamproc import __version__
    from streamproc.engine.selection import compiled_engine_status

    print(f"streamproc        {__version__}")
    print(f"python            {platform.python_version()}")
    for dist in ("faust-streaming", "aiokafka", "redis", "hiredis", "orjson", "prometheus-client"):
        try:
            print(f"{dist:<17} {md.version(dist)}")
        except md.PackageNotFoundError:
            print(f"{dist:<17} (not installed)")
    ok, detail = compiled_engine_status()
    print(f"compiled engine   {'loaded' if ok else 'MISSING'}: {detail}")
    return 0 if ok else 1
