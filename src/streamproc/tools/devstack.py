"""Local Kafka 3.9.1 (KRaft, single node) and redis-server processes for tests, demo and developers.

Stdlib only (aiokafka is imported lazily by `create_topics`). See docs/local-stack.md.

    python -m streamproc.tools.devstack up|down|status [--dir .run/stack] [--kafka-port 9092] ...
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from streamproc.errors import StreamprocError
from streamproc.tools.process import ChildProcess, ProcessFailed, pid_alive, terminate

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCAL_DIR = Path(os.environ.get("STREAMPROC_DEPLOY_LOCAL", REPO_ROOT / "deploy" / "local"))
KAFKA_LIBS = Path(os.environ.get("STREAMPROC_KAFKA_LIBS", LOCAL_DIR / "libs"))
# Fast start on 2 cores; benchmarks pass a full JIT and a larger heap (`jvm_flags`).
JVM_FLAGS = os.environ.get(
    "STREAMPROC_KAFKA_JVM_FLAGS",
    "-Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData",
).split()
SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{c}
listeners=PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}
advertised.listeners=PLAINTEXT://127.0.0.1:{p}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
"""
# A secured broker: clients on SASL_SSL (SCRAM-SHA-512, the JDK-made keystore), the broker's
# own traffic and the devstack readiness probe on a loopback PLAINTEXT listener, ACLs enforced
# (StandardAuthorizer) for every principal but the broker's own and `admin`.
SECURE_PROPERTIES = """\
listeners=SASL_SSL://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c},INTERNAL://127.0.0.1:{i}
advertised.listeners=SASL_SSL://127.0.0.1:{p},INTERNAL://127.0.0.1:{i}
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location={keystore}
ssl.keystore.password={storepass}
ssl.key.password={storepass}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
allow.everyone.if.no.acl.found=false
"""
_DONE = ".complete"  # written after a successful Maven copy: a half-copied folder is refetched


class StackError(StreamprocError, RuntimeError):
    """A local process failed to start (the message carries its log tail)."""


def fetch_kafka_jars(libs_dir: Path | None = None, pom: Path | None = None) -> Path:
    """Copy the broker jars into `libs_dir` with Maven unless already there; return the folder."""
    libs = Path(libs_dir or KAFKA_LIBS).resolve()
    if (libs / _DONE).exists():
        return libs
    libs.mkdir(parents=True, exist_ok=True)
    with open(libs / ".fetch.lock", "w") as lock:  # concurrent fetchers wait for one
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (libs / _DONE).exists():
            pom = pom or LOCAL_DIR / "pom.xml"
            cmd = f"mvn -q -B -f {pom} dependency:copy-dependencies -Dkafka.libs.dir={libs}"
            r = subprocess.run(cmd.split(), capture_output=True, text=True)
            if r.returncode:
                raise StackError(f"{cmd} failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
            if not any(libs.glob("kafka_2.13-*.jar")):
                raise StackError(f"Maven ran but no kafka_2.13 jar is in {libs}")
            (libs / _DONE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    return libs


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_redis_installed() -> str:
    """Path of `redis-server`, installing Debian's package if it is missing."""
    if not shutil.which("redis-server"):
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run([*sudo, "apt-get", "install", "-y", "redis-server"], env=env).returncode:
            subprocess.run([*sudo, "apt-get", "update"], env=env, check=True)
            subprocess.run([*sudo, "apt-get", "install", "-y", "redis-server"], env=env, check=True)
    return shutil.which("redis-server") or "/usr/bin/redis-server"


class _Server:
    """A server (Kafka, Redis) run as a `ChildProcess`, with a run folder, a port and a
    readiness probe."""

    name = "process"

    def __init__(self, run_dir: str | os.PathLike[str], port: int | None = None) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.port = port or free_port()
        self.child: ChildProcess | None = None
        self.pid: int | None = None  # ours, or read back from a running stack's state file
        self.started_in: float | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"{self.name}.out"

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return None if self.child is None else self.child.proc

    def _spawn(self, cmd: list[str], detach: bool, cwd: Path | None = None) -> None:
        self.child = ChildProcess(self.name, cmd, self.log_path, cwd=cwd or self.run_dir,
                                  detach=detach).start()
        self.pid = self.child.pid

    def _wait_ready(self, timeout: float, t0: float) -> None:
        assert self.child is not None
        try:
            self.child.wait_ready(self._ready, max(0.0, t0 + timeout - time.monotonic()),
                                  f"ready on port {self.port}")
        except ProcessFailed as exc:
            self.stop(remove=False)
            raise StackError(str(exc)) from None
        self.started_in = time.monotonic() - t0

    def _ready(self) -> bool:
        raise NotImplementedError

    def stop(self, remove: bool = True, graceful: bool = True) -> None:
        """Stop (SIGTERM, wait, SIGKILL; `graceful=False` kills at once); optionally rm the dir."""
        if self.pid is not None:
            terminate(self.pid, 20.0 if graceful else 0.0, self.proc)
            self.pid = self.child = None
        if remove:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kafka_cluster_id() -> str:
    while True:  # Kafka's Uuid.randomUuid(): url-safe base64, never starting with "-"
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _kafka_metadata_brokers(port: int) -> int:
    """Send a Metadata v1 request; return how many brokers the answer lists."""
    body = struct.pack(">hhih", 3, 1, 1, 9) + b"devstack" + b"_" + struct.pack(">i", 0)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        head = s.recv(4, socket.MSG_WAITALL)
        data = s.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)
    return int(struct.unpack(">i", data[4:8])[0])  # after the correlation id


class KafkaBroker(_Server):
    """One Kafka 3.9 KRaft node (broker + controller) on 127.0.0.1."""

    name = "kafka"

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        port: int | None = None,
        controller_port: int | None = None,
        libs_dir: Path | None = None,
        scram_users: Mapping[str, str] | None = None,
        jvm_flags: Sequence[str] | None = None,
    ) -> None:
        """`scram_users` (name -> password) makes a secured broker: SASL_SSL with those
        SCRAM-SHA-512 users (`admin` is a super user), ACLs enforced (see SECURE_PROPERTIES)."""
        super().__init__(run_dir, port)
        self.jvm_flags = list(JVM_FLAGS if jvm_flags is None else jvm_flags)
        self.controller_port = controller_port or free_port()
        self.libs_dir = libs_dir
        self.scram_users = dict(scram_users or {})
        self.internal_port = free_port() if self.scram_users else self.port
        self.keystore: Any = None

    @property
    def server_log(self) -> Path:
        return self.run_dir / "logs" / "server.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure(self) -> bool:
        return bool(self.scram_users)

    @property
    def cafile(self) -> Path:
        """PEM certificate a client verifies the secured broker against."""
        return Path(self.keystore.cafile)

    @property
    def internal_bootstrap(self) -> str:
        """The unauthenticated loopback listener (the plain one unless secured)."""
        return f"127.0.0.1:{self.internal_port}"

    def server_properties(self) -> str:
        data = self.run_dir / "data"
        text = SERVER_PROPERTIES.format(p=self.port, c=self.controller_port, data=data)
        if not self.secure:
            return text
        keep = [ln for ln in text.splitlines() if not ln.startswith(
            ("listeners=", "advertised.listeners=", "inter.broker.listener.name=",
             "listener.security.protocol.map="))]
        return "\n".join(keep) + "\n" + SECURE_PROPERTIES.format(
            p=self.port, c=self.controller_port, i=self.internal_port,
            keystore=self.keystore.path, storepass=self.keystore.password)

    def _java(self, main: str, *args: str) -> list[str]:
        libs = fetch_kafka_jars(self.libs_dir)
        log4j = f"-Dlog4j.configuration=file:{LOCAL_DIR / 'log4j.properties'}"
        logs = f"-Dkafka.logs.dir={self.run_dir / 'logs'}"
        return ["java", *self.jvm_flags, log4j, logs, "-cp", f"{libs}/*", main, *args]

    def start(self, timeout: float = 90.0, detach: bool = False) -> KafkaBroker:
        """Format storage (first start only), launch the JVM and wait until it serves metadata."""
        t0 = time.monotonic()
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        props = self.run_dir / "server.properties"
        if self.secure:
            from streamproc.tools.devcerts import kafka_keystore

            self.keystore = kafka_keystore(self.run_dir / "tls")
        props.write_text(self.server_properties())
        props.chmod(0o600)
        if not (self.run_dir / "data" / "meta.properties").exists():
            fmt = self._java(
                "kafka.tools.StorageTool", "format", "-t", _kafka_cluster_id(), "-c", str(props)
            )
            for user, password in self.scram_users.items():  # SCRAM users exist from the start
                fmt += ["--add-scram", f'SCRAM-SHA-512=[name={user},password="{password}"]']
            r = subprocess.run(fmt, capture_output=True, text=True)
            if r.returncode:
                raise StackError(f"kafka storage format failed:\n{r.stdout}{r.stderr}")
        self._spawn(self._java("kafka.Kafka", str(props)), detach)
        self._wait_ready(timeout, t0)
        return self

    def _ready(self) -> bool:
        return _kafka_metadata_brokers(self.internal_port) > 0


class RedisServer(_Server):
    """An ephemeral redis-server on 127.0.0.1 (AOF only when asked).

    `acl_users` (name -> (password, ACL rules)) makes a secured one: TLS only (no plain port;
    a self-signed certificate from openssl), the `default` user off, and only those users.
    """

    name = "redis"

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        port: int | None = None,
        appendonly: bool = False,
        acl_users: Mapping[str, tuple[str, str]] | None = None,
        extra_args: Iterable[str] = (),
    ) -> None:
        super().__init__(run_dir, port)
        self.appendonly = appendonly
        self.acl_users = dict(acl_users or {})
        self.extra_args = list(extra_args)  # e.g. --appendfsync everysec, --cluster-enabled
        self.cert: Any = None

    @property
    def secure(self) -> bool:
        return bool(self.acl_users)

    @property
    def url(self) -> str:
        return f"{'rediss' if self.secure else 'redis'}://127.0.0.1:{self.port}/0"

    @property
    def cafile(self) -> Path:
        return Path(self.cert.cert)

    def _config(self) -> str:
        """redis.conf for a secured server: users live in the file, never on a command line."""
        c = self.cert
        lines = [f"port 0\ntls-port {self.port}\nbind 127.0.0.1",
                 f"tls-cert-file {c.cert}\ntls-key-file {c.key}\ntls-ca-cert-file {c.cert}",
                 "tls-auth-clients no\nuser default off"]
        for name, (password, rules) in self.acl_users.items():
            lines.append(f"user {name} on >{password} {rules}")
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 20.0, detach: bool = False) -> RedisServer:
        """Launch redis-server and wait for it to answer."""
        t0 = time.monotonic()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        aof = "yes" if self.appendonly else "no"
        cmd = [ensure_redis_installed()]
        if self.secure:
            from streamproc.tools.devcerts import redis_cert

            self.cert = redis_cert(self.run_dir / "tls")
            conf = self.run_dir / "redis.conf"
            conf.write_text(self._config())
            conf.chmod(0o600)
            cmd += [str(conf)]
        else:
            cmd += ["--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--appendonly", aof, "--dir", str(self.run_dir), "--save", "", *self.extra_args]
        self._spawn(cmd, detach)
        self._wait_ready(timeout, t0)
        return self

    def _ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw:
            s: socket.socket = raw
            if self.secure:
                import ssl

                s = ssl.create_default_context(cafile=str(self.cafile)).wrap_socket(
                    raw, server_hostname="127.0.0.1")
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))


class RedisClusterStack:
    """A Redis Cluster of `masters` primaries (no replicas) from the same `redis-server`
    binary: each node started with cluster mode on, then the slots split between them by
    `redis-cli --cluster create`. Any node's URL reaches the cluster."""

    def __init__(self, run_dir: str | os.PathLike[str], masters: int = 3,
                 first_port: int | None = None) -> None:
        self.run_dir = Path(run_dir).resolve()
        # the bus port given, not the default port + 10000 (free ports run past 55535)
        self.nodes = [RedisServer(self.run_dir / f"node{i}", first_port if i == 0 else None,
                                  extra_args=[
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "5000", "--cluster-port", str(free_port())])
            for i in range(masters)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 30.0, detach: bool = False) -> RedisClusterStack:
        for n in self.nodes:
            n.start(detach=detach)
        cli = shutil.which("redis-cli") or "redis-cli"
        addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
        r = subprocess.run([cli, "--cluster", "create", *addrs, "--cluster-replicas", "0",
                            "--cluster-yes"], capture_output=True, text=True, timeout=timeout)
        if r.returncode:
            raise StackError(f"redis-cli --cluster create failed:\n{r.stdout}{r.stderr}")
        deadline = time.monotonic() + timeout
        while not all(self._ok(n.port, cli) for n in self.nodes):
            if time.monotonic() > deadline:
                raise StackError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)  # the nodes gossip the new slot map
        return self

    @staticmethod
    def _ok(port: int, cli: str) -> bool:
        r = subprocess.run([cli, "-p", str(port), "cluster", "info"], capture_output=True,
                           text=True, timeout=5)
        return "cluster_state:ok" in r.stdout

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


async def acreate_topics(
    bootstrap: str, topics: Mapping[str, int], compacted: Iterable[str] = (), timeout: float = 30.0,
    client_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Create topics (existing ones are fine) and wait until every partition has a leader.
    `client_kwargs`: security arguments for a secured broker (`config.kafka_client_kwargs`)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    compacted = set(compacted)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000),
                                **(client_kwargs or {}))
    await admin.start()
    try:
        new = [
            NewTopic(n, p, 1, topic_configs={"cleanup.policy": "compact"} if n in compacted else {})
            for n, p in topics.items()
        ]
        resp = await admin.create_topics(new, timeout_ms=int(timeout * 1000))
        bad = [e for e in resp.topic_errors if e[1] not in (0, 36)]  # 36: TOPIC_ALREADY_EXISTS
        if bad:
            raise StackError(f"create_topics failed: {bad}")
        deadline = time.monotonic() + timeout
        while True:
            desc = await admin.describe_topics(list(topics))
            ok = {
                t["topic"]
                for t in desc
                if t["error_code"] == 0
                and len(t["partitions"]) >= topics[t["topic"]]
                and all(p["leader"] >= 0 for p in t["partitions"])
            }
            if ok >= set(topics):
                return
            if time.monotonic() > deadline:
                raise StackError(f"topics not ready after {timeout}s: {set(topics) - ok}")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


def create_topics(
    bootstrap: str, topics: Mapping[str, int], compacted: Iterable[str] = (), timeout: float = 30.0,
    client_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Blocking `acreate_topics`; safe to call from inside a running event loop (own thread)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, acreate_topics(bootstrap, topics, compacted, timeout,
                                                client_kwargs)).result()


# --- CLI: detached processes whose pids and ports live in <dir>/stack.json ------------------


def _state(d: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        return dict(json.loads((d / "stack.json").read_text()))
    return {}


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def cmd_up(d: Path, kafka_port: int, redis_port: int, redis_cluster: bool = False) -> int:
    st = _state(d)
    if st and all(pid_alive(v["pid"]) for v in st.values()):
        print(f"already up: kafka {st['kafka']['bootstrap']}  redis {st['redis']['url']}")
        return 0
    cmd_down(d, quiet=True)
    for port in (kafka_port, redis_port):
        if port and not _port_free(port):
            print(f"port {port} is in use; pick another (0 = any free port)", file=sys.stderr)
            return 1
    kafka = KafkaBroker(d / "kafka", kafka_port or None)
    # a 3-master Redis Cluster from the same binary (workers: STREAMPROC_REDIS_CLUSTER=1)
    cluster = RedisClusterStack(d / "redis-cluster", first_port=redis_port or None) \
        if redis_cluster else None
    redis = cluster.nodes[0] if cluster is not None else RedisServer(d / "redis",
                                                                     redis_port or None)
    try:
        if cluster is not None:
            cluster.start(detach=True)
        else:
            redis.start(detach=True)
        kafka.start(detach=True)
    except BaseException:
        kafka.stop(remove=False)
        for n in cluster.nodes if cluster is not None else [redis]:
            n.stop(remove=False)
        raise
    k, r = kafka, redis
    state = {
        "kafka": dict(pid=k.pid, port=k.port, bootstrap=k.bootstrap, log=str(k.server_log)),
        "redis": dict(pid=r.pid, port=r.port, url=r.url, log=str(r.log_path)),
    }
    for i, n in enumerate(cluster.nodes[1:] if cluster is not None else [], start=1):
        state[f"redis-{i}"] = dict(pid=n.pid, port=n.port, url=n.url, log=str(n.log_path))
    (d / "stack.json").write_text(json.dumps(state, indent=2) + "\n")
    print(f"kafka {kafka.bootstrap} (pid {kafka.pid}, ready in {kafka.started_in:.1f}s)")
    print(f"redis {redis.url} (pid {redis.pid}, ready in {redis.started_in:.2f}s)"
          + (f", a Redis Cluster of {len(cluster.nodes)} masters" if cluster else ""))
    return 0


def cmd_down(d: Path, quiet: bool = False) -> int:
    for name, v in _state(d).items():
        if pid_alive(v["pid"]):
            terminate(v["pid"])
            if not quiet:
                print(f"stopped {name} (pid {v['pid']})")
    shutil.rmtree(d, ignore_errors=True)
    return 0


def cmd_status(d: Path) -> int:
    st = _state(d)
    if not st:
        print(f"not up (no {d / 'stack.json'})")
        return 1
    up = True
    for name, v in st.items():
        alive = pid_alive(v["pid"])
        up &= alive
        where = v.get("bootstrap") or v.get("url")
        print(f"{name:<6} {'up  ' if alive else 'DOWN'} {where}  pid {v['pid']}  log {v['log']}")
    return 0 if up else 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--dir", default=".run/stack", help="run folder (default .run/stack)")
    p.add_argument("--kafka-port", type=int, default=9092, help="0 = any free port")
    p.add_argument("--redis-port", type=int, default=6379, help="0 = any free port")
    p.add_argument("--redis-cluster", action="store_true",
                   help="a 3-master Redis Cluster instead of one redis-server (its first "
                        "node on --redis-port)")


def run(args: argparse.Namespace) -> int:
    d = Path(args.dir).resolve()
    if args.action == "up":
        d.mkdir(parents=True, exist_ok=True)
        return cmd_up(d, args.kafka_port, args.redis_port, args.redis_cluster)
    return cmd_down(d) if args.action == "down" else cmd_status(d)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m streamproc.tools.devstack", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
