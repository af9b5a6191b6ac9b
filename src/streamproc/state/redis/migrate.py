"""Move a keyspace to the partition layout (docs/state-model.md), or to a new partition count.

Keys of the old layout are tagged per customer or receipt (`sp:c:{C1}`, `sp:r:{R1}`) with one
global timer index and liability counter; keys of the partition layout are tagged by partition
(`sp:c:{3}:C1`). Each customer's keys go under the partition its receipts are on (the
producers' partitioner over the topic's partition count), timer entries into their
partition's index, and the liability is counted again per partition from the states. A
customer kept as a hash (`v`, `s`) becomes the string of its state blob. Receipt records of
the key-per-receipt format (`sp:r:...`, JSON) are packed into their customer's
records (`sp:h:{P}:C1`; anonymous: `sp:a:{P}:R1`, docs/state-model.md), keeping the longest
TTL of the keys packed. Stored answers are dropped (they serve redeliveries; migrate a
drained, committed topic). Budgets and codes (`{g}`) stay.

Run it with the workers stopped, on a standalone Redis (RENAME keeps a key's TTL; the old
layout could not run on a Cluster anyway).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from streamproc.engine.model import ReceiptRecord
from streamproc.state.partitioning import Placement
from streamproc.state.redis.keys import Keys
from streamproc.state.redis.records import pack, unpack
from streamproc.state.redis.store import decode_receipt, decode_state

KINDS = ("c", "p", "h", "a")


def _parse(key: str, prefix: str) -> tuple[str, str | None, str] | None:
    """(kind, partition or None for the old layout, id) of a per-customer/receipt key."""
    pre = f"{prefix}:"
    if not key.startswith(pre) or len(key) < len(pre) + 3 or key[len(pre) + 1:len(pre) + 3] != ":{":
        return None
    kind = key[len(pre)]
    if kind not in (*KINDS, "r", "o"):
        return None
    rest = key[len(pre) + 3:]
    end = rest.find("}")
    if end < 0:
        return None
    if end == len(rest) - 1:  # `sp:c:{C1}`: the old layout
        return kind, None, rest[:end]
    if rest[end + 1:end + 2] == ":" and rest[:end].isdigit():
        return kind, rest[:end], rest[end + 2:]
    return None


def _state_string(client: Any, key: str, dry_run: bool, done: Counter[str]) -> bytes | None:
    """A customer's state blob; a hash of the earlier layout (`v`, `s`) becomes the string of
    its blob (which carries the version)."""
    if client.type(key) != b"hash":
        return client.get(key)
    s = client.hget(key, "s")
    done["customer hashes made strings"] += 1
    if not dry_run:
        client.delete(key)
        if s is not None:
            client.set(key, s)
    return s


def migrate(client: Any, prefix: str, place: Placement, dry_run: bool = False,
            progress: Callable[[int], None] = lambda _: None) -> Counter[str]:
    """Move every key where `place` says it belongs; return counts of what was done."""
    k = Keys(prefix)
    done: Counter[str] = Counter()
    packed: dict[tuple[str, str], list[tuple[str, ReceiptRecord, int]]] = {}
    moves: list[tuple[str, str]] = []
    liability: Counter[int] = Counter()
    for raw in client.scan_iter(match=f"{prefix}:*", count=2000):
        key = raw.decode()
        progress(1)
        parsed = _parse(key, prefix)
        if parsed is None:
            continue
        kind, _, ident = parsed
        if kind == "o":
            done["answers dropped"] += 1
            if not dry_run:
                client.unlink(key)
            continue
        if kind == "r":  # one key a receipt: packed into its customer's records, below
            blob = client.get(key)
            if blob is not None:
                rec = decode_receipt(ident, blob)
                rs = ("h", rec.customer_id) if rec.customer_id else ("a", ident)
                packed.setdefault(rs, []).append((key, rec, int(client.pttl(key))))
            continue
        target = {"c": k.customer, "p": k.profile, "h": k.records, "a": k.anonymous}[kind]
        p = place(ident)
        if kind == "c":
            s = _state_string(client, key, dry_run, done)
            if s is not None:
                liability[p] += sum(decode_state(ident, s).balance())
        new = target(p, ident)
        if new != key:
            moves.append((key, new))
    for old, new in moves:
        done[f"moved {_parse(old, prefix)[0]}"] += 1  # type: ignore[index]
        if not dry_run:
            client.rename(old, new)
    for (kind, ident), got in packed.items():
        done["receipt records packed"] += len(got)
        done["record sets written"] += 1
        if dry_run:
            continue
        records_key = (k.records if kind == "h" else k.anonymous)(place(ident), ident)
        cur = client.get(records_key)
        owner, named = (ident, None) if kind == "h" else (None, ident)
        recs = unpack(cur, owner, named) if cur is not None else {}
        for _, rec, _ in sorted(got, key=lambda g: (g[1].ts_us, g[1].receipt_id)):
            recs.setdefault(rec.receipt_id, rec)
        ttl = max(t for _, _, t in got)
        client.set(records_key, pack(recs.values(), named), px=ttl if ttl > 0 else None)
        client.unlink(*[key for key, _, _ in got])
    # timer entries: every index, old and new, into its member's partition
    entries: dict[str, float] = {}
    indexes = [f"{prefix}:g:{{g}}:timers"] + [
        raw.decode() for raw in client.scan_iter(match=f"{prefix}:t:*", count=2000)]
    for idx in indexes:
        for member, score in client.zscan_iter(idx):
            entries[member.decode()] = score
    done["timer entries"] = len(entries)
    if not dry_run:
        for idx in indexes:
            client.unlink(idx)
        for cid, score in entries.items():
            client.zadd(k.timers(place(cid)), {cid: score})
        client.unlink(f"{prefix}:g:{{g}}:liability")
        for raw in client.scan_iter(match=f"{prefix}:l:*", count=2000):
            client.unlink(raw)
        for p, points in liability.items():
            client.set(k.liability(p), points)
        client.hset(k.layout, mapping={"partitions": place.partitions,
                                       "partitioner": place.kind})
    return done
