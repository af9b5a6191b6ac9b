"""The deployment artifacts agree with the code and pass the real validators available offline.

- promtool (Debian `prometheus`): `check rules`, `test rules`, `check config`, and every
  dashboard query parsed as PromQL.
- the Compose Specification JSON schema vendored by pip `check-jsonschema`, applied with
  `jsonschema`; `docker compose config` too where the compose plugin exists.
- pip `kubernetes-validate` (bundled Kubernetes schemas) in strict mode for the core kinds;
  `kubectl kustomize` builds the kustomization where kubectl exists.
Each tool missing is a skip that names it; the structural checks below always run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streamproc.observability import http as obs_http
from streamproc.observability.metrics import (
    METRIC_NAMES,
    PROCESS_METRIC_NAMES,
    LoyaltyMetrics,
)
from streamproc.quote import app as quote_app
from streamproc.quote.metrics import QUOTE_METRIC_NAMES, QuoteMetrics
from streamproc.quote.settings import QuoteSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
ALERTS = PROM / "alerts.yml"
ALERTS_TEST = PROM / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "streamproc.json"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
OPERATIONS = ROOT / "docs" / "operations.md"

CONSUMER_GROUP = "streamproc-worker"
JOB = "streamproc-worker"
EXPECTED_ALERTS = {
    "LoyaltyLagGrowing",
    "LoyaltyDLQRate",
    "LoyaltyNoThroughput",
    "LoyaltyLatencyP99High",
    "LoyaltyRedisErrors",
    "LoyaltyWorkerDown",
    "LoyaltyQuoteLatencyP99High",
    "LoyaltyBrokerLagGrowing",
    "LoyaltyBrokerLagNoWorkers",
    "LoyaltyWorkerMemoryHigh",
}
# the worker's and the quote server's metrics: dashboards and alerts may use either
ALL_METRIC_NAMES = METRIC_NAMES | QUOTE_METRIC_NAMES | PROCESS_METRIC_NAMES
# series Prometheus itself makes for every target, and the broker-side lag kafka-exporter
# (danielqsj/kafka_exporter, also Strimzi's) exports per group, topic and partition
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
EXTERNAL = {"kafka_consumergroup_lag"}
RUNBOOK_DEFAULT_BASE = "https://github.com/streamproc/streamproc/blob/main/docs"
WORKER_ENV_REQUIRED = {
    "STREAMPROC_KAFKA",
    "STREAMPROC_REDIS",
    "STREAMPROC_PROGRAM",
    "STREAMPROC_METRICS_ADDR",
    "STREAMPROC_BATCH_SIZE",
    "STREAMPROC_BATCH_WAIT_MS",
    "STREAMPROC_RECEIPTS_TOPIC",
}

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not found: apt-get install prometheus (CI installs it)",
)


# -- helpers ------------------------------------------------------------------------------------


def exposed_sample_names(*bundles: type) -> set[str]:
    """Every sample name a scrape of the worker or the quote server can contain, from the
    families' types."""
    names = set()
    bundles = bundles or (LoyaltyMetrics, QuoteMetrics)
    families = [f for bundle in bundles for f in bundle().registry.collect()]
    for family in families:
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "info": ("_info",),
        }.get(family.type, ("",))
        names.update(family.name + s for s in suffixes)
    return names


def base_name(sample: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", sample) if sample not in ALL_METRIC_NAMES \
        else sample


_PROMQL_STRIP = (
    r'"(?:[^"\\]|\\.)*"',  # strings
    r"'(?:[^'\\]|\\.)*'",
    r"\{[^}]*\}",  # label matchers
    r"\[[^\]]*\]",  # ranges and subqueries
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",  # label lists
    r"\$\w+",  # Grafana variables
)
_PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}


def metric_names_in(expr: str) -> set[str]:
    """The metric (and recording rule) names a PromQL expression selects."""
    for pattern in _PROMQL_STRIP:
        expr = re.sub(pattern, " ", expr)
    tokens = re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", expr)
    return {t for t in tokens if t.lower() not in _PROMQL_KEYWORDS}


def load_rules() -> list[dict]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dash["panels"]
        for target in panel.get("targets", [])
    ]


def heading_anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of the Markdown headings."""
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def env_file(path: Path) -> dict[str, str]:
    """A kustomize `envs` file: KEY=VALUE lines, # comments."""
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    return dict(ln.split("=", 1) for ln in lines if ln and not ln.startswith("#"))


def k8s_docs() -> dict[str, dict]:
    """kind/name -> manifest, for every resource listed in the kustomization, and the
    ConfigMaps generated from `envs` files (by their unhashed names)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc:
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    for gen in kustomization["configMapGenerator"]:
        if "envs" in gen:
            data = {k: v for f in gen["envs"] for k, v in env_file(K8S / f).items()}
            docs[f"ConfigMap/{gen['name']}"] = {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]},
                "data": data}
    return docs


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_default(value: str) -> str:
    """`${VAR:-default}` -> default, as compose would with VAR unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


# -- the metric name extractor itself -----------------------------------------------------------


def test_metric_names_in_promql():
    expr = (
        "histogram_quantile(0.99, sum by (le, op) (rate(streamproc_redis_call_seconds_bucket"
        '{job="x", op=~"a|b"}[$__rate_interval]))) > 1e-3 and on (op) up{job="y"} == 0 '
        "or absent(streamproc:consumer_lag:sum) unless time() - foo offset 5m"
    )
    assert metric_names_in(expr) == {
        "streamproc_redis_call_seconds_bucket",
        "up",
        "streamproc:consumer_lag:sum",
        "foo",
    }


def test_metric_names_constant_matches_the_registry():
    assert {base_name(n) for n in exposed_sample_names(LoyaltyMetrics)} == \
        METRIC_NAMES | PROCESS_METRIC_NAMES
    assert {base_name(n) for n in exposed_sample_names(QuoteMetrics)} == \
        QUOTE_METRIC_NAMES | PROCESS_METRIC_NAMES


# -- (a) promtool -------------------------------------------------------------------------------


@needs_promtool
def test_promtool_check_rules():
    result = run(PROMTOOL, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_pass():
    result = run(PROMTOOL, "test", "rules", ALERTS_TEST.name, cwd=PROM)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_check_prometheus_config():
    result = run(PROMTOOL, "check", "config", str(PROM / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path):
    rules = [
        {"record": f"dashboard:query_{i}:check", "expr": expr}
        for i, (_, expr) in enumerate(dashboard_exprs())
    ]
    text = yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    for var, value in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h")):
        text = text.replace(var, value)
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(text)
    result = run(PROMTOOL, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_not_firing():
    alerts = {r["alert"] for r in load_rules() if "alert" in r}
    assert alerts == EXPECTED_ALERTS
    fired, quiet = set(), set()
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert fired == alerts, f"no firing test for {alerts - fired}"
    assert quiet == alerts, f"no not-firing test for {alerts - quiet}"


def test_alerts_have_severity_and_a_runbook_anchor_in_operations_doc():
    anchors = heading_anchors(OPERATIONS.read_text())
    for rule in load_rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule.get("for"), f"{rule['alert']} fires on a single evaluation"
        url = rule["annotations"]["runbook_url"]
        m = re.fullmatch(r'\{\{ or \$externalLabels\.runbook_base "([^"]+)" \}\}/(.+)', url)
        assert m, f"{rule['alert']}: runbook_url does not start from $externalLabels.runbook_base"
        assert m.group(1) == RUNBOOK_DEFAULT_BASE
        doc, _, anchor = m.group(2).partition("#")
        assert doc == "operations.md"
        assert anchor == rule["alert"].lower()
        assert anchor in anchors, f"docs/operations.md has no heading for #{anchor}"


# -- (b), (c) metric names in the dashboard and the alerts ---------------------------------------


def test_dashboard_uses_only_exported_metrics():
    exposed = exposed_sample_names()
    for title, expr in dashboard_exprs():
        names = metric_names_in(expr)
        assert names, f"panel {title!r}: no metric in {expr!r}"
        for name in names - PROMETHEUS_SYNTHETIC:
            assert name in exposed, f"panel {title!r} uses unknown metric {name}"
            assert base_name(name) in ALL_METRIC_NAMES


def test_alerts_use_only_exported_metrics_or_recording_rules():
    rules = load_rules()
    recorded = {r["record"] for r in rules if "record" in r}
    exposed = exposed_sample_names()
    for rule in rules:
        for name in metric_names_in(rule["expr"]) - PROMETHEUS_SYNTHETIC - EXTERNAL - recorded:
            assert name in exposed, f"{rule.get('alert', rule.get('record'))} uses unknown {name}"
    for name in recorded:
        assert name.startswith("streamproc:")


def test_dashboard_variables_filter_every_query():
    """Data source, namespace and job are variables; every worker query filters on namespace
    and job, every quote query on namespace."""
    dash = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "job"):
        assert variables[name]["type"] == "query"
        assert variables[name]["allValue"] == ".*"  # also matches series without the label
    for title, expr in dashboard_exprs():
        for m in re.finditer(r"\b((?:streamproc|process|python|up)\w*)\{([^}]*)\}|"
                             r"\b((?:streamproc|process|python)_\w+)\b(?!\{)", expr):
            assert m.group(2) is not None, f"panel {title!r}: {m.group(3)} has no filter"
            assert 'namespace=~"$namespace"' in m.group(2), title
            if not m.group(1).startswith("streamproc_quote_"):
                assert 'job=~"$job"' in m.group(2), title


def test_dashboard_shape_and_required_panels():
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    used = {name for _, expr in dashboard_exprs() for name in metric_names_in(expr)}
    for panel in dash["panels"]:
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        if panel["type"] != "row":  # the datasource variable, defaulting to Prometheus
            assert panel["datasource"]["uid"] == "${datasource}"
    for needed in (
        "streamproc_receipts_total",
        "streamproc_consumer_lag",
        "streamproc_receipt_latency_seconds_bucket",
        "streamproc_dlq_total",
        "streamproc_discount_minor_units_total",
        "streamproc_points_minor_units_total",
        "streamproc_campaign_budget_remaining_minor_units",
        "streamproc_points_liability_minor_units",
        "streamproc_batch_size_bucket",
        "streamproc_redis_call_seconds_bucket",
        "streamproc_quote_request_seconds_bucket",
        "streamproc_quote_requests_total",
        "streamproc_quote_redis_seconds_bucket",
    ):
        assert needed in used, f"dashboard has no panel on {needed}"
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/streamproc.yml").read_text()
    )["providers"][0]
    mounts = compose()["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts


# -- (d) docker compose and the Dockerfile -------------------------------------------------------


def test_compose_structure():
    doc = compose()
    services = doc["services"]
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["redis"]["image"].startswith("redis:7")
    workers = {name: s for name, s in services.items() if name.startswith("worker")}
    assert len(workers) == 2
    targets = yaml.safe_load((PROM / "prometheus.yml").read_text())["scrape_configs"]
    worker_job = next(c for c in targets if c["job_name"] == JOB)
    port = obs_http.DEFAULT_PORT
    assert sorted(worker_job["static_configs"][0]["targets"]) == sorted(
        f"{name}:{port}" for name in workers
    )
    for name, worker in workers.items():
        assert (ROOT / "deploy" / worker["build"]["context"]).resolve() == ROOT, name
        assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
        assert worker["command"] == ["worker"]
        env = worker["environment"]
        assert all(key.startswith("STREAMPROC_") for key in env), name
        assert set(env) >= WORKER_ENV_REQUIRED
        assert obs_http.parse_addr(env["STREAMPROC_METRICS_ADDR"])[1] == port
        assert obs_http.LIVENESS_PATH in " ".join(worker["healthcheck"]["test"])
        program = next(v for v in worker["volumes"] if v["target"] == env["STREAMPROC_PROGRAM"])
        assert (DEPLOY / compose_default(program["source"])).is_file()
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{service} mounts missing {source}"
    init = " ".join(services["kafka-init"]["command"])
    for topic in ("receipts", "customers", "receipt-results", "loyalty-events", "receipts-dlq"):
        assert f"--topic {topic} " in init
    assert "cleanup.policy=compact" in init.split("--topic customers")[1].split("\n")[0]


def test_compose_matches_compose_spec_schema():
    """The Compose Specification's JSON schema (vendored in tests/unit/schemas, as shipped by
    check-jsonschema) validates deploy/docker-compose.yml."""
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(__file__).parent / "schemas" / "compose-spec.json"
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors, "\n".join(errors)
    # and the schema does catch a typo
    broken = compose()
    broken["services"]["redis"]["helthcheck"] = broken["services"]["redis"].pop("healthcheck")
    assert list(validator.iter_errors(broken))


def test_docker_compose_config():
    docker = shutil.which("docker")
    if docker is None or run(docker, "compose", "version").returncode != 0:
        pytest.skip("`docker compose` (the compose CLI plugin) not available")
    result = run(docker, "compose", "-f", str(COMPOSE), "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_dockerfile():
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms and all(f == "python:3.11-slim" for f in froms)
    assert re.search(r"pip (wheel|install)\b.*\s\.\s*$", text, re.M), "does not build the package"
    assert f"EXPOSE {obs_http.DEFAULT_PORT}" in text
    assert 'ENTRYPOINT ["streamproc"]' in text
    assert 'CMD ["worker"]' in text
    assert re.search(r"^USER\s+(?!root|0\b)", text, re.M), "runs as root"


# -- (d) Kubernetes -----------------------------------------------------------------------------


def test_k8s_manifests_structure():
    docs = k8s_docs()
    kinds = {key.split("/")[0] for key in docs}
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ScaledObject",
        "ServiceMonitor",
        "HorizontalPodAutoscaler",
        "TriggerAuthentication",
        "PrometheusRule",
        "NetworkPolicy",
    }
    for key, doc in docs.items():
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], key
        assert "namespace" not in doc["metadata"], f"{key} pins a namespace"


def test_k8s_deployment_agrees_with_http_routes_config_and_program():
    docs = k8s_docs()
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    deployment = docs["Deployment/streamproc-worker"]
    pod = deployment["spec"]["template"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )
    (container,) = pod["spec"]["containers"]
    assert container["image"]
    assert container["args"] == ["worker"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": obs_http.DEFAULT_PORT}
    assert container["livenessProbe"]["httpGet"]["path"] == obs_http.LIVENESS_PATH
    assert container["readinessProbe"]["httpGet"]["path"] == obs_http.READINESS_PATH
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in obs_http.ROUTES
        assert container[probe]["httpGet"]["port"] in ("metrics", obs_http.DEFAULT_PORT)
    assert {"requests", "limits"} <= container["resources"].keys()

    (env_ref,) = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
    config = docs[f"ConfigMap/{env_ref}"]["data"]
    assert all(key.startswith("STREAMPROC_") for key in config)
    assert set(config) >= WORKER_ENV_REQUIRED
    assert obs_http.parse_addr(config["STREAMPROC_METRICS_ADDR"])[1] == obs_http.DEFAULT_PORT
    # compose runs the same settings, less the secured-cluster ones (its Kafka is PLAINTEXT)
    compose_env = set(compose()["services"]["worker-1"]["environment"])
    assert compose_env <= set(config)
    assert {k for k in set(config) - compose_env
            if not k.startswith(("STREAMPROC_KAFKA_", "STREAMPROC_REDIS_"))} <= {
        "STREAMPROC_LOG_FORMAT", "STREAMPROC_LOG_LEVEL", "STREAMPROC_GROUP",
        "STREAMPROC_PARTITIONS"}

    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    program_dir, program_file = config["STREAMPROC_PROGRAM"].rsplit("/", 1)
    program_volume = volumes[mounts[program_dir]]
    (generator,) = [
        g for g in kustomization["configMapGenerator"]
        if g["name"] == program_volume["configMap"]["name"]
    ]  # fmt: skip
    assert generator["files"] == [program_file]
    # the chain's own program; it starts as a copy of examples/retail-chain.yaml
    program = yaml.safe_load((K8S / program_file).read_text())
    assert program["program"]["id"]
    assert program["campaigns"]


def test_k8s_service_monitor_scaler_and_pdb_point_at_the_workers():
    docs = k8s_docs()
    pod_labels = docs["Deployment/streamproc-worker"]["spec"]["template"]["metadata"]["labels"]
    service = docs["Service/streamproc-worker"]
    assert service["metadata"]["name"] == JOB  # the Prometheus job label the alerts select
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["name"] == "metrics" and port["port"] == obs_http.DEFAULT_PORT

    monitor = docs["ServiceMonitor/streamproc-worker"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] == obs_http.METRICS_PATH

    pdb = docs["PodDisruptionBudget/streamproc-worker"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()

    scaler = docs["ScaledObject/streamproc-worker"]["spec"]
    assert scaler["scaleTargetRef"]["name"] == "streamproc-worker"
    (trigger,) = scaler["triggers"]
    assert trigger["type"] == "kafka"
    # KEDA reads these from the workers' own environment (the *FromEnv keys)
    config = docs["ConfigMap/streamproc-config"]["data"]
    assert config[trigger["metadata"]["consumerGroupFromEnv"]] == CONSUMER_GROUP
    assert config[trigger["metadata"]["topicFromEnv"]] == "receipts"
    assert config[trigger["metadata"]["bootstrapServersFromEnv"]] == config["STREAMPROC_KAFKA"]
    assert not {"consumerGroup", "topic", "bootstrapServers"} & trigger["metadata"].keys()
    auth = docs[f"TriggerAuthentication/{trigger['authenticationRef']['name']}"]["spec"]
    assert {r["parameter"] for r in auth["secretTargetRef"]} >= {"sasl", "username",
                                                                  "password", "tls", "ca"}
    partitions = compose()["services"]["kafka-init"]["environment"]["PARTITIONS"]
    assert scaler["maxReplicaCount"] == int(compose_default(partitions))
    assert 1 <= scaler["minReplicaCount"] <= scaler["maxReplicaCount"]


def test_k8s_core_kinds_pass_kubernetes_schemas_strictly():
    kv = pytest.importorskip(
        "kubernetes_validate", reason="pip kubernetes-validate (bundled k8s schemas) not installed"
    )
    checked = 0
    for doc in k8s_docs().values():
        if doc["apiVersion"].split("/")[0] in {"keda.sh", "monitoring.coreos.com"}:
            continue  # custom resources: tests/unit/deploy/test_k8s_packaging.py
        kv.validate(doc, kv.latest_version(), strict=True)
        checked += 1
    assert checked == 8
    broken = k8s_docs()["Deployment/streamproc-worker"]
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, kv.latest_version(), strict=True)


def test_kustomize_builds():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with built-in kustomize) not installed")
    result = run(kubectl, "kustomize", str(K8S))
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    program = next(d for d in built if d["metadata"]["name"].startswith("streamproc-program-"))
    deployment = next(d for d in built if d["kind"] == "Deployment"
                      and d["metadata"]["name"] == "streamproc-worker")
    quote = next(d for d in built if d["kind"] == "Deployment"
                 and d["metadata"]["name"] == "streamproc-quote")
    for d in (deployment, quote):  # a program change rolls the workers and the quote pods
        volumes = d["spec"]["template"]["spec"]["volumes"]
        assert program["metadata"]["name"] in {v.get("configMap", {}).get("name")
                                               for v in volumes}


# -- the quote API ------------------------------------------------------------------------------


def test_k8s_quote_deployment_service_autoscaler_and_monitor_agree_with_the_server():
    docs = k8s_docs()
    deployment = docs["Deployment/streamproc-quote"]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() \
        <= pod["metadata"]["labels"].items()
    worker_labels = docs["Deployment/streamproc-worker"]["spec"]["template"]["metadata"]["labels"]
    assert not docs["Service/streamproc-worker"]["spec"]["selector"].items() \
        <= pod["metadata"]["labels"].items(), "the worker Service must not select quote pods"
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["quote-server"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert all(k.upper().removeprefix("STREAMPROC_").lower() in QuoteSettings.__dataclass_fields__
               for k in env)
    port = obs_http.parse_addr(env["STREAMPROC_LISTEN"])[1]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": port}
    assert container["livenessProbe"]["httpGet"]["path"] == quote_app.LIVENESS_PATH
    assert container["readinessProbe"]["httpGet"]["path"] == quote_app.READINESS_PATH
    assert container["startupProbe"]["httpGet"]["path"] == quote_app.LIVENESS_PATH
    # the same settings as the workers, tokens from a Secret mounted where the setting says
    refs = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
    assert refs == ["streamproc-config"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    token_dir = env["STREAMPROC_AUTH_TOKENS_FILE"].rsplit("/", 1)[0]
    assert "secret" in volumes[mounts[token_dir]]
    assert "--insecure-no-auth" not in " ".join(container["args"])
    assert {"requests", "limits"} <= container["resources"].keys()

    service = docs["Service/streamproc-quote"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert not service["spec"]["selector"].items() <= worker_labels.items()
    (svc_port,) = service["spec"]["ports"]
    assert svc_port["targetPort"] == "http"

    hpa = docs["HorizontalPodAutoscaler/streamproc-quote"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "streamproc-quote"}
    assert 2 <= hpa["minReplicas"] <= hpa["maxReplicas"]

    monitor = docs["ServiceMonitor/streamproc-quote"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == svc_port["name"] and endpoint["path"] == quote_app.METRICS_PATH


def test_compose_quote_service_and_its_scrape_job():
    doc = compose()
    quote = doc["services"]["quote"]
    assert quote["command"] == ["quote-server"]
    env = quote["environment"]
    assert set(env) >= WORKER_ENV_REQUIRED  # the workers' settings
    port = obs_http.parse_addr(env["STREAMPROC_LISTEN"])[1]
    assert quote["ports"] == [f"127.0.0.1:{port}:{port}"], "published on loopback only"
    (secret,) = [s for s in quote["secrets"] if s != "redis_password"]
    assert env["STREAMPROC_AUTH_TOKENS_FILE"] == f"/run/secrets/{secret}"
    assert (DEPLOY / compose_default(doc["secrets"][secret]["file"])).is_file()
    assert quote_app.READINESS_PATH in " ".join(quote["healthcheck"]["test"])
    jobs = yaml.safe_load((PROM / "prometheus.yml").read_text())["scrape_configs"]
    job = next(c for c in jobs if c["job_name"] == "streamproc-quote")
    assert job["static_configs"][0]["targets"] == [f"quote:{port}"]
