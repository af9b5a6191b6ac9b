"""The Kubernetes packaging: `kubectl kustomize` builds the base and the production overlay,
every object validates strictly (core kinds against the bundled Kubernetes schemas, custom
resources against their published CRD schemas in schemas/crds, see SOURCES.json there), and
the manifests agree with the worker: topics, ACLs, KEDA, state dir, secrets, alerts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamproc.tools.promrule import render

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KAFKA = K8S / "kafka"
OVERLAY = DEPLOY / "overlays" / "production"
SCHEMAS = Path(__file__).parent / "schemas" / "crds"
SECRET_FILES = ("kafka-sasl-password", "keda-kafka-password", "kafka-ca.crt", "redis-password",
                "redis-ca.crt")
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed")


def env_file(path: Path) -> dict[str, str]:
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    return dict(ln.split("=", 1) for ln in lines if ln and not ln.startswith("#"))


WORKER_ENV = env_file(K8S / "worker.env")


def kustomize(path: Path) -> list[dict[str, Any]]:
    r = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True,
                       timeout=120)  # type: ignore[list-item]
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """base, production overlay (secrets from placeholder files in a copy), kafka."""
    if KUBECTL is None:
        pytest.skip("kubectl (kustomize) not installed")
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("libs"))
    for name in SECRET_FILES:
        (copy / "overlays" / "production" / "secrets" / name).write_text(f"placeholder-{name}\n")
    return {"base": kustomize(K8S), "production": kustomize(copy / "overlays" / "production"),
            "kafka": kustomize(KAFKA)}


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (d,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return d


# -- strict validation --------------------------------------------------------------------------


def strict(schema: Any) -> Any:
    """The CRD schema as kubeconform --strict applies it: no field the schema does not name
    (except where the CRD itself preserves unknown fields)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_validator(doc: dict[str, Any]) -> Any:
    import jsonschema

    group, version = doc["apiVersion"].split("/")
    path = SCHEMAS / f"{doc['kind'].lower()}-{group.split('.')[0]}-{version}.json"
    assert path.is_file(), f"no vendored schema for {doc['apiVersion']} {doc['kind']}"
    schema = strict(json.loads(path.read_text()))
    return jsonschema.validators.validator_for(schema)(schema)


def test_vendored_schemas_name_their_source():
    sources = json.loads((SCHEMAS / "SOURCES.json").read_text())
    assert set(sources) == {p.name for p in SCHEMAS.glob("*.json")} - {"SOURCES.json"}
    for entry in sources.values():
        assert re.match(r"https://github.com/[\w-]+/[\w-]+/blob/[0-9a-f]{40}/", entry["source"])


@needs_kubectl
@pytest.mark.parametrize("which", ["base", "production", "kafka"])
def test_every_object_validates_strictly(built, which):
    kv = pytest.importorskip("kubernetes_validate")
    docs = built[which]
    custom = 0
    for doc in docs:
        if doc["apiVersion"].split("/")[0] in {"keda.sh", "monitoring.coreos.com",
                                              "kafka.strimzi.io"}:
            errors = [f"{list(e.path)}: {e.message}" for e in crd_validator(doc).iter_errors(doc)]
            assert not errors, f"{doc['kind']}/{doc['metadata']['name']}: {errors}"
            custom += 1
        else:
            kv.validate(doc, kv.latest_version(), strict=True)
    assert custom >= (7 if which == "kafka" else 5)


def test_strict_crd_validation_catches_a_misspelt_field():
    doc = yaml.safe_load((K8S / "scaledobject.yaml").read_text())
    assert not list(crd_validator(doc).iter_errors(doc))
    doc["spec"]["maxReplicaCont"] = doc["spec"].pop("maxReplicaCount")
    assert list(crd_validator(doc).iter_errors(doc))
    user = next(yaml.safe_load_all((KAFKA / "users.yaml").read_text()))
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    assert list(crd_validator(user).iter_errors(user))


# -- the overlay --------------------------------------------------------------------------------


@needs_kubectl
def test_production_overlay_namespace_image_secrets_resources(built):
    prod = built["production"]
    for doc in prod:
        assert doc["metadata"].get("namespace") == "loyalty", doc["metadata"]["name"]
    secrets = {d["metadata"]["name"] for d in by_kind(prod, "Secret")}
    mounted, config_names = set(), {d["metadata"]["name"] for d in by_kind(prod, "ConfigMap")}
    for dep in by_kind(prod, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        for c in pod["containers"]:
            assert c["image"].startswith("registry.example.com/loyalty/streamproc:")
            for ref in c.get("envFrom", []):  # the hashed ConfigMap, never the plain name
                assert ref["configMapRef"]["name"] in config_names
                assert re.fullmatch(r"streamproc-config-[a-z0-9]{10}", ref["configMapRef"]["name"])
        mounted |= {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    (worker_secret,) = [s for s in secrets if s.startswith("streamproc-secrets-")]
    assert worker_secret in mounted
    auth = one(prod, "TriggerAuthentication", "streamproc-keda")
    assert {r["name"] for r in auth["spec"]["secretTargetRef"]} <= secrets
    keda = next(d for d in by_kind(prod, "Secret") if d["metadata"]["name"].startswith(
        "streamproc-keda-"))
    assert set(keda["data"]) == {"sasl", "username", "password", "tls", "ca"}
    worker = one(prod, "Deployment", "streamproc-worker")
    (c,) = worker["spec"]["template"]["spec"]["containers"]
    assert c["resources"]["requests"]["memory"] == "768Mi"
    ignored = (OVERLAY / "secrets" / ".gitignore").read_text().split()
    assert ignored[0] == "*", "the overlay's secret files must never be committed"


# -- what the pods need -------------------------------------------------------------------------


@needs_kubectl
def test_pods_state_dir_secrets_and_no_service_account_token(built):
    base = built["base"]
    state_dir = WORKER_ENV["STREAMPROC_STATE_DIR"]
    assert state_dir.startswith("/")
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"STREAMPROC_STATE_DIR={state_dir}" in dockerfile
    assert re.search(rf"^WORKDIR {re.escape(state_dir)}$", dockerfile, re.M)
    for dep in by_kind(base, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert not [ref for ref in c.get("envFrom", []) if "secretRef" in ref]
            mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
            secret_dir = str(Path(WORKER_ENV["STREAMPROC_REDIS_PASSWORD_FILE"]).parent)
            assert "secret" in volumes[mounts[secret_dir]["name"]]
    worker = one(base, "Deployment", "streamproc-worker")["spec"]["template"]["spec"]
    (c,) = worker["containers"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    state = mounts[state_dir]
    assert not state.get("readOnly")
    assert "emptyDir" in {v["name"]: v for v in worker["volumes"]}[state["name"]]
    for key, value in WORKER_ENV.items():
        if key.endswith(("_FILE", "_CAFILE")):
            assert str(Path(value).parent) in mounts, key
    assert not any("PASSWORD" in k and not k.endswith("_FILE") for k in WORKER_ENV)
    assert "@" not in WORKER_ENV["STREAMPROC_REDIS"]


@needs_kubectl
def test_network_policy_admits_only_metrics_in_and_kafka_redis_dns_out(built):
    base = built["base"]
    policy = one(base, "NetworkPolicy", "streamproc-worker")["spec"]
    pod_labels = one(base, "Deployment", "streamproc-worker")["spec"]["template"]["metadata"][
        "labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (rule,) = policy["ingress"]
    assert [p["port"] for p in rule["ports"]] == ["metrics"]
    out = {p["port"] for r in policy["egress"] for p in r["ports"]}
    kafka_port = int(WORKER_ENV["STREAMPROC_KAFKA"].rsplit(":", 1)[1])
    redis_port = int(WORKER_ENV["STREAMPROC_REDIS"].rsplit(":", 1)[1].split("/")[0])
    assert {53, kafka_port, redis_port} <= out


@needs_kubectl
def test_prometheus_rule_is_the_promtool_tested_alerts_file(built):
    (rule,) = by_kind(built["base"], "PrometheusRule")
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]
    assert (K8S / "prometheusrule.yaml").read_text() == \
        render((DEPLOY / "prometheus" / "alerts.yml").read_text()), \
        "regenerate: python -m streamproc.tools.promrule > deploy/k8s/prometheusrule.yaml"


# -- Kafka: topics and users --------------------------------------------------------------------


def _kafka_docs() -> list[dict[str, Any]]:
    return [d for f in ("topics.yaml", "users.yaml")
            for d in yaml.safe_load_all((KAFKA / f).read_text()) if d]


def test_topics_durable_compacted_copartitioned_and_scaled_to():
    topics = {d["spec"]["topicName"]: d["spec"] for d in _kafka_docs()
              if d["kind"] == "KafkaTopic"}
    names = {WORKER_ENV[f"STREAMPROC_{k}_TOPIC"] for k in
             ("RECEIPTS", "CUSTOMERS", "RESULTS", "EVENTS", "DLQ")}
    assert set(topics) == names
    for name, spec in topics.items():
        assert spec["replicas"] == 3, name
        assert spec["config"]["min.insync.replicas"] == 2, name
        assert spec["config"]["unclean.leader.election.enable"] is False, name
    customers = topics[WORKER_ENV["STREAMPROC_CUSTOMERS_TOPIC"]]
    receipts = topics[WORKER_ENV["STREAMPROC_RECEIPTS_TOPIC"]]
    assert customers["config"]["cleanup.policy"] == "compact"
    assert receipts["config"]["cleanup.policy"] == "delete" and receipts["config"]["retention.ms"]
    assert customers["partitions"] == receipts["partitions"] == \
        int(WORKER_ENV["STREAMPROC_PARTITIONS"])
    scaler = yaml.safe_load((K8S / "scaledobject.yaml").read_text())
    assert scaler["spec"]["maxReplicaCount"] == receipts["partitions"]


def _acls(user: str) -> set[tuple[str, str, str]]:
    doc = next(d for d in _kafka_docs() if d["kind"] == "KafkaUser"
               and d["metadata"]["name"] == user)
    assert doc["spec"]["authentication"]["type"] == "scram-sha-512"
    return {(a["resource"]["type"], a["resource"]["name"], op)
            for a in doc["spec"]["authorization"]["acls"] for op in a["operations"]}


def test_worker_and_keda_users_have_exactly_the_acls_they_need():
    env = WORKER_ENV
    group = env["STREAMPROC_GROUP"]
    read = {env["STREAMPROC_RECEIPTS_TOPIC"], env["STREAMPROC_CUSTOMERS_TOPIC"]}
    write = {env["STREAMPROC_RESULTS_TOPIC"], env["STREAMPROC_EVENTS_TOPIC"],
             env["STREAMPROC_DLQ_TOPIC"]}
    groups = {group, f"{group}-app"}  # receipts (direct consumer) and faust's app id
    want = {("topic", t, op) for t in read for op in ("Describe", "Read")} | \
        {("topic", t, op) for t in write for op in ("Describe", "Write")} | \
        {("group", g, op) for g in groups for op in ("Describe", "Read")}
    assert _acls(env["STREAMPROC_KAFKA_SASL_USERNAME"]) == want
    assert _acls("streamproc-keda") == {("topic", env["STREAMPROC_RECEIPTS_TOPIC"], "Describe"),
                                        ("group", group, "Describe")}


# -- compose ------------------------------------------------------------------------------------


def test_compose_binds_loopback_uses_auth_and_no_lifecycle_api():
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = doc["services"]
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    assert not any("lifecycle" in a for a in services["prometheus"]["command"])
    grafana = services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", grafana)  # required, no default
    redis = " ".join(services["redis"]["command"])
    assert "--aclfile" in redis and "redis_password" in redis
    assert "redis_password" in services["redis"]["secrets"]
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if "STREAMPROC_REDIS" in env:
            assert "@" not in env["STREAMPROC_REDIS"]
            assert env["STREAMPROC_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password", name
            assert "redis_password" in svc["secrets"], name
