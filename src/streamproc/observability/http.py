"""The worker's metrics and health endpoint: a small aiohttp app, no faust involved.

Routes:
  /metrics  Prometheus text format (or OpenMetrics when the scraper asks) of the injected registry
  /healthz  liveness: 200 while `alive()` is true, else 503 (the orchestrator restarts the pod)
  /readyz   readiness: 200 while `ready()` is true, else 503 (consuming, assignment done)

A callback that raises counts as false: a probe must never turn into a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from streamproc.observability.metrics import LoyaltyMetrics

METRICS_PATH = "/metrics"
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
ROUTES = (METRICS_PATH, LIVENESS_PATH, READINESS_PATH)

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 9100
DEFAULT_ADDR = f"{DEFAULT_HOST}:{DEFAULT_PORT}"

log = logging.getLogger(__name__)

_METRICS_KEY = web.AppKey("metrics", LoyaltyMetrics)


def parse_addr(addr: str) -> tuple[str, int]:
    """`host:port`, `:port` or `[v6]:port` (STREAMPROC_METRICS_ADDR) to (host, port)."""
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"metrics address must be HOST:PORT, got {addr!r}")
    host = host.strip("[]") or DEFAULT_HOST
    return host, int(port)


def _probe(
    check: Callable[[], bool], name: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        try:
            ok = bool(check())
        except Exception:
            log.exception("%s check raised; reporting not %s", name, name)
            ok = False
        if ok:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"not {name}\n")

    return handler


async def _metrics(request: web.Request) -> web.Response:
    registry = request.app[_METRICS_KEY].registry
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(registry), headers={"Content-Type": content_type})


def make_app(
    metrics: LoyaltyMetrics, ready: Callable[[], bool], alive: Callable[[], bool]
) -> web.Application:
    app = web.Application()
    app[_METRICS_KEY] = metrics
    app.router.add_get(METRICS_PATH, _metrics)
    app.router.add_get(LIVENESS_PATH, _probe(alive, "alive"))
    app.router.add_get(READINESS_PATH, _probe(ready, "ready"))
    return app


async def serve(
    app: web.Application, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
    announce: bool = True,
) -> web.AppRunner:
    """Start `app` on host:port (port 0 picks a free one, see `bound_port`); stop with `stop`.
    `announce=False` logs where at debug level only (the worker's wait for its servers, whose
    failure must stay one line)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    log.log(logging.INFO if announce else logging.DEBUG, "metrics and health endpoint on %s",
            runner.addresses)
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port the runner listens on (useful after `serve(..., port=0)`)."""
    return int(runner.addresses[0][1])


async def stop(runner: web.AppRunner) -> None:
    await runner.cleanup()
