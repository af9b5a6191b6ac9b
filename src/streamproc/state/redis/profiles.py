"""A customer's profile (birthday, segments) as packed bytes under `sp:p:{P}:C1`.

The JSON it replaces (`{"birthday":"1990-05-17","segments":["vegan"]}`) passed the 44 bytes
Redis keeps inside the key's object, so each profile also cost a separate allocation; packed,
a typical profile is ~10 bytes. Layout (docs/state-model.md, "Profiles"):

```
byte    format version = 1
u       flags: bit 0 = a birthday follows (no other bit may be set)
[s      birthday: days since 1970-01-01]
u       n segments; n x (u length, UTF-8), sorted
```
A value starting with `{` is the earlier JSON and still read: profiles come from a compacted
topic and are rewritten only when a customer's profile changes.
"""

from __future__ import annotations

from datetime import date

import orjson

from streamproc.domain.receipt import Profile
from streamproc.engine.stateformat import CorruptState, _put, _unzz, _zz

FORMAT_VERSION = 1
_EPOCH = date(1970, 1, 1).toordinal()


def encode_profile(p: Profile) -> bytes:
    out = bytearray((FORMAT_VERSION,))
    _put(out, 0 if p.birthday is None else 1)
    if p.birthday is not None:
        _put(out, _zz(p.birthday.toordinal() - _EPOCH))
    segs = sorted(p.segments)
    _put(out, len(segs))
    for s in segs:
        b = s.encode()
        _put(out, len(b))
        out += b
    return bytes(out)


def decode_profile(raw: bytes | None, cid: str) -> Profile | None:
    """A stored profile (packed, or the earlier JSON); None when there is none."""
    if raw is None:
        return None
    if raw[:1] == b"{":
        o = orjson.loads(raw)
        bday = date.fromisoformat(o["birthday"]) if o.get("birthday") else None
        return Profile(cid, bday, frozenset(o.get("segments") or ()))
    if raw[:1] != bytes((FORMAT_VERSION,)):
        raise CorruptState(f"unknown profile format {raw[:1]!r}")
    i = 1

    def u() -> int:
        nonlocal i
        x = shift = 0
        while True:
            if i >= len(raw) or shift > 63:
                raise CorruptState("profile: truncated or a varint past 64 bits")
            c = raw[i]
            i += 1
            x |= (c & 0x7F) << shift
            if c < 0x80:
                return x
            shift += 7

    flags = u()
    if flags & ~1:
        raise CorruptState(f"profile: unknown flags {flags:#x}")
    try:
        bday = date.fromordinal(_unzz(u()) + _EPOCH) if flags & 1 else None
    except (ValueError, OverflowError) as exc:
        raise CorruptState("profile: birthday out of range") from exc
    segs = []
    for _ in range(u()):
        n = u()
        if i + n > len(raw):
            raise CorruptState("profile: truncated")
        try:
            segs.append(raw[i:i + n].decode())
        except UnicodeDecodeError as exc:
            raise CorruptState("profile: bad UTF-8") from exc
        i += n
    if i != len(raw):
        raise CorruptState(f"profile: {len(raw) - i} trailing bytes")
    return Profile(cid, bday, frozenset(segs))
