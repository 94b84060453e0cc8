"""Configuration from flags and environment, with every problem reported at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.stream.config import ConfigError, load_config


def test_defaults() -> None:
    config = load_config([], {})
    assert config.kafka.bootstrap is None
    assert config.tick_seconds == 0.25 and config.hold_seconds == 600
    assert config.processing_guarantee == "at_least_once" and config.table_store == "memory"
    assert config.topics.inputs == ("case-created", "case-updated")
    assert config.topics.output_for("breach") == "sla-breaches"


def test_flags_override_environment() -> None:
    env = {"KAFKA_BROKER": "a:9092", "MONITOR_TICK_SECONDS": "1", "MONITOR_TOPIC_CASE_CREATED": "env-created"}
    config = load_config(["--broker", "b:9093,c:9094", "--topic-case-created", "flag-created"], env)
    assert config.kafka.bootstrap == "b:9093,c:9094"
    assert config.tick_seconds == 1.0
    assert config.topics.case_created == "flag-created"


def test_every_problem_is_listed_at_once() -> None:
    env = {
        "KAFKA_BROKER": "no-port",
        "MONITOR_TICK_SECONDS": "fast",
        "MONITOR_WEB_PORT": "70000",
        "MONITOR_PROCESSING_GUARANTEE": "maybe_once",
        "MONITOR_POLICIES": "/nonexistent/policies.toml",
        "MONITOR_TOPIC_CASE_UPDATED": "case-created",
        "MONITOR_TOPIC_BREACHES": "bad topic!",
    }
    with pytest.raises(ConfigError) as info:
        load_config([], env)
    message = str(info.value)
    for fragment in ("'no-port' is not host:port", "MONITOR_TICK_SECONDS", "70000", "maybe_once",
                     "/nonexistent/policies.toml", "both 'case-created'", "'bad topic!'"):
        assert fragment in message


def test_sasl_needs_mechanism_and_credentials() -> None:
    with pytest.raises(ConfigError) as info:
        load_config([], {"KAFKA_BROKER": "k:9092", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    assert "KAFKA_SASL_MECHANISM is required" in str(info.value)
    assert "KAFKA_SASL_USERNAME is required" in str(info.value)


def test_sasl_ssl_client_settings(tmp_path: Path) -> None:
    env = {"KAFKA_BROKER": "k:9092", "KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "KAFKA_SASL_MECHANISM": "scram-sha-512",
           "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "secret"}
    kwargs = load_config([], env).kafka.client_kwargs()
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "svc" and kwargs["sasl_plain_password"] == "secret"
    assert "secret" not in repr(load_config([], env))


def test_ssl_files_must_exist() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config([], {"KAFKA_BROKER": "k:9092", "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nope.pem"})


def test_rocksdb_store_needs_rocksdict() -> None:
    try:
        import rocksdict  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="rocksdict"):
            load_config([], {"MONITOR_TABLE_STORE": "rocksdb"})
    else:
        assert load_config([], {"MONITOR_TABLE_STORE": "rocksdb"}).table_store == "rocksdb"


def test_bootstrap_reaches_the_clients_as_validated() -> None:
    """A kafka:// scheme and spaces pass validation, so they must not reach aiokafka (host 'kafka://a')."""
    config = load_config([], {"KAFKA_BROKER": "kafka://a:9092, b:9093"})
    assert config.kafka.client_kwargs()["bootstrap_servers"] == "a:9092,b:9093"


def test_peers_and_closed_retention() -> None:
    from monitor.stream.config import ConfigError, config_from

    config = config_from(None, {"MONITOR_PEERS": "http://a:6066/, http://b:6066", "MONITOR_CLOSED_RETENTION_SECONDS": "86400"})
    assert config.peers == ("http://a:6066", "http://b:6066") and config.closed_retention_seconds == 86400
    assert config_from(None, {}).closed_retention_seconds == 30 * 86400   # bounded by default
    assert config_from(None, {"MONITOR_CLOSED_RETENTION_SECONDS": "0"}).closed_retention_seconds is None  # 0 = keep
    with pytest.raises(ConfigError, match="not an http"):
        config_from(None, {"MONITOR_PEERS": "a:6066"})
    with pytest.raises(ConfigError, match="MONITOR_CLOSED_RETENTION_SECONDS"):
        config_from(None, {"MONITOR_CLOSED_RETENTION_SECONDS": "5"})


def test_worker_settings_keep_their_flag_names() -> None:
    config = load_config(["--closed-retention", "0", "--max-clock-skew", "5", "--request-timeout", "3",
                          "--restore-timeout", "9", "--peers", "http://a:1/, dns+http://b:2",
                          "--processing-guarantee", "EXACTLY_ONCE", "--max-batch-records", "7"], {})
    assert config.closed_retention_seconds is None and config.max_clock_skew_seconds == 5
    assert config.request_timeout_seconds == 3 and config.restore_timeout_seconds == 9
    assert config.peers == ("http://a:1", "dns+http://b:2") and config.processing_guarantee == "exactly_once"
    assert config.max_batch_records == 7


def test_worker_setting_problems_name_variable_and_flag_all_at_once() -> None:
    env = {"MONITOR_TICK_SECONDS": "100", "MONITOR_MAX_BATCH_RECORDS": "many", "MONITOR_TABLE_STORE": "disk",
           "MONITOR_CLOSED_RETENTION_SECONDS": "5", "MONITOR_PEERS": "http://a:1,b:2"}
    with pytest.raises(ConfigError) as info:
        load_config([], env)
    lines = str(info.value).splitlines()[1:]
    for prefix in ("MONITOR_TICK_SECONDS / --tick-seconds: ", "MONITOR_MAX_BATCH_RECORDS / --max-batch-records: ",
                   "MONITOR_TABLE_STORE / --table-store: ", "MONITOR_CLOSED_RETENTION_SECONDS / --closed-retention: ",
                   "MONITOR_PEERS / --peers: 'b:2' is not an http(s)"):
        assert sum(line.startswith(f"  - {prefix}") for line in lines) == 1, (prefix, lines)


def test_a_subset_of_worker_settings_can_be_offered() -> None:
    """`monitor demo` / `run` take --policies but not the worker's timers."""
    import argparse

    from monitor.runtime.settings import add_arguments
    from monitor.stream.config import WorkerEngineSettings

    parser = argparse.ArgumentParser()
    add_arguments(parser, WorkerEngineSettings, names=["policies"])
    assert [a.option_strings for a in parser._actions[1:]] == [["--policies"]]
