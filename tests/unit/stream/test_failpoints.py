"""Failpoints fire on the armed passage only, and a malformed spec is refused at start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from streamproc.config import SettingsError
from streamproc.stream.failpoints import FailPoints

SCRIPT = """
from streamproc.stream.failpoints import FailPoints
fp = FailPoints.from_env()
for i in range(1, 4):
    print(i, flush=True)
    fp.hit("after_apply")
    fp.hit("before_apply")  # not armed: never fires
"""


def test_the_armed_passage_kills_the_process():
    env = {**os.environ, "STREAMPROC_FAILPOINTS": "after_apply=kill@2"}
    p = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == -signal.SIGKILL
    assert p.stdout.split() == ["1", "2"]  # passage 1 went by, passage 2 fired


def test_unset_means_nothing_fires():
    env = {k: v for k, v in os.environ.items() if k != "STREAMPROC_FAILPOINTS"}
    p = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stdout.split() == ["1", "2", "3"]


@pytest.mark.parametrize("spec", ["after_apply", "after_apply=kill", "after_apply=kill@0",
                                  "nowhere=kill@1", "after_apply=explode@1"])
def test_a_malformed_spec_is_refused(spec):
    with pytest.raises(SettingsError, match="STREAMPROC_FAILPOINTS"):
        FailPoints.parse(spec)


def test_several_points_parse():
    fp = FailPoints.parse("after_apply=kill@2, before_apply=stop@3")
    assert fp.armed == {"after_apply": (signal.SIGKILL, 2), "before_apply": (signal.SIGSTOP, 3)}
