"""deploy/k8s/prometheusrule.yaml from deploy/prometheus/alerts.yml: one set of rules, tested
by promtool, for both Prometheus configurations (compose's rule file, the Operator's CR).

    python -m streamproc.tools.promrule > deploy/k8s/prometheusrule.yaml
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
HEADER = """\
# GENERATED from deploy/prometheus/alerts.yml (python -m streamproc.tools.promrule); edit
# that file and its promtool tests, then regenerate. tests/unit/deploy checks they agree.
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as `|` blocks, as they are written in alerts.yml."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(alerts_text: str) -> str:
    groups = yaml.safe_load(alerts_text)["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "streamproc",
                     "labels": {"app.kubernetes.io/name": "streamproc",
                                "app.kubernetes.io/component": "worker"}},
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(rule, Dumper=_Dumper, sort_keys=False, width=1000,
                              allow_unicode=True)


if __name__ == "__main__":
    print(render(ALERTS.read_text()), end="")
