from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.notify.routing import Recipient, RoutingError, load_routing, parse_routing, route
from tests.notify.factories import notice

EXAMPLE = Path(__file__).parents[2] / "monitor" / "notify" / "example-routing.toml"


@pytest.fixture(scope="module")
def example():  # type: ignore[no-untyped-def]
    return load_routing(EXAMPLE)


def keys(recipients: tuple[Recipient, ...]) -> list[str]:
    return [r.key for r in recipients]


# --- the example escalation ladder ---------------------------------------------------------

def test_ladder_75_percent_goes_to_the_regional_team(example) -> None:  # type: ignore[no-untyped-def]
    got = route(example, notice(threshold=0.75, region="emea", plan="adobe-online"))
    assert keys(got) == ["emea-team-slack", "team-webhook"]
    got = route(example, notice(threshold=0.75, region="apac", plan="adobe-online"))
    assert keys(got) == ["apac-team-slack", "team-webhook"]


def test_ladder_90_percent_goes_to_the_escalation_manager(example) -> None:  # type: ignore[no-untyped-def]
    got = route(example, notice(threshold=0.9, plan="adobe-online"))
    assert keys(got) == ["escalation-slack", "email"]


def test_only_p1_and_severity_a_breaches_page_the_duty_manager(example) -> None:  # type: ignore[no-untyped-def]
    for priority in ("P1", "A"):
        got = route(example, notice(type="sla.breach", plan="adobe-online", priority=priority))
        assert keys(got) == ["escalation-slack", "email", "duty-manager-pagerduty"], priority
    for priority in ("P2", "P4", "B", "C"):
        got = route(example, notice(type="sla.breach", plan="adobe-online", priority=priority))
        assert keys(got) == ["escalation-slack", "email"], priority
    for threshold in (0.75, 0.9):  # warnings never page
        assert "duty-manager-pagerduty" not in keys(route(example, notice(threshold=threshold, priority="P1")))


def test_enterprise_adds_the_named_support_engineer_and_continues(example) -> None:  # type: ignore[no-untyped-def]
    got = route(example, notice(threshold=0.75, plan="adobe-enterprise", region="emea"))
    assert keys(got) == ["email>contact:named_support_engineer", "emea-team-slack", "team-webhook"]


def test_business_account_lead_only_from_90_percent(example) -> None:  # type: ignore[no-untyped-def]
    assert "email>contact:account_support_lead" not in keys(route(example, notice(threshold=0.75, plan="adobe-business")))
    assert keys(route(example, notice(threshold=0.9, plan="adobe-business")))[0] == "email>contact:account_support_lead"


def test_met_events_match_only_rules_that_name_them(example) -> None:  # type: ignore[no-untyped-def]
    assert route(example, notice(type="sla.met")) == ()


# --- semantics ------------------------------------------------------------------------------

def small(rules: list[dict[str, Any]]) -> Any:
    channels = {name: {"kind": "webhook", "url": f"http://127.0.0.1/{name}", "secret_env": "S"} for name in "abcd"}
    return parse_routing({"channels": channels, "rules": rules}, "test.toml")


def test_first_match_wins_without_continue() -> None:
    routing = small([
        {"match": {"priority": "P1"}, "notify": ["a"]},
        {"match": {"priority": ["P1", "P2"]}, "notify": ["b"]},
        {"notify": ["c"]},
    ])
    assert keys(route(routing, notice(priority="P1"))) == ["a"]
    assert keys(route(routing, notice(priority="P2"))) == ["b"]
    assert keys(route(routing, notice(priority="P4"))) == ["c"]


def test_continue_accumulates_without_duplicates() -> None:
    routing = small([
        {"match": {"metric": "resolution"}, "notify": ["a", "b"], "continue": True},
        {"notify": ["b", "c"]},
        {"notify": ["d"]},
    ])
    assert keys(route(routing, notice(metric="resolution"))) == ["a", "b", "c"]
    assert keys(route(routing, notice(metric="first_response"))) == ["b", "c"]


def test_every_match_key_is_checked() -> None:
    routing = small([{
        "match": {"type": "sla.breach", "plan": "*-enterprise", "priority": "P1", "region": "emea",
                  "metric": "resolution", "customer": "acme", "threshold": 1.0},
        "notify": ["a"],
    }])
    hit = dict(type="sla.breach", plan="adobe-enterprise", priority="P1", region="emea", metric="resolution", customer_id="acme")
    assert keys(route(routing, notice(**hit))) == ["a"]
    for key, other in [("type", "sla.near_breach"), ("plan", "adobe-business"), ("priority", "P2"),
                       ("region", "amer"), ("metric", "update"), ("customer_id", "globex"), ("customer_id", None)]:
        assert route(routing, notice(**{**hit, key: other})) == (), key


def test_met_rule_matches_met() -> None:
    routing = small([{"match": {"type": "sla.met"}, "notify": ["a"]}])
    assert keys(route(routing, notice(type="sla.met"))) == ["a"]


thresholds = st.sampled_from([0.75, 0.9, 1.0])


@given(
    rules=st.lists(
        st.fixed_dictionaries(
            {"match": st.fixed_dictionaries({}, optional={"threshold": st.lists(thresholds, min_size=1, max_size=2),
                                                          "priority": st.sampled_from(["P1", "P2", "P3"])}),
             "notify": st.lists(st.sampled_from("abcd"), min_size=1, max_size=3),
             "continue": st.booleans()}
        ),
        min_size=1, max_size=6,
    ),
    threshold=thresholds,
    priority=st.sampled_from(["P1", "P2", "P3"]),
)
def test_route_equals_the_rules_up_to_the_first_stopping_match(rules: list[dict[str, Any]], threshold: float, priority: str) -> None:
    routing = small(rules)
    event = notice(threshold=threshold, priority=priority, type="sla.breach" if threshold == 1.0 else "sla.near_breach")
    expected: list[str] = []
    for rule in rules:
        match = rule["match"]
        if "threshold" in match and threshold not in match["threshold"]:
            continue
        if "priority" in match and priority != match["priority"]:
            continue
        for channel in rule["notify"]:
            if channel not in expected:
                expected.append(channel)
        if not rule["continue"]:
            break
    assert keys(route(routing, event)) == expected


# --- validation: every error names the file, the key and the problem -------------------------

def problems_for(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RoutingError) as info:
        parse_routing(data, "routing.toml")
    return info.value.problems


GOOD_CHANNELS = {"hook": {"kind": "webhook", "url": "https://x.example/h", "secret_env": "SECRET"}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": ["nope"]}]}, "routing.toml: rules[0].notify[0]: unknown channel 'nope'"),
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": ["hook"], "match": {"threshold": "high"}}]},
         "routing.toml: rules[0].match.threshold: expected a number in (0, 1]"),
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": ["hook"], "match": {"prio": "P1"}}]},
         "routing.toml: rules[0].match.prio: unknown key"),
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": ["hook"], "match": {"type": "sla.paused"}}]},
         "routing.toml: rules[0].match.type: unknown event type"),
        ({"channels": GOOD_CHANNELS, "rules": [{"name": "x", "notify": []}]}, "routing.toml: rules[0] (x).notify: required"),
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": ["hook"], "continue": "yes"}]},
         "routing.toml: rules[0].continue: expected true or false"),
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": [{"channel": "hook", "to": "contact:named_support_engineer"}]}]},
         "routing.toml: rules[0].notify[0].to: only email channels take a target"),
        ({"channels": {"s": {"kind": "slack", "url": "https://hooks.slack.com/x"}}, "rules": [{"notify": ["s"]}]},
         "routing.toml: channels.s.url_env: required: a Slack webhook URL embeds its secret"),
        ({"channels": {"h": {"kind": "webhook", "url": "https://x"}}, "rules": [{"notify": ["h"]}]},
         "routing.toml: channels.h.secret_env: required"),
        ({"channels": {"h": {"kind": "webhook", "url": "ftp://x", "secret_env": "S"}}, "rules": [{"notify": ["h"]}]},
         "routing.toml: channels.h.url: expected an http(s) URL"),
        ({"channels": {"h": {"kind": "webhook", "url_env": "bad name", "secret_env": "S"}}, "rules": [{"notify": ["h"]}]},
         "routing.toml: channels.h.url_env: 'bad name' is not a valid name"),
        ({"channels": {"h": {"kind": "fax"}}, "rules": [{"notify": ["h"]}]}, "routing.toml: channels.h.kind: expected one of"),
        ({"channels": {"p": {"kind": "pagerduty", "routing_key_env": "K", "burst": {"max_events": 1, "per_seconds": 1}}},
          "rules": [{"notify": ["p"]}]},
         "routing.toml: channels.p.burst: not supported for pagerduty"),
        ({"channels": {"e": {"kind": "email", "host": "h", "from": "a@b"}}, "rules": [{"notify": ["e"]}]},
         "routing.toml: rules[0].notify[0]: email channel 'e' has no default 'to'"),
        ({"channels": {"e": {"kind": "email", "host": "h", "from": "a@b", "to": ["contact:Named Engineer"]}}, "rules": [{"notify": ["e"]}]},
         "routing.toml: channels.e.to[0]: contact role 'Named Engineer' must be lower_snake_case"),
        ({"channels": {"e": {"kind": "email", "host": "h", "from": "a@b", "to": "x@y", "security": "ssl"}}, "rules": [{"notify": ["e"]}]},
         "routing.toml: channels.e.security: expected one of starttls, tls, none"),
        ({"channels": {"e": {"kind": "email", "host": "h", "from": "a@b", "to": "x@y", "username_env": "U"}}, "rules": [{"notify": ["e"]}]},
         "routing.toml: channels.e: username_env and password_env go together"),
        ({"channels": {"e": {"kind": "email", "host": "h", "from": "a@b", "to": "x@y", "security": "none",
                             "username_env": "U", "password_env": "P"}}, "rules": [{"notify": ["e"]}]},
         'routing.toml: channels.e.security: refusing to send SMTP credentials over security = "none"'),
        ({"channels": {"e": {"kind": "email", "host": "h", "from": "a@b", "to": "x@y", "message_id_domain": "not a domain"}},
          "rules": [{"notify": ["e"]}]},
         "routing.toml: channels.e.message_id_domain: 'not a domain' is not a valid name"),
        ({"channels": {"h": {"kind": "webhook", "url": "https://x", "secret_env": "S", "signature_header": "X-Sig"}},
          "rules": [{"notify": ["h"]}]},
         "routing.toml: channels.h.signature_header: unknown key"),
        ({"channels": {"am": {"kind": "alertmanager"}}, "rules": [{"notify": ["am"]}]},
         "routing.toml: channels.am: one of url or url_env is required"),
        ({"channels": {"am": {"kind": "alertmanager", "url": "http://am:9093", "burst": {"max_events": 1, "per_seconds": 1}}},
          "rules": [{"notify": ["am"]}]},
         "routing.toml: channels.am.burst: not supported for alertmanager"),
        ({"channels": {"am": {"kind": "alertmanager", "url": "http://am:9093", "repost_seconds": 0.1}}, "rules": [{"notify": ["am"]}]},
         "routing.toml: channels.am.repost_seconds: must be >= 1.0"),
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": ["hook"]}], "defaults": {"retry": {"max_attempts": 0}}},
         "routing.toml: defaults.retry.max_attempts: must be >= 1"),
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": ["hook"]}], "defaults": {"burst": {"max_events": 5}}},
         "routing.toml: defaults.burst.per_seconds: required"),
        ({"channels": GOOD_CHANNELS}, "routing.toml: rules: at least one [[rules]] entry is required"),
        ({"channels": GOOD_CHANNELS, "rules": [{"notify": ["hook"]}], "chanels": {}}, "routing.toml: chanels: unknown key"),
    ],
)
def test_validation_names_file_key_and_problem(data: dict[str, Any], expected: str) -> None:
    problems = problems_for(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_for({"channels": {"h": {"kind": "webhook"}}, "rules": [{"notify": ["x"]}, {"notify": ["y"]}]})
    assert len(problems) >= 4


def test_channel_settings_inherit_and_override_defaults() -> None:
    routing = parse_routing({
        "defaults": {"retry": {"max_attempts": 3, "base_seconds": 0.5}, "burst": {"max_events": 5, "per_seconds": 10}},
        "channels": {
            "a": {"kind": "webhook", "url": "http://127.0.0.1/a", "secret_env": "S", "retry": {"max_attempts": 7}},
            "p": {"kind": "pagerduty", "routing_key_env": "K"},
        },
        "rules": [{"notify": ["a", "p"]}],
    })
    a, p = routing.channels["a"], routing.channels["p"]
    assert (a.retry.max_attempts, a.retry.base_seconds) == (7, 0.5)
    assert isinstance(a.retry.max_attempts, int) and isinstance(a.burst.max_events if a.burst else 0, int)
    assert a.burst is not None and a.burst.max_events == 5
    assert p.burst is None and p.url == "https://events.pagerduty.com/v2/enqueue"
    assert p.env_names() == {"routing_key_env": "K"}


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(RoutingError, match="cannot read"):
        load_routing(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[channels\n")
    with pytest.raises(RoutingError, match=r"bad.toml: not valid TOML"):
        load_routing(bad)


def test_email_message_id_domain_and_alertmanager_settings_are_read() -> None:
    routing = parse_routing({
        "channels": {
            "e": {"kind": "email", "host": "h", "from": "sla@corp.example", "to": "x@y", "message_id_domain": "mail.corp.example"},
            "am": {"kind": "alertmanager", "url_env": "AM_URL", "repost_seconds": 30},
        },
        "rules": [{"notify": ["e", "am"]}],
    })
    assert routing.channels["e"].smtp is not None and routing.channels["e"].smtp.message_id_domain == "mail.corp.example"
    am = routing.channels["am"]
    assert (am.kind, am.repost_seconds, am.burst, am.env_names()) == ("alertmanager", 30.0, None, {"url_env": "AM_URL"})
