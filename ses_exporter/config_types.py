"""Value types of the configuration file: durations, regions, role ARNs, label names, ...

Every ``check_*`` function returns its argument or raises ``ValueError`` with a message written
for the person editing the YAML file; ``yaml_loader.explain_errors`` puts the key path in front
of it. Also the models that collectors share with the configuration (a collector's base
section, the configuration-set filter, the reputation thresholds): ``collectors/`` builds
on them without importing ``config``, which assembles the whole file from them.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    ValidationInfo,
    model_validator,
)

from .aws import POLLED_SERVICES, known_regions, service_regions
from .yaml_loader import Problem, describe, problems_error

__all__ = ["Problem", "problems_error"]  # re-exported for collectors (they skip yaml_loader)

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
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ROLE_ARN = re.compile(r"arn:aws[-a-z]*:iam::\d{12}:role/\S+")
# IAM: a role name of 1-64 of [\w+=,.@-], optionally after a path of such names.
_ROLE_NAME = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)
# Organizations: ou-<root id suffix>-<8 to 32 chars>, or a root r-<4 to 32 chars>.
_PARENT_ID = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}")


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
    """A region where sesv2, ses and cloudwatch all exist, by botocore's endpoint data."""
    if name not in known_regions():
        raise ValueError(f"{name!r} is not an AWS region")
    missing = [service for service in POLLED_SERVICES if name not in service_regions(service)]
    if missing:
        raise ValueError(
            f"{name!r} is an AWS region, but SES cannot be polled there: botocore's "
            f"endpoint data has no {' or '.join(missing)} endpoint in it"
        )
    return name


def check_pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def matching(pattern: re.Pattern[str], expected: str) -> AfterValidator:
    """A string ``pattern`` matches whole; else "<the value> is not <expected>"."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{describe(value)} is not {expected}")
        return value

    return AfterValidator(check)


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


Duration = Annotated[float, Field(gt=0), BeforeValidator(_to_seconds)]
Ratio = Annotated[float, Strict(), Field(gt=0), AfterValidator(_at_most_one)]
Region = Annotated[str, AfterValidator(check_region)]
Pattern = Annotated[str, AfterValidator(check_pattern)]
RoleArn = Annotated[
    str,
    matching(
        _ROLE_ARN, "an IAM role ARN (expected arn:aws:iam::<12-digit account id>:role/<name>)"
    ),
]
EndpointUrl = Annotated[str, AfterValidator(check_endpoint_url)]
LabelName = Annotated[str, AfterValidator(check_label_name)]
RoleName = Annotated[
    str,
    matching(
        _ROLE_NAME,
        "an IAM role name (expected a name such as ses-exporter, optionally with a path: "
        "team/ses-exporter)",
    ),
]
ParentId = Annotated[
    str,
    matching(
        _PARENT_ID,
        "an organizational unit id (expected ou-xxxx-xxxxxxxx, or a root id r-xxxx)",
    ),
]


# ---------------------------------------------------------------- models shared with collectors


class ConfigModel(BaseModel):
    """Every section of the file: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def _with_field_defaults(cls, data: Any, default: Callable[[Any], Mapping[str, Any]]) -> Any:
        """``data`` (before validation) with each nested section given as a mapping completed
        from ``default(the field's default)``: what the section leaves out keeps its field's
        default, not the nested model's own."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is not None and isinstance(value, dict):
                filled[name] = {**default(field.default), **value}
        return filled


class CollectorConfig(ConfigModel):
    """The section ``collectors.NAME`` every collector has; a collector with settings of its
    own subclasses it (see ``collectors.base.Collector.config_model``)."""

    enabled: StrictBool = True
    interval: Duration
    max_staleness: Duration | None = None

    @property
    def effective_max_staleness(self) -> float:
        """How long the last good values stay exposed after failed polls (see ``store``)."""
        return self.max_staleness if self.max_staleness is not None else 3 * self.interval

    @model_validator(mode="after")
    def _check_relations(self) -> Self:
        problems = self._problems()
        if problems:
            raise problems_error(problems)
        return self

    def _problems(self) -> list[Problem]:
        if self.max_staleness is not None and self.max_staleness < self.interval:
            message = f"must be at least the interval ({format_duration(self.interval)}), got "
            return [(("max_staleness",), message + format_duration(self.max_staleness))]
        return []


@functools.lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def matches_any(patterns: tuple[str, ...], *names: str) -> bool:
    """True if some pattern matches one of ``names`` whole."""
    return any(p.fullmatch(name) for p in _compile(patterns) for name in names)


class ConfigurationSetFilter(ConfigModel):
    include: tuple[Pattern, ...] = (".*",)
    exclude: tuple[Pattern, ...] = ()

    def matches(self, name: str) -> bool:
        """True if some include pattern and no exclude pattern matches the whole name."""
        return matches_any(self.include, name) and not matches_any(self.exclude, name)


class ThresholdPair(ConfigModel):
    """Ratios (0-1) at which AWS puts an account under review, and at risk of being paused."""

    under_review: Ratio
    at_risk: Ratio

    def status(self, ratio: float) -> str:
        """healthy, under_review or at_risk: the status a rate has against this pair (the
        one rule for the status families and the pages)."""
        if ratio >= self.at_risk:
            return "at_risk"
        return "under_review" if ratio >= self.under_review else "healthy"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.at_risk <= self.under_review:
            message = f"must be greater than under_review ({self.under_review:g})"
            raise problems_error([(("at_risk",), message)])
        return self


class ReputationThresholds(ConfigModel):
    bounce: ThresholdPair = ThresholdPair(under_review=0.05, at_risk=0.10)
    complaint: ThresholdPair = ThresholdPair(under_review=0.001, at_risk=0.005)

    def ratios(self) -> dict[tuple[str, str], float]:
        """(rate, status) -> ratio, e.g. ("bounce", "under_review") -> 0.05."""
        return {
            (rate, status): getattr(getattr(self, rate), status)
            for rate in ("bounce", "complaint")
            for status in ("under_review", "at_risk")
        }

    @model_validator(mode="before")
    @classmethod
    def _default_ratios(cls, data: Any) -> Any:
        # `bounce: {at_risk: 0.08}` keeps the default under_review.
        return cls._with_field_defaults(data, lambda pair: pair.model_dump())
