from pathlib import Path

import pytest

from monitor.notify.service import main

EXAMPLES = Path(__file__).parents[2] / "monitor" / "notify"
EXAMPLE_ENV = {
    "SLA_SLACK_EMEA_TEAM_URL": "https://hooks.slack.example/T/B/emea-secret", "SLA_SLACK_AMERICAS_TEAM_URL": "x",
    "SLA_SLACK_APAC_TEAM_URL": "x", "SLA_WEBHOOK_SECRET": "x", "SLA_SLACK_ESCALATIONS_URL": "x",
    "SLA_PAGERDUTY_ROUTING_KEY": "x", "SLA_SMTP_USERNAME": "u", "SLA_SMTP_PASSWORD": "p",
}


def test_check_validates_the_examples_and_prints_the_rules(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    code = main(["--check", "--routing", str(EXAMPLES / "example-routing.toml"), "--contacts", str(EXAMPLES / "example-contacts.toml")])
    out = capsys.readouterr()
    assert code == 0
    assert "7 channels, 8 rules" in out.out and "email>contact:named_support_engineer (continue)" in out.out
    assert "emea-secret" not in out.out + out.err


def test_missing_secrets_fail_with_the_variable_names(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in EXAMPLE_ENV:
        monkeypatch.delenv(name, raising=False)
    assert main(["--check", "--routing", str(EXAMPLES / "example-routing.toml")]) == 2
    err = capsys.readouterr().err
    assert "names 8 environment variable(s) that are not set" in err
    assert "SLA_PAGERDUTY_ROUTING_KEY    (channels.duty-manager-pagerduty.routing_key_env)" in err
    assert "monitor notify --check --routing" in err   # and how to run with them


def test_the_example_routing_states_every_variable_it_needs() -> None:
    from monitor.notify.routing import load_routing

    header = (EXAMPLES / "example-routing.toml").read_text().split("\nversion")[0]
    needed = {env for spec in load_routing(EXAMPLES / "example-routing.toml").channels.values()
              for env in spec.env_names().values()}
    assert needed == set(EXAMPLE_ENV)
    assert all(f"#   {env} " in header for env in needed)


def test_invalid_routing_and_missing_option_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MONITOR_NOTIFY_ROUTING", raising=False)
    assert main([]) == 2
    assert "--routing" in capsys.readouterr().err
    bad = tmp_path / "routing.toml"
    bad.write_text('[channels.x]\nkind = "fax"\n[[rules]]\nnotify = ["x"]\n')
    assert main(["--check", "--routing", str(bad)]) == 2
    assert f"{bad}: channels.x.kind: expected one of webhook, slack, pagerduty, email, alertmanager" in capsys.readouterr().err


def test_bad_settings_end_in_one_clean_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MONITOR_NOTIFY_WEB_PORT", "abc")
    monkeypatch.setenv("KAFKA_BROKER", "no-port")
    monkeypatch.setenv("MONITOR_LOG_LEVEL", "chatty")
    assert main(["--routing", str(EXAMPLES / "example-routing.toml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for fragment in ("MONITOR_NOTIFY_WEB_PORT / --web-port", "KAFKA_BROKER / --broker: 'no-port' is not host:port",
                     "MONITOR_LOG_LEVEL / --log-level"):
        assert fragment in err


def test_help_shows_the_flags_shared_with_the_worker(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--broker", "--security-protocol", "--sasl-mechanism", "--ssl-cafile", "--log-level", "--group-id",
                 "--web-port", "--topic-breaches", "--topic-notify-state", "--shutdown-timeout"):
        assert flag in text
    for gone in ("--bootstrap", "--group ", "--state-topic", "--shutdown-grace", "--sasl-password "):
        assert gone not in text
