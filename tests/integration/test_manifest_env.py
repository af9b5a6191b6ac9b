"""The worker starts with the Kubernetes manifest's own environment (deploy/k8s/worker.env and
program.yaml) from a read-only working directory, as in the pod (read-only root filesystem,
only the state emptyDir and /tmp writable), against the secured broker and Redis.

Only what the cluster provides differs: the addresses of Kafka and Redis, and where the
Secret's files and the emptyDir are mounted. The log is JSON lines (the manifest asks for it),
and a scrape of /metrics has the process figures and no `_created` series.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from streamproc.tools.devstack import create_topics, free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def _env_file(path: Path) -> dict[str, str]:
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    return dict(ln.split("=", 1) for ln in lines if ln and not ln.startswith("#"))


def _read_only_cwd_works(path: Path) -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", _ro_mount(path) + " && ! touch x"],
                           cwd=path, capture_output=True)
    return probe.returncode == 0


def _ro_mount(path: Path) -> str:
    return f"mount --bind {path} {path} && mount -o remount,bind,ro {path} {path} && cd {path}"


async def _ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    """Wait for /readyz, then return a scrape of /metrics."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready after {timeout}s:\n{log.read_text()[-3000:]}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        async with session.get(f"http://127.0.0.1:{port}/metrics") as m:
                            return await m.text()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


async def test_worker_starts_from_the_manifest_env_in_a_read_only_cwd(tmp_path, secure_kafka,
                                                                       secure_redis):
    if shutil.which("unshare") is None or not _read_only_cwd_works(tmp_path):
        pytest.skip("cannot make a read-only bind mount here (unshare -m)")
    env = _env_file(K8S / "worker.env")
    create_topics(secure_kafka.internal_bootstrap,
                  {env[f"STREAMPROC_{k}_TOPIC"]: 2 for k in ("RECEIPTS", "CUSTOMERS", "RESULTS",
                                                             "EVENTS")} |
                  {env["STREAMPROC_DLQ_TOPIC"]: 1}, compacted={env["STREAMPROC_CUSTOMERS_TOPIC"]})
    # what the cluster mounts: the Secret's files, the ConfigMap's program, the emptyDir
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    files = {
        "kafka-sasl-password": secure_kafka.passwords[env["STREAMPROC_KAFKA_SASL_USERNAME"]],
        "redis-password": secure_redis.passwords[env["STREAMPROC_REDIS_USERNAME"]],
        "kafka-ca.crt": secure_kafka.cafile.read_text(),
        "redis-ca.crt": secure_redis.cafile.read_text(),
    }
    for name, text in files.items():
        (secrets / name).write_text(text)
    mounts = {"/etc/streamproc-secrets": str(secrets), "/etc/streamproc": str(K8S)}
    for key, value in env.items():
        for mounted, here in mounts.items():
            if value.startswith(mounted + "/"):
                env[key] = here + value[len(mounted):]
    state = tmp_path / "state"  # the emptyDir; the image's WORKDIR is the same path
    state.mkdir()
    port = free_port()
    env.update(STREAMPROC_KAFKA=secure_kafka.bootstrap, STREAMPROC_STATE_DIR=str(state),
               STREAMPROC_REDIS=secure_redis.url,
               STREAMPROC_METRICS_ADDR=f"127.0.0.1:{port}", STREAMPROC_TIMER_INTERVAL_S="3600")
    assert env["STREAMPROC_REDIS"].startswith("rediss://")  # the manifest's TLS, kept

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    log = tmp_path / "worker.log"
    pythonpath = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    cmd = _ro_mount(cwd) + f" && exec {sys.executable} -m streamproc worker"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["unshare", "-m", "sh", "-c", cmd], cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT,
                                env={"PATH": os.environ["PATH"], "PYTHONPATH": pythonpath,
                                     "HOME": str(tmp_path), **env})
    try:
        metrics = await _ready(port, proc, log, timeout=90)
    finally:
        proc.terminate()
        proc.wait(30)
    assert not list(cwd.iterdir())
    assert any(state.iterdir()), "faust's data directory is the state dir"
    assert "process_resident_memory_bytes" in metrics
    assert "_created" not in metrics
    lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
    records = [orjson.loads(ln) for ln in lines]  # every line is JSON
    assert any("partitions assigned" in r["msg"] for r in records)
    assert all({"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    for secret in (files["kafka-sasl-password"], files["redis-password"]):
        assert secret not in log.read_text()
