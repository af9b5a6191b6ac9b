"""The quote server's Prometheus metrics, in their own registry (a quote is not a receipt: the
worker's `streamproc_receipts_total` and campaign costs count only what the stream applied).

Labels take bounded values only: the route is one of the server's routes (anything else is
`unknown`), the status code one the server answers with (anything else `other`). A fresh
registry also gets the process collectors the worker's has (CPU, memory, open files, GC).
Every labelled child is made once, up front: a request only finds it in a dict.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info

from streamproc.observability.metrics import register_process_collectors

ROUTES = ("quote", "healthz", "readyz", "metrics", "unknown")
CODES = ("200", "400", "401", "404", "405", "413", "415", "422", "503")
OUTCOMES = ("applied", "duplicate", "rejected")

# a quote is answered in milliseconds: fine buckets up to the till's timeout
REQUEST_SECONDS_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
REDIS_SECONDS_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
)  # fmt: skip

# every sample base name the quote server exports (cross-checked by the deploy tests)
QUOTE_METRIC_NAMES: frozenset[str] = frozenset({
    "streamproc_quote_requests_total",
    "streamproc_quote_request_seconds",
    "streamproc_quote_results_total",
    "streamproc_quote_redis_seconds",
    "streamproc_quote_redis_errors_total",
    "streamproc_quote_server_info",
})


class QuoteMetrics:
    """All metrics of one quote server process, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        if registry is None:  # a registry of our own: the process's figures belong in it
            register_process_collectors(r)
        self.requests = Counter(
            "streamproc_quote_requests", "HTTP requests answered, by route and status code.",
            ["route", "code"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "streamproc_quote_request_seconds",
            "Time to answer a POST /v1/quote, from the request read to the answer written.",
            buckets=REQUEST_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.results = Counter(
            "streamproc_quote_results", "Quotes answered, by what the stream would do.",
            ["status"], registry=r,
        )  # fmt: skip
        self.redis_seconds = Histogram(
            "streamproc_quote_redis_seconds", "Duration of a quote's state load from Redis.",
            buckets=REDIS_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.redis_errors = Counter(
            "streamproc_quote_redis_errors", "Quotes not answered because Redis failed.",
            registry=r,
        )  # fmt: skip
        self.info = Info("streamproc_quote_server", "Version and engine of this quote server.",
                         registry=r)
        for code in ("200", "401", "422"):  # exported at 0 before the first such answer
            self.requests.labels(route="quote", code=code)
        for status in OUTCOMES:
            self.results.labels(status=status)
        self._request_children: dict[tuple[str, int], Any] = {}
        self._result_children = {s: self.results.labels(status=s) for s in OUTCOMES}
        self._observe_quote = self.request_seconds.observe
        self._observe_redis = self.redis_seconds.observe

    def count_request(self, route: str, code: int) -> None:
        child = self._request_children.get((route, code))
        if child is None:  # first time for this pair: made once (bounded: labels are)
            c = str(code)
            child = self.requests.labels(route=route if route in ROUTES else "unknown",
                                         code=c if c in CODES else "other")
            if len(self._request_children) < 10_000:  # any int may come as a code
                self._request_children[(route, code)] = child
        child.inc()

    def observe_quote(self, seconds: float) -> None:
        self._observe_quote(max(0.0, seconds))

    def count_result(self, status: str) -> None:
        child = self._result_children.get(status)
        if child is not None:
            child.inc()

    def observe_redis(self, seconds: float) -> None:
        self._observe_redis(max(0.0, seconds))

    def count_redis_error(self) -> None:
        self.redis_errors.inc()
