"""Fault injection for the crash tests: the worker signals itself at a named point of its batch
path, so a test can put a crash or a pause exactly where it proves something instead of hoping
a signal sent from outside lands there.

`STREAMPROC_FAILPOINTS="after_apply=kill@2,before_apply=stop@3"` means: the 2nd time a batch
is in Redis while its records are neither in Kafka nor committed, SIGKILL this process (the
next owner must get a redelivery); the 3rd time a batch is about to be applied, SIGSTOP this
process (paused past the session timeout, it resumes with a stale fence). Unset (production),
`hit` costs one dict lookup. Points: see `POINTS`; actions: see `ACTIONS`.
"""

from __future__ import annotations

import logging
import os
import signal

from streamproc.config import SettingsError

log = logging.getLogger("streamproc.failpoints")

POINTS = ("before_apply", "after_apply")
ACTIONS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}
ENV = "STREAMPROC_FAILPOINTS"


class FailPoints:
    """Named points, each armed to fire once, on its n-th passage."""

    def __init__(self, armed: dict[str, tuple[signal.Signals, int]]) -> None:
        self.armed = armed
        self.passed = dict.fromkeys(armed, 0)

    @classmethod
    def parse(cls, spec: str) -> FailPoints:
        armed: dict[str, tuple[signal.Signals, int]] = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            point, _, rest = item.partition("=")
            action, _, nth = rest.partition("@")
            if point not in POINTS or action not in ACTIONS or not nth.isdigit() \
                    or int(nth) < 1:
                raise SettingsError(
                    f"{ENV}: {item!r} is not <point>=<action>@<n> with point in "
                    f"{', '.join(POINTS)}, action in {', '.join(ACTIONS)} and n >= 1")
            armed[point] = (ACTIONS[action], int(nth))
        return cls(armed)

    @classmethod
    def from_env(cls) -> FailPoints:
        return cls.parse(os.environ.get(ENV, ""))

    def hit(self, point: str) -> None:
        """Fire `point`'s signal at this process if this is its armed passage."""
        if point not in self.armed:
            return
        self.passed[point] += 1
        sig, nth = self.armed[point]
        if self.passed[point] == nth:
            log.warning("failpoint %s: %s (passage %d)", point, sig.name, nth)
            for h in logging.getLogger().handlers:
                h.flush()
            os.kill(os.getpid(), sig)
