"""Settings shared by every stream app, on pydantic-settings: Kafka connection, logging.

Each setting has one environment variable and (except secrets) one flag; flags win over the
environment, which wins over defaults. Loading collects every problem and raises one
`ConfigError` naming the variable and the flag of each, so a misconfigured deployment fails at
start with a message that says what to fix — never a traceback.

Secrets (SASL password, TLS key password) are `SecretStr`: they never show in a repr or a log
line, and they have no flag (a flag would be visible in `ps`): set them in the environment or
point the matching `*_FILE` variable at a file (a mounted Kubernetes/Docker secret).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from aiokafka.abc import AbstractTokenProvider
from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["json", "console"]

def lower_case(value: Any) -> Any:
    """Before-validator for case-insensitive choices written in lower case (json, at_least_once)."""
    return value.lower() if isinstance(value, str) else value


_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem found."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        text = self.problems[0] if len(self.problems) == 1 and not isinstance(problems, list) else (
            "invalid configuration:\n  - " + "\n  - ".join(self.problems))
        super().__init__(text)


#: The environment a load reads (a test passes its own mapping instead of os.environ).
_ENVIRON: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("settings_environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """EnvSettingsSource over an explicit mapping (os.environ when none was given)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        if environ is None:
            return super()._load_env_vars()
        return parse_env_vars(environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class SharedSettings(BaseSettings):
    """Base of every settings group: environment from `load_settings`, no .env files, no secrets dir."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="forbid", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init arguments) first, then the environment; nothing else."""
        return init_settings, _MappingEnvSource(settings_cls)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _read_secret_file(path: Path | None, what: str, problems: list[str]) -> SecretStr | None:
    if path is None:
        return None
    try:
        return SecretStr(path.read_text().strip())
    except OSError as exc:
        problems.append(f"{what}: cannot read {str(path)!r} ({exc.strerror or exc})")
        return None


class FileTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """SASL/OAUTHBEARER token read from a file at each authentication (a sidecar keeps it fresh)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        """The current token (the file's content, stripped)."""
        text = await asyncio.get_running_loop().run_in_executor(None, self.path.read_text)
        return text.strip()

    def __repr__(self) -> str:
        return f"FileTokenProvider({str(self.path)!r})"


class KafkaSettings(SharedSettings):
    """How to reach the brokers: bootstrap list, TLS/mTLS, SASL (PLAIN, SCRAM, OAUTHBEARER)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_")

    broker: str | None = Field(None, description="bootstrap servers, host:port[,host:port...]")
    security_protocol: SecurityProtocol = Field("PLAINTEXT", description="PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL")
    sasl_mechanism: SaslMechanism | None = Field(None, description="PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER")
    sasl_username: str | None = Field(None, description="SASL user (PLAIN, SCRAM)")
    sasl_password: SecretStr | None = Field(None, description="SASL password (environment only)")
    sasl_password_file: Path | None = Field(None, description="file holding the SASL password")
    sasl_oauth_token_file: Path | None = Field(
        None, description="OAUTHBEARER: file holding the bearer token, re-read at every authentication")
    ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) to verify the brokers (default: system CAs)")
    ssl_certfile: Path | None = Field(None, description="client certificate (PEM) for mTLS")
    ssl_keyfile: Path | None = Field(None, description="client private key (PEM) for mTLS")
    ssl_password: SecretStr | None = Field(None, description="password of the client key (environment only)")
    ssl_password_file: Path | None = Field(None, description="file holding the client key's password")
    ssl_check_hostname: bool = Field(True, description="verify that the broker certificate names the host")
    client_id: str = Field("sla-monitor", description="Kafka client.id")

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("broker")
    @classmethod
    def _bootstrap(cls, value: str | None) -> str | None:
        """Validate host:port items; hand the clients what was validated (no kafka://, no spaces)."""
        if value is None:
            return None
        items = [item.strip().removeprefix("kafka://") for item in value.split(",")]
        if not any(items):
            raise ValueError("empty bootstrap list")
        problems = []
        for item in items:
            match = _HOST_PORT.match(item)
            if not match:
                problems.append(f"{item!r} is not host:port")
            elif not 0 < int(match.group(2)) < 65536:
                problems.append(f"port of {item!r} is not 1..65535")
        if problems:
            raise ValueError("; ".join(problems))
        return ",".join(items)

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        problems: list[str] = []
        protocol = self.security_protocol
        sasl = protocol.startswith("SASL")
        if sasl:
            if self.sasl_mechanism is None:
                problems.append(f"KAFKA_SASL_MECHANISM is required with KAFKA_SECURITY_PROTOCOL={protocol}")
            if self.sasl_mechanism == "OAUTHBEARER":
                if self.sasl_oauth_token_file is None:
                    problems.append("KAFKA_SASL_OAUTH_TOKEN_FILE is required with KAFKA_SASL_MECHANISM=OAUTHBEARER")
                elif not self.sasl_oauth_token_file.is_file():
                    problems.append(f"KAFKA_SASL_OAUTH_TOKEN_FILE: no such file {str(self.sasl_oauth_token_file)!r}")
            else:
                if self.sasl_username is None:
                    problems.append(f"KAFKA_SASL_USERNAME is required with KAFKA_SECURITY_PROTOCOL={protocol}")
                if self.sasl_password is None and self.sasl_password_file is None:
                    problems.append(f"KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) is required with "
                                    f"KAFKA_SECURITY_PROTOCOL={protocol}")
        elif self.sasl_mechanism is not None or self.sasl_username is not None:
            problems.append(f"SASL settings are set but KAFKA_SECURITY_PROTOCOL is {protocol} (use SASL_SSL or SASL_PLAINTEXT)")
        if self.sasl_password is not None and self.sasl_password_file is not None:
            problems.append("set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
        if self.ssl_password is not None and self.ssl_password_file is not None:
            problems.append("set KAFKA_SSL_PASSWORD or KAFKA_SSL_PASSWORD_FILE, not both")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path: Path | None = getattr(self, name)
            if path is None:
                continue
            if not protocol.endswith("SSL"):
                problems.append(f"KAFKA_{name.upper()} is set but KAFKA_SECURITY_PROTOCOL is {protocol} (use SSL or SASL_SSL)")
            elif not path.is_file():
                problems.append(f"KAFKA_{name.upper()}: no such file {str(path)!r}")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            problems.append("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together (mTLS)")
        sasl_password = _read_secret_file(self.sasl_password_file, "KAFKA_SASL_PASSWORD_FILE", problems)
        ssl_password = _read_secret_file(self.ssl_password_file, "KAFKA_SSL_PASSWORD_FILE", problems)
        if problems:
            raise ValueError("\n".join(problems))
        if sasl_password is not None:
            object.__setattr__(self, "sasl_password", sasl_password)
        if ssl_password is not None:
            object.__setattr__(self, "ssl_password", ssl_password)
        return self

    @property
    def bootstrap(self) -> str | None:
        """The validated bootstrap list, or None when KAFKA_BROKER is unset."""
        return self.broker

    def with_bootstrap(self, bootstrap: str) -> KafkaSettings:
        """A copy pointing at `bootstrap` (used when the caller starts an embedded broker)."""
        return self.model_copy(update={"broker": bootstrap})

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by aiokafka consumers, producers and admin clients."""
        if not self.broker:
            raise ConfigError("KAFKA_BROKER / --broker is not set")
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.broker,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            context = create_ssl_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None,
                certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
                keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None,
                password=self.ssl_password.get_secret_value() if self.ssl_password else None,
            )
            context.check_hostname = self.ssl_check_hostname
            kwargs["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            if self.sasl_mechanism == "OAUTHBEARER":
                assert self.sasl_oauth_token_file is not None
                kwargs["sasl_oauth_token_provider"] = FileTokenProvider(self.sasl_oauth_token_file)
            else:
                kwargs["sasl_plain_username"] = self.sasl_username
                kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        return kwargs


class LogSettings(SharedSettings):
    """Log level and format, the same variables for every app."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_LOG_")

    level: LogLevel = Field("INFO", description="DEBUG | INFO | WARNING | ERROR | CRITICAL",
                            json_schema_extra={"flag": "--log-level"})
    format: Annotated[LogFormat | None, BeforeValidator(lower_case)] = Field(
        None, description="json | console (default: console on a terminal, else json)",
        json_schema_extra={"flag": "--log-format"})

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value



class ServiceSettings(SharedSettings):
    """What every stream app has once per process: HTTP endpoint, consumer group, timeouts.

    Each app subclasses it with its own environment prefix and defaults (MONITOR_ for the
    worker, MONITOR_NOTIFY_ for the notifier): two apps started from one environment file must
    not share a consumer group or a port. The flags are the same in every app.
    """

    web_host: str = Field("0.0.0.0", description="HTTP bind address")
    web_port: int = Field(8080, ge=0, le=65535, description="HTTP port for /metrics, /healthz, /readyz (0 = off)")
    group_id: str = Field("sla-monitor", min_length=1, description="Kafka consumer group")
    session_timeout_seconds: float = Field(
        10.0, ge=1.0, le=300.0, json_schema_extra={"flag": "--session-timeout"},
        description="consumer group session timeout: how fast a dead process's partitions move")
    shutdown_timeout_seconds: float = Field(
        20.0, ge=1.0, le=600.0, json_schema_extra={"flag": "--shutdown-timeout"},
        description="bound on the graceful stop after SIGTERM (keep below the orchestrator's grace period)")


S = TypeVar("S", bound=SharedSettings)


def env_var(cls: type[SharedSettings], name: str, prefix: str | None = None) -> str:
    """The environment variable of a field, e.g. KAFKA_BROKER."""
    return f"{prefix if prefix is not None else cls.model_config.get('env_prefix', '')}{name}".upper()


def flag_name(cls: type[SharedSettings], name: str) -> str:
    """The flag of a field: its `flag` extra (--log-level for LogSettings.level), else --field-name."""
    extra = cls.model_fields[name].json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("flag"), str):
        return str(extra["flag"])
    return _flag(name)


def env_vars(cls: type[SharedSettings], prefix: str | None = None) -> list[str]:
    """Every environment variable `cls` reads (secrets included)."""
    return [env_var(cls, name, prefix) for name in cls.model_fields]


def _is_secret(cls: type[SharedSettings], name: str) -> bool:
    return cls.model_fields[name].annotation in (SecretStr, SecretStr | None)


class _RefusedSecretFlag(argparse.Action):
    """A secret given as a flag would show in `ps`: refuse it with what to do instead."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error(f"{option_string} is not accepted (a flag shows in `ps`): set {self.metavar} in the "
                     f"environment or {self.metavar}_FILE to a file holding it")


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type[SharedSettings], prefix: str | None = None,
                  names: Iterable[str] | None = None) -> None:
    """Add one optional flag per non-secret field of `cls` (or of the named fields only); env, then code, decide defaults."""
    wanted = set(cls.model_fields if names is None else names)
    for name, info in cls.model_fields.items():
        if name not in wanted:
            continue
        if _is_secret(cls, name):   # registered only to refuse it (and so that no prefix of it means another flag)
            parser.add_argument(flag_name(cls, name), action=_RefusedSecretFlag, metavar=env_var(cls, name, prefix),
                                dest=f"refused.{name}", help=argparse.SUPPRESS)
            continue
        parser.add_argument(flag_name(cls, name), dest=f"{cls.__name__}.{name}", default=None, metavar=name.upper(),
                            help=f"{info.description} [env {env_var(cls, name, prefix)}]")


def flag_values(args: argparse.Namespace | None, cls: type[SharedSettings]) -> dict[str, Any]:
    """The flags of `cls` that were given on the command line."""
    if args is None:
        return {}
    values = {}
    for name in cls.model_fields:
        value = getattr(args, f"{cls.__name__}.{name}", None)
        if value is not None and value != "":
            values[name] = value
    return values


def problems_of(exc: ValidationError, cls: type[SharedSettings], prefix: str | None = None) -> list[str]:
    """One line per validation problem, naming the variable and the flag to fix."""
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            name = str(error["loc"][0])
            where = env_var(cls, name, prefix)
            if not _is_secret(cls, name) and name in cls.model_fields:
                where += f" / {flag_name(cls, name)}"
            value = error.get("input")
            shown = "" if _is_secret(cls, name) or isinstance(value, dict) else f" ({value!r})"
            problems.append(f"{where}: {message}{shown}")
        else:
            problems.extend(message.split("\n"))
    return problems


def load_settings(cls: type[S], args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None,
                  prefix: str | None = None) -> S:
    """Build `cls` from flags (args) and an environment mapping (default os.environ); ConfigError lists all problems."""
    token = _ENVIRON.set(environ)
    try:
        extra: dict[str, Any] = {"_env_prefix": prefix} if prefix is not None else {}
        return cls(**flag_values(args, cls), **extra)
    except ValidationError as exc:
        raise ConfigError(problems_of(exc, cls, prefix)) from None
    finally:
        _ENVIRON.reset(token)
