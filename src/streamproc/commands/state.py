"""`streamproc state migrate`: move a Redis keyspace to the partition layout (or to a new
partition count) with the workers stopped; see docs/state-model.md."""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("state", help="maintain the state in Redis (migrate the key layout)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    m = actions.add_parser("migrate", help="move every key under its partition's hash tag")
    m.add_argument("--redis", default=os.environ.get("STREAMPROC_REDIS",
                                                     "redis://127.0.0.1:6379/0"))
    m.add_argument("--prefix", default=os.environ.get("STREAMPROC_REDIS_PREFIX", "sp"))
    m.add_argument("--partitions", type=int, required=True,
                   help="the receipts topic's partition count (after any change)")
    m.add_argument("--partitioner", choices=("murmur2", "crc32"),
                   default=os.environ.get("STREAMPROC_PARTITIONER", "murmur2"))
    m.add_argument("--dry-run", action="store_true", help="count, move nothing")
    m.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import redis
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from streamproc.state.partitioning import Placement
    from streamproc.state.redis.migrate import migrate

    client = redis.Redis.from_url(args.redis)
    console = Console()
    try:
        total = int(client.dbsize())
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("keys read", total=total)
            done = migrate(client, args.prefix, Placement(args.partitions, args.partitioner),
                           args.dry_run, lambda n: bar.advance(task, n))
    finally:
        client.close()
    t = Table(title=("dry run: nothing moved" if args.dry_run else "state migrated")
              + f" ({args.partitions} partitions, {args.partitioner})")
    t.add_column("what")
    t.add_column("count", justify="right")
    for what, n in sorted(done.items()):
        t.add_row(what, f"{n:,}")
    console.print(t)
    return 0
