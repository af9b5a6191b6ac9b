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
