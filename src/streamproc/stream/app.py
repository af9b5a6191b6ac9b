"""The Faust app: agents over `receipts` and `customers`, a timer for point-expiry events, the
metrics endpoint. Batches are applied to Redis atomically (see `processing.batch`) and their
results produced and acknowledged by Kafka before faust may commit their offsets.

Data never stops a worker: a message that fails goes to the dead-letter topic (`internal`,
see `processing.batch`). Redis and Kafka are waited for with backoff and no limit; liveness
(`is_alive`) decides when a worker that cannot make progress is replaced. faust acks a batch
even when the body raises (its `take` acks in a `finally`), so on anything else (a bug outside
the per-message paths) the worker still exits at once, before control returns to faust: the
batch is redelivered to the next owner instead of being skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streamproc import __version__
from streamproc.config import WorkerSettings, kafka_client_kwargs, redis_access
from streamproc.domain.program import Program
from streamproc.domain.result import AppliedResult
from streamproc.engine.processor import SaleEngine
from streamproc.observability.http import make_app, parse_addr, serve
from streamproc.observability.metrics import LoyaltyMetrics
from streamproc.processing.batch import (
    BatchOutput,
    BatchProcessor,
    InMessage,
    apply_profiles,
    clear_timer_outbox,
    collector_paused,
    fire_timers,
)
from streamproc.state.errors import Conflict
from streamproc.state.redis.retry import is_transient, retrying
from streamproc.state.redis.store import RedisStore
from streamproc.stream.failpoints import FailPoints
from streamproc.stream.producer import BatchProducer
from streamproc.stream.receipts_loop import ReceiptsLoop

log = logging.getLogger("streamproc.worker")
EXIT_FATAL = 70
RETURNS_LABEL = "returns"  # reversals by returns, counted apart from the campaigns' grants


def _faust_credentials(s: WorkerSettings) -> Any:
    """The same security as `kafka_client_kwargs`, in faust's terms."""
    kw = kafka_client_kwargs(s)
    if s.kafka_security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(username=s.kafka_sasl_username,
                                     password=s.kafka_sasl_password,
                                     mechanism=s.kafka_sasl_mechanism,
                                     ssl_context=kw.get("ssl_context"))
    if s.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(kw["ssl_context"])
    return None


class Worker:
    """Everything one worker process holds: the app, the store, the producer, the metrics."""

    def __init__(self, settings: WorkerSettings, program: Program, engine: SaleEngine) -> None:
        self.s = settings
        self.program = program
        self.engine = engine
        self.failpoints = FailPoints.from_env()  # crash tests only; refused here if malformed
        self.metrics = LoyaltyMetrics()
        self.metrics.set_worker_info(__version__, engine.name)
        self.metrics.set_cluster_reporter(False)  # until it owns customers partition 0
        access = redis_access(settings)
        self.store = RedisStore(access.url, program, prefix=settings.redis_prefix,
                                output_ttl_s=settings.output_ttl_s,
                                connection=access.client_kwargs(),
                                partitions=settings.partitions,
                                partitioner=settings.partitioner,
                                cluster=settings.redis_cluster, cache_state=True)
        self.redis_ok = False  # readiness follows Redis: false while calls wait for it
        self.kept: dict[int, list[str]] = {}  # answers stored since the last offset commit
        self.claimed: list[str] = []  # receipts whose claims were made since then
        self.batcher = BatchProcessor(program, engine, self.store, metrics=self.metrics,
                                      max_record_bytes=settings.max_record_bytes,
                                      fences=self._fences, on_wait=self._redis_waiting)
        self.producer: AIOKafkaProducer | None = None
        self.batch_producer: BatchProducer | None = None
        self.last_loop = time.monotonic()
        self.ready = False
        self.reported: set[Any] = set()
        self.loop: ReceiptsLoop | None = None
        self.loop_task: asyncio.Task[None] | None = None
        self.last_batch_end = time.perf_counter()
        self.app = self._build_app()

    # ------------------------------------------------------------------ app
    def _build_app(self) -> faust.App:
        s = self.s
        kw: dict[str, Any] = {}
        cred = _faust_credentials(s)
        if cred is not None:
            kw["broker_credentials"] = cred
        direct = s.consumer == "direct"
        app = faust.App(
            f"{s.group}-app" if direct else s.group,
            broker=f"kafka://{s.kafka}",
            value_serializer="raw",
            key_serializer="raw",
            store="memory://",
            web_enabled=False,
            web_tables_enabled=False,
            topic_partitions=s.partitions,
            topic_disable_leader=True,  # no leader election: the worker has no leader's work
            datadir=s.state_dir,
            consumer_auto_offset_reset="earliest",
            stream_buffer_maxsize=max(4096, 4 * s.batch_size),
            broker_commit_every=max(1000, 2 * s.batch_size),
            broker_commit_interval=1.0,
            broker_max_poll_records=max(500, s.batch_size),
            **kw,
        )
        customers = app.topic(s.customers_topic, key_type=bytes, value_type=bytes,
                              partitions=s.partitions)
        within = s.batch_wait_ms / 1000.0

        if not direct:
            receipts = app.topic(s.receipts_topic, key_type=bytes, value_type=bytes,
                                 partitions=s.partitions)

            @app.agent(receipts, concurrency=1)
            async def apply_receipts(stream: faust.StreamT) -> None:
                # take_events is on faust.Stream, not on its StreamT interface
                async for events in stream.take_events(  # type: ignore[attr-defined]
                        s.batch_size, within=within):
                    await self._guarded(self.handle_batch, [
                        InMessage(e.message.topic, e.message.partition, e.message.offset,
                                  e.message.key, e.message.value or b"",  # null: a reject
                                  int(e.message.timestamp * 1000) if e.message.timestamp
                                  else None) for e in events])

        @app.agent(customers, concurrency=1)
        async def apply_customers(stream: faust.StreamT) -> None:
            # take_events is on faust.Stream, not on its StreamT interface
            async for events in stream.take_events(  # type: ignore[attr-defined]
                    s.batch_size, within=within):
                await self._guarded(self.handle_customers, events)

        @app.timer(interval=s.timer_interval_s)
        async def point_timers() -> None:
            await self._guarded(self.fire_timers)

        @app.timer(interval=5.0)
        async def gauges() -> None:
            try:
                await self.update_gauges()
            except Exception as exc:  # gauges are best effort, never fatal
                if is_transient(exc):
                    self.redis_ok = False
                log.warning("gauge update failed: %s", exc)

        # faust's stub wants a positional-only sender its own receivers do not declare
        @app.on_partitions_assigned.connect  # type: ignore[arg-type]
        async def log_assignment(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
            by_topic: dict[str, list[int]] = {}
            for tp in assigned:
                by_topic.setdefault(tp.topic, []).append(tp.partition)
            for topic, parts in sorted(by_topic.items()):
                log.info("%s partitions assigned (faust): %s", topic, sorted(parts))

        # faust's stub wants a positional-only sender its own receivers do not declare
        @app.on_before_shutdown.connect  # type: ignore[arg-type]
        async def close_clients(sender: Any, **kwargs: Any) -> None:
            if self.loop is not None and self.loop_task is not None:
                self.loop.stopping = True
                await asyncio.wait([self.loop_task], timeout=30)
            if self.producer is not None:
                await self.producer.stop()
            await self.store.close()

        @app.task
        async def start_http() -> None:
            host, port = parse_addr(s.metrics_addr)
            await serve(make_app(self.metrics, self.is_ready, self.is_alive), host, port)
            await self._redis(self.store.check_durability, s.redis_durability, what="start")
            self.ready = self.redis_ok = await self._redis(self.store.ping, what="ping")
            self.metrics.set_up(True)
            if direct:
                self.loop = ReceiptsLoop(
                    s.kafka, s.receipts_topic, s.group, s.batch_size, s.batch_wait_ms,
                    self.apply_batch, self.revoked, kafka_client_kwargs(s),
                    on_assigned=self.take_partitions, before_commit=self.durable,
                    after_commit=self.drop_answers)
                self.loop_task = asyncio.create_task(self._guarded(self.loop.run))
            log.info("streamproc worker %s: engine %s, metrics on %s, state in %s",
                     __version__, self.engine.name, s.metrics_addr, s.state_dir)

        return app

    def is_ready(self) -> bool:
        """Redis answers (no call is waiting for it), and the receipts consumer is in its
        group, knows its group coordinator (Kafka is there) and polled lately."""
        if not (self.ready and self.redis_ok):
            return False
        return self.loop is None or (self.loop.joined and self.loop.kafka_ok()
                                     and time.monotonic() - self.loop.last_poll < 60)

    def _redis_waiting(self, waiting: bool) -> None:
        self.redis_ok = not waiting

    def _fences(self) -> dict[int, str] | None:
        return None if self.loop is None else self.loop.fences

    async def _redis(self, fn: Any, *args: Any, what: str) -> Any:
        """A Redis call under the one retry policy: wait for Redis, never exit on it."""
        return await retrying(lambda: fn(*args), what, self.metrics,
                              on_wait=self._redis_waiting)

    async def take_partitions(self, parts: list[int], generation: int, member: str,
                              n: int) -> dict[int, str]:
        """On assignment: this member owns these partitions now (the fence), and the
        partition count is recorded for lookups outside the stream."""
        if n:
            if n != self.s.partitions:
                log.warning("the receipts topic has %d partitions, settings say %d: using %d",
                            n, self.s.partitions, n)
            self.store.set_partitions(n)
            await self._redis(self.store.write_layout, what="layout")
        # another worker may have owned them meanwhile: read their state afresh
        self.store.forget(parts)
        token = await self._redis(self.store.take_partitions, parts, generation, member,
                                  what="fence")
        return {p: token for p in parts}

    async def drop_answers(self) -> None:
        """Offsets committed: the answers kept for redelivering those messages, and their
        receipts' claims, can go."""
        kept, self.kept = self.kept, {}
        claimed, self.claimed = self.claimed, []
        await self._redis(self.store.drop_outputs, kept, what="outputs")
        await self._redis(self.store.drop_claims, claimed, what="claims")

    async def durable(self) -> None:
        """Before offsets commit: Redis has the writes as durably as configured."""
        s = self.s
        await self._redis(self.store.durable, s.redis_durability, s.redis_wait_replicas,
                          s.redis_wait_timeout_ms, what="durable")

    def is_alive(self) -> bool:
        """The timers came round lately, and so did the receipts loop (a batch that keeps
        retrying Redis may hold it up to its retry budget)."""
        now = time.monotonic()
        if now - self.last_loop > 120:
            return False
        return self.loop is None or now - self.loop.last_poll < 180

    async def _guarded(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run a handler; anything it raises stops the process before faust commits."""
        try:
            await fn(*args)
            self.last_loop = time.monotonic()
        except Exception:
            log.critical("unrecoverable error: stopping before faust can commit past "
                         "unprocessed messages", exc_info=True)
            logging.shutdown()
            os._exit(EXIT_FATAL)

    # ------------------------------------------------------------------ handlers
    async def _producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            self.producer = AIOKafkaProducer(
                bootstrap_servers=self.s.kafka, acks="all", enable_idempotence=True,
                linger_ms=5, max_batch_size=1 << 20, **kafka_client_kwargs(self.s))
            await self.producer.start()
        return self.producer

    async def produce(self, out: BatchOutput) -> None:
        """Send everything and wait until Kafka has it: only then may offsets commit."""
        await (await self.send(out))

    async def produce_patiently(self, out: BatchOutput, what: str) -> None:
        """`produce`, retried with backoff while Kafka fails (never an exit: liveness decides);
        a retry may send a record twice, which its consumers see as a repeat of the same id."""
        delay = 0.1
        while True:
            try:
                await self.produce(out)
                return
            except KafkaError as exc:
                self.metrics.count_kafka_error("produce")
                log.warning("Kafka error producing %s (%r); retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def send(self, out: BatchOutput) -> Awaitable[Any]:
        """Queue everything for Kafka; the returned awaitable completes once Kafka has it."""
        if self.batch_producer is None:
            self.batch_producer = BatchProducer(await self._producer())
        bp = self.batch_producer
        s = self.s
        futs = await bp.send_all(s.results_topic, out.results)
        futs += await bp.send_all(s.events_topic, out.events)
        futs += await bp.send_all(s.dlq_topic, out.dlq)
        return asyncio.gather(*futs)

    async def handle_batch(self, msgs: list[InMessage]) -> None:
        """Apply a batch to Redis and produce its records; return once Kafka has them."""
        await (await self.apply_batch(msgs))[0]

    async def apply_batch(self, msgs: list[InMessage]) -> tuple[Awaitable[Any], set[int]]:
        """Apply a batch to Redis and queue its records; the returned awaitable completes once
        Kafka has them (and records the receipt-to-result latency then). Also the partitions
        whose fence refused the write: their records are not sent, their offsets not
        committed."""
        t0 = time.perf_counter()
        gap = t0 - self.last_batch_end
        self.failpoints.hit("before_apply")
        with collector_paused():  # until the batch's objects are gone (processing/batch.py)
            out = await self.batcher.process(msgs)
            self.failpoints.hit("after_apply")  # in Redis; not in Kafka, not committed
            self.metrics.observe_redis_call("apply_batch", out.redis_seconds)
            for p, origins in out.kept.items():
                self.kept.setdefault(p, []).extend(origins)
            self.claimed.extend(out.claimed)
            if out.fenced:
                self.metrics.count_fenced(len(out.fenced))
                log.warning("partitions %s belong to another worker now: their writes were "
                            "refused", sorted(out.fenced))
            self.count_outcomes(out)
            out.outcomes = []  # what is left to send is bytes
        t1 = time.perf_counter()
        delivered = await self.send(out)
        m = self.metrics
        stamps = [msg.timestamp_ms for msg in msgs if msg.timestamp_ms]

        def on_delivered(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled() or fut.exception() is not None:
                return  # the loop's flush raises it and the worker stops
            now = time.time()  # results are in Kafka now: receipt-to-result latency
            for ts in stamps:
                m.observe_receipt_latency(now - ts / 1000)

        delivered.add_done_callback(on_delivered)  # type: ignore[attr-defined]
        log.debug("batch %d: waited %.1fms, computed %.1fms (Redis %.1fms), queued %.1fms",
                  len(msgs), gap * 1e3, (t1 - t0) * 1e3, out.redis_seconds * 1e3,
                  (time.perf_counter() - t1) * 1e3)
        self.last_batch_end = time.perf_counter()
        m.observe_batch(len(msgs), self.last_batch_end - t0)
        return delivered, out.fenced

    def count_outcomes(self, out: BatchOutput) -> None:
        """Add a batch to the counters: summed per label first (a labelled increment costs
        microseconds, a receipt has several)."""
        statuses: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        discount: Counter[str] = Counter()
        points: Counter[str] = Counter()
        events: Counter[str] = Counter()
        redelivered = 0
        for o in out.outcomes:
            statuses[o.status] += 1
            redelivered += o.redelivered
            if o.status == "rejected":
                reasons[o.reject["reason"]] += 1  # type: ignore[index]
            elif o.status == "applied" and not o.redelivered:
                r = o.result
                assert isinstance(r, AppliedResult)
                for a in r.applied:
                    (discount if a.kind == "discount" else points)[a.campaign_id] += a.amount
                if r.total < 0:  # a return's `applied` is empty (spec 6): not attributed
                    discount[RETURNS_LABEL] += r.discount
                    points[RETURNS_LABEL] += r.accrued
                for e in r.events:
                    events[e["type"]] += 1
        m = self.metrics
        if redelivered:
            m.count_redelivered(redelivered)
        for status, n in statuses.items():
            m.count_receipt(status, n)
        for reason, n in reasons.items():
            m.count_dlq(reason, n)
        for campaign in discount.keys() | points.keys():
            m.add_campaign_cost(campaign, discount=discount[campaign], points=points[campaign])
        for etype, n in events.items():
            m.count_event(etype, n)

    async def handle_customers(self, events: list[Any]) -> None:
        msgs = [InMessage(e.message.topic, e.message.partition, e.message.offset,
                          e.message.key, e.message.value) for e in events]
        # Redis is waited for, without a limit: liveness decides
        dlq = await self._redis(apply_profiles, self.store, msgs, self.metrics,
                                self.s.max_record_bytes, what="profiles")
        if dlq:
            await self.produce_patiently(BatchOutput(dlq=dlq), "profile dead letters")

    async def fire_timers(self) -> None:
        """Announce due timer events. Only the owner of a partition announces its customers'
        points, between two of its own batches (the loop's lock), fenced like a batch. The
        events are written to the partition's outbox with the marks and cleared once Kafka has
        them, so a crash or an outage in between only sends them again (same ids). Redis
        unavailable: skip this tick, the next one tries again."""
        now_us = time.time_ns() // 1000
        try:
            if self.loop is None:
                fired = await fire_timers(self.store, self.program, now_us,
                                          range(self.store.partitions), metrics=self.metrics)
            else:
                async with self.loop.lock:
                    fired = await fire_timers(self.store, self.program, now_us,
                                              self.loop.owned_partitions(), limit=5000,
                                              fences=self.loop.fences, metrics=self.metrics)
        except Conflict:
            return  # a receipt moved one of the customers meanwhile: next tick
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.metrics.count_redis_error("timers")
            self.redis_ok = False
            log.warning("Redis unavailable for the timers (%s); next tick", exc)
            return
        if fired.records:
            for etype, n in Counter(orjson.loads(v)["type"] for _, v in fired.records).items():
                self.metrics.count_event(etype, n)
            await self.produce_patiently(BatchOutput(events=fired.records), "timer events")
            await self._redis(clear_timer_outbox, self.store, fired, what="timers")

    def revoked(self, revoked: set[Any]) -> None:
        """Receipts partitions gone to another worker: their state held in memory goes."""
        self.store.forget(tp.partition for tp in revoked)
        self.forget_partitions(revoked)

    def forget_partitions(self, revoked: set[Any]) -> None:
        for tp in revoked:  # another worker reports them now
            self.metrics.forget_partition(tp.topic, tp.partition)
            self.reported.discard(tp)

    async def update_gauges(self) -> None:
        consumer = self.app.consumer
        assigned = set(consumer.assignment())
        lags: dict[Any, tuple[int, int | None]] = {}
        for tp in assigned:
            hw = consumer.highwater(tp)
            pos = await consumer.position(tp)
            if hw is not None and pos is not None:
                lags[tp] = (max(0, hw - pos),
                            consumer._committed_offset.get(tp))  # type: ignore[attr-defined]
        if self.loop is not None:
            lags.update(await self.loop.lag())
        self.forget_partitions(self.reported - set(lags))
        self.reported = set(lags)
        for tp, (lag, committed) in lags.items():
            self.metrics.set_lag(tp.topic, tp.partition, lag)
            if committed is not None:
                self.metrics.set_committed_offset(tp.topic, tp.partition, committed)
        self.redis_ok = await self.store.ping()
        # Budgets and liability are the same Redis figures for every worker: only the owner of
        # partition 0 of the customers topic (exactly one worker of the faust group) exports
        # them, so sum() over workers counts them once.
        reporter = any(tp.topic == self.s.customers_topic and tp.partition == 0
                       for tp in assigned)
        if reporter:
            for cid, left in (await self.store.budgets_remaining()).items():
                self.metrics.set_budget_remaining(cid, left)
            self.metrics.set_points_liability(await self.store.liability())
        self.metrics.set_cluster_reporter(reporter)


def run_worker(settings: WorkerSettings, program: Program, engine: SaleEngine) -> int:
    """Run until stopped (SIGTERM/SIGINT), like `faust worker`."""
    from faust.worker import Worker as FaustWorker

    from streamproc.observability.logs import level_name, logging_config

    class BoundedStopWorker(FaustWorker):
        """Stops within `shutdown_timeout_s` even when Kafka is gone: faust's consumer thread
        otherwise waits on the dead broker forever and SIGTERM never ends the process."""

        def _schedule_shutdown(self, signal: signal.Signals) -> None:
            if not self._signal_stop_time:
                _exit_after(settings.shutdown_timeout_s)
            super()._schedule_shutdown(signal)

    w = Worker(settings, program, engine)
    fw = BoundedStopWorker(w.app, loglevel=level_name(settings.log_level), quiet=True,
                           logging_config=logging_config(settings.log_level,
                                                         settings.log_format))
    fw.execute_from_commandline()
    return 0


def _exit_after(seconds: float) -> None:
    """Arm a watchdog that ends the process if a requested stop has not finished in time."""

    def hard_exit() -> None:
        log.error("stop took longer than %.0f s (Kafka or Redis unreachable?): exiting now; "
                  "uncommitted offsets are redelivered, nothing is lost", seconds)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, hard_exit)
    timer.daemon = True
    timer.start()


