"""The quote server's metrics: the process collectors, and counts by bounded labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streamproc.observability.metrics import PROCESS_METRIC_NAMES
from streamproc.quote.metrics import QuoteMetrics


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in registry.collect() for s in f.samples}


def test_a_fresh_registry_has_the_process_collectors():
    names = {s.name for f in QuoteMetrics().registry.collect() for s in f.samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes",
            "process_open_fds"} <= names
    assert {n for n in names if n.startswith(("process_", "python_"))} <= \
        {n + s for n in PROCESS_METRIC_NAMES for s in ("", "_total")}


def test_an_injected_registry_gets_only_the_quote_metrics():
    names = {s.name for f in QuoteMetrics(CollectorRegistry()).registry.collect()
             for s in f.samples}
    assert not {n for n in names if n.startswith(("process_", "python_"))}


def test_requests_and_results_are_counted_under_bounded_labels():
    m = QuoteMetrics(CollectorRegistry())
    for route, code in [("quote", 200), ("quote", 200), ("unknown", 404), ("bogus", 200),
                        ("quote", 599), ("quote", 599)]:
        m.count_request(route, code)
    for status in ("applied", "applied", "rejected", "weird"):
        m.count_result(status)
    got = _samples(m.registry)

    def req(route: str, code: str) -> float:
        return got[("streamproc_quote_requests_total", (("code", code), ("route", route)))]

    assert req("quote", "200") == 2
    assert req("unknown", "404") == 1
    assert req("unknown", "200") == 1  # an unknown route name
    assert req("quote", "other") == 2  # a code the server does not answer with
    assert req("quote", "401") == 0  # exported before the first one
    res = {k[1][0][1]: v for k, v in got.items() if k[0] == "streamproc_quote_results_total"}
    assert res == {"applied": 2, "duplicate": 0, "rejected": 1}
