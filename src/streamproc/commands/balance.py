"""`streamproc balance CUSTOMER`: a customer's balance, buckets, tier and offers from Redis."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from streamproc.config import add_redis_flags

    p = sub.add_parser("balance", help="show a customer's points, buckets, tier and offers")
    p.add_argument("customer")
    add_redis_flags(p, "Redis URL (env STREAMPROC_REDIS)",
                    os.environ.get("STREAMPROC_REDIS", "redis://127.0.0.1:6379/0"))
    p.add_argument("--program", default=os.environ.get("STREAMPROC_PROGRAM"),
                   help="to name the tier and print times in the program's timezone")
    p.add_argument("--prefix", default=os.environ.get("STREAMPROC_REDIS_PREFIX", "sp"))
    p.add_argument("--partitions", type=int, default=None,
                   help="the receipts topic's partition count (default: as the workers "
                        "recorded it in Redis)")
    p.add_argument("--partitioner", choices=("murmur2", "crc32"),
                   default=os.environ.get("STREAMPROC_PARTITIONER") or None,
                   help="the producers' partitioner (default: as the workers recorded it)")
    p.add_argument("--redis-cluster", action="store_true",
                   default=os.environ.get("STREAMPROC_REDIS_CLUSTER", "") not in ("", "0"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from rich.table import Table

    from streamproc.config import SettingsError, redis_access_from
    from streamproc.domain.timeutil import format_us
    from streamproc.engine.model import ACTIVE, PENDING
    from streamproc.state.redis.access import RedisUnavailable, read_or_explain
    from streamproc.state.redis.store import read_customer

    console = Console()
    try:
        access = redis_access_from(args)
        st = read_or_explain(lambda: read_customer(
            access.url, args.customer, args.prefix, access.client_kwargs(), args.partitions,
            args.partitioner, args.redis_cluster), access)
    except SettingsError as exc:
        print(f"balance: bad setting: {exc}", file=sys.stderr)
        return 2
    except RedisUnavailable as exc:
        print(f"balance: {exc}", file=sys.stderr)
        return 69
    if st is None:
        console.print(f"no customer {args.customer!r} in {access.shown}", markup=False)
        return 1
    tz = ZoneInfo("UTC")
    tier = "-"
    if args.program:
        from streamproc.domain.program import load_program

        prog = load_program(args.program)
        tz = prog.tz
        tier = prog.tier_name(prog.tier_for(st.spend)) or "-"
    active, pending = st.balance()
    console.print(f"[bold]{st.customer_id}[/]: active {active}, pending {pending}, debt "
                  f"{st.debt}; tier {tier}; qualifying spend {st.spend}; sales {st.sales}")
    t = Table(title="point buckets")
    for col in ("#", "from receipt", "campaign", "state", "amount", "active from", "expires"):
        t.add_column(col)
    names = {PENDING: "pending", ACTIVE: "active"}
    for b in st.buckets:
        t.add_row(str(b.id), b.receipt_id, b.campaign_id, names.get(b.state, "expired"),
                  str(b.amount), format_us(b.act_us, tz),
                  "never" if b.exp_us is None else format_us(b.exp_us, tz))
    console.print(t)
    if st.offers:
        o = Table(title="personal offers")
        for col in ("campaign", "valid until", "uses left"):
            o.add_column(col)
        for off in st.offers.values():
            o.add_row(off.campaign_id, format_us(off.expires_us, tz),
                      "unlimited" if off.uses_left is None else str(off.uses_left))
        console.print(o)
    return 0
