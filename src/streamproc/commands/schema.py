"""`streamproc schema`: the program file's JSON Schema, for editors (completion, inline errors)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the program file")
    p.add_argument("--out", help="write it to this file instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import orjson

    from streamproc.domain.program_schema import program_schema

    text = orjson.dumps(program_schema(), option=orjson.OPT_INDENT_2) + b"\n"
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(text)
    else:
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    return 0
