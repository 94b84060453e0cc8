import pytest

from monitor.notify.routing import parse_routing
from monitor.notify.secrets import SecretsError, resolve_secrets

ROUTING = parse_routing({
    "channels": {
        "hook": {"kind": "webhook", "url": "http://127.0.0.1/h", "secret_env": "HOOK_SECRET"},
        "pd": {"kind": "pagerduty", "routing_key_env": "PD_KEY"},
    },
    "rules": [{"notify": ["hook", "pd"]}],
}, "r.toml")


def test_resolves_from_the_environment_and_never_shows_values() -> None:
    secrets = resolve_secrets(ROUTING, {"HOOK_SECRET": "hunter2", "PD_KEY": "R0UTING"})
    secret = secrets["hook"]["secret_env"]
    assert secret.reveal() == "hunter2"
    assert "hunter2" not in repr(secrets) and "hunter2" not in str(secret) and "HOOK_SECRET" in repr(secret)


def test_every_missing_variable_is_named() -> None:
    with pytest.raises(SecretsError) as info:
        resolve_secrets(ROUTING, {"HOOK_SECRET": ""})
    assert info.value.problems == [
        "r.toml: channels.hook.secret_env: environment variable HOOK_SECRET is not set",
        "r.toml: channels.pd.routing_key_env: environment variable PD_KEY is not set",
    ]
