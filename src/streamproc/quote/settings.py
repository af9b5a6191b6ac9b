"""The quote server's own settings, read like the worker's (`config.settings_from`): a flag,
else `STREAMPROC_<FLAG>`, else the default. The worker's settings (program, Redis, prefix,
engine, log level) apply too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class QuoteSettings:
    listen: str = "127.0.0.1:8080"
    auth_tokens_file: str = ""
    max_body_bytes: int = 256 * 1024
    quote_timeout_ms: int = 250
    # several processes on one port (SO_REUSEPORT), the kernel spreading the tills' connections
    # over them: a process per core of a pod, as pods behind a Service spread them
    reuse_port: bool = False
