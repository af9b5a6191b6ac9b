"""The secured servers' access rules, taken from the shipped manifests, applied to the local
broker: the worker runs under exactly the ACLs a platform team would give it."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest

ROOT = Path(__file__).resolve().parents[2]
KAFKA_USERS = ROOT / "deploy" / "k8s" / "kafka" / "users.yaml"

# Kafka's protocol codes (org.apache.kafka.common.acl / resource)
RESOURCE = {"topic": 2, "group": 3, "cluster": 4, "transactionalId": 5}
PATTERN = {"literal": 3, "prefix": 4}
OPERATION = {"All": 2, "Read": 3, "Write": 4, "Create": 5, "Delete": 6, "Alter": 7,
             "Describe": 8, "ClusterAction": 9, "DescribeConfigs": 10, "AlterConfigs": 11,
             "IdempotentWrite": 12}
ALLOW = 3

# The Redis ACL of the worker's user, as docs/operations.md gives it: its own keys only, no
# admin or dangerous commands (FLUSHALL, KEYS, CONFIG, ...).
REDIS_WORKER_RULES = ("resetkeys ~{prefix}:* resetchannels -@all +@read +@write +@scripting "
                      "+@connection +@transaction -@dangerous")


def password() -> str:
    """A password with the characters that used to break a URL (/ # @ :)."""
    return f"{secrets.token_hex(6)}/#@:{secrets.token_hex(6)}"


def strimzi_acls(user: str) -> list[dict[str, Any]]:
    for doc in yaml.safe_load_all(KAFKA_USERS.read_text()):
        if doc and doc["metadata"]["name"] == user:
            return list(doc["spec"]["authorization"]["acls"])
    raise KeyError(user)


async def _apply(bootstrap: str, principal: str, acls: list[dict[str, Any]]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for acl in acls:
            res = acl["resource"]
            for op in acl["operations"]:
                req = CreateAclsRequest(RESOURCE[res["type"]], res.get("name", "kafka-cluster"),
                                        PATTERN[res.get("patternType", "literal")],
                                        f"User:{principal}", acl.get("host", "*"),
                                        OPERATION[op], ALLOW)
                resp = await admin._send_request(req)
                ((code, message),) = resp.creation_responses
                assert code == 0, f"CreateAcls {acl}: {code} {message}"
    finally:
        await admin.close()


def apply_strimzi_acls(internal_bootstrap: str, kafka_user: str, principal: str) -> None:
    """Create the KafkaUser's ACLs (deploy/k8s/kafka/users.yaml) for `principal`."""
    asyncio.run(_apply(internal_bootstrap, principal, strimzi_acls(kafka_user)))
