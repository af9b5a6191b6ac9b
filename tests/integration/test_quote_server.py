"""The quote server as a till meets it, over real HTTP against a real redis-server.

- answers: a result for a good receipt, 422 with the reason for a bad one, 413 past the size
  limit, 404 off the routes, 405 for a wrong method, probes and metrics;
- writes nothing to Redis, whatever it is asked;
- 401 without a valid token, and no token (valid or not) ever reaches its log, at debug level;
- 503, not a 500, while Redis is down; readiness says so;
- hypothesis throws random methods, paths, headers and bodies: always a 2xx or 4xx, and the
  server keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import orjson
import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from quote_support import QuoteServer, raw_request, request, write_tokens

from streamproc.domain.program import load_program
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import BatchProcessor, InMessage
from streamproc.state.redis.store import RedisStore
from streamproc.tools.devstack import free_port
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")
CFG = LoadgenConfig(seed=5, receipts=600, customers=40, days=20)


def _snapshot(url: str, prefix: str) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(url)
    try:
        return {k: client.dump(k) for k in client.scan_iter(f"{prefix}:*", count=1000)}
    finally:
        client.close()


async def _apply(url: str, prefix: str, raws: list[bytes]) -> None:
    """Put state in Redis the way the worker does: the batch pipeline, committed."""
    program = load_program(PROGRAM)
    store = RedisStore(url, program, prefix=prefix)
    # each receipt on the partition producers put its key on, as in a stream
    bp = BatchProcessor(program, make_engine(program), store, partition_by_key=True)
    try:
        for i in range(0, len(raws), 100):
            await bp.process([InMessage("receipts", 0, i + j, None, r)
                              for j, r in enumerate(raws[i:i + 100])])
    finally:
        await store.close()


@pytest.fixture(scope="module")
def workload() -> list[bytes]:
    return [v for _, v in generate_messages(CFG)]


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_url, workload):
    """A quote server with tokens over state that the first half of the workload made."""
    tmp = tmp_path_factory.mktemp("quote")
    redis.Redis.from_url(redis_url).flushall()
    asyncio.run(_apply(redis_url, "qs", workload[:300]))
    tokens = write_tokens(tmp / "tokens")
    srv = QuoteServer(tmp, PROGRAM, redis_url, "qs", tmp / "tokens")
    srv.tokens = tokens  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        assert srv.stop() == 0, srv.log_text()


def _auth(srv) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.tokens[1]}"}


def test_answers_results_rejects_and_limits(server, workload, redis_url):
    before = _snapshot(redis_url, "qs")
    assert before, "the fixture put state in Redis"
    port, auth = server.port, _auth(server)
    statuses = {}
    for raw in workload[300:]:
        code, _, body = request(port, "POST", "/v1/quote", raw, auth)
        assert code in (200, 422), (code, body)
        doc = orjson.loads(body)
        if code == 200:
            assert doc["status"] in ("applied", "duplicate")
            assert doc["receipt_id"] == orjson.loads(raw)["receipt_id"]
            if doc["status"] == "applied":
                assert doc["paid"] == doc["total"] - doc["discount"] - doc["redeemed"]
            statuses[doc["status"]] = statuses.get(doc["status"], 0) + 1
        else:
            assert doc["reason"] in ("invalid_json", "schema", "unknown_original_receipt",
                                     "return_exceeds_sale") and doc["detail"]
            statuses[doc["reason"]] = statuses.get(doc["reason"], 0) + 1
    assert statuses.get("applied", 0) > 200 and statuses.get("duplicate", 0) > 0
    assert statuses.get("schema", 0) + statuses.get("invalid_json", 0) > 0
    # the same receipt twice: the same answer (nothing was remembered in between)
    a = request(port, "POST", "/v1/quote", workload[400], auth)
    b = request(port, "POST", "/v1/quote", workload[400], auth)
    assert a[0] == b[0] and a[2] == b[2]
    # limits and routes
    big = b'{"receipt_id": "' + b"x" * (300 * 1024) + b'"}'
    assert request(port, "POST", "/v1/quote", big, auth)[0] == 413
    chunked = (b"POST /v1/quote HTTP/1.1\r\nHost: q\r\nConnection: close\r\n"
               b"Transfer-Encoding: chunked\r\nAuthorization: " + auth["Authorization"].encode()
               + b"\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [b"y" * 65536] * 5)
               + b"0\r\n\r\n")
    assert raw_request(port, chunked)[0] == 413
    assert request(port, "GET", "/v2/quote", b"", auth)[0] == 404
    assert request(port, "GET", "/nothing-here")[0] == 404
    code, head, _ = request(port, "GET", "/v1/quote", b"", auth)
    assert code == 405 and b"Allow: POST" in head
    assert request(port, "GET", "/healthz")[0] == 200
    assert request(port, "GET", "/readyz")[0] == 200
    code, _, text = request(port, "GET", "/metrics")
    assert code == 200
    assert b'streamproc_quote_requests_total{code="413",route="quote"}' in text
    assert b"streamproc_quote_redis_seconds_count" in text
    assert b'streamproc_quote_results_total{status="duplicate"}' in text
    # and Redis is exactly as it was
    assert _snapshot(redis_url, "qs") == before


def test_401_without_a_valid_token_and_no_token_in_the_log(server, workload):
    port, raw = server.port, workload[310]
    wrong = secrets.token_urlsafe(24)
    near = server.tokens[0][:-1] + ("A" if server.tokens[0][-1] != "A" else "B")
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Bearer"},
                    {"Authorization": f"Bearer {wrong}"}, {"Authorization": f"Bearer {near}"},
                    {"Authorization": f"Basic {server.tokens[0]}"},
                    {"Authorization": f"Bearer {server.tokens[0]}x"},
                    {"X-Token": server.tokens[0]}):
        code, head, body = request(port, "POST", "/v1/quote", raw, headers)
        assert code == 401, headers
        assert b"WWW-Authenticate: Bearer" in head
        assert orjson.loads(body)["reason"] == "unauthorized"
    for tok in server.tokens:
        assert request(port, "POST", "/v1/quote", raw, {"Authorization": f"Bearer {tok}"})[0] \
            == 200
        assert request(port, "POST", "/v1/quote", raw,
                       {"Authorization": f"bearer   {tok}  "})[0] == 200
    log = server.log_text()
    assert "streamproc.quote.access" in log and "401" in log, "debug logging is on"
    for secret in [*server.tokens, wrong, near]:
        assert secret not in log
        assert secret[:12] not in log


def test_redis_down_is_503_never_500(tmp_path, workload):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    srv = QuoteServer(tmp_path, PROGRAM, dead, "down", None, "--quote-timeout-ms", "500")
    try:
        code, head, body = request(srv.port, "POST", "/v1/quote", workload[0])
        assert code == 503 and b"Retry-After: 1" in head
        assert orjson.loads(body)["reason"] == "unavailable"
        assert request(srv.port, "POST", "/v1/quote", b"{not json")[0] == 422  # no Redis needed
        assert request(srv.port, "GET", "/readyz")[0] == 503
        assert request(srv.port, "GET", "/healthz")[0] == 200
        metrics = request(srv.port, "GET", "/metrics")[2]
        assert b"streamproc_quote_redis_errors_total 1.0" in metrics
    finally:
        assert srv.stop() == 0


def test_processes_share_a_port_with_reuse_port(tmp_path, redis_url, workload):
    """`--reuse-port`: a second process binds the first one's port (without it, the address
    is in use) and serves it alone once the first has stopped."""
    a = QuoteServer(tmp_path, PROGRAM, redis_url, "rp", None, "--reuse-port", name="a")
    b = None
    try:
        b = QuoteServer(tmp_path, PROGRAM, redis_url, "rp", None, "--reuse-port", name="b",
                        listen=f"127.0.0.1:{a.port}")
        assert b.port == a.port
        assert a.stop() == 0
        code, _, body = request(b.port, "POST", "/v1/quote", workload[0])
        assert code == 200 and orjson.loads(body)["receipt_id"]
    finally:
        a.stop()
        if b is not None:
            assert b.stop() == 0, b.log_text()


# -- hypothesis: anything a client can send ---------------------------------------------------

_token_chars = st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":")
_STANDARD = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE"]
_methods = st.integers(0, 9).flatmap(
    lambda n: st.just("POST") if n < 6 else st.sampled_from([*_STANDARD, "CONNECT", "post"])
    if n < 9 else st.text(_token_chars, min_size=1, max_size=12))
_paths = st.integers(0, 9).flatmap(
    lambda n: st.just("/v1/quote") if n < 6 else st.sampled_from(
        ["/v1/quote/", "/v1/quote?x=1", "/healthz", "/readyz", "/metrics", "/", "/v1/",
         "//v1/quote", "/v1/quote%00", "/%ZZ", "*"])
    if n < 9 else st.text(st.characters(min_codepoint=33, max_codepoint=126),
                          max_size=40).map(lambda s: "/" + s))
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                              max_size=4),
    max_leaves=12)
_FIELDS = ["receipt_id", "customer_id", "ts", "kind", "lines", "redeem", "coupons",
           "original_receipt_id", "store_id"]


def _parsable(workload: list[bytes]) -> list[bytes]:
    """The workload's messages that are JSON (loadgen's invalid_json ones are not)."""
    out = []
    for w in workload:
        try:
            orjson.loads(w)
        except orjson.JSONDecodeError:
            continue
        out.append(w)
    return out


@st.composite
def _bodies(draw, workload):
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return json.dumps(draw(_json)).encode()
    base = orjson.loads(draw(st.sampled_from(_parsable(workload))))
    if not isinstance(base, dict) or kind == 2:
        return orjson.dumps(base)
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(_FIELDS))
        if draw(st.booleans()):
            base.pop(field, None)
        else:
            base[field] = draw(_json)
    if kind == 4 and isinstance(base.get("lines"), list) and base["lines"]:
        line = base["lines"][0]
        if isinstance(line, dict):
            line[draw(st.sampled_from(["qty", "unit_price", "line_no", "sku", "category"]))] = \
                draw(_json)
    return json.dumps(base).encode()


@st.composite
def _headers(draw, tokens):
    out = []
    auth = draw(st.sampled_from(["valid", "valid", "valid", "none", "wrong", "garbage"]))
    if auth == "valid":
        out.append(("Authorization", f"Bearer {draw(st.sampled_from(tokens))}"))
    elif auth == "wrong":
        out.append(("Authorization", f"Bearer {draw(st.text(_token_chars, max_size=40))}"))
    elif auth == "garbage":
        out.append(("Authorization", draw(st.text(st.characters(min_codepoint=32,
                                                                 max_codepoint=126),
                                                   max_size=60))))
    names = st.sampled_from(["Content-Type", "Accept", "Accept-Encoding", "X-Request-Id",
                             "Expect", "Cookie", "Content-Encoding", "Range", "Upgrade"]) \
        | st.text(st.characters(min_codepoint=33, max_codepoint=126,
                                exclude_characters=":()<>@,;\\\"/[]?={}"), min_size=1,
                  max_size=20)
    values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
    out += draw(st.lists(st.tuples(names, values), max_size=4))
    return out


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_requests_get_2xx_or_4xx_and_the_server_keeps_serving(server, workload, data,
                                                                     redis_url):
    method = data.draw(_methods)
    path = data.draw(_paths)
    body = data.draw(_bodies(workload))
    headers = data.draw(_headers(server.tokens))
    lines = [f"{method} {path} HTTP/1.1", "Host: quote.test", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers
              if k.lower() not in ("content-length", "transfer-encoding", "connection", "host")]
    lines.append(f"Content-Length: {len(body)}")
    code, head, out = raw_request(server.port, ("\r\n".join(lines) + "\r\n\r\n").encode(), body)
    assert code is not None, f"no HTTP answer: {head!r}"
    event(f"status {code}")
    assert 200 <= code < 500, (code, out[:300])
    valid = any(k == "Authorization" and v.startswith("Bearer ") and v[7:] in server.tokens
                for k, v in headers)
    if path == "/v1/quote" and not valid:
        assert code not in (200, 422), "a quote without a valid token"
        # only the HTTP layer answers before the token check: an unknown method (CONNECT's
        # target is not a path), an Expect, a header given twice that may appear once
        names = [k.lower() for k, _ in headers]
        if method in _STANDARD and "expect" not in names and len(set(names)) == len(names):
            assert code == 401, (method, code)
    if path == "/v1/quote" and valid and method == "POST" and code == 200:
        assert orjson.loads(out)["status"] in ("applied", "duplicate")
    assert server.alive()
    assert request(server.port, "GET", "/healthz")[0] == 200
