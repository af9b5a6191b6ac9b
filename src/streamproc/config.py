"""Worker settings: every flag also reads from `STREAMPROC_<FLAG>` (flags win).

Secrets (the Kafka SASL password, the Redis password) have no flag, so they never show in
`ps`: they come from `STREAMPROC_<NAME>` or from a file named by `--<name>-file` /
`STREAMPROC_<NAME>_FILE` (a mounted Kubernetes Secret). They reach the clients as parameters,
never inside a URL, and `repr`/`redacted` hide them. A bad value is one line (`SettingsError`).
"""

from __future__ import annotations

import argparse
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from streamproc.errors import StreamprocError

KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LOG_LEVELS = ("debug", "info", "warn", "warning", "error")
LOG_FORMATS = ("text", "json")


class SettingsError(StreamprocError, ValueError):
    """A setting the worker cannot use; the message is one line naming it."""


def _secret() -> Any:
    return field(default="", repr=False)


@dataclass
class WorkerSettings:
    program: str = ""
    kafka: str = "127.0.0.1:9092"
    redis: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "sp"
    group: str = "streamproc-worker"
    receipts_topic: str = "receipts"
    customers_topic: str = "customers"
    results_topic: str = "receipt-results"
    events_topic: str = "loyalty-events"
    dlq_topic: str = "receipts-dlq"
    partitions: int = 6
    batch_size: int = 500
    batch_wait_ms: int = 50
    metrics_addr: str = "127.0.0.1:9100"  # loopback; a pod sets 0.0.0.0:9100 explicitly
    engine: str = "compiled"
    consumer: str = "direct"  # receipts via aiokafka getmany ("direct") or a faust agent
    timer_interval_s: float = 1.0
    # answers kept for redelivery are dropped once their offsets commit; this TTL only
    # bounds what a crash leaves behind: at least the receipts topic's retention (7 days)
    output_ttl_s: int = 604_800
    # the largest record the output topics take (their max.message.bytes; the broker's default
    # is 1048588): a result that would not fit goes to the dead-letter topic as `too_large`
    max_record_bytes: int = 1_000_000
    state_dir: str = ".run/worker"  # made absolute at start; the image sets /var/lib/streamproc
    log_level: str = "info"
    log_format: str = "text"
    # how long to wait at start for an unreachable Kafka or Redis before exiting (69); 0, the
    # default, waits as long as it takes: infrastructure is waited for, liveness and alerts
    # decide, not an exit code (a refused login still stops the start at once)
    startup_timeout_s: float = 0.0
    # a stop (SIGTERM) that takes longer, e.g. faust waiting on an unreachable broker, ends the
    # process hard: nothing is lost, offsets not yet committed are redelivered to the next owner
    shutdown_timeout_s: float = 30.0
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_ssl_cafile: str = ""
    redis_username: str = ""
    redis_tls_cafile: str = ""  # with a rediss:// URL: the CA that signed the server's cert
    redis_cluster: bool = False  # the URL is any node of a Redis Cluster
    partitioner: str = "murmur2"  # the producers' partitioner: murmur2 (Java, aiokafka), crc32
    # before offsets commit: "none", "wait" (WAIT for a replica) or "fsync" (the server runs
    # appendfsync always, checked at start); see docs/state-model.md
    redis_durability: str = "none"
    redis_wait_replicas: int = 1
    redis_wait_timeout_ms: int = 1000
    kafka_sasl_password: str = _secret()
    redis_password: str = _secret()

    SECRET = ("kafka_sasl_password", "redis_password")

    def redacted(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = "***" if f.name in self.SECRET and v else v
        out["redis"] = redact_url(self.redis)
        return out


def _kind(f: Field[Any]) -> Callable[[str], Any]:
    """How a setting's text (flag or variable) becomes its value."""
    kinds: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "bool": _bool}
    return kinds.get(str(f.type), str)


def _bool(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _parse(f: Field[Any], raw: str, source: str) -> Any:
    kind = _kind(f)
    try:
        return kind(raw)
    except ValueError:
        what = {int: "a whole number", float: "a number"}.get(kind, "valid")  # type: ignore
        raise SettingsError(f"{source}={raw!r} is not {what}") from None


class _NoSecretFlag(argparse.Action):
    """`--<secret> VALUE` is refused without repeating the value (and without argparse taking
    it for an abbreviation of `--<secret>-file`)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        var = "STREAMPROC_" + self.dest.upper()
        parser.exit(2, f"{parser.prog}: {option_string} is not accepted (a password on the "
                       f"command line shows in `ps`): use {var} or {option_string}-file\n")


def _secret_flags(p: argparse.ArgumentParser, name: str) -> None:
    flag = "--" + name.replace("_", "-")
    env = "STREAMPROC_" + name.upper()
    p.add_argument(flag + "-file", default=None, metavar="PATH",
                   help=f"read it from this file (env {env}_FILE, or the value in {env})")
    p.add_argument(flag, dest=name, action=_NoSecretFlag, help=argparse.SUPPRESS)


def add_worker_flags(p: argparse.ArgumentParser, cls: type = WorkerSettings) -> None:
    """A flag per field of `cls` (the worker's settings, or another command's own); a secret
    gets only a `--<name>-file` flag."""
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        env = "STREAMPROC_" + f.name.upper()
        if f.name in getattr(cls, "SECRET", ()):
            _secret_flags(p, f.name)
            continue
        if str(f.type) == "bool":
            p.add_argument(flag, action="store_const", const=True, default=None,
                           help=f"(env {env}=1, default off)")
            continue
        p.add_argument(flag, default=None, help=f"(env {env}, default {f.default!r})")


def read_secret(name: str, path_flag: str | None, env: Mapping[str, str]) -> str:
    """A secret from its file (flag, then `<VAR>_FILE`) or from `<VAR>` itself; "" if none."""
    var = "STREAMPROC_" + name.upper()
    path = path_flag or env.get(var + "_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().rstrip("\r\n")
        except OSError as exc:
            raise SettingsError(f"cannot read {name.replace('_', ' ')} file {path}: "
                                f"{exc.strerror}") from None
    return env.get(var, "")


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None,
                  cls: type = WorkerSettings) -> Any:
    """Flags first, then STREAMPROC_* variables, then defaults (a `cls`, WorkerSettings by
    default, which is then checked); a bad value raises `SettingsError`."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in getattr(cls, "SECRET", ()):
            values[f.name] = read_secret(f.name, getattr(args, f.name + "_file", None), env)
            continue
        var = "STREAMPROC_" + f.name.upper()
        flag = getattr(args, f.name, None)
        if flag is not None:
            values[f.name] = _parse(f, str(flag), "--" + f.name.replace("_", "-"))
        elif env.get(var) is not None:
            values[f.name] = _parse(f, env[var], var)
    s = cls(**values)
    if isinstance(s, WorkerSettings):
        check(s)
    return s


def _one_of(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise SettingsError(f"STREAMPROC_{name.upper()}={value!r}: expected one of "
                            f"{', '.join(allowed)}")


def check(s: WorkerSettings) -> None:
    """Refuse settings the worker cannot run with, naming the setting."""
    _one_of(s.engine, ("compiled", "reference"), "engine")
    _one_of(s.consumer, ("direct", "faust"), "consumer")
    _one_of(s.log_level.lower(), LOG_LEVELS, "log_level")
    _one_of(s.log_format, LOG_FORMATS, "log_format")
    _one_of(s.kafka_security_protocol, KAFKA_PROTOCOLS, "kafka_security_protocol")
    _one_of(s.partitioner, ("murmur2", "crc32"), "partitioner")
    _one_of(s.redis_durability, ("none", "wait", "fsync"), "redis_durability")
    for name in ("partitions", "batch_size"):
        if getattr(s, name) < 1:
            raise SettingsError(f"STREAMPROC_{name.upper()} must be at least 1")
    if s.batch_wait_ms < 0 or s.output_ttl_s < 0 or s.timer_interval_s <= 0:
        raise SettingsError("STREAMPROC_BATCH_WAIT_MS and STREAMPROC_OUTPUT_TTL_S must be >= 0, "
                            "STREAMPROC_TIMER_INTERVAL_S > 0")
    if s.kafka_security_protocol.startswith("SASL_"):
        _one_of(s.kafka_sasl_mechanism, SASL_MECHANISMS, "kafka_sasl_mechanism")
        if not s.kafka_sasl_username or not s.kafka_sasl_password:
            raise SettingsError(f"{s.kafka_security_protocol} needs STREAMPROC_KAFKA_SASL_USERNAME"
                                " and the password (STREAMPROC_KAFKA_SASL_PASSWORD or _FILE)")
    elif s.kafka_sasl_mechanism:
        raise SettingsError(f"STREAMPROC_KAFKA_SASL_MECHANISM is set but the protocol is "
                            f"{s.kafka_security_protocol}; use SASL_SSL")
    check_redis_url(s.redis)
    if s.redis_tls_cafile and not s.redis.startswith("rediss://"):
        raise SettingsError("STREAMPROC_REDIS_TLS_CAFILE needs a rediss:// URL")
    for name in ("kafka_ssl_cafile", "redis_tls_cafile"):
        path = getattr(s, name)
        if path and not os.path.isfile(path):
            raise SettingsError(f"STREAMPROC_{name.upper()}: no such file {path}")
    from streamproc.observability.http import parse_addr  # stdlib + aiohttp only

    try:
        parse_addr(s.metrics_addr)
    except ValueError as exc:
        raise SettingsError(f"STREAMPROC_METRICS_ADDR: {exc}") from None


def check_redis_url(url: str) -> None:
    """A Redis URL may name a user, never a password: that would show in `ps` and in logs.
    A URL that does not parse is refused without repeating it (it may hold a password)."""
    hint = "put the password in STREAMPROC_REDIS_PASSWORD or a file (--redis-password-file)"
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise SettingsError(f"the Redis URL does not parse (not shown); {hint}") from None
    if parts.password is not None or "#" in url or "@" in parts.path:
        raise SettingsError(f"the Redis URL carries a password (not shown); {hint}")
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(f"Redis URL {url!r}: scheme must be redis:// or rediss:// (TLS)")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


# -- client parameters: the one place settings become connection arguments -------------------


@dataclass(frozen=True)
class RedisAccess:
    """Where and how to reach Redis; the password is a parameter, never part of the URL."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    tls_cafile: str = ""

    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.username:
            kw["username"] = self.username
        if self.password:
            kw["password"] = self.password
        if self.tls_cafile:
            kw["ssl_ca_certs"] = self.tls_cafile
        return kw

    @property
    def shown(self) -> str:
        return redact_url(self.url)


def redis_access(s: WorkerSettings) -> RedisAccess:
    return RedisAccess(s.redis, s.redis_username, s.redis_password, s.redis_tls_cafile)


def add_redis_flags(p: argparse.ArgumentParser, url_help: str, default_url: str | None) -> None:
    """--redis and its access flags, for the commands besides the worker (balance, replay)."""
    p.add_argument("--redis", default=default_url, help=url_help + "; redis:// or rediss:// "
                   "(TLS), never with a password in it")
    p.add_argument("--redis-username", default=None,
                   help="ACL user (env STREAMPROC_REDIS_USERNAME)")
    _secret_flags(p, "redis_password")
    p.add_argument("--redis-tls-cafile", default=None,
                   help="CA of the server's certificate (env STREAMPROC_REDIS_TLS_CAFILE)")


def redis_access_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None
                      ) -> RedisAccess:
    env = os.environ if environ is None else environ
    url = args.redis
    check_redis_url(url)
    cafile = args.redis_tls_cafile or env.get("STREAMPROC_REDIS_TLS_CAFILE", "")
    if cafile and not os.path.isfile(cafile):
        raise SettingsError(f"--redis-tls-cafile: no such file {cafile}")
    return RedisAccess(url, args.redis_username or env.get("STREAMPROC_REDIS_USERNAME", ""),
                       read_secret("redis_password", args.redis_password_file, env), cafile)


def kafka_client_kwargs(s: WorkerSettings) -> dict[str, Any]:
    """aiokafka security arguments (consumer, producer, admin client)."""
    kw: dict[str, Any] = {"security_protocol": s.kafka_security_protocol}
    if s.kafka_security_protocol.startswith("SASL_"):
        kw.update(sasl_mechanism=s.kafka_sasl_mechanism,
                  sasl_plain_username=s.kafka_sasl_username,
                  sasl_plain_password=s.kafka_sasl_password)
    if s.kafka_security_protocol.endswith("SSL"):
        kw["ssl_context"] = ssl.create_default_context(cafile=s.kafka_ssl_cafile or None)
    return kw
