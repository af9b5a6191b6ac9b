"""`streamproc quote-server` in a child process for tests, and a raw HTTP/1.1 client.

The child is the real command (flags, settings, logging); it prints where it listens, so the
test binds port 0 and reads the port back instead of guessing a free one.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LISTENING = re.compile(rb"quote-server listening on ([\d.]+):(\d+)")


def write_tokens(path: Path, n: int = 2) -> list[str]:
    tokens = [secrets.token_urlsafe(24) for _ in range(n)]
    path.write_text("# till tokens\n" + "\n".join(tokens) + "\n\n")
    return tokens


class QuoteServer:
    """The quote server as a child process; `stop()` ends it (SIGTERM) and returns its exit code."""

    def __init__(self, run_dir: Path, program: str, redis_url: str, prefix: str,
                 tokens_file: Path | None, *extra: str, log_level: str = "debug",
                 listen: str = "127.0.0.1:0", name: str = "") -> None:
        self.log = run_dir / f"quote-server-{prefix}{name}.log"
        args = [sys.executable, "-m", "streamproc", "quote-server", "--program", program,
                "--redis", redis_url, "--redis-prefix", prefix, "--listen", listen,
                "--log-level", log_level, *extra]
        args += ["--auth-tokens-file", str(tokens_file)] if tokens_file else ["--insecure-no-auth"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.port = self._wait_port()

    def _wait_port(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = LISTENING.search(self.log.read_bytes())
            if m:
                return int(m.group(2))
            if self.proc.poll() is not None:
                raise AssertionError(f"quote-server exited {self.proc.returncode}:\n"
                                     f"{self.log_text()}")
            time.sleep(0.05)  # polling a child's output, not synchronising on time
        raise AssertionError(f"quote-server did not start:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def raw_request(port: int, head: bytes, body: bytes = b"", timeout: float = 10
                ) -> tuple[int | None, bytes, bytes]:
    """Send one request's bytes on a fresh connection; (status or None, headers, body) back.

    Reads until the server closes (the request asks for `Connection: close`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    head_out, _, body_out = raw.partition(b"\r\n\r\n")
    return (int(m.group(1)) if m else None), head_out, body_out


def request(port: int, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int | None, bytes, bytes]:
    lines = [f"{method} {path} HTTP/1.1", "Host: quote.test", "Connection: close",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), body)
