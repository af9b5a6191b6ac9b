"""The end-to-end benchmark's harness: settings, the workload, Kafka offsets, CPU probes.

Nothing here writes the environment or `sys.path` when imported; `run.py` is the entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from streamproc.tools.kafka_io import produce

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROGRAM = REPO / "examples" / "retail-chain.yaml"
# the broker's JVM for the benchmark (full JIT, larger heap); STREAMPROC_KAFKA_JVM_FLAGS wins
BENCH_JVM_FLAGS = "-Xms1g -Xmx1g -XX:+UseG1GC -XX:-UsePerfData"
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


# ----------------------------------------------------------------------------- Kafka


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
    """Load `pairs` into `topic` as fast as the broker takes them; seconds it took."""
    t0 = time.perf_counter()
    await produce(bootstrap, topic, pairs, linger_ms=20, in_flight=50_000)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- CPU and rates


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
