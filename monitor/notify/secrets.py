"""Secrets come from the environment only; the routing file names the variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.notify.routing import Routing


class SecretsError(ValueError):
    """Environment variables the routing file names are not set."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("missing secrets:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Secret:
    """A secret value that never shows itself in repr/str (so never in logs or tracebacks)."""

    env_name: str
    _value: str

    def reveal(self) -> str:
        """The value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(${self.env_name}, ***)"

    __str__ = __repr__


ChannelSecrets = dict[str, dict[str, Secret]]


def resolve_secrets(routing: Routing, environ: Mapping[str, str]) -> ChannelSecrets:
    """channel -> setting (url_env, secret_env, ...) -> Secret; raise SecretsError naming every missing variable."""
    resolved: ChannelSecrets = {}
    problems: list[str] = []
    for name, spec in routing.channels.items():
        for setting, env_name in spec.env_names().items():
            value = environ.get(env_name)
            if not value:
                problems.append(f"{routing.source}: channels.{name}.{setting}: environment variable {env_name} is not set")
                continue
            resolved.setdefault(name, {})[setting] = Secret(env_name, value)
    if problems:
        raise SecretsError(problems)
    return resolved
