"""One way to run a child process for the tools, the benchmarks and the tests.

A `ChildProcess` starts a command with its output in a log file, says whether it is alive,
waits until a readiness check passes (failing fast, with the log's tail, if the child exits
first), stops it with SIGTERM then SIGKILL, or kills it outright (crash tests). Unless it is
meant to outlive us (`detach`), the child gets SIGTERM from the kernel when its parent dies
(PR_SET_PDEATHSIG), so a killed test run or demo leaves no orphan broker or worker behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Self

from streamproc.errors import StreamprocError


class ProcessFailed(StreamprocError, RuntimeError):
    """A child exited during its start, or was not ready in time (the message has its log)."""


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """In the child, before exec: SIGTERM when the parent dies (Linux)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return True


def terminate(pid: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
              ) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL (`proc` when we are its parent, so it is
    reaped; a bare pid for a detached process started by an earlier run)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                return
            if proc is None and not pid_alive(pid):
                return
            time.sleep(0.05)


class ChildProcess:
    """A command run as a child, its output appended to `log`."""

    def __init__(self, name: str, cmd: Sequence[str], log: Path,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 detach: bool = False, own_session: bool = False) -> None:
        """`env` is added to ours; `detach`: outlive us (own session, no death signal);
        `own_session`: Ctrl-C in our terminal reaches us only (we stop the child)."""
        self.name = name
        self.cmd = list(cmd)
        self.log = log
        self.env = dict(env or {})
        self.cwd = cwd
        self.detach = detach
        self.own_session = own_session or detach
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> Self:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.cmd, env={**os.environ, **self.env}, cwd=self.cwd, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=self.own_session,
                preexec_fn=None if self.detach or sys.platform != "linux" else die_with_parent)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str = "ready"
                   ) -> float:
        """Poll `ready()` (OSError counts as not yet) until it holds; seconds it took. Raises
        `ProcessFailed` with the log's tail if the child exits first or `timeout` passes."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise ProcessFailed(f"{self.name} exited with {self.proc.returncode} during "
                                    f"start; log {self.log}:\n{self.tail()}")
            with contextlib.suppress(OSError):
                if ready():
                    return time.monotonic() - t0
            time.sleep(0.1)
        raise ProcessFailed(f"{self.name} not {what} after {timeout:.0f}s; log {self.log}:\n"
                            f"{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, wait up to `timeout`, then SIGKILL."""
        if self.proc is not None:
            terminate(self.proc.pid, timeout, self.proc)

    def kill(self) -> None:
        """SIGKILL now (a crash), and reap."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return "(no log)"


def stop_all(children: Iterable[ChildProcess], timeout: float = 20.0) -> None:
    """SIGTERM every child at once, wait up to `timeout` in all, then SIGKILL the rest."""
    running = [c for c in children if c.alive()]
    for c in running:
        assert c.proc is not None
        with contextlib.suppress(ProcessLookupError):
            c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for c in running:
        assert c.proc is not None
        try:
            c.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait(5)
