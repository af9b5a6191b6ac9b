"""`streamproc quote-server`: answer tills' quotes over HTTP from the worker's state in Redis."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys

EXIT_SETTINGS = 2


def register(sub: argparse._SubParsersAction) -> None:
    from streamproc.config import add_worker_flags
    from streamproc.quote.settings import QuoteSettings

    p = sub.add_parser(
        "quote-server", help="serve POST /v1/quote: what a receipt would get, before the sale",
        description="Takes the worker's settings (program, Redis, prefix, engine) and its own; "
                    "every flag also reads from STREAMPROC_<FLAG>. See docs/quote-api.md.")
    add_worker_flags(p)
    add_worker_flags(p, QuoteSettings)
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="serve without tokens; refused unless --listen is a loopback address")
    p.set_defaults(func=run)


def _fail(msg: str) -> int:
    print(f"quote-server: {msg}", file=sys.stderr)
    return EXIT_SETTINGS


def run(args: argparse.Namespace) -> int:
    from streamproc.commands._startup import load_program_and_engine
    from streamproc.config import SettingsError, settings_from
    from streamproc.observability.http import parse_addr
    from streamproc.quote.auth import AuthConfigError, TokenAuth, is_loopback
    from streamproc.quote.settings import QuoteSettings

    try:
        s = settings_from(args)
        q = settings_from(args, cls=QuoteSettings)
    except SettingsError as exc:
        return _fail(f"bad setting: {exc}")
    if not s.program:
        return _fail("no program file (--program or STREAMPROC_PROGRAM)")
    try:
        host, port = parse_addr(q.listen)
    except ValueError:
        return _fail(f"--listen must be HOST:PORT, got {q.listen!r}")
    auth = None
    if args.insecure_no_auth:
        if q.auth_tokens_file:
            return _fail("--insecure-no-auth and --auth-tokens-file exclude each other")
        if not is_loopback(host):
            return _fail(f"--insecure-no-auth is refused on {host!r}: only a loopback address "
                         "(127.0.0.1, ::1, localhost) may serve without tokens")
    else:
        if not q.auth_tokens_file:
            return _fail("no --auth-tokens-file (STREAMPROC_AUTH_TOKENS_FILE); "
                         "--insecure-no-auth only on loopback")
        try:
            auth = TokenAuth.from_file(q.auth_tokens_file)
        except AuthConfigError as exc:
            return _fail(str(exc))
    loaded = load_program_and_engine(s.program, s.engine, "quote-server")
    if isinstance(loaded, int):
        return loaded
    program, engine = loaded
    level = {"warn": "warning"}.get(s.log_level, s.log_level).upper()
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(s, q, program, engine, auth, host, port))


def _loop_factory():  # -> Callable[[], AbstractEventLoop] | None
    """uvloop when installed (less CPU per request and per Redis call), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _serve(s, q, program, engine, auth, host: str, port: int) -> int:
    from aiohttp import web

    from streamproc import __version__
    from streamproc.config import redis_access
    from streamproc.quote.app import make_app
    from streamproc.quote.metrics import QuoteMetrics
    from streamproc.quote.service import QuoteService
    from streamproc.state.redis.store import RedisStore

    log = logging.getLogger("streamproc.quote")
    access = redis_access(s)  # the password a parameter, never in the URL
    store = RedisStore(access.url, program, prefix=s.redis_prefix, output_ttl_s=s.output_ttl_s,
                       connection=access.client_kwargs(), partitions=s.partitions,
                       partitioner=s.partitioner, cluster=s.redis_cluster)
    try:  # the partition count the workers recorded, if any (else the settings')
        await store.adopt_layout()
    except Exception as exc:  # Redis down at start: quotes answer 503 until it is back
        log.warning("could not read the state layout from Redis (%s): placing keys by "
                    "STREAMPROC_PARTITIONS/STREAMPROC_PARTITIONER", exc)
    service = QuoteService(program, engine, store, timeout_s=q.quote_timeout_ms / 1000)
    metrics = QuoteMetrics()
    metrics.info.info({"version": __version__, "engine": engine.name})
    app = make_app(service, metrics, auth, q.max_body_bytes)
    # a quote makes only short-lived objects: keep what startup built out of every collection
    # and collect the young generation less often (fewer pauses in the latency tail)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, host, port, reuse_port=q.reuse_port or None).start()
        addr = runner.addresses[0]
        # one line tools and tests can read: where the server listens
        print(f"quote-server listening on {addr[0]}:{addr[1]} "
              f"({'bearer tokens' if auth else 'NO AUTHENTICATION, loopback only'}, "
              f"engine {engine.name}, program {program.id}, "
              f"loop {type(loop).__module__.split('.')[0]})", file=sys.stderr, flush=True)
        if not await service.ready():
            log.warning("Redis does not answer yet; /readyz says 503 until it does")
        await stop.wait()
    finally:
        await runner.cleanup()
        await service.close()
    return 0
