"""Routing file: channels and ordered rules, validated at load; route(event) -> recipients.

Pure: no I/O except `load_routing`, which reads the file. Secrets are never in the file; channels
name the environment variables that hold them (`secret_env`, `url_env`, `routing_key_env`, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.notify.config_file import also_failing, file_problems, read_toml
from monitor.notify.events import EVENT_TYPES, MET, TRIGGER_TYPES, SlaNotice

CHANNEL_KINDS: tuple[str, ...] = ("webhook", "slack", "pagerduty", "email", "alertmanager")
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
CONTACT_PREFIX = "contact:"
SMTP_SECURITY: tuple[str, ...] = ("starttls", "tls", "none")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: A contact role (`contact:<role>` in routing, a key of [customers.<id>] in contacts).
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


class RoutingError(ValueError):
    """The routing file is invalid; `problems` lists every 'file: key: problem' found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid routing file:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RetrySettings:
    """Bounded retries with exponential backoff and jitter, per channel."""

    max_attempts: int = 5
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    timeout_seconds: float = 10.0
    max_retry_after_seconds: float = 300.0


@dataclass(frozen=True)
class BurstSettings:
    """Above `max_events` per `per_seconds` to one target, fold further events into a digest."""

    max_events: int
    per_seconds: float


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how an email channel submits mail."""

    host: str
    port: int
    security: str
    sender: str
    username_env: str | None = None
    password_env: str | None = None
    message_id_domain: str | None = None


@dataclass(frozen=True)
class ChannelSpec:
    """One named channel from the routing file (no secret values, only env var names)."""

    name: str
    kind: str
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None
    routing_key_env: str | None = None
    smtp: SmtpSettings | None = None
    repost_seconds: float = 60.0
    to: tuple[str, ...] = ()
    retry: RetrySettings = field(default_factory=RetrySettings)
    burst: BurstSettings | None = None

    def env_names(self) -> dict[str, str]:
        """Setting name -> environment variable name, for every secret this channel needs."""
        names = {
            "url_env": self.url_env,
            "secret_env": self.secret_env,
            "routing_key_env": self.routing_key_env,
            "username_env": self.smtp.username_env if self.smtp else None,
            "password_env": self.smtp.password_env if self.smtp else None,
        }
        return {key: value for key, value in names.items() if value}


@dataclass(frozen=True)
class Recipient:
    """A channel plus an optional target (email: an address or `contact:<role>`)."""

    channel: str
    to: str | None = None

    @property
    def key(self) -> str:
        """The delivery target key used for de-duplication and rate limiting."""
        return self.channel if self.to is None else f"{self.channel}>{self.to}"


@dataclass(frozen=True)
class Match:
    """Conditions of a rule; None means 'any'. Strings are fnmatch patterns."""

    types: tuple[str, ...] = tuple(sorted(TRIGGER_TYPES))
    plans: tuple[str, ...] | None = None
    priorities: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    metrics: tuple[str, ...] | None = None
    customers: tuple[str, ...] | None = None
    thresholds: tuple[float, ...] | None = None

    def matches(self, notice: SlaNotice) -> bool:
        """True when every condition holds for the event."""
        if notice.type not in self.types:
            return False
        for patterns, value in (
            (self.plans, notice.plan),
            (self.priorities, notice.priority),
            (self.regions, notice.region),
            (self.metrics, notice.metric),
            (self.customers, notice.customer_id),
        ):
            if patterns is not None and (value is None or not any(fnmatchcase(value, p) for p in patterns)):
                return False
        if self.thresholds is not None:
            if notice.threshold is None:
                return False
            return any(math.isclose(notice.threshold, t, abs_tol=1e-9) for t in self.thresholds)
        return True


@dataclass(frozen=True)
class Rule:
    """An ordered routing rule: when `match` holds, notify these recipients."""

    name: str
    match: Match
    notify: tuple[Recipient, ...]
    continue_: bool = False


@dataclass(frozen=True)
class Routing:
    """A validated routing file."""

    source: str
    channels: dict[str, ChannelSpec]
    rules: tuple[Rule, ...]

    def contact_roles(self) -> frozenset[str]:
        """Every `contact:<role>` the rules or channels refer to."""
        targets = [r.to for rule in self.rules for r in rule.notify if r.to]
        targets += [t for ch in self.channels.values() for t in ch.to]
        return frozenset(t[len(CONTACT_PREFIX):] for t in targets if t.startswith(CONTACT_PREFIX))


def route(routing: Routing, notice: SlaNotice) -> tuple[Recipient, ...]:
    """Recipients for an event: rules in order, first match wins unless it says `continue`."""
    chosen: dict[str, Recipient] = {}
    for rule in routing.rules:
        if not rule.match.matches(notice):
            continue
        for recipient in rule.notify:
            chosen.setdefault(recipient.key, recipient)
        if not rule.continue_:
            break
    return tuple(chosen.values())


# --- parsing and validation (pydantic; messages in the words of the file) ---------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _named(pattern: re.Pattern[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not pattern.match(text := _text(value)):
            raise ValueError(f"{text!r} is not a valid name (pattern {pattern.pattern})")
        return text
    return check


def _number(minimum: float, integer: bool = False) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        wrong_kind = isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
        if wrong_kind or not math.isfinite(value):
            raise ValueError(f"expected {'an integer' if integer else 'a number'}, got {value!r}")
        if value < minimum:
            raise ValueError(f"must be >= {minimum}, got {value!r}")
        return value
    return check


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)
    return check


def _unsupported(reason: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        raise ValueError(f"not supported for {reason}")
    return check


def _url(value: Any) -> str:
    if not (url := _text(value)).startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL, got {url!r}")
    return url


def _email_target(value: Any) -> str:
    target = _text(value)
    if target.startswith(CONTACT_PREFIX):
        if not ROLE_NAME.match(role := target[len(CONTACT_PREFIX):]):
            raise ValueError(f"contact role {role!r} must be lower_snake_case, e.g. contact:named_support_engineer")
    elif "@" not in target or any(c.isspace() for c in target):
        raise ValueError(f"{target!r} is neither an email address nor contact:<role>")
    return target


def _email_address(value: Any) -> str:
    if (address := _email_target(value)).startswith(CONTACT_PREFIX):
        raise ValueError("must be an email address")
    return address


def _targets(value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("expected an address or a list of addresses")
    return items


def _patterns(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"expected a string or a non-empty list of strings, got {value!r}")
    return tuple(items)


def _event_types(value: Any) -> tuple[str, ...]:
    types = _patterns(value)
    if unknown := [s for s in types if s not in EVENT_TYPES]:
        raise ValueError(f"unknown event type(s) {unknown}; expected {', '.join(EVENT_TYPES)}")
    return types


def _thresholds(value: Any) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    numbers = [v for v in items if not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v <= 1]
    if not items or len(numbers) != len(items):
        raise ValueError(f"expected a number in (0, 1] or a list of them, got {value!r}")
    return tuple(float(n) for n in numbers)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _non_empty(problem: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValueError(problem)
        return value
    return check


def _version(value: Any) -> int:
    if value != 1:
        raise ValueError(f"unsupported version {value!r}; expected 1")
    return 1


def _channel_name(name: str) -> str:
    if not _CHANNEL_NAME.match(name):
        raise ValueError("channel names are letters, digits, '_', '.', '-'")
    return name


def _channel_table(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table, got {type(value).__name__}")
    if not value:
        raise ValueError("at least one channel is required")
    return value


Text = Annotated[str, BeforeValidator(_text)]
EnvName = Annotated[str, BeforeValidator(_named(_ENV_NAME))]
Url = Annotated[str, BeforeValidator(_url)]
EmailTarget = Annotated[str, BeforeValidator(_email_target)]
Patterns = Annotated[tuple[str, ...], BeforeValidator(_patterns)]
Count = Annotated[int, BeforeValidator(_number(1, integer=True))]
Seconds = Annotated[float, BeforeValidator(_number(0))]
Timeout = Annotated[float, BeforeValidator(_number(0.001))]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _table(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"expected a table, got {type(data).__name__}")
        return data


class RetryModel(_Table):
    """[*.retry]: any of RetrySettings' fields; the rest come from defaults.retry."""

    max_attempts: Count | None = None
    base_seconds: Seconds | None = None
    max_seconds: Seconds | None = None
    timeout_seconds: Timeout | None = None
    max_retry_after_seconds: Seconds | None = None

    def over(self, base: RetrySettings) -> RetrySettings:
        """These settings on top of `base`."""
        return replace(base, **self.model_dump(exclude_none=True))

    @model_validator(mode="after")
    def _backoff_ordered(self, info: ValidationInfo) -> RetryModel:
        merged = self.over((info.context or {}).get("retry", RetrySettings()))
        if merged.max_seconds < merged.base_seconds:
            also_failing(type(self).__name__, self.max_seconds, None, "must be >= base_seconds", at=("max_seconds",))
        return self


class BurstModel(_Table):
    """[*.burst]."""

    max_events: Count
    per_seconds: Timeout

    def settings(self) -> BurstSettings:
        """As the delivery side uses it."""
        return BurstSettings(max_events=self.max_events, per_seconds=self.per_seconds)


class DefaultsModel(_Table):
    """[defaults]: retry and burst for every channel that does not set its own."""

    retry: RetryModel | None = None
    burst: BurstModel | None = None

    def retry_settings(self) -> RetrySettings:
        """defaults.retry over the built-in defaults."""
        return self.retry.over(RetrySettings()) if self.retry else RetrySettings()


class _Channel(_Table):
    retry: RetryModel | None = None
    burst: BurstModel | None = None

    def spec(self, base: ChannelSpec) -> ChannelSpec:
        """The ChannelSpec of this table, on top of `base` (name, kind, retry and burst resolved)."""
        return base


class _UrlChannel(_Channel):
    default_url: ClassVar[str | None] = None
    url: Url | None = None
    url_env: EnvName | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _one_url(cls, data: Any, handler: ModelWrapValidatorHandler[_UrlChannel]) -> _UrlChannel:
        given = [key for key in ("url", "url_env") if isinstance(data, dict) and key in data]
        if len(given) == 2:
            also_failing(cls.__name__, data, handler, "set either url or url_env, not both")
        if not given and cls.default_url is None and isinstance(data, dict):
            also_failing(cls.__name__, data, handler, "one of url or url_env is required")
        return handler(data)

    def spec(self, base: ChannelSpec) -> ChannelSpec:
        """url (or its default) and url_env."""
        url = self.url if self.url is not None or self.url_env is not None else self.default_url
        return replace(base, url=url, url_env=self.url_env)


class WebhookChannel(_UrlChannel):
    """kind = "webhook": a signed POST."""

    kind: Literal["webhook"]
    secret_env: EnvName = Field(description="webhooks are signed (Standard Webhooks, HMAC-SHA256) with this secret")

    def spec(self, base: ChannelSpec) -> ChannelSpec:
        """Plus the signing secret's variable."""
        return replace(super().spec(base), secret_env=self.secret_env)


class SlackChannel(_Channel):
    """kind = "slack": an incoming webhook."""

    kind: Literal["slack"]
    url_env: EnvName = Field(description="a Slack webhook URL embeds its secret, so it comes from the environment")

    def spec(self, base: ChannelSpec) -> ChannelSpec:
        """The URL's variable."""
        return replace(base, url_env=self.url_env)


class PagerdutyChannel(_UrlChannel):
    """kind = "pagerduty": Events API v2."""

    default_url: ClassVar[str | None] = PAGERDUTY_EVENTS_URL
    kind: Literal["pagerduty"]
    routing_key_env: EnvName = Field(description="the integration's routing key comes from the environment")
    burst: Annotated[None, BeforeValidator(_unsupported(
        "pagerduty: incidents are de-duplicated by dedup_key instead"))] = None

    def spec(self, base: ChannelSpec) -> ChannelSpec:
        """No burst folding; the routing key's variable."""
        return replace(super().spec(base), burst=None, routing_key_env=self.routing_key_env)


class AlertmanagerChannel(_UrlChannel):
    """kind = "alertmanager": alerts re-posted while open."""

    kind: Literal["alertmanager"]
    repost_seconds: Annotated[float, BeforeValidator(_number(1.0))] = 60.0
    burst: Annotated[None, BeforeValidator(_unsupported("alertmanager: Alertmanager groups alerts itself"))] = None

    def spec(self, base: ChannelSpec) -> ChannelSpec:
        """No burst folding; the re-post interval."""
        return replace(super().spec(base), burst=None, repost_seconds=self.repost_seconds)


class EmailChannel(_Channel):
    """kind = "email": SMTP submission."""

    kind: Literal["email"]
    host: Text
    port: Count = 587
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    security: Annotated[str, BeforeValidator(_one_of(SMTP_SECURITY))] = "starttls"
    sender: Annotated[str, BeforeValidator(_email_address)] = Field(alias="from")
    to: Annotated[tuple[EmailTarget, ...], BeforeValidator(_targets)] = ()
    message_id_domain: Annotated[str, BeforeValidator(_named(_DOMAIN))] | None = None

    @field_validator("security")
    @classmethod
    def _no_plain_credentials(cls, security: str, info: ValidationInfo) -> str:
        if security == "none" and (info.data.get("username_env") or info.data.get("password_env")):
            raise ValueError('refusing to send SMTP credentials over security = "none"; use "starttls" or "tls"')
        return security

    @model_validator(mode="after")
    def _credentials_pair(self) -> EmailChannel:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("username_env and password_env go together")
        return self

    def spec(self, base: ChannelSpec) -> ChannelSpec:
        """SMTP settings and default recipients."""
        smtp = SmtpSettings(host=self.host, port=self.port, security=self.security, sender=self.sender,
                            username_env=self.username_env, password_env=self.password_env,
                            message_id_domain=self.message_id_domain)
        return replace(base, smtp=smtp, to=self.to)


Channel = Annotated[WebhookChannel | SlackChannel | PagerdutyChannel | EmailChannel | AlertmanagerChannel,
                    Field(discriminator="kind")]


class MatchModel(_Table):
    """[rules.match]: every condition must hold; strings are fnmatch patterns."""

    types: Annotated[tuple[str, ...], BeforeValidator(_event_types)] = Field(tuple(sorted(TRIGGER_TYPES)), alias="type")
    plans: Patterns | None = Field(None, alias="plan")
    priorities: Patterns | None = Field(None, alias="priority")
    regions: Patterns | None = Field(None, alias="region")
    metrics: Patterns | None = Field(None, alias="metric")
    customers: Patterns | None = Field(None, alias="customer")
    thresholds: Annotated[tuple[float, ...], BeforeValidator(_thresholds)] | None = Field(None, alias="threshold")

    @field_validator("thresholds")
    @classmethod
    def _met_has_none(cls, thresholds: tuple[float, ...] | None, info: ValidationInfo) -> tuple[float, ...] | None:
        if thresholds is not None and info.data.get("types") == (MET,):
            raise ValueError("sla.met events have no threshold; this rule can never match")
        return thresholds


class RecipientModel(_Table):
    """A channel name, or { channel = ..., to = ... }; the channel must be defined in the same file."""

    channel: str
    to: EmailTarget | None = None

    @model_validator(mode="before")
    @classmethod
    def _table(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, str):
            data = {"channel": data}
        if not isinstance(data, dict):
            raise ValueError(f"expected a channel name or {{ channel = ..., to = ... }}, got {data!r}")
        channels = (info.context or {}).get("channels", {})
        channel = data.get("channel")
        if not isinstance(channel, str) or channel not in channels:
            raise ValueError(f"unknown channel {channel!r} (defined: {', '.join(sorted(channels)) or 'none'})")
        table = channels[channel] if isinstance(channels[channel], dict) else {}
        if data.get("to") is None and table.get("kind") == "email" and not table.get("to"):
            raise ValueError(f"email channel {channel!r} has no default 'to'; give this recipient a 'to'")
        return data

    @field_validator("to")
    @classmethod
    def _email_only(cls, to: str | None, info: ValidationInfo) -> str | None:
        channel = info.data.get("channel", "")
        table = (info.context or {}).get("channels", {}).get(channel)
        kind = table.get("kind") if isinstance(table, dict) else None
        if to is not None and kind in CHANNEL_KINDS and kind != "email":
            raise ValueError(f"only email channels take a target; {channel!r} is {kind}")
        return to


class RuleModel(_Table):
    """[[rules]]."""

    name: Text | None = None
    match: MatchModel = MatchModel.model_validate({})
    notify: Annotated[tuple[RecipientModel, ...], BeforeValidator(_non_empty("required: a non-empty list of channels"))] = Field(
        description="a non-empty list of channels")
    continue_: Annotated[bool, BeforeValidator(_boolean)] = Field(False, alias="continue")

    def rule(self, index: int) -> Rule:
        """The routing rule (unnamed rules are called rules[i])."""
        match = Match(**self.match.model_dump(exclude_none=True))
        notify = tuple(Recipient(channel=r.channel, to=r.to) for r in self.notify)
        return Rule(name=self.name or f"rules[{index}]", match=match, notify=notify, continue_=self.continue_)


class RoutingModel(_Table):
    """The whole routing file."""

    version: Annotated[int, BeforeValidator(_version)] = 1
    defaults: DefaultsModel = Field(default_factory=DefaultsModel)
    channels: Annotated[dict[Annotated[str, AfterValidator(_channel_name)], Channel], BeforeValidator(_channel_table)] = Field(
        default_factory=dict, validate_default=True)
    rules: Annotated[tuple[RuleModel, ...], BeforeValidator(_non_empty("at least one [[rules]] entry is required"))] = Field(
        (), validate_default=True)

    @field_validator("defaults")
    @classmethod
    def _share_defaults(cls, defaults: DefaultsModel, info: ValidationInfo) -> DefaultsModel:
        if isinstance(info.context, dict):
            info.context["retry"] = defaults.retry_settings()  # channels' retry tables are checked on top of it
        return defaults

    def channel_specs(self) -> dict[str, ChannelSpec]:
        """name -> ChannelSpec, defaults applied."""
        specs = {}
        for name, table in self.channels.items():
            retry = table.retry.over(self.defaults.retry_settings()) if table.retry else self.defaults.retry_settings()
            burst = table.burst or self.defaults.burst
            specs[name] = table.spec(ChannelSpec(name=name, kind=table.kind, retry=retry, burst=burst.settings() if burst else None))
        return specs


def parse_routing(data: dict[str, Any], source: str = "<routing>") -> Routing:
    """Validate a parsed TOML document into a Routing; raise RoutingError listing every problem."""
    channels = data.get("channels")
    context: dict[str, Any] = {"channels": channels if isinstance(channels, dict) else {}}
    try:
        model = RoutingModel.model_validate(data, context=context)
    except ValidationError as exc:
        raise RoutingError(file_problems(source, exc, RoutingModel, data)) from None
    rules = tuple(rule.rule(index) for index, rule in enumerate(model.rules))
    return Routing(source=source, channels=model.channel_specs(), rules=rules)


def load_routing(path: str | Path) -> Routing:
    """Read and validate a routing TOML file."""
    data, problem = read_toml(path)
    if data is None:
        raise RoutingError([problem or f"{path}: cannot read"])
    return parse_routing(data, str(path))
