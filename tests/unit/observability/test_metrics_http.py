"""The metrics/health endpoint: a real aiohttp server on a free port, scraped over HTTP."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streamproc.observability import http as obs_http
from streamproc.observability.metrics import LoyaltyMetrics


class Flag:
    def __init__(self, value: bool = True) -> None:
        self.value = value

    def __call__(self) -> bool:
        return self.value


@pytest.fixture
async def server():
    metrics = LoyaltyMetrics(CollectorRegistry())
    ready, alive = Flag(False), Flag(True)
    runner = await obs_http.serve(obs_http.make_app(metrics, ready, alive), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{obs_http.bound_port(runner)}"
    async with aiohttp.ClientSession() as session:
        yield metrics, ready, alive, session, base
    await obs_http.stop(runner)


async def get(session: aiohttp.ClientSession, url: str, **kw) -> tuple[int, str, str]:
    async with session.get(url, **kw) as resp:
        return resp.status, resp.headers["Content-Type"], await resp.text()


async def test_metrics_scraped_in_prometheus_text_format(server):
    metrics, _, _, session, base = server
    metrics.count_receipt("applied", 7)
    metrics.set_lag("receipts", 3, 42)
    metrics.observe_batch(50, 0.02)
    status, ctype, text = await get(session, base + "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("streamproc_receipts_total", (("status", "applied"),))] == 7
    assert samples[("streamproc_consumer_lag", (("partition", "3"), ("topic", "receipts")))] == 42
    assert samples[("streamproc_batch_size_count", ())] == 1

    metrics.count_receipt("applied")
    _, _, text = await get(session, base + "/metrics")
    assert 'streamproc_receipts_total{status="applied"} 8.0' in text


async def test_openmetrics_when_asked(server):
    _, _, _, session, base = server
    status, ctype, text = await get(
        session, base + "/metrics", headers={"Accept": "application/openmetrics-text"}
    )
    assert status == 200
    assert ctype.startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")


async def test_readiness_and_liveness_follow_callbacks(server):
    _, ready, alive, session, base = server
    assert (await get(session, base + "/readyz"))[0] == 503
    assert (await get(session, base + "/healthz"))[0] == 200
    ready.value = True
    assert (await get(session, base + "/readyz"))[::2] == (200, "ok\n")
    alive.value = False
    status, _, body = await get(session, base + "/healthz")
    assert (status, body) == (503, "not alive\n")
    alive.value = True
    assert (await get(session, base + "/healthz"))[0] == 200


async def test_a_raising_callback_is_503_not_500():
    def broken() -> bool:
        raise RuntimeError("consumer gone")

    app = obs_http.make_app(LoyaltyMetrics(), ready=broken, alive=broken)
    runner = await obs_http.serve(app, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{obs_http.bound_port(runner)}"
            assert (await get(session, base + "/readyz"))[0] == 503
            assert (await get(session, base + "/healthz"))[0] == 503
            assert (await get(session, base + "/nope"))[0] == 404
    finally:
        await obs_http.stop(runner)


async def test_stop_releases_the_port():
    app = obs_http.make_app(LoyaltyMetrics(), ready=lambda: True, alive=lambda: True)
    runner = await obs_http.serve(app, "127.0.0.1", 0)
    port = obs_http.bound_port(runner)
    await obs_http.stop(runner)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))  # free again
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await get(session, f"http://127.0.0.1:{port}/healthz")


async def test_serve_on_a_taken_port_fails_loudly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = obs_http.make_app(LoyaltyMetrics(), ready=lambda: True, alive=lambda: True)
        with pytest.raises(OSError):
            await obs_http.serve(app, "127.0.0.1", port)


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("0.0.0.0:9100", ("0.0.0.0", 9100)),
        (":9200", ("0.0.0.0", 9200)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9100", ("::1", 9100)),
    ],
)
def test_parse_addr(addr, expected):
    assert obs_http.parse_addr(addr) == expected


@pytest.mark.parametrize("addr", ["9100", "host:", "host:port", "h:70000"])
def test_parse_addr_refuses_garbage(addr):
    with pytest.raises(ValueError):
        obs_http.parse_addr(addr)


def test_default_addr_matches_deployment():
    assert obs_http.parse_addr(obs_http.DEFAULT_ADDR) == ("0.0.0.0", 9100)


async def test_worker_registry_has_process_figures_no_created_series_and_one_reporter():
    """The registry the worker serves (LoyaltyMetrics() without one passed in): process and GC
    collectors, no `_created` series (in either format), and the cluster-wide gauges only while
    this worker is the elected reporter."""
    metrics = LoyaltyMetrics()
    metrics.count_receipt("applied", 3)
    metrics.observe_batch(10, 0.01)
    metrics.set_points_liability(12_345)
    runner = await obs_http.serve(obs_http.make_app(metrics, Flag(), Flag()), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{obs_http.bound_port(runner)}"
    try:
        async with aiohttp.ClientSession() as session:
            _, _, text = await get(session, base + "/metrics")
            _, ctype, om = await get(session, base + "/metrics",
                                     headers={"Accept": "application/openmetrics-text"})
            metrics.set_cluster_reporter(False)
            _, _, quiet = await get(session, base + "/metrics")
    finally:
        await obs_http.stop(runner)
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total",
            "python_gc_collections_total"} <= names
    assert ctype.startswith("application/openmetrics-text")
    for body in (text, om):
        assert "_created" not in body
    assert "streamproc_points_liability_minor_units 12345.0" in text
    assert "streamproc_cluster_reporter 1.0" in text
    assert "streamproc_points_liability_minor_units" not in quiet
    assert "streamproc_cluster_reporter 0.0" in quiet
