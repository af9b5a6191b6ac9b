"""`streamproc erase CUSTOMER --redis URL`: remove a customer's profile and loyalty state.

For erasure requests: the profile (birthday, segments), the points, tier and offers state and
the timer entry go, atomically; the liability counter loses the erased points. Campaign budgets,
single-use codes and counters stay (they are not personal). docs/operations.md says what else
holds the id and for how long, and that the `customers` topic needs a tombstone too.
"""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("erase", help="remove a customer's profile and loyalty state (erasure)")
    p.add_argument("customer")
    p.add_argument("--redis", default=os.environ.get("STREAMPROC_REDIS",
                                                     "redis://127.0.0.1:6379/0"))
    p.add_argument("--prefix", default=os.environ.get("STREAMPROC_REDIS_PREFIX", "sp"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    import redis.asyncio as aredis
    import redis.exceptions as rexc

    from streamproc.state.redis.erase import erase_customer
    from streamproc.state.redis.keys import Keys

    async def go() -> str:
        client = aredis.Redis.from_url(args.redis)
        try:
            return (await erase_customer(client, Keys(args.prefix), args.customer)).describe()
        finally:
            await client.aclose()

    try:
        print(asyncio.run(go()))
    except (rexc.RedisError, OSError, RuntimeError) as exc:
        print(f"erase failed: {exc}", file=sys.stderr)
        return 1
    return 0
