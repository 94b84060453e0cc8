"""Token settings, the exposure warning and the credential check (the HTTP behaviour is tested on real workers)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import structlog
from aiohttp.test_utils import make_mocked_request

from monitor.board.auth import AuthConfigError, TokenAuth, is_loopback, load_token, warn_if_exposed

TOKEN = "s3cret-token-0123456789"


def test_token_from_the_variable_or_a_file(tmp_path: Path) -> None:
    assert load_token(None, None) is None
    assert load_token(TOKEN, None) == TOKEN
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    assert load_token(None, secret) == TOKEN


@pytest.mark.parametrize(("token", "file_text", "message"), [
    (TOKEN, TOKEN, "not both"),
    (None, "", "is empty"),
    ("short", None, "at least 16"),
])
def test_unusable_token_settings_say_why(tmp_path: Path, token: str | None, file_text: str | None, message: str) -> None:
    path = None
    if file_text is not None:
        path = tmp_path / "token"
        path.write_text(file_text)
    with pytest.raises(AuthConfigError, match=message):
        load_token(token, path)
    with pytest.raises(AuthConfigError, match="cannot read"):
        load_token(None, tmp_path / "missing")


def test_warns_only_when_exposed_without_a_token() -> None:
    with structlog.testing.capture_logs() as logs:
        assert warn_if_exposed("0.0.0.0", None)
        assert not warn_if_exposed("127.0.0.1", None)
        assert not warn_if_exposed("::1", None)
        assert not warn_if_exposed("0.0.0.0", TOKEN)
    assert [entry["log_level"] for entry in logs] == ["warning"]
    assert logs[0]["host"] == "0.0.0.0" and TOKEN not in str(logs)
    assert is_loopback("localhost") and not is_loopback("") and not is_loopback("10.0.0.1") and not is_loopback("sla-0")


def _request(authorization: str | None) -> object:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return make_mocked_request("GET", "/api/cases", headers=headers)


@pytest.mark.parametrize(("authorization", "allowed"), [
    (f"Bearer {TOKEN}", True),
    (f"bearer  {TOKEN} ", True),
    ("Basic " + base64.b64encode(f"anyone:{TOKEN}".encode()).decode(), True),
    ("Basic " + base64.b64encode(f":{TOKEN}".encode()).decode(), True),
    ("Basic " + base64.b64encode(TOKEN.encode()).decode(), False),       # no user:password form
    ("Basic " + base64.b64encode(f"{TOKEN}:x".encode()).decode(), False),  # token as user name
    ("Basic not*base64", False),
    (f"Bearer {TOKEN}x", False),
    (f"Token {TOKEN}", False),
    ("", False),
    (None, False),
])
def test_credentials(authorization: str | None, allowed: bool) -> None:
    assert TokenAuth(TOKEN).allows(_request(authorization)) is allowed  # type: ignore[arg-type]
    assert TokenAuth(None).allows(_request(authorization))  # type: ignore[arg-type]


def test_peers_send_the_shared_token() -> None:
    assert TokenAuth(TOKEN).peer_headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert TokenAuth(None).peer_headers() == {}
