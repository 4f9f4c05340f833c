"""The configuration file: YAML parsed into frozen pydantic models.

Every problem is reported at once, each prefixed with the path of the offending key::

    accounts[0].regions[1]: 'us-east-x' is not an AWS region
    collectors.cloudwatch.period: must be a multiple of 60s, got 90s

Durations are stored as float seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    Strict,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from ses_exporter.collectors import REGISTRY
from ses_exporter.config_types import (
    FROM_FILE,
    CollectorConfig,
    ConfigModel,
    ConfigurationSetFilter,
    Duration,
    EndpointUrl,
    LabelName,
    ParentId,
    Pattern,
    Region,
    ReputationThresholds,
    RoleArn,
    RoleName,
    ThresholdPair,
    format_duration,
    matches_any,
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

__all__ = [  # the models and functions of config_types are re-exported
    "COLLECTOR_NAMES",
    "AccountConfig",
    "AccountFilter",
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


class _CollectorsBase(ConfigModel):
    """``collectors``: one section per registered collector (``collectors.REGISTRY``), each
    of the collector's own model with its own default interval. The fields are made from
    the registry below, so adding a collector touches no line here."""

    @model_validator(mode="before")
    @classmethod
    def _default_intervals(cls, data: Any) -> Any:
        # `account: {enabled: false}` keeps the account collector's own default interval.
        return cls._with_field_defaults(
            data, lambda section: {"interval": format_duration(section.interval)}
        )

    def get(self, name: str) -> CollectorConfig:
        """The section of collector ``name`` (of its own model: see its module)."""
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


# The registry's order is the collectors' order everywhere: flags, README table, scrape.
if TYPE_CHECKING:
    CollectorsConfig = _CollectorsBase
else:
    CollectorsConfig = create_model(
        "CollectorsConfig",
        __base__=_CollectorsBase,
        __module__=__name__,
        **{
            name: (cls.config_model, cls.config_model(interval=cls.default_interval))
            for name, cls in REGISTRY.items()
        },
    )
COLLECTOR_NAMES: tuple[str, ...] = tuple(REGISTRY)


class AccountFilter(ConfigModel):
    """Which discovered accounts to poll: full-match patterns on the account id or name."""

    include: tuple[Pattern, ...] = (".*",)
    exclude: tuple[Pattern, ...] = ()

    def matches(self, account_id: str, name: str) -> bool:
        return matches_any(self.include, account_id, name) and not matches_any(
            self.exclude, account_id, name
        )


# SES throttles at about 1 request/s per account and region; this is the pace we keep.
RequestsPerSecond = Annotated[float, Strict(), Field(gt=0)]


def _unique_regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    return _unique(regions, "region", "regions")


# A non-empty list of known regions, each listed once (accounts[] and organizations[]).
Regions = Annotated[tuple[Region, ...], non_empty("region"), AfterValidator(_unique_regions)]


def _external_id_needs_role(role_arn: str | None, external_id: SecretStr | None) -> None:
    if external_id is not None and role_arn is None:
        raise problems_error([(("external_id",), "only allowed together with role_arn")])


class AccountConfig(ConfigModel):
    name: str | None = Field(default=None, min_length=1)
    regions: Regions
    role_arn: RoleArn | None = None
    external_id: SecretStr | None = None
    profile: str | None = Field(default=None, min_length=1)
    endpoint_url: EndpointUrl | None = None
    labels: dict[LabelName, str] = Field(default_factory=dict)
    configuration_sets: ConfigurationSetFilter = ConfigurationSetFilter()
    ses_requests_per_second: RequestsPerSecond = 1.0

    def display_name(self, index: int) -> str:
        return self.name if self.name is not None else f"accounts[{index}]"

    @model_validator(mode="after")
    def _external_id(self) -> Self:
        _external_id_needs_role(self.role_arn, self.external_id)
        return self


class OrganizationConfig(ConfigModel):
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
    labels: dict[LabelName, str] = Field(default_factory=dict)
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


class Config(ConfigModel):
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
