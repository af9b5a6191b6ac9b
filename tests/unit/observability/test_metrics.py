"""LoyaltyMetrics: what each method does to the exported samples, read back from the registry."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streamproc.domain.result import (
    AppliedEntry,
    AppliedResult,
    Balance,
    Coupons,
    DuplicateResult,
    LineResult,
)
from streamproc.observability.metrics import (
    DLQ_REASONS,
    METRIC_NAMES,
    RECEIPT_STATUSES,
    LoyaltyMetrics,
)


@pytest.fixture
def m() -> LoyaltyMetrics:
    return LoyaltyMetrics(CollectorRegistry())


def value(m: LoyaltyMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def exported_base_names(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):  # the client's creation-time series
                continue
            names.add(re.sub(r"_(bucket|sum|count)$", "", sample.name))
    return names


def exercise_everything(m: LoyaltyMetrics) -> None:
    m.count_receipt("applied")
    m.count_dlq("schema")
    m.observe_batch(10, 0.05)
    m.observe_receipt_latency(0.2)
    m.observe_redis_call("apply_batch", 0.002)
    m.count_redis_error("apply_batch")
    m.count_kafka_error("produce")
    m.set_lag("receipts", 0, 3)
    m.set_committed_offset("receipts", 0, 41)
    m.add_campaign_cost("happy-hours", discount=100, points=200)
    m.add_campaign_cost("happy-hours", discount=-10, points=-20)
    m.set_budget_remaining("happy-hours", 5000)
    m.set_points_liability(123)
    m.count_event("points_accrued")
    m.set_worker_info("0.1.0", "compiled")
    m.set_up(True)


def test_metric_names_match_what_is_exported(m):
    exercise_everything(m)
    assert exported_base_names(m.registry) == METRIC_NAMES


def test_names_follow_prometheus_conventions():
    for name in METRIC_NAMES:
        assert name.startswith("streamproc_")
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name)
        assert not re.search(r"_(ms|milliseconds|bytes_total)$", name)


def test_no_customer_labels(m):
    exercise_everything(m)
    for family in m.registry.collect():
        for sample in family.samples:
            assert not {"customer", "customer_id", "receipt_id"} & set(sample.labels)


def test_fresh_registry_per_instance_no_clash():
    a, b = LoyaltyMetrics(), LoyaltyMetrics()
    a.count_receipt("applied", 2)
    assert value(a, "streamproc_receipts_total", status="applied") == 2
    assert value(b, "streamproc_receipts_total", status="applied") == 0


def test_two_bundles_in_one_registry_are_refused():
    registry = CollectorRegistry()
    LoyaltyMetrics(registry)
    with pytest.raises(ValueError):
        LoyaltyMetrics(registry)


def test_bounded_labels_exported_at_zero(m):
    for status in RECEIPT_STATUSES:
        assert value(m, "streamproc_receipts_total", status=status) == 0
    for reason in DLQ_REASONS:
        assert value(m, "streamproc_dlq_total", reason=reason) == 0


def test_receipts_and_dlq_count(m):
    m.count_receipt("applied")
    m.count_receipt("applied", 4)
    m.count_receipt("duplicate")
    m.count_receipt("rejected", 2)
    m.count_dlq("invalid_json")
    m.count_dlq("return_exceeds_sale", 2)
    assert value(m, "streamproc_receipts_total", status="applied") == 5
    assert value(m, "streamproc_receipts_total", status="duplicate") == 1
    assert value(m, "streamproc_receipts_total", status="rejected") == 2
    assert value(m, "streamproc_dlq_total", reason="invalid_json") == 1
    assert value(m, "streamproc_dlq_total", reason="return_exceeds_sale") == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.count_receipt("lost"),
        lambda m: m.count_dlq("because"),
        lambda m: m.count_event("points_doubled"),
        lambda m: m.set_worker_info("0.1.0", "turbo"),
        lambda m: m.count_receipt("applied", -1),
        lambda m: m.observe_batch(-1, 0.1),
    ],
)
def test_unbounded_or_negative_values_refused(m, call):
    with pytest.raises(ValueError):
        call(m)


def test_observe_batch_fills_histograms_and_timestamp(m):
    m.observe_batch(1, 0.004, now=1_700_000_000.0)
    m.observe_batch(700, 0.3, now=1_700_000_010.0)
    assert value(m, "streamproc_batch_size_count") == 2
    assert value(m, "streamproc_batch_size_sum") == 701
    assert value(m, "streamproc_batch_size_bucket", le="1.0") == 1
    assert value(m, "streamproc_batch_size_bucket", le="1000.0") == 2
    assert value(m, "streamproc_batch_size_bucket", le="5000.0") == 2
    assert value(m, "streamproc_batch_processing_seconds_sum") == pytest.approx(0.304)
    assert value(m, "streamproc_last_batch_timestamp_seconds") == 1_700_000_010.0


def test_receipt_latency_from_kafka_timestamp(m):
    m.observe_receipt_latency_since(
        record_timestamp_ms=1_700_000_000_000, produced_at=1_700_000_000.75
    )
    m.observe_receipt_latency_since(
        record_timestamp_ms=1_700_000_001_000, produced_at=1_700_000_000.0
    )
    assert value(m, "streamproc_receipt_latency_seconds_count") == 2
    # the second one is clock skew (result before record): counted as zero, never negative
    assert value(m, "streamproc_receipt_latency_seconds_sum") == pytest.approx(0.75)
    assert value(m, "streamproc_receipt_latency_seconds_bucket", le="0.005") == 1


def test_time_redis_observes_and_counts_errors(m):
    with m.time_redis("apply_batch"):
        pass
    with pytest.raises(ConnectionError), m.time_redis("apply_batch"):
        raise ConnectionError("redis went away")
    assert value(m, "streamproc_redis_call_seconds_count", op="apply_batch") == 2
    assert value(m, "streamproc_redis_errors_total", op="apply_batch") == 1
    m.count_kafka_error("commit", 3)
    assert value(m, "streamproc_kafka_errors_total", op="commit") == 3


def test_lag_and_offsets_per_partition_and_forget_on_revoke(m):
    m.set_lag("receipts", 0, 10)
    m.set_lag("receipts", 1, -3)  # an end offset read before the position: no negative lag
    m.set_committed_offset("receipts", 0, 99)
    assert value(m, "streamproc_consumer_lag", topic="receipts", partition="0") == 10
    assert value(m, "streamproc_consumer_lag", topic="receipts", partition="1") == 0
    assert value(m, "streamproc_committed_offset", topic="receipts", partition="0") == 99
    m.forget_partition("receipts", 0)
    m.forget_partition("receipts", 7)  # never seen: fine
    assert value(m, "streamproc_consumer_lag", topic="receipts", partition="0") is None
    assert value(m, "streamproc_committed_offset", topic="receipts", partition="0") is None
    assert value(m, "streamproc_consumer_lag", topic="receipts", partition="1") == 0


def test_campaign_cost_grants_and_reversals(m):
    m.add_campaign_cost("cheese-sausage-set", discount=1500)
    m.add_campaign_cost("base", points=2700)
    m.add_campaign_cost("cheese-sausage-set", discount=-500)
    m.add_campaign_cost("base", points=-700)
    m.add_campaign_cost("noop")
    assert value(m, "streamproc_discount_minor_units_total", campaign="cheese-sausage-set") == 1500
    assert value(m, "streamproc_discount_reversed_minor_units_total",
                 campaign="cheese-sausage-set") == 500
    assert value(m, "streamproc_points_minor_units_total", campaign="base") == 2700
    assert value(m, "streamproc_points_reversed_minor_units_total", campaign="base") == 700
    assert value(m, "streamproc_discount_minor_units_total", campaign="noop") is None


def test_gauges_budget_liability_up_info(m):
    m.set_budget_remaining("welcome", 100_000)
    m.set_budget_remaining("welcome", 90_000)
    m.set_points_liability(5_000_000)
    m.set_up(True)
    m.set_worker_info("0.1.0", "reference")
    assert value(m, "streamproc_campaign_budget_remaining_minor_units",
                 campaign="welcome") == 90_000
    assert value(m, "streamproc_points_liability_minor_units") == 5_000_000
    assert value(m, "streamproc_up") == 1
    assert value(m, "streamproc_worker_info", version="0.1.0", engine="reference") == 1
    m.set_up(False)
    assert value(m, "streamproc_up") == 0


def test_observe_result_from_spec_example(m):
    # the example of spec section 6
    result = AppliedResult(
        "R1", "C1", "applied", total=100000, discount=10000, redeemed=0, paid=90000,
        accrued=2700, lines=[LineResult(1, 100000, 10000, 0, 2700)],
        applied=[AppliedEntry("c1", "discount", 10000), AppliedEntry("base", "points", 2700)],
        redeem_requested=0, coupons=Coupons([], []), held_out=[], balance=Balance(0, 2700),
        tier="basic",
        events=[
            {"event_id": "R1/0", "type": "points_accrued", "customer_id": "C1", "amount": 2700},
            {"event_id": "R1/1", "type": "first_purchase", "customer_id": "C1"},
        ],
    )  # fmt: skip
    m.observe_result(result)
    m.observe_result(DuplicateResult("R1", "C1"))
    assert value(m, "streamproc_receipts_total", status="applied") == 1
    assert value(m, "streamproc_receipts_total", status="duplicate") == 1
    assert value(m, "streamproc_discount_minor_units_total", campaign="c1") == 10000
    assert value(m, "streamproc_points_minor_units_total", campaign="base") == 2700
    assert value(m, "streamproc_events_total", type="points_accrued") == 1
    assert value(m, "streamproc_events_total", type="first_purchase") == 1


def test_text_exposition_has_help_and_types(m):
    exercise_everything(m)
    text = generate_latest(m.registry).decode()
    assert "# TYPE streamproc_receipts_total counter" in text
    assert "# TYPE streamproc_batch_size histogram" in text
    assert "# TYPE streamproc_consumer_lag gauge" in text
    assert 'streamproc_worker_info{engine="compiled",version="0.1.0"} 1.0' in text
