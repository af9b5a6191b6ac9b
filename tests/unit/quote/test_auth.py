"""Bearer tokens: the file format, the comparison, and where serving without them is allowed."""

from __future__ import annotations

import pytest

from streamproc.quote.auth import AuthConfigError, TokenAuth, is_loopback, read_tokens

T1, T2 = "a" * 15 + "1", "till-token-0123456789"


def test_reads_one_token_a_line_skipping_blanks_and_comments(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# tills\n\n{T1}\n  {T2}  \n")
    assert read_tokens(path) == [T1.encode(), T2.encode()]


@pytest.mark.parametrize("text", ["", "# only a comment\n\n", "short\n", f"{T1} {T2}\n"])
def test_refuses_files_without_a_proper_token(tmp_path, text):
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(AuthConfigError) as err:
        read_tokens(path)
    for tok in (T1, T2, "short"):
        assert tok not in str(err.value), "the error never shows a token"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(AuthConfigError):
        TokenAuth.from_file(tmp_path / "absent")


@pytest.mark.parametrize(("header", "ok"), [
    (f"Bearer {T1}", True), (f"bearer {T2}", True), (f"  Bearer   {T1}  ", True),
    (None, False), ("", False), ("Bearer", False), ("Bearer ", False), (f"Basic {T1}", False),
    (f"Bearer {T1}x", False), (f"Bearer {T1[:-1]}", False), (T1, False),
    (f"Bearer {T1} {T2}", False), ("Bearer \udcff\udcfe", False),
])
def test_allows_only_a_configured_bearer_token(header, ok):
    assert TokenAuth([T1.encode(), T2.encode()]).allows(header) is ok


def test_no_tokens_is_refused():
    with pytest.raises(AuthConfigError):
        TokenAuth([])


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
    ("quote.example", False), ("", False),
])
def test_loopback(host, ok):
    assert is_loopback(host) is ok
