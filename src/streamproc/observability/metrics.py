"""The worker's Prometheus metrics, one bundle built against an injected registry.

Conventions (https://prometheus.io/docs/practices/naming/): prefix `streamproc_`, base units
with the unit in the name (`_seconds`), counters end in `_total`, money and points in integer
minor units as the rest of streamproc. Labels only take bounded values: statuses, DLQ reasons
and event types come from the spec and are checked here; campaigns, Redis/Kafka operations,
topics and partitions are bounded by the program and the deployment. A customer id is never a
label.

Returns make campaign cost go down, and counters cannot: reversals are counted apart
(`..._reversed_total`), so the net cost of a campaign is `granted - reversed`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from streamproc.domain.result import AppliedResult, ReceiptResult

# No `<name>_created` series beside every counter and histogram: they double the series count
# and no query here uses them (prometheus_client's switch is process-wide).
disable_created_metrics()

PREFIX = "streamproc_"

RECEIPT_STATUSES = ("applied", "duplicate", "rejected")
DLQ_REASONS = ("invalid_json", "schema", "unknown_original_receipt", "return_exceeds_sale",
               "internal", "too_large")
FAILURE_STAGES = ("decode", "compute", "render", "profile", "timer")
PROFILE_OUTCOMES = ("stored", "erased", "rejected")
EVENT_TYPES = (
    "points_accrued",
    "points_redeemed",
    "points_clawed_back",
    "points_refunded",
    "tier_changed",
    "first_purchase",
    "offer_issued",
    "offer_used",
    "coupon_redeemed",
    "campaign_budget_exhausted",
    "balance_negative",
    "points_activated",
    "points_expiring_soon",
    "points_expired",
)
ENGINES = ("compiled", "reference")
BASE_CAMPAIGN = "base"  # base points, as in a result's `applied` list

BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
BATCH_SECONDS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
LATENCY_SECONDS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
REDIS_SECONDS_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip

# Every sample base name this module exports, as it appears in the text exposition format
# (histograms add _bucket/_sum/_count to these; counters already carry `_total`).
METRIC_NAMES: frozenset[str] = frozenset(
    {
        "streamproc_receipts_total",
        "streamproc_dlq_total",
        "streamproc_message_failures_total",
        "streamproc_profiles_total",
        "streamproc_batch_size",
        "streamproc_batch_processing_seconds",
        "streamproc_receipt_latency_seconds",
        "streamproc_redis_call_seconds",
        "streamproc_redis_errors_total",
        "streamproc_kafka_errors_total",
        "streamproc_consumer_lag",
        "streamproc_committed_offset",
        "streamproc_discount_minor_units_total",
        "streamproc_discount_reversed_minor_units_total",
        "streamproc_points_minor_units_total",
        "streamproc_points_reversed_minor_units_total",
        "streamproc_campaign_budget_remaining_minor_units",
        "streamproc_points_liability_minor_units",
        "streamproc_events_total",
        "streamproc_worker_info",
        "streamproc_cluster_reporter",
        "streamproc_up",
        "streamproc_last_batch_timestamp_seconds",
        "streamproc_claim_conflicts_total",
        "streamproc_fenced_writes_total",
        "streamproc_redelivered_total",
    }
)


class _WhileReporting(Collector):
    """The cluster-wide gauges, collected only while their bundle is the reporter."""

    def __init__(self, metrics: LoyaltyMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return self.metrics.cluster_registry.collect()

    def collect(self) -> Iterable[Metric]:
        return self.metrics.cluster_registry.collect() if self.metrics.cluster_reporter else []


def register_process_collectors(registry: CollectorRegistry) -> None:
    """Memory, CPU, open files (process_*), garbage collections (python_gc_*) and the
    interpreter's version, as the default registry would have them."""
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)


# What `register_process_collectors` adds (base names as in the exposition format).
PROCESS_METRIC_NAMES: frozenset[str] = frozenset(
    {
        "process_virtual_memory_bytes",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "python_gc_objects_collected_total",
        "python_gc_objects_uncollectable_total",
        "python_gc_collections_total",
        "python_info",
    }
)


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def _count(n: int | float, what: str) -> int | float:
    if n < 0:
        raise ValueError(f"{what} cannot be negative: {n}")
    return n


class LoyaltyMetrics:
    """All metrics of one worker process, registered in `registry` (a fresh one by default).

    Pass a fresh `CollectorRegistry` per test; the worker passes one it also serves over HTTP.
    Every method takes plain values, so the stream code needs no prometheus import.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        if registry is None:  # a registry of our own: the process's figures belong in it
            register_process_collectors(r)

        self.receipts = Counter(
            "streamproc_receipts", "Receipts processed, by outcome.", ["status"], registry=r
        )
        self.dlq = Counter(
            "streamproc_dlq", "Messages sent to the dead-letter topic, by reason.", ["reason"],
            registry=r,
        )  # fmt: skip
        self.failures = Counter(
            "streamproc_message_failures",
            "Unexpected errors confined to one message or one customer (the stream went on), "
            "by stage: decode, compute, render, profile, timer.", ["stage"], registry=r,
        )  # fmt: skip
        self.profiles = Counter(
            "streamproc_profiles", "Customer profile messages, by outcome (stored, erased, "
            "rejected).", ["outcome"], registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "streamproc_batch_size", "Receipts per processed batch.",
            buckets=BATCH_SIZE_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "streamproc_batch_processing_seconds",
            "Wall time to process one batch, from take to results produced.",
            buckets=BATCH_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.receipt_latency = Histogram(
            "streamproc_receipt_latency_seconds",
            "Receipt to result: result produce time minus the Kafka record timestamp.",
            buckets=LATENCY_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.redis_seconds = Histogram(
            "streamproc_redis_call_seconds", "Duration of one Redis call, by operation.",
            ["op"], buckets=REDIS_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.redis_errors = Counter(
            "streamproc_redis_errors", "Failed Redis calls, by operation.", ["op"], registry=r
        )
        self.claim_conflicts = Counter(
            "streamproc_claim_conflicts",
            "Batches computed again because a shared budget or single-use code claim was "
            "answered otherwise than the batch assumed.", registry=r,
        )  # fmt: skip
        self.fenced = Counter(
            "streamproc_fenced_writes",
            "Partition writes refused by the fence: this worker no longer owned the partition.",
            registry=r,
        )  # fmt: skip
        self.redelivered = Counter(
            "streamproc_redelivered",
            "Receipts received again after they were applied, answered from their stored output.",
            registry=r,
        )  # fmt: skip
        self.kafka_errors = Counter(
            "streamproc_kafka_errors", "Failed Kafka operations (produce, commit, fetch).",
            ["op"], registry=r,
        )  # fmt: skip
        self.consumer_lag = Gauge(
            "streamproc_consumer_lag",
            "Messages between the partition's end offset and this worker's position.",
            ["topic", "partition"], registry=r,
        )  # fmt: skip
        self.committed_offset = Gauge(
            "streamproc_committed_offset", "Last offset committed by this worker.",
            ["topic", "partition"], registry=r,
        )  # fmt: skip
        self.discount = Counter(
            "streamproc_discount_minor_units",
            "Discount granted, in minor currency units, by campaign.", ["campaign"], registry=r,
        )  # fmt: skip
        self.discount_reversed = Counter(
            "streamproc_discount_reversed_minor_units",
            "Discount reversed by returns, in minor currency units, by campaign.",
            ["campaign"], registry=r,
        )  # fmt: skip
        self.points = Counter(
            "streamproc_points_minor_units",
            "Points granted, in minor units, by campaign (base points as campaign=\"base\").",
            ["campaign"], registry=r,
        )  # fmt: skip
        self.points_reversed = Counter(
            "streamproc_points_reversed_minor_units",
            "Points clawed back by returns, in minor units, by campaign.",
            ["campaign"], registry=r,
        )  # fmt: skip
        # Cluster-wide figures (the same Redis for every worker): in a registry of their own,
        # served only while this worker is the reporter, so a sum over workers counts them once.
        self.cluster_registry = CollectorRegistry(auto_describe=True)
        self.cluster_reporter = True  # a lone process reports; the worker elects (see below)
        self.budget_remaining = Gauge(
            "streamproc_campaign_budget_remaining_minor_units",
            "Budget left for a budgeted campaign, in minor units (cluster-wide; exported by "
            "one worker).", ["campaign"], registry=self.cluster_registry,
        )  # fmt: skip
        self.points_liability = Gauge(
            "streamproc_points_liability_minor_units",
            "Outstanding points (issued, not yet spent or burnt), in minor units (cluster-wide; "
            "exported by one worker).", registry=self.cluster_registry,
        )  # fmt: skip
        r.register(_WhileReporting(self))
        self.cluster_reporting = Gauge(
            "streamproc_cluster_reporter",
            "1 on the one worker that exports the cluster-wide figures (budgets, liability).",
            registry=r,
        )  # fmt: skip
        self.cluster_reporting.set(1)
        self.events = Counter(
            "streamproc_events", "Loyalty events emitted, by type.", ["type"], registry=r
        )
        self.worker_info = Info(
            "streamproc_worker", "Version and engine of this worker.", registry=r
        )
        self.up = Gauge(
            "streamproc_up", "1 while the worker consumes, 0 while starting or stopping.",
            registry=r,
        )  # fmt: skip
        self.last_batch_timestamp = Gauge(
            "streamproc_last_batch_timestamp_seconds",
            "Unix time when the last batch finished.", registry=r,
        )  # fmt: skip

        # Export the bounded label sets at zero, so rate() and ratios work from the first scrape.
        for status in RECEIPT_STATUSES:
            self.receipts.labels(status=status)
        for reason in DLQ_REASONS:
            self.dlq.labels(reason=reason)
        for stage in FAILURE_STAGES:
            self.failures.labels(stage=stage)
        for outcome in PROFILE_OUTCOMES:
            self.profiles.labels(outcome=outcome)

    # -- receipts and batches ---------------------------------------------------------------

    def count_receipt(self, status: str, n: int = 1) -> None:
        self.receipts.labels(status=_check(status, RECEIPT_STATUSES, "status")).inc(
            _count(n, "receipts")
        )

    def count_dlq(self, reason: str, n: int = 1) -> None:
        self.dlq.labels(reason=_check(reason, DLQ_REASONS, "DLQ reason")).inc(_count(n, "messages"))

    def count_failure(self, stage: str, n: int = 1) -> None:
        self.failures.labels(stage=_check(stage, FAILURE_STAGES, "failure stage")).inc(
            _count(n, "failures"))

    def count_profiles(self, outcome: str, n: int = 1) -> None:
        self.profiles.labels(outcome=_check(outcome, PROFILE_OUTCOMES, "profile outcome")).inc(
            _count(n, "profiles"))

    def observe_batch(self, size: int, seconds: float, now: float | None = None) -> None:
        """One processed batch: its receipt count and wall time; stamps the last batch time."""
        self.batch_size.observe(_count(size, "batch size"))
        self.batch_seconds.observe(_count(seconds, "batch seconds"))
        self.last_batch_timestamp.set(time.time() if now is None else now)

    def observe_receipt_latency(self, seconds: float) -> None:
        # Producer and broker clocks differ a little: a negative latency is skew, count it as 0.
        self.receipt_latency.observe(max(0.0, seconds))

    def observe_receipt_latency_since(
        self, record_timestamp_ms: int, produced_at: float | None = None
    ) -> None:
        """Latency of one receipt from its Kafka timestamp (ms) to `produced_at` (unix seconds)."""
        now = time.time() if produced_at is None else produced_at
        self.observe_receipt_latency(now - record_timestamp_ms / 1000.0)

    # -- Redis and Kafka --------------------------------------------------------------------

    def observe_redis_call(self, op: str, seconds: float) -> None:
        self.redis_seconds.labels(op=op).observe(_count(seconds, "seconds"))

    def count_redis_error(self, op: str, n: int = 1) -> None:
        self.redis_errors.labels(op=op).inc(_count(n, "errors"))

    @contextmanager
    def time_redis(self, op: str) -> Iterator[None]:
        """Time a Redis call; an exception counts as an error for `op` and is re-raised."""
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.count_redis_error(op)
            raise
        finally:
            self.observe_redis_call(op, time.perf_counter() - start)

    def count_claim_conflict(self, n: int = 1) -> None:
        self.claim_conflicts.inc(_count(n, "conflicts"))

    def count_fenced(self, n: int = 1) -> None:
        self.fenced.inc(_count(n, "writes"))

    def count_redelivered(self, n: int = 1) -> None:
        self.redelivered.inc(_count(n, "receipts"))

    def count_kafka_error(self, op: str, n: int = 1) -> None:
        self.kafka_errors.labels(op=op).inc(_count(n, "errors"))

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(topic=topic, partition=str(partition)).set(max(0, lag))

    def set_committed_offset(self, topic: str, partition: int, offset: int) -> None:
        self.committed_offset.labels(topic=topic, partition=str(partition)).set(offset)

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop a revoked partition's series, so two workers never both report it."""
        for gauge in (self.consumer_lag, self.committed_offset):
            with suppress(KeyError):
                gauge.remove(topic, str(partition))

    # -- money, points, events --------------------------------------------------------------

    def add_campaign_cost(self, campaign: str, discount: int = 0, points: int = 0) -> None:
        """Add a campaign's discount and points; negative amounts (returns) count as reversed."""
        if discount > 0:
            self.discount.labels(campaign=campaign).inc(discount)
        elif discount < 0:
            self.discount_reversed.labels(campaign=campaign).inc(-discount)
        if points > 0:
            self.points.labels(campaign=campaign).inc(points)
        elif points < 0:
            self.points_reversed.labels(campaign=campaign).inc(-points)

    def set_budget_remaining(self, campaign: str, remaining: int) -> None:
        self.budget_remaining.labels(campaign=campaign).set(remaining)

    def set_cluster_reporter(self, reporter: bool) -> None:
        """Whether this worker exports the cluster-wide figures (see `__init__`)."""
        self.cluster_reporter = reporter
        self.cluster_reporting.set(1 if reporter else 0)

    def set_points_liability(self, points: int) -> None:
        self.points_liability.set(points)

    def count_event(self, event_type: str, n: int = 1) -> None:
        self.events.labels(type=_check(event_type, EVENT_TYPES, "event type")).inc(
            _count(n, "events")
        )

    def observe_result(self, result: ReceiptResult) -> None:
        """Count one receipt result (spec section 6): status, campaign costs and events."""
        self.count_receipt(result.status)
        if not isinstance(result, AppliedResult):
            return
        for entry in result.applied:
            if entry.kind == "discount":
                self.add_campaign_cost(entry.campaign_id, discount=entry.amount)
            elif entry.kind == "points":
                self.add_campaign_cost(entry.campaign_id, points=entry.amount)
        for event in result.events:
            self.count_event(event["type"])

    # -- the worker itself ------------------------------------------------------------------

    def set_worker_info(self, version: str, engine: str) -> None:
        self.worker_info.info({"version": version, "engine": _check(engine, ENGINES, "engine")})

    def set_up(self, up: bool) -> None:
        self.up.set(1 if up else 0)
