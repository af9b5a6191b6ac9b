"""Shared fixtures: a real Kafka 3.9.1 broker and redis-server, started on free ports.

Each session-scoped fixture starts its own process only when a test asks for it (unit tests pay
nothing) and never reuses a developer's running stack. Teardown runs even when tests fail; if
pytest itself is killed, the children get SIGTERM from the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from streamproc.tools.devstack import KafkaBroker, RedisClusterStack, RedisServer, create_topics

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ carries the `integration` marker."""
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A running single-node KRaft broker (own run dir, free ports) for the whole session."""
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    try:
        broker.start(timeout=120)
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """`host:port` of the session's broker."""
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running ephemeral redis-server (no persistence) for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """`redis://127.0.0.1:PORT/0` of the session's redis-server."""
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterStack]:
    """A 3-master Redis Cluster (no replicas) for the whole session; `.url` is one node's."""
    cluster = RedisClusterStack(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[object]:
    """A sync `redis.Redis` on an empty database (FLUSHALL before the test)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def redis_async_client(redis_url: str) -> AsyncIterator[object]:
    """A `redis.asyncio.Redis` on an empty database (FLUSHALL before the test)."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def make_topics(kafka_bootstrap: str) -> Callable[..., str]:
    """`make_topics(prefix, partitions=1, compacted=False) -> name`: a fresh, ready topic."""

    def make(prefix: str, partitions: int = 1, compacted: bool = False) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        create_topics(kafka_bootstrap, {name: partitions}, compacted={name} if compacted else ())
        return name

    return make


# -- secured servers: SASL_SSL Kafka with ACLs, TLS Redis with ACL users --------------------


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One broker per session with a SASL_SSL listener (SCRAM-SHA-512, a keytool keystore)
    and ACLs enforced; users `admin` (super user) and `streamproc-worker` (the KafkaUser
    manifest's name and ACLs). Passwords in `broker.passwords`."""
    from secure_support import apply_strimzi_acls, password

    passwords = {"admin": password(), "streamproc-worker": password()}
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka-secure"), scram_users=passwords)
    broker.passwords = passwords  # type: ignore[attr-defined]
    try:
        broker.start(timeout=120)
        apply_strimzi_acls(broker.internal_bootstrap, "streamproc-worker", "streamproc-worker")
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def secure_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server per session on TLS only, `default` user off; users `admin` and
    `streamproc` (the worker's documented ACL, prefix `sp`). Passwords in `.passwords`."""
    from secure_support import REDIS_WORKER_RULES, password

    passwords = {"admin": password(), "streamproc": password()}
    users = {"admin": (passwords["admin"], "~* &* +@all"),
             "streamproc": (passwords["streamproc"], REDIS_WORKER_RULES.format(prefix="sp"))}
    server = RedisServer(tmp_path_factory.mktemp("redis-secure"), acl_users=users)
    server.passwords = passwords  # type: ignore[attr-defined]
    try:
        server.start()
        yield server
    finally:
        server.stop()
