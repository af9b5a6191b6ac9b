"""FNV-1a 64-bit, used for holdout groups (spec section 4, `holdout_bps`)."""

from __future__ import annotations

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


def holdout_bucket(campaign_id: str, customer_id: str) -> int:
    """The customer's position 0..9999 in a campaign's holdout draw."""
    return fnv1a64(f"{campaign_id}:{customer_id}".encode()) % 10_000
