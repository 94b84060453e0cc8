"""Check an HTTP answer against the worker's OpenAPI document (monitor/board/openapi.json)."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:sla-monitor:openapi"
DOCUMENT: dict[str, Any] = json.loads(resources.files("monitor.board").joinpath("openapi.json").read_text())
_REGISTRY: Registry[Any] = Registry().with_resource(BASE, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))


def template_of(path: str) -> str:
    """The document's path template that a concrete path matches (AssertionError when none)."""
    for template in DOCUMENT["paths"]:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is not in the OpenAPI document")


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def check_answer(method: str, path: str, status: int, content_type: str, body: bytes) -> str:
    """Validate one answer: its status and content type are documented and a JSON body matches its schema.

    Returns the path template (for coverage bookkeeping)."""
    template = template_of(path)
    operation = DOCUMENT["paths"][template][method.lower()]
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented ({sorted(responses)})"
    response = responses[str(status)]
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[1]
        response = DOCUMENT["components"]["responses"][name]
        where = ["components", "responses", name]
    else:
        where = ["paths", template, method.lower(), "responses", str(status)]
    media = content_type.split(";")[0].strip()
    content = response.get("content", {})
    if not content:
        return template
    assert media in content, f"{method} {path} {status}: content type {media} not documented ({sorted(content)})"
    if media == "application/json":
        pointer = _pointer(*where, "content", media, "schema")
        validator = OAS31Validator({"$ref": f"{BASE}#/{pointer}"}, registry=_REGISTRY)
        errors = sorted(validator.iter_errors(json.loads(body)), key=lambda e: list(e.path))
        assert not errors, f"{method} {path} {status}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    return template
