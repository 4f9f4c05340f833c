"""The configuration file: YAML parsed into frozen pydantic models.

Every problem is reported at once, each prefixed with the path of the offending key::

    accounts[0].regions[1]: 'us-east-x' is not an AWS region
    collectors.cloudwatch.period: must be a multiple of 60s, got 90s

Durations are stored as float seconds.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from ses_exporter.aws import RETENTION, retention
from ses_exporter.config_types import (
    FROM_FILE,
    Duration,
    EndpointUrl,
    LabelName,
    ParentId,
    Pattern,
    Ratio,
    Region,
    RoleArn,
    RoleName,
    format_duration,
    non_empty,
    parse_duration,
)
from ses_exporter.yaml_loader import (
    Problem,
    describe,
    explain_errors,
    load_yaml,
    problems_error,
    read_text_file,
)

__all__ = [  # format_duration and parse_duration are re-exported from config_types
    "COLLECTOR_NAMES",
    "AccountConfig",
    "AccountFilter",
    "CloudWatchCollectorConfig",
    "CollectorConfig",
    "CollectorsConfig",
    "Config",
    "ConfigError",
    "ConfigurationSetFilter",
    "OrganizationConfig",
    "ReputationThresholds",
    "ThresholdPair",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]

MIN_REFRESH_SECONDS = 60.0


class ConfigError(Exception):
    """An invalid configuration; `errors` holds every problem, one "key.path: message" each."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectorConfig(_Model):
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


class CloudWatchCollectorConfig(CollectorConfig):
    period: Duration = 300.0
    lookback: Duration = 10_800.0
    # SES publishes Reputation.* irregularly, hours apart for low-volume senders: the newest
    # datapoint is looked for over a longer window than the event counts, so it does not
    # vanish (and alerts on it resolve) between two datapoints.
    reputation_lookback: Duration = 86_400.0

    @field_validator("period")
    @classmethod
    def _whole_minutes(cls, period: float) -> float:
        # AWS/SES metrics have one-minute resolution; GetMetricData wants multiples of 60.
        if period % 60:
            raise ValueError(f"must be a multiple of 60s, got {format_duration(period)}")
        return period

    def _problems(self) -> list[Problem]:
        problems = super()._problems()
        least = self.interval + self.period
        if self.lookback < least:
            # lookback is the lateness margin: each poll reads from the end of the last
            # window, less lookback. Less than a period would miss the growth of the
            # period being read; CloudWatch publishes late, and a datapoint is read only if
            # it arrives within lookback - period of its period's end.
            message = (
                f"must be at least interval + period ({format_duration(least)}): CloudWatch "
                "publishes datapoints minutes late, and one that arrives more than "
                "lookback - period after its period ends is never read; got "
            )
            problems.append((("lookback",), message + format_duration(self.lookback)))
        if self.reputation_lookback < self.period:
            message = f"must be at least the period ({format_duration(self.period)}), got "
            problems.append(
                (("reputation_lookback",), message + format_duration(self.reputation_lookback))
            )
        for key in ("lookback", "reputation_lookback"):
            seconds: float = getattr(self, key)
            kept = retention(int(self.period))
            if seconds > kept:
                problems.append(((key,), self._beyond_retention(seconds, kept)))
        return problems

    def _beyond_retention(self, seconds: float, kept: int) -> str:
        period = format_duration(self.period)
        coarser = [step for step, _ in RETENTION if step > self.period]
        hint = (
            f"; a period that is a multiple of {format_duration(coarser[0])} reads further back"
            if coarser
            else ""
        )
        return (
            f"must be at most {format_duration(kept)} with period {period}: CloudWatch answers "
            f"at that period for {format_duration(kept)} only and returns no datapoints for "
            f"older times{hint}; got {format_duration(seconds)}"
        )


class CollectorsConfig(_Model):
    """One field per collector. The fields are the list of collector names (``COLLECTOR_NAMES``,
    in this order) that the registry (``collectors.REGISTRY``), the ``--collector.NAME`` flags
    and the README's collector table follow; tests/test_collector_names.py checks they agree."""

    account: CollectorConfig = CollectorConfig(interval=60.0)
    send_statistics: CollectorConfig = CollectorConfig(interval=300.0)
    cloudwatch: CloudWatchCollectorConfig = CloudWatchCollectorConfig(interval=300.0)
    configuration_sets: CollectorConfig = CollectorConfig(interval=900.0)

    @model_validator(mode="before")
    @classmethod
    def _default_intervals(cls, data: Any) -> Any:
        # `account: {enabled: false}` keeps the account collector's own default interval.
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is not None and isinstance(value, dict) and "interval" not in value:
                filled[name] = {"interval": format_duration(field.default.interval), **value}
        return filled

    def get(self, name: str) -> CollectorConfig:
        if name not in COLLECTOR_NAMES:
            raise KeyError(f"unknown collector {name!r}")
        collector: CollectorConfig = getattr(self, name)
        return collector

    def with_enabled(self, overrides: Mapping[str, bool]) -> CollectorsConfig:
        """A copy with collectors switched on or off (--collector.NAME / --no-collector.NAME)."""
        unknown = sorted(set(overrides) - set(COLLECTOR_NAMES))
        if unknown:
            raise ValueError(
                f"unknown collector(s) {', '.join(unknown)} "
                f"(expected one of: {', '.join(COLLECTOR_NAMES)})"
            )
        return self.model_copy(
            update={
                name: self.get(name).model_copy(update={"enabled": enabled})
                for name, enabled in overrides.items()
            }
        )


# Taken from the model rather than written out again: the fields must be spelled out for
# the type checker (config.collectors.cloudwatch.period), so they are the one list.
COLLECTOR_NAMES: tuple[str, ...] = tuple(CollectorsConfig.model_fields)


@functools.lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


class ConfigurationSetFilter(_Model):
    include: tuple[Pattern, ...] = (".*",)
    exclude: tuple[Pattern, ...] = ()

    def matches(self, name: str) -> bool:
        """True if some include pattern and no exclude pattern matches the whole name."""
        return any(p.fullmatch(name) for p in _compile(self.include)) and not any(
            p.fullmatch(name) for p in _compile(self.exclude)
        )


class AccountFilter(_Model):
    """Which discovered accounts to poll: full-match patterns on the account id or name."""

    include: tuple[Pattern, ...] = (".*",)
    exclude: tuple[Pattern, ...] = ()

    def matches(self, account_id: str, name: str) -> bool:
        def hit(patterns: tuple[str, ...]) -> bool:
            return any(p.fullmatch(account_id) or p.fullmatch(name) for p in _compile(patterns))

        return hit(self.include) and not hit(self.exclude)


# SES throttles at about 1 request/s per account and region; this is the pace we keep.
RequestsPerSecond = Annotated[float, Strict(), Field(gt=0)]


def _unique_regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    return _unique(regions, "region", "regions")


# A non-empty list of known regions, each listed once (accounts[] and organizations[]).
Regions = Annotated[tuple[Region, ...], non_empty("region"), AfterValidator(_unique_regions)]


def _external_id_needs_role(role_arn: str | None, external_id: SecretStr | None) -> None:
    if external_id is not None and role_arn is None:
        raise problems_error([(("external_id",), "only allowed together with role_arn")])


class AccountConfig(_Model):
    name: str | None = Field(default=None, min_length=1)
    regions: Regions
    role_arn: RoleArn | None = None
    external_id: SecretStr | None = None
    profile: str | None = Field(default=None, min_length=1)
    endpoint_url: EndpointUrl | None = None
    labels: dict[LabelName, str] = {}
    configuration_sets: ConfigurationSetFilter = ConfigurationSetFilter()
    ses_requests_per_second: RequestsPerSecond = 1.0

    def display_name(self, index: int) -> str:
        return self.name if self.name is not None else f"accounts[{index}]"

    @model_validator(mode="after")
    def _external_id(self) -> Self:
        _external_id_needs_role(self.role_arn, self.external_id)
        return self


class OrganizationConfig(_Model):
    """Accounts discovered from AWS Organizations. ``role_arn``/``profile``/``external_id``/
    ``endpoint_url`` reach the management (or delegated administrator) account; every
    discovered account is polled by assuming ``member_role_name`` in it from the exporter's
    own credentials (``profile`` or the default chain)."""

    name: str | None = Field(default=None, min_length=1)
    role_arn: RoleArn | None = None
    external_id: SecretStr | None = None
    profile: str | None = Field(default=None, min_length=1)
    endpoint_url: EndpointUrl | None = None
    member_role_name: RoleName
    member_external_id: SecretStr | None = None
    regions: Regions
    accounts: AccountFilter = AccountFilter()
    organizational_units: tuple[ParentId, ...] = ()
    refresh_interval: Duration = 3600.0
    labels: dict[LabelName, str] = {}
    configuration_sets: ConfigurationSetFilter = ConfigurationSetFilter()
    ses_requests_per_second: RequestsPerSecond = 1.0

    def display_name(self, index: int) -> str:
        return self.name if self.name is not None else f"organizations[{index}]"

    @field_validator("organizational_units")
    @classmethod
    def _unique_units(cls, units: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(units, "organizational unit", "organizational_units")

    @field_validator("refresh_interval")
    @classmethod
    def _not_too_often(cls, seconds: float) -> float:
        # ListAccounts is throttled per organization; more often than a minute buys nothing.
        if seconds < MIN_REFRESH_SECONDS:
            message = f"must be at least {format_duration(MIN_REFRESH_SECONDS)}, got "
            raise ValueError(message + format_duration(seconds))
        return seconds

    @model_validator(mode="after")
    def _external_id(self) -> Self:
        _external_id_needs_role(self.role_arn, self.external_id)
        return self

    def member(self, account_id: str, name: str, role_arn: str) -> AccountConfig:
        """The account entry a discovered member becomes (polled like one of accounts[])."""
        return AccountConfig(
            name=name or account_id,
            regions=self.regions,
            role_arn=role_arn,
            external_id=self.member_external_id,
            profile=self.profile,
            endpoint_url=self.endpoint_url,
            labels=self.labels,
            configuration_sets=self.configuration_sets,
            ses_requests_per_second=self.ses_requests_per_second,
        )


def _unique(items: tuple[str, ...], what: str, key: str) -> tuple[str, ...]:
    problems: list[Problem] = [
        ((position,), f"duplicate {what}: {item} is already listed at {key}[{first}]")
        for position, item in enumerate(items)
        if (first := items.index(item)) != position
    ]
    if problems:
        raise problems_error(problems)
    return items


class ThresholdPair(_Model):
    """Ratios (0-1) at which AWS puts an account under review, and at risk of being paused."""

    under_review: Ratio
    at_risk: Ratio

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.at_risk <= self.under_review:
            message = f"must be greater than under_review ({self.under_review:g})"
            raise problems_error([(("at_risk",), message)])
        return self


class ReputationThresholds(_Model):
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
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is not None and isinstance(value, dict):
                filled[name] = {**field.default.model_dump(), **value}
        return filled


class Config(_Model):
    accounts: tuple[AccountConfig, ...] = ()
    organizations: tuple[OrganizationConfig, ...] = ()
    collectors: CollectorsConfig = CollectorsConfig()
    reputation_thresholds: ReputationThresholds = ReputationThresholds()

    @model_validator(mode="before")
    @classmethod
    def _something_to_poll(cls, data: Any) -> Any:
        # accounts[] may be left out (or empty) only when organizations[] discovers them.
        if isinstance(data, dict) and not data.get("organizations"):
            if "accounts" not in data:
                raise problems_error([(("accounts",), "required key is missing")])
            if data["accounts"] == []:
                raise problems_error([(("accounts",), "at least one account is required")])
        return data


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a YAML configuration file; raises ConfigError listing every problem."""
    try:
        text = read_text_file(path)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    return parse_config(text, source=os.fspath(path))


def parse_config(text: str, source: str = "<config>") -> Config:
    """Validate YAML text; `source` names it in YAML syntax errors ("<source>:3:5: ...")."""
    try:
        data = load_yaml(text, source)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    if data is None:
        raise ConfigError([f"{source}: empty file (expected a mapping with an 'accounts' key)"])
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{source}: expected a mapping with an 'accounts' key, got {describe(data)}"]
        )
    try:
        config = Config.model_validate(data, context=FROM_FILE)
    except ValidationError as exc:
        accounts = _valid_accounts(data.get("accounts"))
        raise ConfigError(explain_errors(exc, Config) + _duplicate_targets(accounts)) from None
    errors = _duplicate_targets(enumerate(config.accounts))
    if errors:
        raise ConfigError(errors)
    return config


def _valid_accounts(raw: object) -> list[tuple[int, AccountConfig]]:
    """The accounts that are valid on their own, so duplicates are found despite other errors."""
    if not isinstance(raw, list):
        return []
    valid = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, AccountConfig.model_validate(item, context=FROM_FILE)))
        except ValidationError:
            continue
    return valid


def _duplicate_targets(accounts: Iterable[tuple[int, AccountConfig]]) -> list[str]:
    # A target is one set of credentials/endpoint in one region; polling it twice would
    # double SES throttling pressure and produce duplicate series.
    owners: dict[tuple[str | None, ...], int] = {}
    errors = []
    for index, account in accounts:
        for position, region in enumerate(account.regions):
            key = (account.profile, account.role_arn, account.endpoint_url, region)
            owner = owners.setdefault(key, index)
            if owner != index:
                errors.append(
                    f"accounts[{index}].regions[{position}]: duplicate target: "
                    f"{region} is already polled by accounts[{owner}]"
                )
    return errors
