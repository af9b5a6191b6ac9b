"""The state layer's errors: what callers above `state/` catch instead of a driver's.

Redis's own exceptions stop here: the Redis backend turns them into `StateUnavailable` (the
store is not reachable for now: wait and retry) or `StateFailed` (it answered with an error),
so `processing/`, `stream/` and `quote/` never import redis to know what went wrong.
"""

from __future__ import annotations

from streamproc.errors import StreamprocError


class StateError(StreamprocError):
    """Something went wrong reading or writing state."""


class StateUnavailable(StateError):
    """The store cannot be reached or is not ready (connection, timeout, loading): transient."""


class StateFailed(StateError):
    """The store answered with an error (a script error, a wrong type, out of memory...)."""


class Conflict(StateError):
    """The state moved between read and write; recompute the batch."""
