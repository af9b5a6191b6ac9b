"""Security against real servers: a broker on SASL_SSL (SCRAM-SHA-512, keytool certificates,
ACLs from deploy/k8s/kafka/users.yaml) and a redis-server on TLS with ACL users.

The worker, `replay --redis` and `balance` work against both with their secrets in the
environment or in files; no password shows in their output, their logs or their command line;
a wrong password or an untrusted certificate is one line and a non-zero exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import redis
from e2e_support import WorkerProcess, produce, read_until, replay_oracle

from streamproc.cli import main
from streamproc.tools.devstack import KafkaBroker, RedisServer, create_topics

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).parents[1] / "golden"
PROGRAM = str(GOLDEN / "program.yaml")
TOPICS = {"receipts": 2, "customers": 2, "receipt-results": 2, "loyalty-events": 2,
          "receipts-dlq": 1}
EXIT_UNAVAILABLE = 69


def _secret_file(tmp: Path, name: str, value: str) -> str:
    path = tmp / name
    path.write_text(value + "\n")  # as a mounted Secret often is: with a newline
    path.chmod(0o600)
    return str(path)


def _flush(server: RedisServer) -> None:
    admin = redis.Redis.from_url(server.url, username="admin",
                                 password=server.passwords["admin"],  # type: ignore[attr-defined]
                                 ssl_ca_certs=str(server.cafile))
    admin.flushall()
    admin.close()


def _secure_env(tmp: Path, kafka: KafkaBroker, rds: RedisServer,
                kafka_password: str | None = None, redis_password: str | None = None) -> dict:
    kp = kafka.passwords["streamproc-worker"] if kafka_password is None else kafka_password  # type: ignore[attr-defined]
    rp = rds.passwords["streamproc"] if redis_password is None else redis_password  # type: ignore[attr-defined]
    return {
        "STREAMPROC_PROGRAM": PROGRAM, "STREAMPROC_PARTITIONS": "2",
        "STREAMPROC_TIMER_INTERVAL_S": "3600", "STREAMPROC_STARTUP_TIMEOUT_S": "20",
        "STREAMPROC_KAFKA": kafka.bootstrap,
        "STREAMPROC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "STREAMPROC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "STREAMPROC_KAFKA_SASL_USERNAME": "streamproc-worker",
        "STREAMPROC_KAFKA_SASL_PASSWORD_FILE": _secret_file(tmp, "kafka-password", kp),
        "STREAMPROC_KAFKA_SSL_CAFILE": str(kafka.cafile),
        "STREAMPROC_REDIS": rds.url,
        "STREAMPROC_REDIS_USERNAME": "streamproc",
        "STREAMPROC_REDIS_PASSWORD": rp,
        "STREAMPROC_REDIS_TLS_CAFILE": str(rds.cafile),
    }


def _secrets(kafka: KafkaBroker, rds: RedisServer) -> list[str]:
    return [*kafka.passwords.values(), *rds.passwords.values()]  # type: ignore[attr-defined]


def _key(raw: bytes) -> bytes | None:
    """The key a till gives a receipt: its customer id, its receipt id when anonymous (none
    for a malformed one)."""
    try:
        o = orjson.loads(raw)
        key = o.get("customer_id") or o.get("receipt_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return key.encode() if isinstance(key, str) else None


async def _topics(bootstrap: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


async def test_worker_over_sasl_ssl_and_tls_redis(tmp_path, secure_kafka, secure_redis):
    _flush(secure_redis)
    internal = secure_kafka.internal_bootstrap  # the test itself writes and reads as the broker
    create_topics(internal, TOPICS, compacted={"customers"})
    lines = (GOLDEN / "receipts.jsonl").read_bytes().splitlines()
    await produce(internal, "receipts", [(_key(x), x) for x in lines])
    want, _, _ = replay_oracle(PROGRAM, GOLDEN / "receipts.jsonl", None)
    w = WorkerProcess(tmp_path, "secure-worker", _secure_env(tmp_path, secure_kafka,
                                                             secure_redis)).start()
    try:
        assert w.proc is not None
        cmdline = _cmdline(w.proc.pid)
        records = await read_until(
            internal, "receipt-results", lambda rs: len(rs) >= len(want), timeout=90,
            alive=lambda: None if w.alive() else f"worker exited:\n{w.tail()}")
    finally:
        w.stop()
    got = {orjson.loads(r.value)["receipt_id"]: orjson.loads(r.value) for r in records}
    assert {r["receipt_id"]: r["status"] for r in want} == \
        {rid: r["status"] for rid, r in got.items()}
    log = w.log.read_text()
    assert "receipts partitions assigned: [0, 1]" in log  # INFO by default
    # faust's leader topic is off: the worker's user could not create it, and did not try
    topics = await _topics(internal)
    assert not [t for t in topics if "leader" in t], topics
    assert "\x1b[" not in log, "terminal escapes in a log that is not a terminal"
    for secret in _secrets(secure_kafka, secure_redis):
        assert secret not in log
        assert secret not in cmdline


def test_replay_and_balance_over_tls_redis(tmp_path, secure_redis, capsys):
    _flush(secure_redis)
    pw_file = _secret_file(tmp_path, "redis-password",
                           secure_redis.passwords["streamproc"])  # type: ignore[attr-defined]
    access = ["--redis", secure_redis.url, "--redis-username", "streamproc",
              "--redis-password-file", pw_file, "--redis-tls-cafile", str(secure_redis.cafile)]
    out = tmp_path / "out.jsonl"
    assert main(["replay", "--program", PROGRAM, "--receipts", str(GOLDEN / "receipts.jsonl"),
                 "--no-progress", "--out", str(out), *access]) == 0
    last = [orjson.loads(x) for x in out.read_bytes().splitlines()
            if orjson.loads(x).get("customer_id") == "C1"
            and orjson.loads(x)["status"] == "applied"][-1]
    capsys.readouterr()
    assert main(["balance", "C1", "--program", PROGRAM, *access]) == 0
    shown = capsys.readouterr().out
    assert f"active {last['balance']['active']}, pending {last['balance']['pending']}" in shown
    assert main(["balance", "NOBODY", *access]) == 1
    shown += capsys.readouterr().out
    assert secure_redis.url in shown
    for secret in secure_redis.passwords.values():  # type: ignore[attr-defined]
        assert secret not in shown


def _one_line_failure(p: subprocess.CompletedProcess[str], *secrets: str) -> str:
    assert p.returncode == EXIT_UNAVAILABLE, p.stdout + p.stderr
    text = p.stdout + p.stderr
    assert "Traceback" not in text and "\x1b[" not in text
    for s in secrets:
        assert s not in text
    errors = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1, p.stderr
    return errors[0]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamproc", *args], cwd=cwd,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=90)


def test_wrong_passwords_and_untrusted_certificates_are_one_line(tmp_path, secure_kafka,
                                                                  secure_redis):
    wrong = "not-the/password#"
    env = _secure_env(tmp_path, secure_kafka, secure_redis, kafka_password=wrong)
    env["STREAMPROC_STATE_DIR"] = str(tmp_path / "state")
    line = _one_line_failure(_run(["worker"], env, tmp_path), wrong,
                             *_secrets(secure_kafka, secure_redis))
    assert "refused the login of 'streamproc-worker'" in line and "SaslAuthenticationFailed" in line

    env = _secure_env(tmp_path, secure_kafka, secure_redis, redis_password=wrong)
    env["STREAMPROC_STATE_DIR"] = str(tmp_path / "state")
    line = _one_line_failure(_run(["worker"], env, tmp_path), wrong,
                             *_secrets(secure_kafka, secure_redis))
    assert f"Redis at {secure_redis.url} refused 'streamproc'" in line

    env = _secure_env(tmp_path, secure_kafka, secure_redis)
    env.pop("STREAMPROC_KAFKA_SSL_CAFILE")
    env["STREAMPROC_STATE_DIR"] = str(tmp_path / "state")
    line = _one_line_failure(_run(["worker"], env, tmp_path),
                             *_secrets(secure_kafka, secure_redis))
    assert "certificate is not trusted" in line

    pw_file = _secret_file(tmp_path, "wrong", wrong)
    line = _one_line_failure(_run(
        ["balance", "C1", "--redis", secure_redis.url, "--redis-username", "streamproc",
         "--redis-password-file", pw_file, "--redis-tls-cafile", str(secure_redis.cafile)],
        {}, tmp_path), wrong)
    assert line.startswith("balance: ") and "refused 'streamproc'" in line
    line = _one_line_failure(_run(
        ["replay", "--program", PROGRAM, "--receipts", str(GOLDEN / "receipts.jsonl"),
         "--no-progress", "--redis", secure_redis.url, "--redis-username", "streamproc",
         "--redis-password-file", pw_file, "--redis-tls-cafile", str(secure_redis.cafile)],
        {}, tmp_path), wrong)
    assert line.startswith("replay: ") and "refused 'streamproc'" in line
