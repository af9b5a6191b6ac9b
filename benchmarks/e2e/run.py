"""The end-to-end benchmark against the ceiling (Kafka 3.9.1 + redis-server, started here).

    python benchmarks/e2e/run.py [--receipts 1000000] [--rate 10000] [--duration 30]
                                 [--only a,b,c,d,e] [--cap 120] [--out DIR] [--no-readme]

1. Starts its own broker (full JIT, `STREAMPROC_KAFKA_JVM_FLAGS`, default
   "-Xms1g -Xmx1g -XX:+UseG1GC") and redis-server on free ports under .run/e2e-bench.
2. Pre-loads a backlog of N generated receipts (tools.loadgen; cached in .cache/e2e keyed by
   seed and count) into `receipts` (6 partitions) and the customers' profiles into `customers`.
3. Catch-up throughput, one variant after the other, each ONE process with its own consumer
   group from the beginning of the same backlog and its own output topic(s):
     (a) raw aiokafka passthrough (passthrough_aiokafka.py) - the ceiling
     (b) Faust passthrough agent (passthrough_faust.py)
     (c) streamproc worker, reference engine      (Redis flushed before)
     (d) streamproc worker, compiled engine       (Redis flushed before)
   Output topics use LogAppendTime; every second the output topics' end offsets (records the
   variant produced) and the group's committed offsets are sampled. A variant is done when its
   committed offsets reach the backlog end, or stopped at `--cap` seconds (its rate is then the
   rate over what it processed).
4. Latency at a steady rate, for (d) and (a): a fresh process (started and idle before) on its
   own empty input topic; the producer sends `--rate` receipts/s for `--duration` s (the
   continuation of the backlog's receipts), stamping each record with its send time;
   latency = output record's LogAppendTime - input record's send time, matched by receipt_id.
5. Where time goes: the batch path (`processing.batch.BatchProcessor`, compiled engine, real
   Redis, no Kafka) timed and under cProfile, and the (d) worker itself under cProfile while it
   catches up (`--profile-worker-s`).

Writes DIR/results.json, DIR/throughput.png (DIR defaults to benchmarks/e2e) and the
"End to end" section of benchmarks/README.md (between its markers), and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import platform
import pstats
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROGRAM = REPO / "examples" / "retail-chain.yaml"
BENCH_JVM_FLAGS = "-Xms1g -Xmx1g -XX:+UseG1GC -XX:-UsePerfData"
# devstack reads the JVM flags when it is imported
os.environ.setdefault("STREAMPROC_KAFKA_JVM_FLAGS", BENCH_JVM_FLAGS)
sys.path.insert(0, str(REPO / "src"))

import orjson  # noqa: E402

from streamproc.tools.devstack import KafkaBroker, RedisServer  # noqa: E402

PARTITIONS = 6
BATCH = 500  # worker default STREAMPROC_BATCH_SIZE, and the passthroughs' batch
OUT_LINGER_MS = 5  # output producers (the worker's is fixed at 5 ms)
IN_LINGER_MS = 5  # steady-rate input producer
VARIANTS = {
    "a": "aiokafka passthrough (ceiling)",
    "b": "Faust passthrough",
    "c": "streamproc worker, reference engine",
    "d": "streamproc worker, compiled engine",
    "e": "streamproc worker, compiled engine, receipts via a faust agent",
}
MARK_START, MARK_END = "<!-- e2e:start -->", "<!-- e2e:end -->"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- workload


def _write_pairs(path: Path, pairs: Sequence[tuple[bytes | None, bytes]]) -> None:
    tmp = path.with_suffix(".tmp")
    pack = struct.Struct(">ii").pack
    with open(tmp, "wb", buffering=1 << 20) as f:
        for k, v in pairs:
            f.write(pack(-1 if k is None else len(k), len(v)))
            if k is not None:
                f.write(k)
            f.write(v)
    tmp.replace(path)


def _read_pairs(path: Path) -> list[tuple[bytes | None, bytes]]:
    data = path.read_bytes()
    unpack = struct.Struct(">ii").unpack_from
    out: list[tuple[bytes | None, bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        kl, vl = unpack(data, pos)
        pos += 8
        key = None
        if kl >= 0:
            key = data[pos:pos + kl]
            pos += kl
        out.append((key, data[pos:pos + vl]))
        pos += vl
    return out


def load_workload(seed: int, n: int, customers: int, cache: Path
                  ) -> tuple[list[tuple[bytes | None, bytes]], list[tuple[bytes, bytes]]]:
    """(receipt messages, profile messages), generated once per (seed, n, customers)."""
    from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

    cache.mkdir(parents=True, exist_ok=True)
    cfg = LoadgenConfig(seed=seed, receipts=n, customers=customers)
    rpath = cache / f"receipts-seed{seed}-n{n}-c{customers}.bin"
    ppath = cache / f"customers-seed{seed}-c{customers}.bin"
    t0 = time.perf_counter()
    if rpath.exists():
        msgs = _read_pairs(rpath)
        log(f"workload: {len(msgs):,} receipts from {rpath} ({time.perf_counter() - t0:.1f}s)")
    else:
        msgs = list(generate_messages(cfg))
        _write_pairs(rpath, msgs)
        log(f"workload: generated {len(msgs):,} receipts ({time.perf_counter() - t0:.1f}s),"
            f" cached in {rpath}")
    if ppath.exists():
        profiles = _read_pairs(ppath)
    else:
        profiles = list(customer_messages(cfg))
        _write_pairs(ppath, profiles)
    return msgs, profiles  # type: ignore[return-value]


def receipt_id(value: bytes) -> str | None:
    try:
        o = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return o.get("receipt_id") if isinstance(o, dict) else None


# ----------------------------------------------------------------------------- Kafka helpers


class Kafka:
    """Admin + an offsets reader on the bench broker."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin: Any = None
        self.reader: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self.admin.start()
        self.reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                       enable_auto_commit=False)
        await self.reader.start()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.reader.stop()
        with contextlib.suppress(Exception):
            await self.admin.close()

    async def create(self, topics: dict[str, int], compacted: Sequence[str] = (),
                     log_append: Sequence[str] = ()) -> None:
        from aiokafka.admin import NewTopic

        new = []
        for name, parts in topics.items():
            cfg = {}
            if name in compacted:
                cfg["cleanup.policy"] = "compact"
            if name in log_append:
                cfg["message.timestamp.type"] = "LogAppendTime"
            new.append(NewTopic(name, parts, 1, topic_configs=cfg))
        resp = await self.admin.create_topics(new, timeout_ms=30_000)
        bad = [e for e in resp.topic_errors if e[1] not in (0, 36)]
        if bad:
            raise RuntimeError(f"create_topics failed: {bad}")
        deadline = time.monotonic() + 30
        while True:
            desc = await self.admin.describe_topics(list(topics))
            ok = {t["topic"] for t in desc if t["error_code"] == 0
                  and len(t["partitions"]) >= topics[t["topic"]]
                  and all(p["leader"] >= 0 for p in t["partitions"])}
            if ok >= set(topics):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics not ready: {set(topics) - ok}")
            await asyncio.sleep(0.05)

    def tps(self, topics: Sequence[str], partitions: int | None = None) -> list[Any]:
        from aiokafka import TopicPartition

        out = []
        for t in topics:
            n = partitions or PARTITIONS
            if partitions is None:
                known = self.reader._client.cluster.partitions_for_topic(t)
                n = len(known) if known else PARTITIONS
            out += [TopicPartition(t, p) for p in range(n)]
        return out

    async def ends(self, topics: Sequence[str]) -> dict[Any, int]:
        await self.reader._client.force_metadata_update()
        return dict(await self.reader.end_offsets(self.tps(topics)))

    async def end_total(self, topics: Sequence[str]) -> int:
        return sum((await self.ends(topics)).values())

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        try:
            offs = await self.admin.list_consumer_group_offsets(group)
        except Exception:  # the group does not exist yet
            return {}
        return {tp.partition: om.offset for tp, om in offs.items()
                if tp.topic == topic and om.offset >= 0}

    async def read(self, start: dict[Any, int], end: dict[Any, int]) -> list[Any]:
        """Records of the partitions in `start` from there up to `end` (exclusive)."""
        from aiokafka import AIOKafkaConsumer

        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                             enable_auto_commit=False, max_poll_records=10_000)
        await c.start()
        out: list[Any] = []
        try:
            tps = [tp for tp in start if end[tp] > start[tp]]
            if not tps:
                return out
            c.assign(tps)
            for tp in tps:
                c.seek(tp, start[tp])
            left = set(tps)
            deadline = time.monotonic() + 120
            while left and time.monotonic() < deadline:
                got = await c.getmany(timeout_ms=500, max_records=10_000)
                for tp, recs in got.items():
                    out.extend(r for r in recs if r.offset < end[tp])
                for tp in list(left):
                    if await c.position(tp) >= end[tp]:
                        left.discard(tp)
        finally:
            await c.stop()
        return out


async def produce_backlog(bootstrap: str, topic: str, pairs: Sequence[tuple[bytes | None, bytes]]
                          ) -> float:
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                         max_batch_size=1 << 20, max_request_size=1 << 21)
    await p.start()
    t0 = time.perf_counter()
    try:
        futs: list[Any] = []
        for k, v in pairs:
            futs.append(await p.send(topic, v, key=k))
            if len(futs) >= 50_000:
                await asyncio.gather(*futs)
                futs.clear()
        await asyncio.gather(*futs)
    finally:
        await p.stop()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- processes


class Proc:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logdir: Path,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.log = logdir / f"{name}.log"
        self.cwd = cwd
        self.p: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with open(self.log, "ab") as out:
            self.p = subprocess.Popen(self.cmd, env={**os.environ, **self.env}, stdout=out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      cwd=self.cwd or REPO)
        return self

    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        if self.p is None or self.p.poll() is not None:
            return
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(10)

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


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
             profile_to: Path | None = None) -> Proc:
        bootstrap = self.k.bootstrap
        base = {"BENCH_BOOTSTRAP": bootstrap, "BENCH_IN": source, "BENCH_OUT": f"out-{tag}",
                "BENCH_GROUP": group, "BENCH_BATCH": str(BATCH),
                "BENCH_PARTITIONS": str(PARTITIONS), "BENCH_LINGER_MS": str(OUT_LINGER_MS),
                "BENCH_DATADIR": str(self.run_dir / "state" / tag)}
        if variant == "a":
            cmd = [sys.executable, str(HERE / "passthrough_aiokafka.py")]
            return Proc(tag, cmd, base, self.run_dir)
        if variant == "b":
            cmd = [sys.executable, str(HERE / "passthrough_faust.py"), "worker", "-l", "warn",
                   "--without-web"]
            return Proc(tag, cmd, base, self.run_dir, cwd=self.run_dir)
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
            "STREAMPROC_METRICS_ADDR": f"127.0.0.1:{_free_port()}",
            "STREAMPROC_STATE_DIR": str(self.run_dir / "state" / tag),
        }
        if profile_to is not None:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--cprofile-worker",
                   str(profile_to)]
        else:
            cmd = [sys.executable, "-m", "streamproc", "worker"]
        return Proc(tag, cmd, env, self.run_dir)

    def cpu_probe(self, proc: Proc) -> CpuProbe:
        return CpuProbe({"variant": proc.p.pid if proc.p else None, "broker": self.broker_pid,
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
            proc.stop()
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

        from streamproc.tools.loadgen import TokenBucket

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
            proc.stop()
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


_TCK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far; 0 when it is gone."""
    if pid is None:
        return 0.0
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / _TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = v[3] + v[4]
    return float(sum(v) - idle), float(sum(v))


class CpuProbe:
    """CPU used by the variant, the broker, redis-server, this runner and everyone else."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.samples: list[dict[str, float]] = []

    def sample(self, t: float) -> None:
        busy, total = machine_busy()
        row = {"t": round(t, 3), "busy": busy, "total": total,
               "load1": float(Path("/proc/loadavg").read_text().split()[0])}
        row.update({k: cpu_of(p) for k, p in self.pids.items()})
        self.samples.append(row)

    def between(self, t0: float, t1: float) -> dict[str, Any]:
        """Cores each process used on average between the samples nearest t0 and t1."""
        if len(self.samples) < 2:
            return {}
        a = min(self.samples, key=lambda r: abs(r["t"] - t0))
        b = min(self.samples, key=lambda r: abs(r["t"] - t1))
        dt = b["t"] - a["t"]
        if dt <= 0:
            return {}
        ncpu = os.cpu_count() or 1
        out: dict[str, Any] = {f"{k}_cores": round((b[k] - a[k]) / dt, 2) for k in self.pids}
        machine = (b["busy"] - a["busy"]) / max(1.0, b["total"] - a["total"]) * ncpu
        out["machine_busy_cores"] = round(machine, 2)
        out["others_cores"] = round(max(0.0, machine - sum(out[f"{k}_cores"]
                                                           for k in self.pids)), 2)
        loads = [r["load1"] for r in self.samples if a["t"] <= r["t"] <= b["t"]]
        out["load1_mean"] = round(sum(loads) / max(1, len(loads)), 2)
        out["variant_cpu_s"] = round(b["variant"] - a["variant"], 2)
        return out


def _free_port() -> int:
    from streamproc.tools.devstack import free_port

    return free_port()


def pct(sorted_vals: Sequence[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, round(q / 100 * len(sorted_vals)) - 1))
    return float(sorted_vals[i])


def summarise(variant: str, series: list[tuple[float, int, int]], total: int, state: str,
              cap: float) -> dict[str, Any]:
    """Rate over the active window: from the last sample without output to the first sample
    where the outputs reached the backlog (or the last sample when capped)."""
    t_zero = 0.0
    for t, out, _ in series:
        if out > 0:
            break
        t_zero = t
    t_end, processed = (series[-1][0], series[-1][1]) if series else (0.0, 0)
    for t, out, _ in series:
        if out >= total:
            t_end, processed = t, out
            break
    processed = min(processed, total)
    active = max(1e-9, t_end - t_zero)
    return {
        "variant": variant, "name": VARIANTS[variant], "state": state, "backlog": total,
        "processed": processed, "active_seconds": round(active, 2),
        "first_output_after_s": round(t_zero, 2), "wall_seconds": round(t_end, 2),
        "rate": round(processed / active, 1) if processed else 0.0,
        "rate_incl_startup": round(processed / t_end, 1) if t_end else 0.0,
        "capped_at_s": cap if state == "capped" else None, "series": series,
    }


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
    """Hidden mode: the streamproc worker under cProfile, stats dumped when it stops."""
    from streamproc.cli import main

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


# ----------------------------------------------------------------------------- report


def machine_info(redis_port: int) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    redis_v = "?"
    with contextlib.suppress(Exception):
        import redis

        redis_v = redis.Redis(port=redis_port).info("server")["redis_version"]
    java = "?"
    with contextlib.suppress(Exception):
        r = subprocess.run(["java", "-version"], capture_output=True, text=True)
        java = (r.stderr or r.stdout).splitlines()[0]
    import aiokafka
    import faust

    return {"nproc": os.cpu_count(), "cpu": cpu, "ram": mem,
            "python": platform.python_version(), "kafka": "3.9.1 (KRaft, single node)",
            "kafka_jvm_flags": os.environ["STREAMPROC_KAFKA_JVM_FLAGS"], "java": java,
            "redis": redis_v, "aiokafka": aiokafka.__version__, "faust": faust.__version__,
            "kernel": platform.release()}


def print_table(res: dict[str, Any]) -> str:
    cu = res.get("catch_up", {})
    lat = res.get("latency", {})
    a_rate = cu.get("a", {}).get("rate")
    lines = ["| variant | receipts/s (catch-up) | incl. start-up | vs (a) | state |"
             " per CPU-second | cores: variant / broker / redis / others |"
             " p50 ms | p95 ms | p99 ms |",
             "| --- | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |"]
    for v, name in VARIANTS.items():
        if v not in cu and v not in lat:
            continue
        c = cu.get(v, {})
        rate = c.get("rate")
        ratio = f"{rate / a_rate:.0%}" if rate and a_rate else ""
        state = c.get("state", "")
        if state == "capped":
            state = f"capped {c['capped_at_s']:.0f}s, {c['processed']:,} done"
        elif state == "done":
            state = f"done {c['wall_seconds']:.0f}s"
        lt = lat.get(v, {})
        cpu = c.get("cpu") or {}
        cores = ""
        if cpu:
            cores = (f"{cpu['variant_cores']} / {cpu['broker_cores']} / {cpu['redis_cores']}"
                     f" / {cpu['others_cores']}")
        per_cpu = c.get("per_cpu_second")
        lines.append(
            f"| ({v}) {name} | {rate or 0:,.0f} | {c.get('rate_incl_startup') or 0:,.0f} | "
            f"{ratio} | {state} | {per_cpu or 0:,.0f} | {cores} | {_ms(lt.get('p50_ms'))} |"
            f" {_ms(lt.get('p95_ms'))} | {_ms(lt.get('p99_ms'))} |")
    return "\n".join(lines)


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:,.0f}"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 8))
    for v, c in res.get("catch_up", {}).items():
        s = c["series"]
        xs, ys = [], []
        prev_t, prev_o = 0.0, 0
        for t, o, _ in s:
            xs.append(t)
            ys.append((o - prev_o) / max(1e-9, t - prev_t))
            prev_t, prev_o = t, o
        ax.plot(xs, ys, label=f"({v}) {VARIANTS[v]}: {c['rate']:,.0f}/s")
    ax.set_title(f"Catch-up over a backlog of {res['settings']['receipts']:,} receipts"
                 f" ({PARTITIONS} partitions, one process each)")
    ax.set_xlabel("seconds since the process started")
    ax.set_ylabel("output records / s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    for v, lt in res.get("latency", {}).items():
        s = lt["series"]
        xs, ys = [], []
        prev_t, prev_o = 0.0, 0
        for t, _sent, o in s:
            xs.append(t)
            ys.append((o - prev_o) / max(1e-9, t - prev_t))
            prev_t, prev_o = t, o
        ax2.plot(xs, ys, label=f"({v}) output/s, p99 {_ms(lt.get('p99_ms'))} ms")
    ax2.axhline(res["settings"]["rate"], color="grey", ls="--", lw=0.8, label="input rate")
    ax2.set_title("Steady input rate (latency phase)")
    ax2.set_xlabel("seconds since the first send")
    ax2.set_ylabel("output records / s")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Written after looking at the figures; the goal checks below it are computed on every run.
ANALYSIS = """\
Honest reading (run of 2026-11-25 22:47 on the 2-core VM, quiet this time: "others" stays at
~0.03 core). Since the first run of this benchmark the worker reads receipts with aiokafka
`getmany` instead of a faust agent, sends its records as one record batch per partition,
decodes receipts with the compiled validator, sums its metrics per batch and waits for Kafka's
acknowledgements only before committing offsets (every second): (d) went from 2.2k/s to 3.6k/s.

- **(d) >= 20k receipts/s: not met, by ~5.6x** (3.6k/s on 0.94 core, 3.8k receipts per
  CPU-second). **>= 50 % of (a): not met** (11 %; (a) moves 33k/s on 0.7 core, 49k per
  CPU-second). **p99 < 100 ms at a steady 10k/s: not met** - one worker cannot absorb 10k/s at
  all (an earlier run at 10k/s in: the backlog grew, p50 35 s, p99 67 s). At a rate it can
  carry, 2,000/s, the latency is p50 34 ms, p95 129 ms, p99 212 ms ((a) at the same rate:
  p50 20 ms, p99 153 ms - the benchmark's own Python producer and the broker on the same two
  cores set that floor).
- **The consumer choice, measured**: (e) is the same worker reading receipts through a faust
  agent (`take_events`): 3.0k/s against 3.6k/s for (d), and the Faust passthrough (b) tops out
  at 4.9k/s (7.8k per CPU-second) where aiokafka alone (a) does 33k/s - faust's per-event path
  (conductor, stream queue, an Event, tasks and futures per step) costs ~100 us a message.
  So the worker keeps faust for its app, the profiles agent and the timers, and reads receipts
  with `getmany` (`src/streamproc/stream/receipts_loop.py`).
- **The wall now is the per-receipt Python bookkeeping around the engine.** The batch path
  alone (no Kafka; real Redis; compiled engine and decoder) runs at 4.2k/s under the profiler's
  weight and ~5.5k/s without it. In the worker under cProfile (78k receipts in 30 s):
  `Processor.process_sale` ~35 % of all time - the customer context, ledger grants and
  settlement, events, the receipt record kept for returns, the result dict (`calc_sale` itself
  is C, ~5 us) -, Redis `load`/`commit` ~19 % (mostly redis-py packing one big Lua call's
  arguments and parsing its reply), the compiled decoder a few %, JSON encoding and the Kafka
  record batches the rest. (c) with the reference engine reaches 2.1k/s: the engine is no
  longer what limits the worker.
- Profiles and timers share the worker's event loop; timers fire only for the customers of the
  worker's own partitions, between its batches.

What it would take: moving the processor's bookkeeping (buckets, context, result and Redis
records) into the compiled module so a batch goes from Kafka bytes to Redis arguments and
result bytes with no Python objects per line; and more processes - one worker per core per
partition set (two workers on this machine share its two cores with Kafka and Redis). On 2
shared cores, 20k/s from one process is out of reach for a Python worker of this scope.
"""


def readme_section(res: dict[str, Any]) -> str:
    m, s = res["machine"], res["settings"]
    lat = res.get("latency", {})
    out = [MARK_START, "## End to end", "",
           "What is measured: catch-up throughput over one backlog of generated receipts"
           " (`streamproc.tools.loadgen`, seed "
           f"{s['seed']}, {s['receipts']:,} receipts, {s['customers']:,} customers, about"
           f" {s['avg_receipt_bytes']:,} bytes a receipt) in a `receipts` topic of"
           f" {PARTITIONS} partitions, for (a) a raw aiokafka consume-to-produce passthrough"
           " (the ceiling), (b) a Faust passthrough agent configured like the worker,"
           " (c) the streamproc worker with the reference engine and (d) with the compiled"
           " engine - each ONE process, own consumer group from the beginning, own output"
           " topics, Redis flushed before (c) and (d); then receipt-to-result latency at a steady"
           " input rate for (d) and (a).",
           "",
           "How to run (starts its own Kafka 3.9.1 and redis-server on free ports; about"
           " 10-15 minutes with the defaults, the generated backlog is cached in `.cache/e2e`):",
           "", "```sh",
           "python benchmarks/e2e/run.py                 # --receipts 1000000 --rate 10000"
           " --duration 30 --cap 120",
           "python benchmarks/e2e/run.py --only a,d      # some variants",
           "pytest tests/integration/test_e2e_bench_smoke.py   # tiny run", "```", "",
           f"Machine: `nproc` = {m['nproc']}, CPU \"{m['cpu']}\", RAM {m['ram']}, Python"
           f" {m['python']}, Kafka {m['kafka']} on {m['java']} with `{m['kafka_jvm_flags']}`,"
           f" Redis {m['redis']}, aiokafka {m['aiokafka']}, faust-streaming {m['faust']}."
           " Broker, redis-server, the variant under test and the benchmark's producer/sampler"
           " share these cores.",
           "",
           f"Settings: {PARTITIONS} partitions; batch {BATCH} (`take_events`/`getmany`,"
           " `STREAMPROC_BATCH_SIZE`), batch wait 50 ms; output producers acks=all,"
           f" idempotent, linger {OUT_LINGER_MS} ms; offsets committed every 1 s; output topics"
           " `LogAppendTime`; backlog loaded with acks=1, linger 20 ms; steady-rate producer"
           f" acks=1, linger {IN_LINGER_MS} ms, record timestamp = send time; samples every"
           f" {s['sample_s']} s; cap {s['cap']:.0f} s a variant.",
           "",
           "Catch-up rate = outputs / time from the last sample without output to the sample"
           " where the outputs reached the backlog (start-up excluded; the column \"incl."
           " start-up\" counts from process start). A capped variant's rate is over what it"
           " processed before the cap. Latency = output record's LogAppendTime - input record's"
           " send time (so it includes the input producer's linger and the output's acks),"
           " matched by receipt_id, over every receipt of the steady phase. \"Per CPU-second\":"
           " receipts over the CPU time (user + system, /proc) the variant's process used in"
           " the active window; \"cores\": average cores used in that window by the variant,"
           " the broker, redis-server, and everything else on the machine (the benchmark's own"
           " sampler and any other jobs: on a shared 2-core VM this is contention).",
           "",
           print_table(res), ""]
    if lat:
        for v, lt in lat.items():
            out.append(f"- steady phase ({v}): asked {s['rate']:,}/s for {s['duration']} s,"
                       f" producer achieved {lt['achieved_rate']:,.0f}/s; {lt['matched']:,}"
                       f" receipts matched; max {_ms(lt.get('max_ms'))} ms; last output"
                       f" {lt['drain_seconds_after_last_send']} s after the last send.")
        out.append("")
    goals = goal_checks(res)
    if goals:
        out += ["Goals:", *[f"- {g}" for g in goals], ""]
    bp = res.get("profile", {}).get("batch_path")
    if bp and "rate" in bp:
        out.append(f"Batch path alone (`BatchProcessor.process`, compiled engine, real Redis,"
                   f" no Kafka, {bp['receipts']:,} receipts in batches of {BATCH}):"
                   f" {bp['rate']:,.0f} receipts/s, Redis calls {bp['redis_share_pct']}% of"
                   " its time. Top functions under cProfile (own time):")
        out.append("")
        out += _prof_table(bp["top_tottime"][:12])
        out.append("")
    wp = res.get("profile", {}).get("worker")
    if wp and "top_tottime" in wp:
        out.append(f"The (d) worker process itself under cProfile for {wp['seconds']:.0f} s of"
                   f" catch-up ({wp['processed_under_profiler']:,} receipts; cProfile slows it"
                   " down, so shares matter, not times). Own time:")
        out.append("")
        out += _prof_table(wp["top_tottime"][:15])
        out.append("")
    if ANALYSIS.strip():
        out += [ANALYSIS.rstrip(), ""]
    out.append(f"Raw figures and time series: `benchmarks/e2e/results.json`; plot:"
               f" `benchmarks/e2e/throughput.png` (run of {res['finished']}).")
    out.append(MARK_END)
    return "\n".join(out)


def _prof_table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| own time | cumulative | calls | function |", "| ---: | ---: | ---: | --- |"]
    for r in rows:
        out.append(f"| {r['tottime_pct']}% | {r['cumtime_s']:.2f}s | {r['calls']:,} |"
                   f" `{r['function']}` |")
    return out


def goal_checks(res: dict[str, Any]) -> list[str]:
    cu, lat = res.get("catch_up", {}), res.get("latency", {})
    out = []
    d, a = cu.get("d"), cu.get("a")
    if d:
        r = d["rate"]
        verdict = "met" if r >= 20_000 else "NOT met"
        stretch = "met" if r >= 50_000 else "not met"
        out.append(f"(d) >= 20k receipts/s catch-up: **{verdict}** ({r:,.0f}/s; stretch 50k"
                   f" {stretch}).")
        if a and a["rate"]:
            ratio = r / a["rate"]
            verdict = "met" if ratio >= 0.5 else "NOT met"
            out.append(f"(d) >= 50 % of (a): **{verdict}** ({ratio:.0%} of {a['rate']:,.0f}/s).")
    ld = lat.get("d")
    if ld and "p99_ms" in ld:
        ok = ld["p99_ms"] < 100 and ld["achieved_rate"] >= 0.95 * res["settings"]["rate"]
        out.append(f"(d) p99 < 100 ms at a steady {res['settings']['rate']:,}/s:"
                   f" **{'met' if ok else 'NOT met'}** (p99 {ld['p99_ms']:,.0f} ms at"
                   f" {ld['achieved_rate']:,.0f}/s in).")
    return out


def write_readme(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        _, tail = rest.split(MARK_END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


# ----------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    only = [v.strip() for v in args.only.split(",") if v.strip()]
    bad = [v for v in only if v not in VARIANTS]
    if bad:
        raise SystemExit(f"--only: unknown variant(s) {bad}")
    steady_n = int(args.rate * args.duration)
    customers = args.customers or max(1000, args.receipts // 10)
    msgs, profiles = load_workload(args.seed, args.receipts + steady_n, customers,
                                   REPO / ".cache" / "e2e")
    backlog, live = msgs[:args.receipts], msgs[args.receipts:]
    run_dir = REPO / ".run" / "e2e-bench"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "state").mkdir(parents=True)
    broker = KafkaBroker(run_dir / "kafka")
    redis = RedisServer(run_dir / "redis")
    res: dict[str, Any] = {
        "settings": {"receipts": args.receipts, "rate": args.rate, "duration": args.duration,
                     "cap": args.cap, "seed": args.seed, "customers": customers,
                     "partitions": PARTITIONS, "batch": BATCH, "batch_wait_ms": 50,
                     "out_linger_ms": OUT_LINGER_MS, "in_linger_ms": IN_LINGER_MS,
                     "sample_s": args.sample_s, "only": only,
                     "avg_receipt_bytes": round(sum(len(v) for _, v in backlog)
                                                / max(1, len(backlog)))},
        "catch_up": {}, "latency": {}, "profile": {},
    }
    try:
        t0 = time.monotonic()
        redis.start()
        broker.start(timeout=180)
        log(f"kafka {broker.bootstrap} ready in {broker.started_in:.1f}s, redis {redis.url}")
        res["machine"] = machine_info(redis.port)
        k = Kafka(broker.bootstrap)
        await k.start()
        try:
            await k.create({"receipts": PARTITIONS, "customers": PARTITIONS},
                           compacted=["customers"])
            dt = await produce_backlog(broker.bootstrap, "customers", profiles)
            dt = await produce_backlog(broker.bootstrap, "receipts", backlog)
            log(f"backlog: {len(backlog):,} receipts loaded in {dt:.1f}s"
                f" ({len(backlog) / dt:,.0f}/s)")
            res["settings"]["backlog_load_rate"] = round(len(backlog) / dt, 1)
            ends = await k.ends(["receipts"])
            backlog_end = {tp.partition: off for tp, off in ends.items()}
            res["settings"]["partition_sizes"] = [backlog_end[p] for p in sorted(backlog_end)]
            bench = Bench(args, run_dir, k, redis.url, redis.port, broker.pid, redis.pid)
            for v in only:
                log(f"catch-up ({v}) {VARIANTS[v]} ...")
                c = await bench.catch_up(v, backlog_end)
                res["catch_up"][v] = c
                log(f"  ({v}) {c['state']}: {c['processed']:,} in {c['active_seconds']}s"
                    f" -> {c['rate']:,.0f}/s ({c['rate_incl_startup']:,.0f}/s incl. start-up)")
            for v in ("d", "a"):
                if v in only and live:
                    log(f"steady {args.rate:,}/s for {args.duration}s through ({v}) ...")
                    lt = await bench.steady(v, live)
                    res["latency"][v] = lt
                    log(f"  ({v}) p50 {lt.get('p50_ms')} p95 {lt.get('p95_ms')} p99"
                        f" {lt.get('p99_ms')} ms at {lt['achieved_rate']:,.0f}/s")
            if args.profile_receipts:
                log(f"profile: batch path over {args.profile_receipts:,} receipts ...")
                res["profile"]["batch_path"] = await profile_batch_path(
                    redis.url, backlog[:args.profile_receipts])
                log(f"  batch path {res['profile']['batch_path']['rate']:,.0f}/s")
            if args.profile_worker_s and "d" in only:
                log(f"profile: worker (d) under cProfile for {args.profile_worker_s}s ...")
                res["profile"]["worker"] = await profile_worker(bench, args.profile_worker_s)
        finally:
            await k.stop()
        res["total_seconds"] = round(time.monotonic() - t0, 1)
    finally:
        broker.stop(remove=False)
        redis.stop(remove=False)
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    res["finished"] = time.strftime("%Y-%m-%d %H:%M")
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--receipts", type=int, default=1_000_000, help="backlog size")
    p.add_argument("--rate", type=int, default=10_000, help="steady input rate, receipts/s")
    p.add_argument("--duration", type=float, default=30.0, help="steady phase, seconds")
    p.add_argument("--only", default="a,b,c,d,e", help="variants, e.g. a,d")
    p.add_argument("--cap", type=float, default=120.0, help="time limit a variant, seconds")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--customers", type=int, default=0, help="default receipts/10, >= 1000")
    p.add_argument("--sample-s", type=float, default=1.0, help="sampling interval")
    p.add_argument("--profile-receipts", type=int, default=50_000,
                   help="batch-path profile size (0: skip)")
    p.add_argument("--profile-worker-s", type=float, default=30.0,
                   help="seconds of the (d) worker under cProfile (0: skip)")
    p.add_argument("--out", type=Path, default=HERE, help="where results.json/throughput.png go")
    p.add_argument("--readme", type=Path, default=HERE.parent / "README.md")
    p.add_argument("--no-readme", action="store_true", help="do not touch the README")
    p.add_argument("--keep", action="store_true", help="keep .run/e2e-bench (logs)")
    p.add_argument("--report-only", action="store_true",
                   help="no measurement: redo table, plot and README from OUT/results.json")
    p.add_argument("--cprofile-worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cprofile_worker:
        cprofile_worker(args.cprofile_worker)
        return 0
    if args.report_only:
        res = json.loads((args.out / "results.json").read_text())
    else:
        res = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    plot(res, args.out / "throughput.png")
    table = print_table(res)
    print()
    print(table)
    for g in goal_checks(res):
        print("-", g.replace("**", ""))
    if not args.no_readme:
        write_readme(args.readme, readme_section(res))
        log(f"wrote {args.readme} (section between {MARK_START} and {MARK_END})")
    log(f"wrote {args.out / 'results.json'} and {args.out / 'throughput.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
