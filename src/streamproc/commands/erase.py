"""`streamproc erase CUSTOMER --redis URL`: remove a customer's profile and loyalty state.

For erasure requests: the profile (birthday, segments), the points, tier and offers state and
the timer entry go, atomically; the liability counter loses the erased points. Campaign budgets,
single-use codes and counters stay (they are not personal). docs/operations.md says what else
holds the id and for how long, and that the `customers` topic needs a tombstone too.
"""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from streamproc.config import add_redis_flags

    p = sub.add_parser("erase", help="remove a customer's profile and loyalty state (erasure)")
    p.add_argument("customer")
    add_redis_flags(p, "Redis URL (env STREAMPROC_REDIS)",
                    os.environ.get("STREAMPROC_REDIS", "redis://127.0.0.1:6379/0"))
    p.add_argument("--prefix", default=os.environ.get("STREAMPROC_REDIS_PREFIX", "sp"))
    p.add_argument("--partitions", type=int, default=None,
                   help="the receipts topic's partition count (default: as the workers "
                        "recorded it in Redis)")
    p.add_argument("--partitioner", choices=("murmur2", "crc32"),
                   default=os.environ.get("STREAMPROC_PARTITIONER") or None,
                   help="the producers' partitioner (default: as the workers recorded it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from streamproc.config import SettingsError, redis_access_from
    from streamproc.state.redis.access import explain
    from streamproc.state.redis.erase import erase_with

    try:
        access = redis_access_from(args)
    except SettingsError as exc:
        print(f"erase: bad setting: {exc}", file=sys.stderr)
        return 2

    try:
        erased = asyncio.run(erase_with(access, args.prefix, args.customer, args.partitions,
                                        args.partitioner))
        print(erased.describe())
    except Exception as exc:
        reading = explain(exc, access)
        if reading is None and not isinstance(exc, RuntimeError):
            raise
        print(f"erase: {reading or exc}", file=sys.stderr)
        return 69 if reading is not None else 1
    return 0
