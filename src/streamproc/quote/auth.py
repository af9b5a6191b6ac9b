"""Bearer tokens for the quote API: read from a file (a mounted Secret), compared in constant time.

A token never leaves this module: not in logs, errors or metrics. The presented token is
compared with every configured one through `hmac.compare_digest` on fixed-length digests, so
neither the length nor the position of a near match shows in the time taken.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from pathlib import Path

from streamproc.errors import StreamprocError

MIN_TOKEN_CHARS = 16


class AuthConfigError(StreamprocError, ValueError):
    """The token file is missing, empty, or holds a token too short to be a secret."""


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def read_tokens(path: str | Path) -> list[bytes]:
    """One token per line; blank lines and lines starting with `#` are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthConfigError(f"cannot read the token file {str(path)!r}: "
                              f"{exc.__class__.__name__}") from None
    tokens = []
    for n, line in enumerate(text.splitlines(), 1):
        tok = line.strip()
        if not tok or tok.startswith("#"):
            continue
        if len(tok) < MIN_TOKEN_CHARS or any(c.isspace() for c in tok):
            raise AuthConfigError(f"token file line {n}: a token is one word of at least "
                                  f"{MIN_TOKEN_CHARS} characters")
        tokens.append(tok.encode())
    if not tokens:
        raise AuthConfigError(f"the token file {str(path)!r} holds no token")
    return tokens


class TokenAuth:
    """Checks an `Authorization: Bearer <token>` header against the configured tokens."""

    def __init__(self, tokens: list[bytes]) -> None:
        if not tokens:
            raise AuthConfigError("no token configured")
        self._digests = [_digest(t) for t in tokens]

    @classmethod
    def from_file(cls, path: str | Path) -> TokenAuth:
        return cls(read_tokens(path))

    def allows(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        given = _digest(token.strip().encode("utf-8", "surrogateescape"))
        ok = False
        for d in self._digests:  # every token compared, whatever matched
            ok |= hmac.compare_digest(given, d)
        return ok


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
