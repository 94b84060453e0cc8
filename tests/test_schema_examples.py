"""Every `examples` entry in topics/schemas is valid, and the examples tell one true story.

The input examples (case-created, case-updated) fed through `simulate` produce exactly the
sla-event examples; the dead-letter example is what the worker writes for its rejected input;
plan, priority and region examples are known to the bundled catalog.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from monitor.core.events import REASONS, parse_event, parse_time
from monitor.core.policy import catalog_from
from monitor.simulate import simulate
from monitor.stream.dead_letter import dead_letter_record

SCHEMAS = Path(__file__).resolve().parent.parent / "topics" / "schemas"


def schema(name: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / f"{name}.json").read_text()))


def with_examples(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(json path, subschema) of every subschema that has `examples`."""
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list):
            yield path or "/", node
        for key, value in node.items():
            if key != "examples":
                yield from with_examples(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from with_examples(value, f"{path}/{i}")


CASES = [(f.stem, where, sub) for f in sorted(SCHEMAS.glob("*.json"))
         for where, sub in with_examples(json.loads(f.read_text()))]


@pytest.mark.parametrize(("name", "where", "subschema"), CASES, ids=[f"{n}{w}" for n, w, _ in CASES])
def test_every_example_is_valid_against_its_schema(name: str, where: str, subschema: dict[str, Any]) -> None:
    root = schema(name)
    validator = Draft202012Validator({**subschema, "$defs": root.get("$defs", {})})
    for example in subschema["examples"]:
        problems = [e.message for e in validator.iter_errors(example)]
        assert not problems, f"{name}{where}: example {example!r}: {problems}"


def test_every_schema_has_a_whole_record_example() -> None:
    assert all(schema(f.stem).get("examples") for f in SCHEMAS.glob("*.json"))


def test_plan_priority_and_region_examples_are_in_the_bundled_catalog() -> None:
    catalog = catalog_from(None)
    properties = schema("case-created")["properties"]
    assert set(properties["plan"]["examples"]) <= set(catalog.plans)
    assert set(properties["region"]["examples"]) == set(catalog.regions)
    priorities = {p for plan in catalog.plans.values() for p in plan.priorities}
    assert set(properties["priority"]["examples"]) == priorities


def test_dead_letter_reason_examples_are_the_reason_codes() -> None:
    assert schema("sla-dead-letter")["properties"]["reason"]["examples"] == list(REASONS)


def test_input_examples_through_simulate_produce_exactly_the_sla_event_examples() -> None:
    lines = [json.dumps({"topic": "case-created", "value": v}) for v in schema("case-created")["examples"]]
    lines += [json.dumps({"topic": "case-updated", "value": v}) for v in schema("case-updated")["examples"]]
    produced = list(simulate(catalog_from(None), lines))
    assert produced == schema("sla-event")["examples"]


def test_the_dead_letter_example_is_what_the_worker_writes_for_its_record() -> None:
    example = schema("sla-dead-letter")["examples"][0]
    key, value = base64.b64decode(example["key_b64"]), base64.b64decode(example["value_b64"])
    source = {"topic": example["source_topic"], "partition": example["partition"], "offset": example["offset"],
              "key_b64": example["key_b64"], "value_b64": example["value_b64"], "value_size": len(value)}
    rejection = catalog_rejection(example["source_topic"], value, source)
    written_key, written = dead_letter_record(rejection, parse_time(example["rejected_at"]))
    assert written_key == key
    assert orjson.loads(written) == example


def catalog_rejection(topic: str, value: bytes, source: dict[str, Any]) -> Any:
    """The engine's verdict on one input record (a Rejection for the dead-letter example)."""
    from monitor.core.case import Engine

    event = parse_event(topic, value, source)
    step = Engine(catalog_from(None)).apply(None, event, event.occurred_at)  # type: ignore[union-attr,arg-type]
    assert len(step.rejections) == 1, step
    return step.rejections[0]


def test_the_readme_shows_the_schema_examples() -> None:
    """The README's sample input and first output event are the schema examples, verbatim."""
    readme = (SCHEMAS.parents[1] / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```json\n")[1:]]
    sample_input = [json.loads(line) for line in blocks[0].splitlines() if line.strip()]
    assert sample_input == schema("case-created")["examples"] + schema("case-updated")["examples"]
    assert json.loads(blocks[1]) == schema("sla-event")["examples"][0]
