"""Throw-away TLS material for the secured local servers (the secured-server tests).

The broker's keystore comes from the JDK's `keytool` (as a Kafka operator would make one), the
Redis key pair from `openssl`; both are self-signed for 127.0.0.1/localhost, and the PEM
certificate doubles as the CA file clients verify against.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streamproc.errors import StreamprocError

SAN = "IP:127.0.0.1,DNS:localhost"


class CertError(StreamprocError, RuntimeError):
    """keytool or openssl failed (the message carries its output)."""


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise CertError(f"{cmd[0]} failed: {r.stdout}{r.stderr}")


@dataclass(frozen=True)
class KeyStore:
    """A PKCS12 keystore for the broker and the PEM certificate clients trust."""

    path: Path
    password: str
    cafile: Path


def kafka_keystore(folder: Path, days: int = 7) -> KeyStore:
    """keytool: a key pair in a PKCS12 keystore, and its certificate exported as PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    store, pem = folder / "broker.p12", folder / "broker-ca.pem"
    password = secrets.token_hex(12)
    if not store.exists():
        _run(["keytool", "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
              "-validity", str(days), "-dname", "CN=localhost", "-ext", f"SAN={SAN.lower()}",
              "-keystore", str(store), "-storetype", "PKCS12", "-storepass", password,
              "-keypass", password, "-noprompt"])
        _run(["keytool", "-exportcert", "-alias", "broker", "-rfc", "-keystore", str(store),
              "-storepass", password, "-file", str(pem)])
        (folder / "broker.pass").write_text(password)
    return KeyStore(store, (folder / "broker.pass").read_text(), pem)


@dataclass(frozen=True)
class PemPair:
    cert: Path
    key: Path


def redis_cert(folder: Path, days: int = 7) -> PemPair:
    """openssl: a self-signed certificate and its unencrypted key (the CA file is `cert`)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "redis.crt", folder / "redis.key"
    if not cert.exists():
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
              "-out", str(cert), "-days", str(days), "-subj", "/CN=localhost",
              "-addext", f"subjectAltName={SAN}"])
        key.chmod(0o600)
    return PemPair(cert, key)
