"""The OpenAPI document is a valid OpenAPI 3.1 document, and the page shapes built here match it."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from monitor.board.query import local_page, merge_pages, parse_query
from monitor.stream.partition import PartitionState
from tests.board.cases import MINUTE, NOON, add_case, engine
from tests.board.openapi_check import DOCUMENT, check_answer, template_of


def test_document_is_valid_openapi() -> None:
    validate(DOCUMENT)


def test_a_page_built_by_the_query_matches_the_cases_schema() -> None:
    eng, part = engine(), PartitionState(3)
    add_case(eng, part, "LATE", NOON - 90 * MINUTE, NOON)
    add_case(eng, part, "HOURS", NOON - 60 * MINUTE, NOON, priority="P2")
    items, cursor = merge_pages([local_page(eng, [part], parse_query({"state": ["running"], "limit": ["1"]}), NOON, "r0")], 1)
    assert cursor is not None
    body = {"now": "2026-11-23T12:00:00Z", "clock_rate": 1.0, "items": items, "next_cursor": cursor, "partial": False,
            "replicas": [{"replica": "r0", "status": "ok"}]}
    check_answer("GET", "/api/cases", 200, "application/json", json.dumps(body).encode())


def test_undocumented_answers_are_caught() -> None:
    assert template_of("/cases/C-1") == "/cases/{case_id}"
    for status, body in ((200, {"items": "nope"}), (418, {})):
        try:
            check_answer("GET", "/api/cases", status, "application/json", json.dumps(body).encode())
        except AssertionError:
            continue
        raise AssertionError(f"{status} {body} passed the check")
