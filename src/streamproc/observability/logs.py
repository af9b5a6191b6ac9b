"""Log output for the worker and the commands: plain text or one JSON object a line.

No colours or other terminal escapes (faust's default handler adds them even into a container
log); our own loggers at the chosen level, the libraries' (faust, mode, aiokafka) at WARNING
unless debugging, so a partition assignment at INFO is not lost among their start-up chatter.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

LIBRARIES = ("faust", "mode", "aiokafka", "kafka", "aiohttp", "asyncio")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message",
                                                                                 "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, and exc (the traceback as one
    string) or any `extra=` fields the call passed."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def level_name(level: str) -> str:
    return {"warn": "WARNING"}.get(level.lower(), level.upper())


def logging_config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` for `level` and `fmt` ("text" or "json"), to stderr."""
    lvl = level_name(level)
    libs = lvl if lvl == "DEBUG" else "WARNING"
    formatter = ({"()": JsonFormatter} if fmt == "json"
                 else {"format": TEXT_FORMAT, "datefmt": "%Y-%m-%dT%H:%M:%S%z"})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default",
                                 "stream": sys.stderr}},
        "root": {"level": lvl, "handlers": ["default"]},
        "loggers": {name: {"level": libs} for name in LIBRARIES},
    }


def setup(level: str = "info", fmt: str = "text") -> None:
    logging.config.dictConfig(logging_config(level, fmt))
