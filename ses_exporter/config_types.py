"""Building blocks of the configuration file: value types, YAML loading, error messages.

Every ``check_*`` function returns its argument or raises ``ValueError`` with a message written
for the person editing the YAML file; ``explain_errors`` puts the key path in front of it.
The models themselves live in ``config.py``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from .aws import known_regions

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

# Validation context used for configuration files: there, durations must carry a unit.
FROM_FILE: Mapping[str, bool] = {"from_file": True}

DURATION_HINT = "use e.g. 500ms, 30s, 5m, 1h"
_UNIT_SECONDS = {"w": 604_800.0, "d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION = re.compile(r"-?(?:\d+(?:\.\d+)?(?:ms|[wdhms]))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[wdhms])")
_FORMAT_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))

# Labels the exporter sets itself; a static label with one of these names would clash.
RESERVED_LABELS = frozenset(
    [
        "account_id",
        "region",
        "collector",
        "configuration_set",
        "status",
        "rate",
        "service",
        "operation",
        "outcome",
        "endpoint",
    ]
)
# Keys whose values must never appear in an error message (they end up in logs).
SECRET_KEYS = frozenset({"external_id", "member_external_id"})
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ROLE_ARN = re.compile(r"arn:aws[-a-z]*:iam::\d{12}:role/\S+")
# IAM: a role name of 1-64 of [\w+=,.@-], optionally after a path of such names.
_ROLE_NAME = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)
# Organizations: ou-<root id suffix>-<8 to 32 chars>, or a root r-<4 to 32 chars>.
_PARENT_ID = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}")


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


def parse_duration(value: str) -> float:
    """Parse a Prometheus-style duration ("500ms", "30s", "5m", "1h30m", "2d") into seconds.

    Units go from largest to smallest, each at most once. A unit is required: a bare number
    is ambiguous (seconds? milliseconds?), so "60" is rejected.
    """
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        raise ValueError(f"{describe(value)} is not a duration ({DURATION_HINT})")
    seconds, previous_unit = 0.0, math.inf
    for number, unit in _DURATION_PART.findall(value):
        if _UNIT_SECONDS[unit] >= previous_unit:
            raise ValueError(f"{value!r} is not a duration (units must go from large to small)")
        previous_unit = _UNIT_SECONDS[unit]
        seconds += float(number) * _UNIT_SECONDS[unit]
    if not math.isfinite(seconds):
        raise ValueError(f"{describe(value)} is not a duration (too large)")
    return -seconds if value.startswith("-") else seconds


def format_duration(seconds: float) -> str:
    """Format seconds the way parse_duration reads them: 300 -> "5m", 5400 -> "1h30m"."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    millis = seconds * 1000
    if not math.isfinite(millis) or abs(millis - round(millis)) > 1e-6:
        return f"{seconds}s"
    remaining, parts = round(millis), []
    for unit, size in _FORMAT_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _to_seconds(value: object, info: ValidationInfo) -> object:
    """Durations in files must be strings with a unit; Python callers may pass seconds."""
    if isinstance(value, str):
        return parse_duration(value)
    from_file = bool(info.context and info.context.get("from_file"))
    if isinstance(value, int | float) and not isinstance(value, bool) and not from_file:
        return value
    raise ValueError(f"{describe(value)} is not a duration ({DURATION_HINT})")


def check_region(name: str) -> str:
    if name not in known_regions():
        raise ValueError(f"{name!r} is not an AWS region")
    return name


def check_pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def check_role_arn(arn: str) -> str:
    if not _ROLE_ARN.fullmatch(arn):
        raise ValueError(
            f"{describe(arn)} is not an IAM role ARN "
            "(expected arn:aws:iam::<12-digit account id>:role/<name>)"
        )
    return arn


def check_role_name(name: str) -> str:
    if not _ROLE_NAME.fullmatch(name):
        raise ValueError(
            f"{describe(name)} is not an IAM role name (expected a name such as ses-exporter, "
            "optionally with a path: team/ses-exporter)"
        )
    return name


def check_parent_id(ou: str) -> str:
    if not _PARENT_ID.fullmatch(ou):
        raise ValueError(
            f"{describe(ou)} is not an organizational unit id "
            "(expected ou-xxxx-xxxxxxxx, or a root id r-xxxx)"
        )
    return ou


def check_endpoint_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"{describe(url)} is not an http(s) URL with a host")
    return url


def check_label_name(name: str) -> str:
    if not _LABEL_NAME.fullmatch(name):
        raise ValueError("invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)")
    if name.startswith("__"):
        raise ValueError("label names starting with __ are reserved for Prometheus")
    if name in RESERVED_LABELS:
        raise ValueError(f"{name!r} is set by the exporter itself and cannot be a static label")
    return name


def non_empty(item: str) -> AfterValidator:
    """Reject an empty list. (Field(min_length=1) would also fire when items are invalid.)"""

    def check(items: tuple[Any, ...]) -> tuple[Any, ...]:
        if not items:
            raise ValueError(f"at least one {item} is required")
        return items

    return AfterValidator(check)


def _at_most_one(ratio: float) -> float:
    if ratio > 1:
        raise ValueError(f"must be at most 1 (ratios are 0-1, not percent), got {ratio:g}")
    return ratio


def problems_error(problems: list[Problem]) -> PydanticCustomError:
    """One validation error that config.py expands into one message per (sub-path, text)."""
    return PydanticCustomError("config_problems", "{problems}", {"problems": problems})


Duration = Annotated[float, Field(gt=0), BeforeValidator(_to_seconds)]
Ratio = Annotated[float, Strict(), Field(gt=0), AfterValidator(_at_most_one)]
Region = Annotated[str, AfterValidator(check_region)]
Pattern = Annotated[str, AfterValidator(check_pattern)]
RoleArn = Annotated[str, AfterValidator(check_role_arn)]
EndpointUrl = Annotated[str, AfterValidator(check_endpoint_url)]
LabelName = Annotated[str, AfterValidator(check_label_name)]
RoleName = Annotated[str, AfterValidator(check_role_name)]
ParentId = Annotated[str, AfterValidator(check_parent_id)]


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


def read_text_file(path: str | os.PathLike[str]) -> str:
    """A configuration file's text; ValueError with a one-line reason if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot read {os.fspath(path)}: not UTF-8 text ({exc.reason})") from None
