"""The worker refuses to start on a bad program or without its compiled engine, loudly and
without a traceback; its settings come from flags first, then STREAMPROC_* variables."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from streamproc.cli import build_parser
from streamproc.config import settings_from


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60)


def test_bad_program_refuses_start_naming_file_campaign_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        program: {id: x, timezone: UTC}
        campaigns:
          - {id: spring-sale, type: percent_off}
    """))
    p = _run("from streamproc.cli import main; raise SystemExit(main())", "worker",
             "--program", str(bad), "--kafka", "127.0.0.1:1", "--redis", "redis://127.0.0.1:1")
    assert p.returncode == 2
    assert str(bad) in p.stderr and "spring-sale" in p.stderr and "percent_bps" in p.stderr
    assert "Traceback" not in p.stderr


def test_missing_compiled_engine_refuses_start():
    code = ("import sys; sys.modules['streamproc._fastcalc'] = None\n"
            "from streamproc.cli import main; raise SystemExit(main())")
    p = _run(code, "worker", "--program", "tests/golden/program.yaml")
    assert p.returncode == 3
    assert "compiled engine" in p.stderr and "not built" in p.stderr
    assert "Traceback" not in p.stderr


def test_reference_engine_only_when_asked(tmp_path):
    code = ("import sys; sys.modules['streamproc._fastcalc'] = None\n"
            "from streamproc.cli import main; raise SystemExit(main())")
    out = tmp_path / "r.jsonl"
    p = _run(code, "replay", "--program", "tests/golden/program.yaml", "--receipts",
             "tests/golden/receipts.jsonl", "--engine", "reference", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert len(out.read_text().splitlines()) == 6
    p = _run(code, "replay", "--program", "tests/golden/program.yaml", "--receipts",
             "tests/golden/receipts.jsonl")
    assert p.returncode == 3 and "not built" in p.stderr


def test_settings_flags_then_env_then_defaults():
    args = build_parser().parse_args(["worker", "--kafka", "k1:9092", "--batch-size", "64"])
    s = settings_from(args, {"STREAMPROC_KAFKA": "ignored:1", "STREAMPROC_REDIS": "redis://r:1",
                             "STREAMPROC_BATCH_WAIT_MS": "7",
                             "STREAMPROC_KAFKA_SASL_PASSWORD": "hunter2"})
    assert (s.kafka, s.batch_size, s.redis, s.batch_wait_ms) == ("k1:9092", 64, "redis://r:1", 7)
    assert s.group == "streamproc-worker" and s.results_topic == "receipt-results"
    assert s.redacted()["kafka_sasl_password"] == "***"


def _worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "streamproc", "worker", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def _one_line(p: subprocess.CompletedProcess[str], code: int) -> str:
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr and "\x1b[" not in p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("worker: ")
    return last


def test_bad_settings_are_one_line_naming_the_setting(tmp_path):
    env = {"STREAMPROC_PROGRAM": "tests/golden/program.yaml"}
    p = _worker({**env, "STREAMPROC_BATCH_SIZE": "abc"})
    assert _one_line(p, 2) == \
        "worker: bad setting: STREAMPROC_BATCH_SIZE='abc' is not a whole number"
    assert len(p.stderr.strip().splitlines()) == 1
    p = _worker({**env, "STREAMPROC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    assert "STREAMPROC_KAFKA_SASL_MECHANISM" in _one_line(p, 2)
    secret = "s3cr/et#x"
    p = _worker({**env, "STREAMPROC_REDIS": f"redis://user:{secret}@127.0.0.1:1/0"})
    assert "(not shown)" in _one_line(p, 2) and "cr/et" not in p.stderr
    p = _worker(env, "--redis", f"redis://:{secret}@127.0.0.1:1/0")
    assert "(not shown)" in _one_line(p, 2) and "cr/et" not in p.stderr
    missing = tmp_path / "nope"
    p = _worker({**env, "STREAMPROC_REDIS_PASSWORD_FILE": str(missing)})
    assert f"cannot read redis password file {missing}" in _one_line(p, 2)


def test_password_flags_are_gone_files_and_env_only(tmp_path):
    parser = build_parser()
    for cmd in (["worker"], ["balance", "C1"], ["replay", "--program", "p", "--receipts", "r"]):
        p = _run("from streamproc.cli import main; raise SystemExit(main())", *cmd,
                 "--redis-password", "hunter2")
        assert p.returncode == 2 and "hunter2" not in p.stderr + p.stdout
        assert "--redis-password is not accepted" in p.stderr
    p = _run("from streamproc.cli import main; raise SystemExit(main())", "worker",
             "--kafka-sasl-password=hunter2")
    assert p.returncode == 2 and "hunter2" not in p.stderr and "STREAMPROC_KAFKA_SASL" in p.stderr
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    args = parser.parse_args(["worker", "--redis-password-file", str(pw)])
    s = settings_from(args, {"STREAMPROC_KAFKA_SASL_PASSWORD": "from-env"})
    assert (s.redis_password, s.kafka_sasl_password) == ("from-file", "from-env")
    assert "from-file" not in repr(s) and "from-env" not in repr(s)
    s = settings_from(parser.parse_args(["worker"]),
                      {"STREAMPROC_KAFKA_SASL_PASSWORD_FILE": str(pw)})
    assert s.kafka_sasl_password == "from-file"


def test_unreachable_servers_are_waited_for_then_one_line(tmp_path):
    from streamproc.tools.devstack import free_port

    env = {"STREAMPROC_PROGRAM": "tests/golden/program.yaml",
           "STREAMPROC_STARTUP_TIMEOUT_S": "1", "STREAMPROC_KAFKA": f"127.0.0.1:{free_port()}",
           "STREAMPROC_STATE_DIR": str(tmp_path)}
    p = _worker(env)
    line = _one_line(p, 69)
    assert line.startswith(
        f"worker: not starting: cannot reach Kafka at {env['STREAMPROC_KAFKA']}")
    # the waits before it are log lines, one per try, not tracebacks (the health endpoint
    # that answers meanwhile says where at debug level only)
    waits = p.stderr.strip().splitlines()[:-1]
    assert waits and all(" WARNING streamproc.worker: cannot reach Kafka" in ln for ln in waits)
    p = _worker({**env, "STREAMPROC_LOG_FORMAT": "json"})
    import orjson

    levels = [orjson.loads(ln)["level"] for ln in p.stderr.strip().splitlines()[:-1]]
    assert levels and set(levels) == {"warning"}


def test_state_dir_must_be_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    p = _worker({"STREAMPROC_PROGRAM": "tests/golden/program.yaml",
                 "STREAMPROC_STATE_DIR": str(blocker / "state")})
    assert "is not writable" in _one_line(p, 2)


def test_unreachable_servers_are_waited_for_as_long_as_it_takes(tmp_path):
    """By default no limit: the worker keeps retrying (one warning a try) and its health
    endpoint says alive and not ready meanwhile, so its orchestrator does not restart it."""
    import os
    import signal
    import urllib.error
    import urllib.request

    from streamproc.tools.devstack import free_port

    port = free_port()
    env = {**os.environ, "STREAMPROC_PROGRAM": "tests/golden/program.yaml",
           "STREAMPROC_KAFKA": f"127.0.0.1:{free_port()}", "STREAMPROC_STATE_DIR": str(tmp_path),
           "STREAMPROC_METRICS_ADDR": f"127.0.0.1:{port}"}
    env.pop("STREAMPROC_STARTUP_TIMEOUT_S", None)
    p = subprocess.Popen([sys.executable, "-m", "streamproc", "worker"], env=env,
                         stderr=subprocess.PIPE, text=True)
    try:
        warnings = []
        while len(warnings) < 4:  # 0.5 + 1 + 2 s of backoff: past a 3 s limit, were there one
            line = p.stderr.readline()  # type: ignore[union-attr]
            assert line, f"the worker ended: {p.wait()} after {warnings}"
            assert "Traceback" not in line
            warnings.append(line)
        assert all("cannot reach Kafka" in w and "retrying in" in w for w in warnings)
        assert p.poll() is None

        def status(path: str) -> int:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert (status("/healthz"), status("/readyz")) == (200, 503)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
