"""The `streamproc` command line: one sub-command per module in `streamproc.commands`.

Each command module exposes `register(subparsers)`; heavy imports (faust, redis) happen
inside the command's function so `streamproc check` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from streamproc import __version__

COMMAND_MODULES = (
    "info",
    "check",
    "schema",
    "whatif",
    "explain",
    "replay",
    "worker",
    "balance",
    "erase",
    "loadgen",
    "stack",
    "quote_server",
    "state",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamproc", description="Real-time retail loyalty engine over Kafka and Redis."
    )
    parser.add_argument("--version", action="version", version=f"streamproc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"streamproc.commands.{name}")
        except ModuleNotFoundError as exc:  # a command still being built
            if exc.name == f"streamproc.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
