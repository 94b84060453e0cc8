"""One topic admin for every app, fed by topics/topics.toml; clients never auto-create topics."""

from __future__ import annotations

import pytest

from monitor.runtime.topics import TopicsError, default_names, load_specs, topic_names


def test_every_app_topic_is_declared_once() -> None:
    roles = default_names()
    assert {"case_created", "changelog", "notify_state", "notify_dead_letter"} <= set(roles)
    assert len(set(roles.values())) == len(roles)
    state = next(s for s in load_specs() if s.role == "notify_state")
    assert state.name == "sla-notify-state" and state.configs["cleanup.policy"] == "compact"


def test_replication_factor_is_handled_alike_for_every_topic() -> None:
    specs = load_specs(replication_factor=3)
    assert {s.replication_factor for s in specs} == {3}
    assert {s.replication_factor for s in load_specs()} == {1}


def test_only_the_named_roles_are_loaded() -> None:
    specs = load_specs({"notify_state": "x.state"})
    assert [(s.role, s.name) for s in specs] == [("notify_state", "x.state")]
    with pytest.raises(TopicsError, match="no topic role 'nope'"):
        load_specs({"nope": "x"})


def test_names_from_flags_and_env_are_checked() -> None:
    problems: list[str] = []
    names = topic_names(None, {"MONITOR_TOPIC_NOTIFY_STATE": "bad name"}, {"notify_state": "s", "notify_dead_letter": "s"},
                        problems)
    assert names["notify_state"] == "bad name"
    assert any("MONITOR_TOPIC_NOTIFY_STATE / --topic-notify-state" in p for p in problems)
