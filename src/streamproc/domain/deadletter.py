"""Dead-letter records of a bounded size, whatever the message (spec section 7).

A message may be up to the broker's limit (1 MB by default) of control bytes; JSON-escaping it
whole into the dead-letter record can make that record six times larger, and the broker then
refuses the very record that was meant to get the message out of the way. So a record keeps
the first 64 KiB of the message, and its length and SHA-256 to find or match the original.
"""

from __future__ import annotations

import hashlib

from streamproc.domain.receipt import INTERNAL, TOO_LARGE, Reject

RAW_KEEP_BYTES = 64 * 1024
DETAIL_MAX = 300  # characters of an error's message kept in an `internal` reject


def raw_fields(raw: bytes | str | None) -> dict[str, object]:
    """`raw` (the first 64 KiB as text, bad UTF-8 replaced), `raw_bytes`, `raw_sha256`."""
    if raw is None:
        data = b""
    elif isinstance(raw, str):
        data = raw.encode("utf-8", "surrogatepass")
    else:
        data = bytes(raw)
    return {"raw": data[:RAW_KEEP_BYTES].decode("utf-8", "replace"), "raw_bytes": len(data),
            "raw_sha256": hashlib.sha256(data).hexdigest()}


def internal_reject(exc: BaseException, stage: str) -> Reject:
    """An unexpected error while handling one message, as a reject: the error's class and a
    short message (never a stack trace: the log has it, once)."""
    text = str(exc).replace("\n", " ")
    if len(text) > DETAIL_MAX:
        text = text[:DETAIL_MAX] + "..."
    return Reject(INTERNAL, f"{stage}: {type(exc).__name__}: {text}")


def too_large(what: str, size: int, limit: int) -> Reject:
    return Reject(TOO_LARGE, f"{what}: {size} bytes do not fit the topic's {limit}-byte limit")
