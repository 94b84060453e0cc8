"""Routing file: channels and ordered rules, validated at load; route(event) -> recipients.

Pure: no I/O except `load_routing`, which reads the file. Secrets are never in the file; channels
name the environment variables that hold them (`secret_env`, `url_env`, `routing_key_env`, ...).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from monitor.notify.events import EVENT_TYPES, MET, TRIGGER_TYPES, SlaNotice

CHANNEL_KINDS: tuple[str, ...] = ("webhook", "slack", "pagerduty", "email", "alertmanager")
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
CONTACT_PREFIX = "contact:"
SMTP_SECURITY: tuple[str, ...] = ("starttls", "tls", "none")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
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


# --- parsing and validation -------------------------------------------------------------------


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append(f"{self.source}: {key}: {problem}")


def _unknown_keys(table: dict[str, Any], allowed: set[str], where: str, problems: _Problems) -> None:
    for key in table:
        if key not in allowed:
            problems.add(f"{where}.{key}" if where else key, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _string(value: Any, where: str, problems: _Problems, pattern: re.Pattern[str] | None = None) -> str | None:
    if not isinstance(value, str) or not value:
        problems.add(where, f"expected a non-empty string, got {value!r}")
        return None
    if pattern is not None and not pattern.match(value):
        problems.add(where, f"{value!r} is not a valid name (pattern {pattern.pattern})")
        return None
    return value


def _env_name(table: dict[str, Any], key: str, where: str, problems: _Problems) -> str | None:
    if key not in table:
        return None
    return _string(table[key], f"{where}.{key}", problems, _ENV_NAME)


def _number(value: Any, where: str, problems: _Problems, minimum: float, integer: bool = False) -> float | None:
    wrong_kind = isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int))
    if wrong_kind or not math.isfinite(value):
        problems.add(where, f"expected {'an integer' if integer else 'a number'}, got {value!r}")
        return None
    number = float(value)
    if number < minimum:
        problems.add(where, f"must be >= {minimum}, got {value!r}")
        return None
    return number


def _table(value: Any, where: str, problems: _Problems) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problems.add(where, f"expected a table, got {type(value).__name__}")
        return None
    return value


def _parse_retry(table: Any, base: RetrySettings, where: str, problems: _Problems) -> RetrySettings:
    checked = _table(table, where, problems)
    if checked is None:
        return base
    _unknown_keys(checked, set(RetrySettings.__dataclass_fields__), where, problems)
    values: dict[str, Any] = {}
    for key, minimum, integer in (
        ("max_attempts", 1, True),
        ("base_seconds", 0, False),
        ("max_seconds", 0, False),
        ("timeout_seconds", 0.001, False),
        ("max_retry_after_seconds", 0, False),
    ):
        if key in checked:
            number = _number(checked[key], f"{where}.{key}", problems, minimum, integer)
            if number is not None:
                values[key] = int(number) if integer else number
    merged = replace(base, **values)
    if merged.max_seconds < merged.base_seconds:
        problems.add(f"{where}.max_seconds", "must be >= base_seconds")
    return merged


def _parse_burst(table: Any, where: str, problems: _Problems) -> BurstSettings | None:
    checked = _table(table, where, problems)
    if checked is None:
        return None
    _unknown_keys(checked, {"max_events", "per_seconds"}, where, problems)
    missing = [k for k in ("max_events", "per_seconds") if k not in checked]
    for key in missing:
        problems.add(f"{where}.{key}", "required")
    if missing:
        return None
    max_events = _number(checked["max_events"], f"{where}.max_events", problems, 1, integer=True)
    per_seconds = _number(checked["per_seconds"], f"{where}.per_seconds", problems, 0.001)
    if max_events is None or per_seconds is None:
        return None
    return BurstSettings(max_events=int(max_events), per_seconds=float(per_seconds))


def _email_target(value: Any, where: str, problems: _Problems) -> str | None:
    target = _string(value, where, problems)
    if target is None:
        return None
    if target.startswith(CONTACT_PREFIX):
        role = target[len(CONTACT_PREFIX):]
        if not _ROLE_NAME.match(role):
            problems.add(where, f"contact role {role!r} must be lower_snake_case, e.g. contact:named_support_engineer")
            return None
        return target
    if "@" not in target or any(c.isspace() for c in target):
        problems.add(where, f"{target!r} is neither an email address nor contact:<role>")
        return None
    return target


_COMMON_KEYS = {"kind", "retry", "burst"}
_KIND_KEYS: dict[str, set[str]] = {
    "webhook": {"url", "url_env", "secret_env"},
    "slack": {"url_env"},
    "pagerduty": {"url", "url_env", "routing_key_env"},
    "email": {"host", "port", "security", "username_env", "password_env", "from", "to", "message_id_domain"},
    "alertmanager": {"url", "url_env", "repost_seconds"},
}


def _parse_url(table: dict[str, Any], where: str, problems: _Problems, default: str | None) -> tuple[str | None, str | None]:
    url_env = _env_name(table, "url_env", where, problems)
    url = table.get("url")
    if url is not None:
        url = _string(url, f"{where}.url", problems)
        if url is not None and not url.startswith(("http://", "https://")):
            problems.add(f"{where}.url", f"expected an http(s) URL, got {url!r}")
    if url is not None and url_env is not None:
        problems.add(where, "set either url or url_env, not both")
    if url is None and url_env is None and "url" not in table and "url_env" not in table:
        if default is None:
            problems.add(where, "one of url or url_env is required")
        url = default
    return url, url_env


def _parse_channel(name: str, table: Any, defaults: tuple[RetrySettings, BurstSettings | None], problems: _Problems) -> ChannelSpec | None:
    where = f"channels.{name}"
    if not _CHANNEL_NAME.match(name):
        problems.add(where, "channel names are letters, digits, '_', '.', '-'")
    checked = _table(table, where, problems)
    if checked is None:
        return None
    kind = checked.get("kind")
    if kind not in CHANNEL_KINDS:
        problems.add(f"{where}.kind", f"expected one of {', '.join(CHANNEL_KINDS)}, got {kind!r}")
        return None
    _unknown_keys(checked, _COMMON_KEYS | _KIND_KEYS[kind], where, problems)
    retry_default, burst_default = defaults
    retry = _parse_retry(checked["retry"], retry_default, f"{where}.retry", problems) if "retry" in checked else retry_default
    burst = _parse_burst(checked["burst"], f"{where}.burst", problems) if "burst" in checked else burst_default
    spec = ChannelSpec(name=name, kind=kind, retry=retry, burst=burst)
    if kind == "webhook":
        url, url_env = _parse_url(checked, where, problems, default=None)
        secret_env = _env_name(checked, "secret_env", where, problems)
        if "secret_env" not in checked:
            problems.add(f"{where}.secret_env", "required: webhooks are signed (Standard Webhooks, HMAC-SHA256) with this secret")
        return replace(spec, url=url, url_env=url_env, secret_env=secret_env)
    if kind == "slack":
        if "url_env" not in checked:
            problems.add(f"{where}.url_env", "required: a Slack webhook URL embeds its secret, so it comes from the environment")
        return replace(spec, url_env=_env_name(checked, "url_env", where, problems))
    if kind == "pagerduty":
        if "burst" in checked:
            problems.add(f"{where}.burst", "not supported for pagerduty: incidents are de-duplicated by dedup_key instead")
        url, url_env = _parse_url(checked, where, problems, default=PAGERDUTY_EVENTS_URL)
        if "routing_key_env" not in checked:
            problems.add(f"{where}.routing_key_env", "required: the integration's routing key comes from the environment")
        return replace(spec, url=url, url_env=url_env, burst=None,
                       routing_key_env=_env_name(checked, "routing_key_env", where, problems))
    if kind == "alertmanager":
        if "burst" in checked:
            problems.add(f"{where}.burst", "not supported for alertmanager: Alertmanager groups alerts itself")
        url, url_env = _parse_url(checked, where, problems, default=None)
        repost = _number(checked.get("repost_seconds", 60.0), f"{where}.repost_seconds", problems, 1.0)
        return replace(spec, url=url, url_env=url_env, burst=None, repost_seconds=repost or 60.0)
    host = _string(checked.get("host"), f"{where}.host", problems)
    port = _number(checked.get("port", 587), f"{where}.port", problems, 1, integer=True)
    security = checked.get("security", "starttls")
    if security not in SMTP_SECURITY:
        problems.add(f"{where}.security", f"expected one of {', '.join(SMTP_SECURITY)}, got {security!r}")
    sender = _email_target(checked.get("from"), f"{where}.from", problems)
    if sender is not None and sender.startswith(CONTACT_PREFIX):
        problems.add(f"{where}.from", "must be an email address")
    username_env = _env_name(checked, "username_env", where, problems)
    password_env = _env_name(checked, "password_env", where, problems)
    if (username_env is None) != (password_env is None):
        problems.add(where, "username_env and password_env go together")
    if security == "none" and (username_env or password_env):
        problems.add(f"{where}.security", 'refusing to send SMTP credentials over security = "none"; use "starttls" or "tls"')
    domain = checked.get("message_id_domain")
    if domain is not None and (_string(domain, f"{where}.message_id_domain", problems, _DOMAIN) is None):
        domain = None
    raw_to = checked.get("to", [])
    if isinstance(raw_to, str):
        raw_to = [raw_to]
    if not isinstance(raw_to, list):
        problems.add(f"{where}.to", "expected an address or a list of addresses")
        raw_to = []
    to = tuple(t for i, v in enumerate(raw_to) if (t := _email_target(v, f"{where}.to[{i}]", problems)))
    if host is None or port is None or sender is None:
        return None
    smtp = SmtpSettings(host=host, port=int(port), security=str(security), sender=sender,
                        username_env=username_env, password_env=password_env, message_id_domain=domain)
    return replace(spec, smtp=smtp, to=to)


_MATCH_KEYS: dict[str, str] = {
    "type": "types", "plan": "plans", "priority": "priorities", "region": "regions",
    "metric": "metrics", "customer": "customers", "threshold": "thresholds",
}


def _string_list(value: Any, where: str, problems: _Problems) -> tuple[str, ...] | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        problems.add(where, f"expected a string or a non-empty list of strings, got {value!r}")
        return None
    return tuple(items)


def _parse_match(table: Any, where: str, problems: _Problems) -> Match:
    checked = _table(table, where, problems)
    if checked is None:
        return Match()
    _unknown_keys(checked, set(_MATCH_KEYS), where, problems)
    values: dict[str, Any] = {}
    for key, attr in _MATCH_KEYS.items():
        if key not in checked:
            continue
        value = checked[key]
        if key == "threshold":
            items = value if isinstance(value, list) else [value]
            numbers = [v for v in items if not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v <= 1]
            if not items or len(numbers) != len(items):
                problems.add(f"{where}.threshold", f"expected a number in (0, 1] or a list of them, got {value!r}")
                continue
            values[attr] = tuple(float(n) for n in numbers)
            continue
        strings = _string_list(value, f"{where}.{key}", problems)
        if strings is None:
            continue
        if key == "type":
            unknown = [s for s in strings if s not in EVENT_TYPES]
            if unknown:
                problems.add(f"{where}.type", f"unknown event type(s) {unknown}; expected {', '.join(EVENT_TYPES)}")
                continue
        values[attr] = strings
    match = Match(**values)
    if match.thresholds is not None and match.types == (MET,):
        problems.add(f"{where}.threshold", "sla.met events have no threshold; this rule can never match")
    return match


def _parse_recipient(value: Any, where: str, channels: dict[str, ChannelSpec], names: set[str], problems: _Problems) -> Recipient | None:
    channel: Any
    to: Any
    if isinstance(value, str):
        channel, to = value, None
    elif isinstance(value, dict):
        _unknown_keys(value, {"channel", "to"}, where, problems)
        channel, to = value.get("channel"), value.get("to")
    else:
        problems.add(where, f"expected a channel name or {{ channel = ..., to = ... }}, got {value!r}")
        return None
    if not isinstance(channel, str) or channel not in names:
        problems.add(where, f"unknown channel {channel!r} (defined: {', '.join(sorted(names)) or 'none'})")
        return None
    spec = channels.get(channel)
    if to is not None:
        if spec is not None and spec.kind != "email":
            problems.add(f"{where}.to", f"only email channels take a target; {channel!r} is {spec.kind}")
            return None
        to = _email_target(to, f"{where}.to", problems)
        if to is None:
            return None
    elif spec is not None and spec.kind == "email" and not spec.to:
        problems.add(where, f"email channel {channel!r} has no default 'to'; give this recipient a 'to'")
        return None
    return Recipient(channel=channel, to=to)


def _parse_rule(index: int, table: Any, channels: dict[str, ChannelSpec], names: set[str], problems: _Problems) -> Rule | None:
    where = f"rules[{index}]"
    checked = _table(table, where, problems)
    if checked is None:
        return None
    _unknown_keys(checked, {"name", "match", "notify", "continue"}, where, problems)
    name = checked.get("name", where)
    if not isinstance(name, str) or not name:
        problems.add(f"{where}.name", f"expected a non-empty string, got {name!r}")
        name = where
    where = f"{where} ({name})" if "name" in checked else where
    match = _parse_match(checked.get("match", {}), f"{where}.match", problems)
    notify_raw = checked.get("notify")
    if not isinstance(notify_raw, list) or not notify_raw:
        problems.add(f"{where}.notify", "required: a non-empty list of channels")
        return None
    recipients = [_parse_recipient(v, f"{where}.notify[{i}]", channels, names, problems) for i, v in enumerate(notify_raw)]
    cont = checked.get("continue", False)
    if not isinstance(cont, bool):
        problems.add(f"{where}.continue", f"expected true or false, got {cont!r}")
        cont = False
    return Rule(name=name, match=match, notify=tuple(r for r in recipients if r), continue_=cont)


def parse_routing(data: dict[str, Any], source: str = "<routing>") -> Routing:
    """Validate a parsed TOML document into a Routing; raise RoutingError listing every problem."""
    problems = _Problems(source)
    _unknown_keys(data, {"version", "defaults", "channels", "rules"}, "", problems)
    if data.get("version", 1) != 1:
        problems.add("version", f"unsupported version {data.get('version')!r}; expected 1")
    retry_default, burst_default = RetrySettings(), None
    defaults = data.get("defaults", {})
    if _table(defaults, "defaults", problems) is not None:
        _unknown_keys(defaults, {"retry", "burst"}, "defaults", problems)
        if "retry" in defaults:
            retry_default = _parse_retry(defaults["retry"], retry_default, "defaults.retry", problems)
        if "burst" in defaults:
            burst_default = _parse_burst(defaults["burst"], "defaults.burst", problems)
    channels_raw = data.get("channels", {})
    if _table(channels_raw, "channels", problems) is None:
        channels_raw = {}
    if not channels_raw:
        problems.add("channels", "at least one channel is required")
    parsed = {name: _parse_channel(name, table, (retry_default, burst_default), problems) for name, table in channels_raw.items()}
    channels = {name: spec for name, spec in parsed.items() if spec is not None}
    rules_raw = data.get("rules", [])
    if not isinstance(rules_raw, list) or not rules_raw:
        problems.add("rules", "at least one [[rules]] entry is required")
        rules_raw = []
    names = set(channels_raw)
    rules = [_parse_rule(i, table, channels, names, problems) for i, table in enumerate(rules_raw)]
    if problems.items:
        raise RoutingError(problems.items)
    return Routing(source=source, channels=channels, rules=tuple(r for r in rules if r))


def load_routing(path: str | Path) -> Routing:
    """Read and validate a routing TOML file."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise RoutingError([f"{source}: not valid TOML: {exc}"]) from None
    return parse_routing(data, source)
