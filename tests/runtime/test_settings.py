"""Shared settings: flags over env over defaults, every problem at once, secrets never shown, exact client config."""

from __future__ import annotations

import argparse
import asyncio
import re
import ssl
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.runtime.kafka import FileTokenProvider
from monitor.runtime.settings import ConfigError, KafkaSettings, LogSettings, add_arguments, load_settings


def kafka(env: dict[str, str], argv: list[str] | None = None) -> KafkaSettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser, KafkaSettings)
    return load_settings(KafkaSettings, parser.parse_args(argv or []), env)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA-less self-signed client certificate and key (PEM), made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=sla-monitor-client"], check=True, capture_output=True)
    return {"cert": cert, "key": key}


def test_flags_win_over_environment() -> None:
    settings = kafka({"KAFKA_BROKER": "a:9092", "KAFKA_CLIENT_ID": "env"}, ["--broker", "b:9093", "--client-id", "flag"])
    assert settings.bootstrap == "b:9093" and settings.client_id == "flag"


def test_no_password_flags_exist() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, KafkaSettings)
    assert not re.search(r"--sasl-password(?!-file)", parser.format_help()) and "--broker" in parser.format_help()
    for flag in ("--sasl-password", "--ssl-password", "--sasl-pass"):
        with pytest.raises(SystemExit):
            parser.parse_args([flag, "x"])


def test_every_problem_is_listed_with_its_variable_and_flag() -> None:
    with pytest.raises(ConfigError) as info:
        kafka({"KAFKA_BROKER": "no-port", "KAFKA_SECURITY_PROTOCOL": "TLS", "KAFKA_SASL_MECHANISM": "GSSAPI"})
    text = str(info.value)
    assert "KAFKA_BROKER / --broker: 'no-port' is not host:port" in text
    assert "KAFKA_SECURITY_PROTOCOL / --security-protocol" in text and "'TLS'" in text
    assert "KAFKA_SASL_MECHANISM / --sasl-mechanism" in text and "OAUTHBEARER" in text
    assert len(info.value.problems) == 3


def test_scram_password_from_file_is_secret(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-file\n")
    settings = kafka({"KAFKA_BROKER": "k:9093", "KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "scram-sha-256",
                      "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD_FILE": str(secret)})
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    kwargs = settings.client_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL" and kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("svc", "s3cret-from-file")
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_password_and_password_file_together_is_an_error(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("x")
    with pytest.raises(ConfigError, match="not both"):
        kafka({"KAFKA_BROKER": "k:9093", "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
               "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "x", "KAFKA_SASL_PASSWORD_FILE": str(secret)})
    with pytest.raises(ConfigError, match="cannot read"):
        kafka({"KAFKA_BROKER": "k:9093", "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
               "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "missing")})


def test_mtls_context_carries_the_client_certificate(tls_files: dict[str, Path]) -> None:
    settings = kafka({"KAFKA_BROKER": "k:9093", "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(tls_files["cert"]),
                      "KAFKA_SSL_CERTFILE": str(tls_files["cert"]), "KAFKA_SSL_KEYFILE": str(tls_files["key"]),
                      "KAFKA_SSL_CHECK_HOSTNAME": "false"})
    context = settings.client_kwargs()["ssl_context"]
    assert context.check_hostname is False and context.verify_mode == ssl.CERT_REQUIRED
    assert any("sla-monitor-client" in str(cert.get("subject")) for cert in context.get_ca_certs())
    assert "sasl_mechanism" not in settings.client_kwargs()


def test_certificate_without_key_is_refused(tls_files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="go together"):
        kafka({"KAFKA_BROKER": "k:9093", "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": str(tls_files["cert"])})


def test_oauthbearer_reads_the_token_file_at_each_authentication(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")
    settings = kafka({"KAFKA_BROKER": "k:9093", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
                      "KAFKA_SASL_OAUTH_TOKEN_FILE": str(token)})
    kwargs = settings.client_kwargs()
    provider = kwargs["sasl_oauth_token_provider"]
    assert isinstance(provider, FileTokenProvider) and "sasl_plain_password" not in kwargs
    assert asyncio.run(provider.token()) == "first-token"
    token.write_text("refreshed-token")
    assert asyncio.run(provider.token()) == "refreshed-token"
    with pytest.raises(ConfigError, match="KAFKA_SASL_OAUTH_TOKEN_FILE is required"):
        kafka({"KAFKA_BROKER": "k:9093", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "OAUTHBEARER"})


def test_sasl_settings_without_sasl_protocol_are_refused() -> None:
    with pytest.raises(ConfigError, match="use SASL_SSL or SASL_PLAINTEXT"):
        kafka({"KAFKA_BROKER": "k:9092", "KAFKA_SASL_USERNAME": "svc"})


def test_log_settings_are_shared_names() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, LogSettings)
    args = parser.parse_args(["--log-level", "debug"])
    assert load_settings(LogSettings, args, {"MONITOR_LOG_FORMAT": "JSON"}).level == "DEBUG"
    assert load_settings(LogSettings, None, {"MONITOR_LOG_FORMAT": "JSON"}).format == "json"
    with pytest.raises(ConfigError, match="MONITOR_LOG_LEVEL / --log-level"):
        load_settings(LogSettings, None, {"MONITOR_LOG_LEVEL": "chatty"})


def test_the_configuration_reference_names_every_variable_and_flag() -> None:
    from monitor.notify import service as notify_service
    from monitor.runtime.settings import ServiceSettings, flag_name
    from monitor.stream.config import WorkerEngineSettings, WorkerServiceSettings

    text = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    shared = {"KAFKA_BROKER", "MONITOR_LOG_LEVEL", "MONITOR_WEB_PORT", "MONITOR_NOTIFY_WEB_PORT"}
    from monitor.stream.config import environment_variables as worker_variables

    for var in (notify_service.environment_variables() | worker_variables() | shared) - {"MONITOR_BOARD_URL"}:
        if var.startswith("MONITOR_TOPIC_"):
            continue
        assert f"`{var}`" in text, var
    from monitor.runtime.connect import ConnectSettings

    for cls in (KafkaSettings, LogSettings, ServiceSettings, WorkerServiceSettings, notify_service.NotifyServiceSettings,
                ConnectSettings, WorkerEngineSettings):
        for name in cls.model_fields:
            if cls.model_fields[name].annotation not in (SecretStr, SecretStr | None):
                assert f"`{flag_name(cls, name)}`" in text, (cls.__name__, name)
