"""Reading a configuration file, and telling its author what is wrong with it.

Shared by the exporter's configuration (``config.py``) and the web configuration
(``webconfig*.py``): ``read_text_file`` and ``load_yaml`` turn a file into plain YAML data
with one-line errors that point at a line and column; ``explain_errors`` turns pydantic's
validation errors into "key.path: message" lines written for the person editing the file;
``problems_error`` lets a validator report several problems at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


def read_text_file(path: str | os.PathLike[str]) -> str:
    """A configuration file's text; ValueError with a one-line reason if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot read {os.fspath(path)}: not UTF-8 text ({exc.reason})") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a repeated key instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    first_lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # "<<: *defaults" may be overridden by the keys beside it
        key = loader.construct_object(key_node)
        try:
            first = first_lines.get(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if first is not None:
            problem = f"duplicate key {key!r} (first on line {first})"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        first_lines[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, source: str) -> object:
    """Parse YAML safely; raises ValueError("<source>:LINE:COLUMN: invalid YAML: ...")."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        detail = f"{exc.problem} ({exc.context})" if exc.context else f"{exc.problem}"
        raise ValueError(f"{where}: invalid YAML: {detail}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        # ValueError: e.g. the timestamp 2024-13-01 or an integer with thousands of digits.
        raise ValueError(f"{source}: invalid YAML: {exc}") from None


def describe(value: object) -> str:
    """Show a YAML value the way the user wrote it: 'text', 42, true, null, a list, a mapping."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int) and value.bit_length() > 128:
        return "a very large number"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_error(problems: list[Problem]) -> PydanticCustomError:
    """One validation error that explain_errors expands into one message per (sub-path, text)."""
    return PydanticCustomError("config_problems", "{problems}", {"problems": problems})


# Keys whose values must never appear in an error message (they end up in logs).
SECRET_KEYS = frozenset({"external_id", "member_external_id"})


# Rephrasing of pydantic error types. Never show pydantic's own text: it talks about
# "Input should be a valid tuple" and links to its website.
_EXPECTED = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
}
_LIST_OF = {
    "accounts": "a list of accounts",
    "organizations": "a list of organizations",
    "organizational_units": "a list of organizational unit ids",
    "regions": "a list of regions",
    "include": "a list of regular expressions",
    "exclude": "a list of regular expressions",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def explain_errors(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """One "key.path: message" line per problem, in pydantic's (document) order."""
    lines = []
    for error in exc.errors(include_url=False):
        loc, ctx = tuple(error["loc"]), error.get("ctx", {})
        if error["type"] == "config_problems":
            lines += [f"{format_path(loc + sub_loc)}: {text}" for sub_loc, text in ctx["problems"]]
        else:
            lines.append(f"{format_path(loc)}: {_message(error, loc, root)}")
    return lines


def _message(error: ErrorDetails, loc: Loc, root: type[BaseModel]) -> str:
    kind, ctx, key = error["type"], error.get("ctx", {}), str(loc[-1]) if loc else ""
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        if expected == "a list":
            expected = _LIST_OF.get(key, expected)
        if key in SECRET_KEYS:
            return f"expected {expected}"
        return f"expected {expected}, got {describe(error['input'])}"
    if kind in _BOUNDS:
        bound, phrase = _BOUNDS[kind]
        return f"must be {phrase} {ctx[bound]:g}"
    if kind == "extra_forbidden":
        return f"unknown key (expected one of: {', '.join(_keys_at(root, loc[:-1]))})"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    fixed = {
        "missing": "required key is missing",
        "invalid_key": "keys must be strings",
        "value_error": str(ctx.get("error")),
    }
    return fixed.get(kind, error["msg"])


def _keys_at(root: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed in the mapping at `loc`, found by walking the model fields."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue  # an item of a list has the list's item model
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_path(loc: Loc) -> str:
    """('accounts', 0, 'labels', 'a-b') -> "accounts[0].labels['a-b']"."""
    if loc and loc[-1] == "[key]":  # pydantic's marker for "the key itself is invalid"
        loc = loc[:-1]
    path = ""
    for part in loc:
        if isinstance(part, str) and _IDENTIFIER.fullmatch(part):
            path += f".{part}" if path else part
        else:
            path += f"[{part!r}]"
    return path
