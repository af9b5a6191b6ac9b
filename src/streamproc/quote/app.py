"""The quote server's HTTP app (aiohttp): routes, authentication, limits, metrics, access log.

Routes:
  POST /v1/quote  one receipt (spec section 2) -> 200 with its result (spec section 6),
                  422 with the reject reason and detail (spec section 7)
  GET  /healthz   liveness (the event loop answers)
  GET  /readyz    readiness (Redis answers a PING)
  GET  /metrics   Prometheus text format of the server's own registry

Everything under /v1/ needs `Authorization: Bearer <token>` (401 otherwise). Whatever a client
sends gets a 2xx or 4xx; 503 means Redis is unavailable (retry or ring up without the quote).
A 500 is only ever a bug, logged with its traceback. Logs name the route and status, never a
header, the body or the raw path, so no token or receipt reaches them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from prometheus_client.exposition import choose_encoder

from streamproc.quote.auth import TokenAuth
from streamproc.quote.metrics import QuoteMetrics
from streamproc.quote.service import QuoteService, Unavailable

QUOTE_PATH = "/v1/quote"
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"
ROUTE_NAMES = {QUOTE_PATH: "quote", LIVENESS_PATH: "healthz", READINESS_PATH: "readyz",
               METRICS_PATH: "metrics"}
DEFAULT_MAX_BODY_BYTES = 256 * 1024  # 500 lines (the spec's maximum) fit with room to spare
JSON = "application/json"

log = logging.getLogger("streamproc.quote")
access_log = logging.getLogger("streamproc.quote.access")

_SERVICE = web.AppKey("service", QuoteService)
_METRICS = web.AppKey("metrics", QuoteMetrics)
_AUTH = web.AppKey("auth", object)  # TokenAuth, or None without authentication
_MAX_BODY = web.AppKey("max_body", int)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, reason: str, detail: str) -> web.Response:
    return web.Response(status=status, body=orjson.dumps({"reason": reason, "detail": detail}),
                        content_type=JSON)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication, uniform JSON errors, metrics and the access log for every request."""
    started = time.perf_counter()
    route = ROUTE_NAMES.get(request.path, "unknown")
    auth: TokenAuth | None = request.app[_AUTH]  # type: ignore[assignment]
    try:
        if (request.path.startswith("/v1/") and auth is not None
                and not auth.allows(request.headers.get("Authorization"))):
            resp: web.StreamResponse = _error(401, "unauthorized",
                                              "a valid bearer token is required")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="streamproc-quote"'
        else:
            resp = await handler(request)
    except web.HTTPException as exc:  # 404, 405, 413 raised by aiohttp or the handlers
        resp = _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)
        if "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception("quote server bug on %s %s", request.method[:16], route)
        resp = _error(500, "internal_error", "the server failed; this is a bug")
    elapsed = time.perf_counter() - started
    metrics = request.app[_METRICS]
    metrics.count_request(route, resp.status)
    if route == "quote" and request.method == "POST":
        metrics.observe_quote(elapsed)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("%s %s %d %.2fms", request.method[:16], route, resp.status,
                        elapsed * 1000)
    return resp


async def _quote(request: web.Request) -> web.Response:
    max_body = request.app[_MAX_BODY]
    if request.content_length is not None and request.content_length > max_body:
        raise web.HTTPRequestEntityTooLarge(max_size=max_body,
                                            actual_size=request.content_length)
    raw = await request.read()  # raises 413 past client_max_size for chunked bodies too
    service = request.app[_SERVICE]
    metrics = request.app[_METRICS]
    try:
        answer = await service.quote(raw)
    except Unavailable as exc:
        metrics.count_redis_error()
        log.warning("quote not answered: Redis unavailable (%s)", exc)
        resp = _error(503, "unavailable", "the loyalty state store did not answer; retry")
        resp.headers["Retry-After"] = "1"
        return resp
    metrics.observe_redis(answer.redis_seconds)
    metrics.count_result(answer.status)
    return web.Response(status=answer.http_status, body=answer.body, content_type=JSON)


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    if await request.app[_SERVICE].ready():
        return web.Response(text="ok\n")
    return web.Response(status=503, text="not ready: Redis does not answer\n")


async def _metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(request.app[_METRICS].registry),
                        headers={"Content-Type": content_type})


def make_app(service: QuoteService, metrics: QuoteMetrics, auth: TokenAuth | None,
             max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> web.Application:
    """The app; `auth=None` serves without authentication (loopback only, see the command)."""
    app = web.Application(middlewares=[_guard], client_max_size=max_body_bytes)
    app[_SERVICE] = service
    app[_METRICS] = metrics
    app[_AUTH] = auth
    app[_MAX_BODY] = max_body_bytes
    app.router.add_post(QUOTE_PATH, _quote)
    app.router.add_get(LIVENESS_PATH, _healthz)
    app.router.add_get(READINESS_PATH, _readyz)
    app.router.add_get(METRICS_PATH, _metrics)
    return app
