"""`streamproc quote-server` refuses to start without a safe authentication setup, and reads its
settings like the worker (flags, then STREAMPROC_* variables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.cli import build_parser, main
from streamproc.config import settings_from
from streamproc.quote.settings import QuoteSettings

PROGRAM = str(Path(__file__).parents[3] / "examples" / "retail-chain.yaml")
TOKEN = "till-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for k in list(os.environ):
        if k.startswith("STREAMPROC_"):
            monkeypatch.delenv(k)


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "10.1.2.3:8080", "[::]:8080", ":8080"])
def test_no_auth_is_refused_off_loopback(listen, capsys):
    rc = main(["quote-server", "--program", PROGRAM, "--insecure-no-auth", "--listen", listen])
    assert rc == 2
    assert "only a loopback address" in capsys.readouterr().err


def test_tokens_are_required_without_the_insecure_flag(capsys):
    assert main(["quote-server", "--program", PROGRAM]) == 2
    assert "--auth-tokens-file" in capsys.readouterr().err


def test_a_bad_token_file_stops_the_start_without_showing_it(tmp_path, capsys):
    path = tmp_path / "tokens"
    path.write_text("tooshort\n")
    assert main(["quote-server", "--program", PROGRAM, "--auth-tokens-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "at least" in err and "tooshort" not in err


def test_both_auth_flags_exclude_each_other(tmp_path, capsys):
    path = tmp_path / "tokens"
    path.write_text(TOKEN + "\n")
    rc = main(["quote-server", "--program", PROGRAM, "--auth-tokens-file", str(path),
               "--insecure-no-auth", "--listen", "127.0.0.1:0"])
    assert rc == 2


def test_program_is_required(capsys):
    assert main(["quote-server", "--insecure-no-auth"]) == 2
    assert "no program file" in capsys.readouterr().err


def test_settings_from_flags_then_environment():
    args = build_parser().parse_args(["quote-server", "--listen", "127.0.0.1:9999",
                                      "--redis", "redis://flag:1/0"])
    env = {"STREAMPROC_LISTEN": "ignored:1", "STREAMPROC_AUTH_TOKENS_FILE": "/run/tokens",
           "STREAMPROC_QUOTE_TIMEOUT_MS": "40", "STREAMPROC_REDIS_PREFIX": "chain",
           "STREAMPROC_PROGRAM": "/etc/p.yaml"}
    q = settings_from(args, env, QuoteSettings)
    assert (q.listen, q.auth_tokens_file, q.quote_timeout_ms, q.max_body_bytes) == \
        ("127.0.0.1:9999", "/run/tokens", 40, QuoteSettings.max_body_bytes)
    s = settings_from(args, env)
    assert (s.redis, s.redis_prefix, s.program) == ("redis://flag:1/0", "chain", "/etc/p.yaml")
