"""Observability: the worker's Prometheus metrics and its small HTTP endpoint.

`metrics.LoyaltyMetrics` is the one bundle of metrics, built against an injected registry;
`http.make_app` serves it with liveness and readiness. Neither imports faust.
"""

from streamproc.observability.metrics import METRIC_NAMES, LoyaltyMetrics

__all__ = ["METRIC_NAMES", "LoyaltyMetrics"]
