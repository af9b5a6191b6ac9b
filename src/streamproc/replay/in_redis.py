"""`streamproc replay --redis URL`: the replay over the worker's own Redis store, in batches.

Same engine, same batch path as the worker, file order; what it writes to Redis is what a
worker would have written, so a marketer can inspect balances with `streamproc balance`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

import orjson

from streamproc.config import RedisAccess
from streamproc.domain.program import Program
from streamproc.engine.processor import SaleEngine
from streamproc.processing.batch import BatchProcessor, InMessage, apply_profiles, fire_timers
from streamproc.replay.in_memory import read_messages
from streamproc.replay.report import RunReport
from streamproc.state.redis.access import RedisUnavailable
from streamproc.state.redis.store import RedisStore

BATCH = 500


async def _run(args: argparse.Namespace, program: Program, engine: SaleEngine,
               access: RedisAccess) -> RunReport:
    import time

    store = RedisStore(access.url, program, record_ttl=False, connection=access.client_kwargs(),
                       partitions=getattr(args, "partitions", 6),
                       partitioner=getattr(args, "partitioner", "murmur2"),
                       cluster=getattr(args, "redis_cluster", False),
                       keep_outputs=False)  # a file has no redelivery
    await store.ping()  # a refused login is one line now, not a minute of retries
    await store.write_layout()
    # a command, not a worker: it gives up on a Redis that stays away for a minute
    batcher = BatchProcessor(program, engine, store, replay_clock=True, max_retry_seconds=60,
                             partition_by_key=True)
    report = RunReport()
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        def open_out(path: str | None):
            return stack.enter_context(open(path, "wb")) if path else None

        out, events, rejects = open_out(args.out), open_out(args.events), open_out(args.rejects)
        if args.customers:
            msgs = [InMessage(args.customers, 0, no, None, raw)
                    for no, raw in read_messages(args.customers)]
            dlq = await apply_profiles(store, msgs)
            report.profiles = len(msgs) - len(dlq)
            report.profiles_rejected = len(dlq)
        batch: list[InMessage] = []

        async def flush() -> None:
            res = await batcher.process(batch)
            await store.drop_claims(res.claimed)  # a file is read once: nothing asks again
            for o in res.outcomes:
                report.count(o)
            # timers fire on the latest receipt time read (spec 6): the batch's own customers
            # after each receipt, everyone else caught up after the batch
            fired = res.timer_events + (await fire_timers(
                store, program, batcher.replay_clock or 0, range(store.partitions),
                limit=1_000_000, outbox=False)).records
            report.count_timer_events([orjson.loads(v) for _, v in fired])
            if events:
                events.writelines(v + b"\n" for _, v in fired)
            if out:
                out.writelines(v + b"\n" for _, v in res.results)
            if events:
                events.writelines(v + b"\n" for _, v in res.events)
            if rejects:
                rejects.writelines(v + b"\n" for _, v in res.dlq)
            batch.clear()

        for no, raw in read_messages(args.receipts):
            batch.append(InMessage(str(Path(args.receipts)), 0, no, None, raw))
            if len(batch) >= BATCH:
                await flush()
        if batch:
            await flush()
    report.seconds = time.perf_counter() - started
    report.liability = await store.liability()
    await store.close()
    return report


def run_redis_replay(args: argparse.Namespace, program: Program, engine: SaleEngine) -> int:
    from rich.console import Console

    from streamproc.config import SettingsError, redis_access_from
    from streamproc.replay.summary import print_summary
    from streamproc.state.redis.access import read_or_explain

    try:
        access = redis_access_from(args)
    except SettingsError as exc:
        print(f"replay: bad setting: {exc}", file=sys.stderr)
        return 2
    try:
        report = read_or_explain(lambda: asyncio.run(_run(args, program, engine, access)), access)
    except RedisUnavailable as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 69
    if args.report:
        rep = report.to_dict()
        rep.update(engine=engine.name, program=program.id, store="redis")
        Path(args.report).write_bytes(orjson.dumps(rep, option=orjson.OPT_INDENT_2))
    print_summary(report, engine.name, args, Console())
    return 0 if report.reconciles else 1
