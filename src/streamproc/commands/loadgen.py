"""`streamproc loadgen`: a synthetic chain's receipts and profiles, to files or to Kafka.

    streamproc loadgen --out receipts.jsonl --customers-out customers.jsonl
    streamproc loadgen --kafka 127.0.0.1:9092 --topic receipts --rate 5000

The same `--seed` and sizes give the same bytes (see `streamproc.tools.loadgen`).
"""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    from streamproc.tools.loadgen import LoadgenConfig

    d = LoadgenConfig()
    p = sub.add_parser(
        "loadgen",
        help="generate a synthetic chain's receipts and customer profiles (file or Kafka)",
        description="Deterministic synthetic receipts (spec section 2) and customer profiles "
        "(section 3) matching examples/retail-chain.yaml.",
    )
    g = p.add_argument_group("what to generate")
    g.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    g.add_argument("--receipts", type=int, default=d.receipts, help="messages in all")
    g.add_argument("--customers", type=int, default=d.customers, help="cardholders")
    g.add_argument("--stores", type=int, default=d.stores, help="stores S001..")
    g.add_argument("--start", default=d.start, help="first receipt time, ISO 8601 with offset")
    g.add_argument("--days", type=int, default=d.days, help="days covered (to local midnight)")
    for name, help_ in (
        ("anonymous_share_bps", "share of sales without a card"),
        ("bad_share_bps", "share of bad messages"),
        ("return_share_bps", "share of returns"),
        ("duplicate_share_bps", "share of exact duplicates"),
        ("redeem_share_bps", "share of identified sales asking to pay with points"),
        ("coupon_share_bps", "share of sales carrying coupon codes"),
    ):
        default = getattr(d, name)
        g.add_argument(
            "--" + name.replace("_", "-"), type=int, default=default, help=f"{help_} ({default})"
        )
    o = p.add_argument_group("where to")
    o.add_argument("--out", metavar="FILE", help="write receipts as JSONL")
    o.add_argument("--customers-out", metavar="FILE", help="write customer profiles as JSONL")
    o.add_argument("--kafka", metavar="HOST:PORT", help="produce to this Kafka bootstrap server")
    o.add_argument("--topic", default="receipts", help="receipts topic (default receipts)")
    o.add_argument(
        "--customers-topic", default="customers", help="profiles topic (default customers)"
    )
    o.add_argument("--no-customers", action="store_true", help="do not send profiles to Kafka")
    o.add_argument("--rate", type=float, help="receipts per second limit when producing")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):  # -> LoadgenConfig
    from streamproc.tools.loadgen import LoadgenConfig

    return LoadgenConfig(
        seed=args.seed,
        receipts=args.receipts,
        customers=args.customers,
        stores=args.stores,
        start=args.start,
        days=args.days,
        anonymous_share_bps=args.anonymous_share_bps,
        bad_share_bps=args.bad_share_bps,
        return_share_bps=args.return_share_bps,
        duplicate_share_bps=args.duplicate_share_bps,
        redeem_share_bps=args.redeem_share_bps,
        coupon_share_bps=args.coupon_share_bps,
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from rich.console import Console
    from rich.table import Table

    from streamproc.tools import kafka_io
    from streamproc.tools import loadgen as lg

    console = Console(stderr=True)
    if not (args.out or args.customers_out or args.kafka):
        console.print("[red]nothing to do:[/] give --out, --customers-out or --kafka")
        return 2
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        console.print(f"[red]bad option:[/] {exc}")
        return 2

    progress = not args.no_progress and sys.stderr.isatty()
    stats = lg.LoadgenStats()
    profiles = 0
    t0 = time.perf_counter()
    if args.customers_out:
        profiles = lg.write_jsonl(
            args.customers_out,
            lg.generate_customers(cfg),
            progress=progress,
            description="customers",
        )
    t_receipts = time.perf_counter()
    if args.out:
        lg.write_jsonl(
            args.out,
            lg.generate_receipts(cfg, stats),
            progress=progress,
            total=cfg.receipts,
            description="receipts",
        )
    if args.kafka:

        async def send() -> int:
            nonlocal t_receipts
            n = 0
            if not args.no_customers:
                n = await kafka_io.produce(
                    args.kafka,
                    args.customers_topic,
                    lg.customer_messages(cfg),
                    progress=progress,
                )
            if not args.out:
                t_receipts = time.perf_counter()
            pairs = lg.generate_messages(cfg, lg.LoadgenStats() if args.out else stats)
            await kafka_io.produce(
                args.kafka, args.topic, pairs, rate=args.rate, progress=progress,
                total=cfg.receipts,
            )  # fmt: skip
            return n

        sent_profiles = asyncio.run(send())
        profiles = profiles or sent_profiles
    t_end = time.perf_counter()
    elapsed = t_end - t0
    receipts_time = t_end - t_receipts

    table = Table(title=f"loadgen seed={cfg.seed}", show_header=True)
    table.add_column("kind")
    table.add_column("count", justify="right")
    for name, value in stats.as_rows():
        table.add_row(name, f"{value:,}")
    table.add_row("customer profiles", f"{profiles:,}")
    table.add_row("time, s", f"{elapsed:.2f}")
    rate = stats.messages / receipts_time if receipts_time > 0 else 0.0
    table.add_row("receipts/s", f"{rate:,.0f}")
    console.print(table)
    return 0
