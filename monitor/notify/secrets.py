"""Secrets come from the environment only; the routing file names the variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.notify.routing import Routing


class SecretsError(ValueError):
    """Environment variables the routing file names are not set; the message says which and how to set them."""

    def __init__(self, problems: list[str], source: str = "the routing file", missing: list[tuple[str, str]] | None = None) -> None:
        if missing:
            width = max(len(env_name) for env_name, _ in missing)
            listed = [f"{env_name.ljust(width)}  ({where})" for env_name, where in missing]
            text = (f"missing secrets: {source} names {len(missing)} environment variable(s) that are not set:\n  "
                    + "\n  ".join(listed) + "\n" + HOW_TO_SET.format(source=source))
        else:
            text = "missing secrets:\n  " + "\n  ".join(problems)
        super().__init__(text)
        self.problems = problems


#: How to run with a routing file's variables (the file's header lists them).
HOW_TO_SET = (
    "Set them where `monitor notify` runs: `export NAME=value`, or put NAME=value lines in an env file\n"
    "and load it with `set -a; . ./notify.env; set +a` (Kubernetes: a Secret through envFrom). The\n"
    "header of {source} says what each one holds. Then check again:\n"
    "  monitor notify --check --routing {source}"
)


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
    missing: list[tuple[str, str]] = []
    for name, spec in routing.channels.items():
        for setting, env_name in spec.env_names().items():
            value = environ.get(env_name)
            if not value:
                problems.append(f"{routing.source}: channels.{name}.{setting}: environment variable {env_name} is not set")
                missing.append((env_name, f"channels.{name}.{setting}"))
                continue
            resolved.setdefault(name, {})[setting] = Secret(env_name, value)
    if problems:
        raise SecretsError(problems, str(routing.source), missing)
    return resolved
