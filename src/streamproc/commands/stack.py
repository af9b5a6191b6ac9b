"""`streamproc stack up|down|status`: the local Kafka broker and redis-server (see devstack)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from streamproc.tools.devstack import add_arguments

    p = sub.add_parser("stack", help="start/stop/show the local Kafka broker and redis-server")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streamproc.tools.devstack import run as devstack_run

    return devstack_run(args)
