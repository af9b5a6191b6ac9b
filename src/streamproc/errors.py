"""The one base of every error streamproc raises on purpose.

Each package owns its errors and derives them from `StreamprocError`, so a caller at the top
(a command, the worker) can tell "streamproc refused this" from a bug or a library's own
exception. Errors from the libraries underneath (redis, aiokafka) are wrapped by the package
that talks to them and never leak past it.
"""

from __future__ import annotations


class StreamprocError(Exception):
    """Base of the errors streamproc raises on purpose."""
