"""The end-to-end benchmark's variants: each one process, run to catch up or at a steady rate.

(a) aiokafka passthrough, (b) Faust passthrough, (c)/(d) the worker with the reference or the
compiled engine, (e) the worker with receipts through a faust agent; and the profiles of the
batch path and of the (d) worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import (
    BATCH,
    HERE,
    IN_LINGER_MS,
    OUT_LINGER_MS,
    PARTITIONS,
    PROGRAM,
    REPO,
    CpuProbe,
    Kafka,
    log,
    pct,
    receipt_id,
    summarise,
)

from streamproc.tools.devstack import free_port
from streamproc.tools.process import ChildProcess


class Bench:
    def __init__(self, args: argparse.Namespace, run_dir: Path, kafka: Kafka, redis_url: str,
                 redis_port: int, broker_pid: int | None = None,
                 redis_pid: int | None = None) -> None:
        self.broker_pid = broker_pid
        self.redis_pid = redis_pid
        self.args = args
        self.run_dir = run_dir
        self.k = kafka
        self.redis_url = redis_url
        self.redis_port = redis_port

    def outputs(self, tag: str, variant: str) -> list[str]:
        """Topics whose records count as the variant's output, one per input message."""
        if variant in "ab":
            return [f"out-{tag}"]
        return [f"results-{tag}", f"dlq-{tag}"]

    async def make_topics(self, tag: str, variant: str) -> None:
        if variant in "ab":
            await self.k.create({f"out-{tag}": PARTITIONS}, log_append=[f"out-{tag}"])
        else:
            await self.k.create({f"results-{tag}": PARTITIONS, f"events-{tag}": PARTITIONS,
                                 f"dlq-{tag}": 1}, log_append=[f"results-{tag}", f"dlq-{tag}"])

    def proc(self, tag: str, variant: str, source: str, group: str, prefix: str = "sp",
             profile_to: Path | None = None) -> ChildProcess:
        bootstrap = self.k.bootstrap
        base = {"BENCH_BOOTSTRAP": bootstrap, "BENCH_IN": source, "BENCH_OUT": f"out-{tag}",
                "BENCH_GROUP": group, "BENCH_BATCH": str(BATCH),
                "BENCH_PARTITIONS": str(PARTITIONS), "BENCH_LINGER_MS": str(OUT_LINGER_MS),
                "BENCH_DATADIR": str(self.run_dir / "state" / tag)}
        if variant == "a":
            cmd = [sys.executable, str(HERE / "passthrough_aiokafka.py")]
            return self._child(tag, cmd, base)
        if variant == "b":
            cmd = [sys.executable, str(HERE / "passthrough_faust.py"), "worker", "-l", "warn",
                   "--without-web"]
            return self._child(tag, cmd, base, cwd=self.run_dir)
        env = {
            "STREAMPROC_KAFKA": bootstrap, "STREAMPROC_REDIS": self.redis_url,
            "STREAMPROC_PROGRAM": str(PROGRAM), "STREAMPROC_GROUP": group,
            "STREAMPROC_RECEIPTS_TOPIC": source, "STREAMPROC_CUSTOMERS_TOPIC": "customers",
            "STREAMPROC_RESULTS_TOPIC": f"results-{tag}",
            "STREAMPROC_EVENTS_TOPIC": f"events-{tag}", "STREAMPROC_DLQ_TOPIC": f"dlq-{tag}",
            "STREAMPROC_PARTITIONS": str(PARTITIONS),
            "STREAMPROC_ENGINE": "reference" if variant == "c" else "compiled",
            "STREAMPROC_CONSUMER": "faust" if variant == "e" else "direct",
            "STREAMPROC_BATCH_SIZE": str(BATCH), "STREAMPROC_REDIS_PREFIX": prefix,
            "STREAMPROC_TIMER_INTERVAL_S": "3600",
            "STREAMPROC_METRICS_ADDR": f"127.0.0.1:{free_port()}",
            "STREAMPROC_STATE_DIR": str(self.run_dir / "state" / tag),
        }
        if profile_to is not None:
            cmd = [sys.executable, str(HERE / "run.py"), "--cprofile-worker",
                   str(profile_to)]
        else:
            cmd = [sys.executable, "-m", "streamproc", "worker"]
        return self._child(tag, cmd, env)

    def _child(self, tag: str, cmd: list[str], env: dict[str, str], cwd: Path = REPO
               ) -> ChildProcess:
        return ChildProcess(tag, cmd, self.run_dir / f"{tag}.log", env=env, cwd=cwd)

    def cpu_probe(self, proc: ChildProcess) -> CpuProbe:
        return CpuProbe({"variant": proc.pid, "broker": self.broker_pid,
                         "redis": self.redis_pid, "runner": os.getpid()})

    async def flush_redis(self) -> None:
        import redis.asyncio as aredis

        r = aredis.Redis.from_url(self.redis_url)
        try:
            await r.flushall()
        finally:
            await r.aclose()

    # ------------------------------------------------------------------ catch-up
    async def catch_up(self, variant: str, backlog_end: dict[int, int]) -> dict[str, Any]:
        tag = variant
        group = f"bench-{variant}"
        await self.make_topics(tag, variant)
        if variant in "cde":
            await self.flush_redis()
        outs = self.outputs(tag, variant)
        total = sum(backlog_end.values())
        cap = self.args.cap
        tick = self.args.sample_s
        proc = self.proc(tag, variant, "receipts", group).start()
        t0 = time.monotonic()
        cpu = self.cpu_probe(proc)
        cpu.sample(0.0)
        series: list[tuple[float, int, int]] = []  # (t, outputs, committed)
        state = "capped"
        try:
            n = 0
            while True:
                n += 1
                await asyncio.sleep(max(0.0, t0 + n * tick - time.monotonic()))
                t = time.monotonic() - t0
                out = await self.k.end_total(outs)
                comm = await self.k.committed(group, "receipts")
                done_parts = sum(min(comm.get(p, 0), e) for p, e in backlog_end.items())
                series.append((round(t, 3), out, done_parts))
                cpu.sample(t)
                if all(comm.get(p, 0) >= e for p, e in backlog_end.items()):
                    state = "done"
                    break
                if not proc.alive():
                    state = "died"
                    log(f"{variant} died:\n{proc.tail()}")
                    break
                if t >= cap:
                    break
                if n % 10 == 0:
                    log(f"  {variant}: {t:5.0f}s  out {out:,}  committed {done_parts:,}"
                        f" / {total:,}")
        finally:
            proc.stop(30.0)
        res = summarise(variant, series, total, state, cap)
        t_end = res["wall_seconds"]
        res["cpu"] = cpu.between(res["first_output_after_s"], t_end)
        used = res["cpu"].get("variant_cpu_s")
        res["per_cpu_second"] = round(res["processed"] / used, 1) if used else None
        return res

    # ------------------------------------------------------------------ steady rate
    async def steady(self, variant: str, msgs: Sequence[tuple[bytes | None, bytes]]
                     ) -> dict[str, Any]:
        from aiokafka import AIOKafkaProducer

        from streamproc.tools.kafka_io import TokenBucket

        tag = f"live-{variant}"
        source = f"receipts-{tag}"
        group = f"bench-{tag}"
        await self.k.create({source: PARTITIONS})
        await self.make_topics(tag, variant)
        outs = self.outputs(tag, variant)
        rids = [receipt_id(v) for _, v in msgs]
        proc = self.proc(tag, variant, source, group).start()
        p = AIOKafkaProducer(bootstrap_servers=self.k.bootstrap, acks=1,
                             linger_ms=IN_LINGER_MS, max_batch_size=1 << 20)
        await p.start()
        try:
            # started before: wait until it has joined (and, for the worker, read the profiles)
            deadline = time.monotonic() + 120
            while True:
                ready = await self._joined(group, variant)
                if ready:
                    break
                if not proc.alive():
                    raise RuntimeError(f"{tag} died:\n{proc.tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{tag} did not join in 120 s:\n{proc.tail()}")
                await asyncio.sleep(0.5)
            await asyncio.sleep(2.0)
            start = await self.k.ends(outs)
            base_out = sum(start.values())
            sent_ts: dict[str, int] = {}
            bucket = TokenBucket(self.args.rate)
            cpu = self.cpu_probe(proc)
            cpu.sample(0.0)
            futs: list[Any] = []
            series: list[tuple[float, int, int]] = []
            t0 = time.monotonic()
            next_tick = t0 + 1.0
            sampler_out = 0
            for i, (k, v) in enumerate(msgs):
                await bucket.take()
                ts = time.time_ns() // 1_000_000
                futs.append(await p.send(source, v, key=k, timestamp_ms=ts))
                rid = rids[i]
                if rid is not None and rid not in sent_ts:
                    sent_ts[rid] = ts
                if time.monotonic() >= next_tick:
                    next_tick += 1.0
                    sampler_out = await self.k.end_total(outs) - base_out
                    series.append((round(time.monotonic() - t0, 3), i + 1, sampler_out))
                    cpu.sample(time.monotonic() - t0)
            await asyncio.gather(*futs)
            send_s = time.monotonic() - t0
            cpu.sample(send_s)
            sent = len(msgs)
            # wait for the outputs of everything sent
            deadline = time.monotonic() + max(60.0, self.args.duration * 2)
            while True:
                out = await self.k.end_total(outs) - base_out
                if out >= sent or time.monotonic() > deadline or not proc.alive():
                    break
                await asyncio.sleep(0.2)
                if time.monotonic() >= next_tick:
                    next_tick += 1.0
                    series.append((round(time.monotonic() - t0, 3), sent, out))
            drain_s = time.monotonic() - t0 - send_s
            end = await self.k.ends(outs)
        finally:
            await p.stop()
            proc.stop(30.0)
        records = await self.k.read(start, end)
        lat = []
        by_second: dict[int, list[int]] = {}
        t_first = min(sent_ts.values(), default=0)
        seen: set[str] = set()
        for r in records:
            rid = receipt_id(r.value)
            if rid is None or rid in seen or rid not in sent_ts:
                continue
            seen.add(rid)
            ms = r.timestamp - sent_ts[rid]
            lat.append(ms)
            by_second.setdefault((sent_ts[rid] - t_first) // 1000, []).append(ms)
        lat.sort()
        per_second = []
        for sec in sorted(by_second):
            v = sorted(by_second[sec])
            per_second.append({"second": sec, "n": len(v), "p50_ms": pct(v, 50),
                               "p99_ms": pct(v, 99), "max_ms": v[-1]})
        res = {
            "variant": variant, "sent": sent, "send_seconds": round(send_s, 2),
            "achieved_rate": round(sent / send_s, 1), "outputs": sum(end.values()) - base_out,
            "drain_seconds_after_last_send": round(drain_s, 2), "matched": len(lat),
            "series": series, "latency_by_send_second": per_second,
            "cpu_while_sending": cpu.between(0.0, send_s),
        }
        if lat:
            res.update({f"p{q}_ms": pct(lat, q) for q in (50, 95, 99)})
            res.update(max_ms=lat[-1], mean_ms=round(sum(lat) / len(lat), 1))
        return res

    async def _joined(self, group: str, variant: str) -> bool:
        """The group is stable with a member (and the worker has read the profiles)."""
        try:
            desc = await self.k.admin.describe_consumer_groups([group])
        except Exception:
            return False
        ok = False
        for g in desc:
            for grp in getattr(g, "groups", []):
                if grp[1] == group and grp[2] == "Stable" and grp[5]:
                    ok = True
        if not ok or variant not in "cde":
            return ok
        # the worker reads profiles with its faust app, whose group is `<group>-app`
        app_group = group if variant == "e" else f"{group}-app"
        comm = await self.k.committed(app_group, "customers")
        ends = await self.k.ends(["customers"])
        return all(comm.get(tp.partition, 0) >= e for tp, e in ends.items())


# ----------------------------------------------------------------------------- profiles


def top_items(prof: cProfile.Profile | pstats.Stats, n: int = 20, key: str = "tottime"
              ) -> list[dict[str, Any]]:
    st = prof if isinstance(prof, pstats.Stats) else pstats.Stats(prof)
    total = st.total_tt or 1e-9  # type: ignore[attr-defined]
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append((tt, ct, nc, f"{_short(file)}:{line}({fn})"))
    rows.sort(key=lambda r: r[0] if key == "tottime" else r[1], reverse=True)
    return [{"function": name, "tottime_s": round(tt, 3), "cumtime_s": round(ct, 3),
             "calls": nc, "tottime_pct": round(100 * tt / total, 1)}
            for tt, ct, nc, name in rows[:n]]


def _short(file: str) -> str:
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


async def profile_batch_path(redis_url: str, msgs: Sequence[tuple[bytes | None, bytes]]
                             ) -> dict[str, Any]:
    """`BatchProcessor.process` over the messages in batches of BATCH against real Redis
    (compiled engine, no Kafka): once timed, once (fresh prefix) under cProfile."""
    from streamproc.domain.program import load_program
    from streamproc.engine.selection import make_engine
    from streamproc.processing.batch import BatchProcessor, InMessage
    from streamproc.state.redis.store import RedisStore

    program = load_program(str(PROGRAM))
    engine = make_engine(program, "compiled")
    ims = [InMessage("receipts", 0, i, k, v, None) for i, (k, v) in enumerate(msgs)]
    out: dict[str, Any] = {"receipts": len(ims), "batch": BATCH}
    for run in ("timed", "profiled"):
        store = RedisStore(redis_url, program, prefix=f"prof-{run}")
        bp = BatchProcessor(program, engine, store)
        prof = cProfile.Profile() if run == "profiled" else None
        redis_s = 0.0
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        for i in range(0, len(ims), BATCH):
            o = await bp.process(ims[i:i + BATCH])
            redis_s += o.redis_seconds
        if prof:
            prof.disable()
        dt = time.perf_counter() - t0
        with contextlib.suppress(Exception):
            await store.close()
        if prof is None:
            out.update(seconds=round(dt, 2), rate=round(len(ims) / dt, 1),
                       redis_seconds=round(redis_s, 2),
                       redis_share_pct=round(100 * redis_s / dt, 1))
        else:
            out["profiled_seconds"] = round(dt, 2)
            out["top_tottime"] = top_items(prof, 20)
            out["top_cumtime"] = top_items(prof, 25, key="cumtime")
    return out


def cprofile_worker(path: str) -> None:
    """Hidden mode: the streamproc worker under cProfile, stats dumped when it stops (also
    when SIGTERM comes before the worker has installed its own handler, on a slow start)."""
    from streamproc.cli import main

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    prof = cProfile.Profile()
    prof.enable()
    try:
        main(["worker"])
    finally:
        prof.disable()
        prof.dump_stats(path)


async def profile_worker(bench: Bench, seconds: float) -> dict[str, Any]:
    tag = "dprof"
    await bench.make_topics(tag, "d")
    path = bench.run_dir / "worker.prof"
    path.unlink(missing_ok=True)
    proc = bench.proc(tag, "d", "receipts", "bench-dprof", prefix="dprof", profile_to=path)
    proc.start()
    await asyncio.sleep(seconds)
    processed = await bench.k.end_total(bench.outputs(tag, "d"))
    proc.stop(timeout=60)
    if not path.exists():
        return {"error": f"no profile written:\n{proc.tail()}"}
    st = pstats.Stats(str(path))
    return {"seconds": seconds, "processed_under_profiler": processed,
            "top_tottime": top_items(st, 25), "top_cumtime": top_items(st, 30, key="cumtime")}
