"""Shared by the routing and contacts files: read the TOML, turn pydantic errors into 'file: key: cause' lines."""

from __future__ import annotations

import tomllib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def read_toml(path: str | Path) -> tuple[dict[str, Any] | None, str | None]:
    """(document, None) or (None, 'file: cause') when the file cannot be read or is not TOML."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8")), None
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}"
    except tomllib.TOMLDecodeError as exc:
        return None, f"{path}: not valid TOML: {exc}"


def _unwrap(annotation: Any) -> Any:
    """The type under Annotated[...] and Optional[...]."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _tagged_member(union: Any, tag: str) -> Any:
    """The member of a discriminated union whose Literal field equals `tag`."""
    for member in get_args(union):
        for info in getattr(member, "model_fields", {}).values():
            if get_origin(info.annotation) is Literal and tag in get_args(info.annotation):
                return member
    return None


def _walk(root: type[BaseModel], data: Any, loc: tuple[int | str, ...]) -> tuple[str, Any, Any]:
    """The key as written in the file ('rules[0] (name).notify[1]'), the model holding the last part, its type."""
    text, current, value = "", _unwrap(root), data
    holder: Any = root
    for position, part in enumerate(loc):
        if part == "[key]":
            continue
        if get_origin(current) in (Union, types.UnionType) and isinstance(part, str):
            current = _unwrap(_tagged_member(current, part))  # the discriminator tag is not a key of the file
            continue
        holder = current
        if isinstance(part, int):
            text += f"[{part}]"
            value = value[part] if isinstance(value, list) and part < len(value) else None
            name = value.get("name") if isinstance(value, dict) else None
            if isinstance(name, str) and name and loc[position + 1:position + 2] not in ((), ("name",)):
                text += f" ({name})"
        else:
            text += f".{part}" if text else part
            value = value.get(part) if isinstance(value, dict) else None
        if _is_model(current):
            info = _field(current, str(part))
            current = _unwrap(info.annotation) if info is not None else None
        elif get_origin(current) is dict:
            current = _unwrap(get_args(current)[1])
        elif get_origin(current) in (tuple, list):
            current = _unwrap(get_args(current)[0])
    return text, holder, current


def file_problems(source: str, exc: ValidationError, root: type[BaseModel], data: Any) -> list[str]:
    """'file: key: cause' for every pydantic error, in the words of the file's own keys."""
    problems = []
    for error in exc.errors():
        key, holder, current = _walk(root, data, tuple(error["loc"]))
        message = str(error["msg"]).removeprefix("Value error, ")
        kind, ctx = error["type"], error.get("ctx", {})
        if kind == "extra_forbidden" and _is_model(holder):
            allowed = sorted(info.alias or name for name, info in holder.model_fields.items())
            message = f"unknown key (allowed: {', '.join(allowed)})"
        elif kind == "missing":
            info = _field(holder, str(error["loc"][-1])) if _is_model(holder) else None
            message = f"required: {info.description}" if info is not None and info.description else "required"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            field = str(ctx.get("discriminator", "")).strip("'")
            key = f"{key}.{field}"
            members = get_args(current) if get_origin(current) in (Union, types.UnionType) else ()
            tags = [tag for member in members for tag in get_args(member.model_fields[field].annotation)]
            expected = ", ".join(tags)
            message = f"expected one of {expected}, got {ctx.get('tag')!r}"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"expected a table, got {type(error['input']).__name__}"
        problems.append(f"{source}: {key}: {message}")
    return problems


def also_failing(title: str, data: Any, validate: Callable[[Any], Any] | None, problem: str, at: tuple[str, ...] = ()) -> NoReturn:
    """Raise `problem` (at the table's key `at`) together with whatever else `validate(data)` finds in the table."""
    errors: list[InitErrorDetails] = []
    try:
        if validate is not None:
            validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            errors.append(InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"]))
            if "ctx" in error:
                errors[-1]["ctx"] = error["ctx"]
    errors.append(InitErrorDetails(type=PydanticCustomError("value_error", problem), loc=at, input=data))
    raise ValidationError.from_exception_data(title, errors)
