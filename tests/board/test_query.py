"""The board query on real engine states: order, stages, filters, paging, merging, countdowns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.board.query import QueryError, decode_cursor, encode_cursor, local_page, merge_pages, parse_query
from monitor.core.calendar import to_us
from monitor.stream.partition import PartitionState
from tests.board.cases import MINUTE, NOON, add_case, engine


def _partitions() -> list[PartitionState]:
    eng = engine()
    zero, one = PartitionState(0), PartitionState(1)
    add_case(eng, zero, "LATE-2", NOON - 180 * MINUTE, NOON)             # 1 h 24x7: due 2 h ago
    add_case(eng, one, "LATE-1", NOON - 90 * MINUTE, NOON, customer="globex")  # due 30 min ago
    add_case(eng, zero, "RISK", NOON - 50 * MINUTE, NOON, plan="adobe-business")  # 75 % passed, due in 10 min
    add_case(eng, one, "FRESH", NOON - 10 * MINUTE, NOON)               # in time, due in 50 min
    add_case(eng, zero, "HOURS", NOON - 60 * MINUTE, NOON, priority="P2")  # 4 business hours: due 15:00
    return [zero, one]


def _page(query: str, parts: list[PartitionState] | None = None, now: int = NOON,
          max_visits: int = 20_000) -> tuple[list[dict], tuple[int, str, str] | None]:
    params: dict[str, list[str]] = {}
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        params.setdefault(name, []).append(value)
    return local_page(engine(), parts or _partitions(), parse_query(params), now, "r0", max_visits)


def test_default_lists_breached_most_overdue_first_then_at_risk() -> None:
    items, more = _page("")
    assert [i["case_id"] for i in items] == ["LATE-2", "LATE-1", "RISK"]
    assert [i["stage"] for i in items] == ["breached", "breached", "warned"]
    assert more is None
    late = items[0]
    assert late["remaining_seconds"] == -7200.0 and late["last_threshold"] == 1.0
    assert late["due_at"] == "2026-11-23T10:00:00Z" and late["target_seconds"] == 3600
    assert late["calendar"] == "24x7" and late["counting"] is True and late["pauses_at"] is None and late["resumes_at"] is None
    assert items[2]["remaining_seconds"] == 600.0 and items[2]["last_threshold"] == 0.75
    assert {i["partition"] for i in items} == {0, 1} and {i["replica"] for i in items} == {"r0"}


def test_running_adds_the_clocks_still_in_time_in_due_order() -> None:
    items, _ = _page("state=running")
    assert [i["case_id"] for i in items] == ["LATE-2", "LATE-1", "RISK", "FRESH", "HOURS"]
    assert items[3]["stage"] == "ok" and items[3]["last_threshold"] is None
    hours = items[4]
    assert hours["calendar"] == "business_hours" and hours["counting"] is True
    assert hours["pauses_at"] == "2026-11-23T17:00:00Z"   # London closes at 17:00 (GMT)
    assert hours["resumes_at"] == "2026-11-24T09:00:00Z"  # and opens again on Tuesday at 09:00
    assert hours["remaining_seconds"] == 3 * 3600


def test_state_values_select_stages() -> None:
    assert [i["case_id"] for i in _page("state=breached")[0]] == ["LATE-2", "LATE-1"]
    assert [i["case_id"] for i in _page("state=at_risk")[0]] == ["RISK"]
    assert [i["case_id"] for i in _page("state=at_risk&state=breached")[0]] == ["LATE-2", "LATE-1", "RISK"]


@pytest.mark.parametrize(("query", "expected"), [
    ("state=running&plan=adobe-business", ["RISK"]),
    ("state=running&priority=P2", ["HOURS"]),
    ("state=running&customer=globex", ["LATE-1"]),
    ("state=running&customer=acme,globex&priority=P1", ["LATE-2", "LATE-1", "RISK", "FRESH"]),
    ("state=running&region=apac", []),
    ("state=running&metric=first_response&plan=adobe-online&priority=P2", ["HOURS"]),
    ("state=running&metric=resolution", []),
])
def test_filters_narrow_the_list(query: str, expected: list[str]) -> None:
    assert [i["case_id"] for i in _page(query)[0]] == expected


def test_cursor_pages_through_everything_once_in_order() -> None:
    parts = _partitions()
    seen, cursor = [], ""
    for _ in range(10):
        items, more = _page(f"state=running&limit=2{'&cursor=' + cursor if cursor else ''}", parts)
        seen += [i["case_id"] for i in items]
        if more is None:
            break
        assert more == decode_cursor(items[-1]["cursor"])
        cursor = encode_cursor(more)
    assert seen == ["LATE-2", "LATE-1", "RISK", "FRESH", "HOURS"]


def test_clocks_due_at_the_same_instant_page_in_case_id_order_whatever_the_characters() -> None:
    """Ties on the due instant are ordered by case id as strings compare (prefixes, NUL, non-ASCII), across partitions."""
    eng = engine()
    ids = ["B", "A", "AB", "A\x00", "A\x00B", "Ä", "a", "A\x01", "\U0001f600", "AA"]
    parts = [PartitionState(0), PartitionState(1)]
    for n, case_id in enumerate(ids):
        add_case(eng, parts[n % 2], case_id, NOON - 10 * MINUTE, NOON)     # all due at the same instant
    for limit in (1, 3):
        seen, cursor = [], ""
        while True:
            items, more = _page(f"state=running&limit={limit}{'&cursor=' + cursor if cursor else ''}", parts)
            seen += [i["case_id"] for i in items]
            if more is None:
                break
            cursor = encode_cursor(more)
        assert seen == sorted(ids)


def test_a_rare_filter_answers_within_the_visit_bound_and_the_cursor_continues() -> None:
    parts = _partitions()
    items, more = _page("state=running&customer=globex", parts, max_visits=1)
    assert items == [] and more is not None and more[1] == "LATE-2"   # visited one clock, nothing matched yet
    seen, cursor, pages = [], "", 0
    while True:
        items, more = _page(f"state=running&customer=acme{'&cursor=' + cursor if cursor else ''}", parts, max_visits=2)
        pages += 1
        seen += [i["case_id"] for i in items]
        if more is None:
            break
        cursor = encode_cursor(more)
    assert seen == ["LATE-2", "RISK", "FRESH", "HOURS"] and pages == 3


def test_merge_of_two_replicas_pages_resorts_and_cuts_at_the_limit() -> None:
    zero, one = _partitions()
    a = local_page(engine(), [zero], parse_query({"state": ["running"], "limit": ["2"]}), NOON, "r0")
    b = local_page(engine(), [one], parse_query({"state": ["running"], "limit": ["2"]}), NOON, "r1")
    items, cursor = merge_pages([a, b], 3)
    assert [(i["case_id"], i["replica"]) for i in items] == [("LATE-2", "r0"), ("LATE-1", "r1"), ("RISK", "r0")]
    assert cursor == items[-1]["cursor"]
    items, cursor = merge_pages([([], None), b, b], 5)   # a replica among its own peers answers twice
    assert [i["case_id"] for i in items] == ["LATE-1", "FRESH"] and cursor is None
    # a replica that stopped early (visit bound) bounds the merged page: nothing of it may be skipped
    stopped = local_page(engine(), [zero], parse_query({"state": ["running"]}), NOON, "r0", max_visits=1)
    assert [i["case_id"] for i in stopped[0]] == ["LATE-2"] and stopped[1] is not None
    items, cursor = merge_pages([stopped, b], 5)
    assert [i["case_id"] for i in items] == ["LATE-2"] and cursor is not None and decode_cursor(cursor)[1] == "LATE-2"


def test_business_hours_clock_at_night_is_paused_until_the_window_opens() -> None:
    eng = engine()
    part = PartitionState(0)
    friday_evening = to_us(datetime(2026, 11, 27, 19, 0, tzinfo=UTC))
    add_case(eng, part, "NIGHT", friday_evening - 4 * 3600_000_000, friday_evening, priority="P2")
    items, _ = local_page(eng, [part], parse_query({"state": ["running"]}), friday_evening, "r0")
    (item,) = items
    assert item["counting"] is False and item["pauses_at"] is None
    assert item["resumes_at"] == "2026-11-30T09:00:00Z"      # Monday 09:00 London
    assert item["remaining_seconds"] == 2 * 3600                   # 15:00-17:00 Friday counted, 2 h left


@pytest.mark.parametrize(("params", "message"), [
    ({"state": ["open"]}, "state 'open'"),
    ({"limit": ["0"]}, "between 1 and 1000"),
    ({"limit": ["1001"]}, "between 1 and 1000"),
    ({"limit": ["ten"]}, "not an integer"),
    ({"cursor": ["bm9wZQ"]}, "cursor"),
    ({"cursor": ["!!"]}, "cursor"),
])
def test_bad_parameters_are_refused_with_the_reason(params: dict[str, list[str]], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(params)


def test_cursor_round_trips() -> None:
    key = (1_795_000_000_000_000, "case/1 é", "first_response")
    assert decode_cursor(encode_cursor(key)) == key
    assert parse_query({}).limit == 100 and parse_query({}).after is None
