"""The board's settings in the worker's settings model: token (env or file), replica name."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from monitor.stream.config import ConfigError, add_arguments, config_from

TOKEN = "s3cret-token-0123456789"
BASE = {"KAFKA_BROKER": "127.0.0.1:9092"}


def test_token_from_the_environment_or_a_file_never_in_the_repr(tmp_path: Path) -> None:
    assert config_from(None, BASE).http_auth_token is None
    config = config_from(None, {**BASE, "MONITOR_HTTP_AUTH_TOKEN": TOKEN, "MONITOR_REPLICA_NAME": "sla-monitor-2"})
    assert config.http_auth_token == TOKEN and config.replica_name == "sla-monitor-2"
    assert TOKEN not in repr(config)
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    assert config_from(None, {**BASE, "MONITOR_HTTP_AUTH_TOKEN_FILE": str(secret)}).http_auth_token == TOKEN


@pytest.mark.parametrize(("env", "message"), [
    ({"MONITOR_HTTP_AUTH_TOKEN": "short"}, "at least 16"),
    ({"MONITOR_HTTP_AUTH_TOKEN": TOKEN, "MONITOR_HTTP_AUTH_TOKEN_FILE": "/etc/hostname"}, "not both"),
    ({"MONITOR_HTTP_AUTH_TOKEN_FILE": "/nonexistent/token"}, "cannot read"),
])
def test_unusable_token_settings_fail_at_start_saying_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from(None, {**BASE, **env})


def test_the_token_has_no_flag_but_its_file_and_the_replica_name_do(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--http-auth-token", TOKEN])
    secret = tmp_path / "token"
    secret.write_text(TOKEN)
    args = parser.parse_args(["--http-auth-token-file", str(secret), "--replica-name", "r1"])
    config = config_from(args, BASE)
    assert config.http_auth_token == TOKEN and config.replica_name == "r1"
