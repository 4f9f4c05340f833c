"""Configuration parsing: every file in tests/data/config, the value types, the models."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ses_exporter.config import (
    COLLECTOR_NAMES,
    AccountConfig,
    CollectorConfig,
    CollectorsConfig,
    Config,
    ConfigError,
    ConfigurationSetFilter,
    ThresholdPair,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
)
from ses_exporter.config_types import known_regions

DATA = Path(__file__).parent / "data" / "config"
EXAMPLE = Path(__file__).parent.parent / "config.example.yaml"
OK_FILES = sorted(DATA.glob("*.ok.yaml"))
BAD_FILES = sorted(DATA.glob("*.bad.yaml"))
EXPECT = "# expect: "


def expected_errors(path: Path) -> list[str]:
    """The `# expect:` lines at the top of a bad file; {file} stands for its path."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        line.removeprefix(EXPECT).replace("{file}", str(path))
        for line in lines
        if line.startswith(EXPECT)
    ]


def test_data_folder_is_populated() -> None:
    assert len(OK_FILES) >= 6
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize("path", OK_FILES, ids=lambda p: p.name)
def test_ok_file_loads(path: Path) -> None:
    config = load_config(path)
    assert config.accounts or config.organizations
    assert all(account.regions for account in config.accounts)
    assert all(organization.regions for organization in config.organizations)


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_bad_file_reports_exactly_the_expected_errors(path: Path) -> None:
    expected = expected_errors(path)
    assert expected, f"{path.name} has no '{EXPECT}' lines"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == expected
    assert str(caught.value) == "\n".join(expected)
    assert "pydantic" not in str(caught.value)


def test_minimal_config_gets_every_default() -> None:
    config = load_config(DATA / "minimal.ok.yaml")
    (account,) = config.accounts
    assert account.regions == ("us-east-1",)
    assert account.name is None
    assert account.role_arn is None
    assert account.external_id is None
    assert account.labels == {}
    assert account.configuration_sets == ConfigurationSetFilter(include=(".*",), exclude=())
    assert account.ses_requests_per_second == 1.0
    collectors = config.collectors
    intervals = [collectors.get(name).interval for name in COLLECTOR_NAMES]
    assert intervals == [60, 300, 300, 900, 300, 300, 3600, 3600]
    enabled = [name for name in COLLECTOR_NAMES if collectors.get(name).enabled]
    assert enabled == [name for name in COLLECTOR_NAMES if name not in ("suppression", "vdm")]
    assert collectors.identities.include == (".*",) and collectors.identities.exclude == ()
    assert collectors.suppression.max_pages == 100
    assert collectors.vdm.isps == ("Gmail", "Hotmail", "Yahoo", "AOL", "iCloud")
    assert (collectors.vdm.lookback, collectors.vdm.max_catch_up) == (3 * 86_400, 14 * 86_400)
    assert not (collectors.vdm.by_configuration_set or collectors.vdm.by_identity)
    assert (collectors.cloudwatch.period, collectors.cloudwatch.lookback) == (300, 10_800)
    thresholds = config.reputation_thresholds
    assert (thresholds.bounce.under_review, thresholds.bounce.at_risk) == (0.05, 0.10)
    assert (thresholds.complaint.under_review, thresholds.complaint.at_risk) == (0.001, 0.005)
    assert config == Config(accounts=(AccountConfig(regions=("us-east-1",)),))


def test_full_spec_example() -> None:
    config = load_config(DATA / "full.ok.yaml")
    (account,) = config.accounts
    assert account.name == "prod"
    assert account.regions == ("us-east-1", "eu-west-1")
    assert account.role_arn == "arn:aws:iam::123456789012:role/ses-exporter"
    assert account.external_id is not None
    assert account.external_id.get_secret_value() == "s3cr3t-external-id"
    assert account.profile == "prod"
    assert account.endpoint_url == "http://127.0.0.1:5000"
    assert account.labels == {"env": "prod"}
    assert config.collectors == CollectorsConfig()
    assert config == load_config(DATA / "full.ok.yaml")


def test_example_file_in_repository_root_loads() -> None:
    config = load_config(EXAMPLE)
    assert [account.name for account in config.accounts] == ["prod"]
    assert config.collectors == CollectorsConfig()


def test_partial_overrides_keep_the_other_defaults() -> None:
    config = load_config(DATA / "collector_overrides.ok.yaml")
    collectors = config.collectors
    assert collectors.account == CollectorConfig(enabled=False, interval=60)
    assert collectors.send_statistics.interval == 5400
    assert collectors.send_statistics.effective_max_staleness == 6 * 3600
    cloudwatch = collectors.cloudwatch
    assert (cloudwatch.interval, cloudwatch.period, cloudwatch.lookback) == (120, 60, 1800)
    assert collectors.configuration_sets.interval == 86_400
    bounce = config.reputation_thresholds.bounce
    assert (bounce.under_review, bounce.at_risk) == (0.05, 0.08)
    assert config.accounts[0].ses_requests_per_second == 0.5


def test_yaml_merge_keys() -> None:
    first, second = load_config(DATA / "yaml_merge_keys.ok.yaml").accounts
    assert (second.name, second.profile) == ("prod-b", "prod-b")
    assert (second.regions, second.labels) == (first.regions, first.labels)


def test_partition_regions_are_known() -> None:
    assert load_config(DATA / "govcloud.ok.yaml").accounts[0].regions == (
        "us-gov-west-1",
        "us-gov-east-1",
    )
    regions = known_regions()
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= regions
    assert not any(region.endswith("-global") for region in regions)


def test_external_id_is_never_shown() -> None:
    config = load_config(DATA / "full.ok.yaml")
    secret = "s3cr3t-external-id"
    for text in (repr(config), str(config), repr(config.accounts[0]), str(config.accounts[0])):
        assert secret not in text
    assert secret not in config.model_dump_json()


def test_external_id_is_not_echoed_in_errors() -> None:
    text = "accounts: [{regions: [us-east-1], external_id: 987654321}]"
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.errors == ["accounts[0].external_id: expected a string"]
    with pytest.raises(ConfigError) as caught:
        parse_config("accounts: [{regions: [us-east-1], external_id: hush-hush}]")
    assert "hush-hush" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172_800),
        ("1w", 604_800),
        ("1.5h", 5400),
        ("1m30s500ms", 90.5),
        ("0s", 0),
        ("-5m", -300),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "60", "5", "5 m", " 5m", "5M", "5min", "m", "1h1h", "30m1h", "1.m", "5m-", "1e3s"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (30, "30s"),
        (300, "5m"),
        (5400, "1h30m"),
        (10_800, "3h"),
        (172_800, "2d"),
        (90.5, "1m30s500ms"),
        (-60, "-1m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_duration_round_trips_whole_milliseconds(millis: int) -> None:
    seconds = millis / 1000
    assert math.isclose(parse_duration(format_duration(seconds)), seconds, abs_tol=1e-9)


def test_durations_from_python_may_be_plain_seconds() -> None:
    assert CollectorConfig(interval=60).interval == 60
    assert CollectorConfig.model_validate({"interval": "5m"}).interval == 300
    with pytest.raises(ValidationError):
        CollectorConfig(interval=0)


@pytest.mark.parametrize(
    ("include", "exclude", "name", "matches"),
    [
        ((".*",), (), "anything", True),
        (("marketing-.*",), (), "marketing-eu", True),
        (("marketing-.*",), (), "my-marketing-eu", False),  # whole-name match
        (("marketing",), (), "marketing-eu", False),
        (("a.*", "b.*"), (), "beta", True),
        ((".*",), (".*-test",), "orders-test", False),
        ((".*",), (".*-test",), "orders-test-2", True),
        ((), (), "anything", False),
    ],
)
def test_configuration_set_filter(
    include: tuple[str, ...], exclude: tuple[str, ...], name: str, matches: bool
) -> None:
    assert ConfigurationSetFilter(include=include, exclude=exclude).matches(name) is matches


def test_with_enabled_returns_a_changed_copy() -> None:
    collectors = CollectorsConfig()
    changed = collectors.with_enabled({"cloudwatch": False, "account": True, "suppression": True})
    assert [changed.get(name).enabled for name in COLLECTOR_NAMES] == [
        True,
        True,
        False,
        True,
        True,
        True,
        True,
        False,
    ]
    assert changed.suppression.max_pages == collectors.suppression.max_pages
    assert changed.cloudwatch.period == collectors.cloudwatch.period
    assert collectors.cloudwatch.enabled  # the original is untouched
    with pytest.raises(ValueError, match="unknown collector"):
        collectors.with_enabled({"cloudwach": False})
    with pytest.raises(KeyError):
        collectors.get("cloudwach")


def test_effective_max_staleness() -> None:
    collectors = CollectorsConfig()
    assert [collectors.get(n).effective_max_staleness for n in COLLECTOR_NAMES] == [
        180,
        900,
        900,
        2700,
        900,
        900,
        10_800,
        10_800,
    ]
    assert CollectorConfig(interval=60, max_staleness=600).effective_max_staleness == 600


def test_models_are_frozen() -> None:
    config = load_config(DATA / "minimal.ok.yaml")
    with pytest.raises(ValidationError):
        config.accounts[0].name = "changed"  # type: ignore[misc]


def test_display_name() -> None:
    config = load_config(DATA / "localstack.ok.yaml")
    assert [a.display_name(i) for i, a in enumerate(config.accounts)] == ["local", "real"]
    assert AccountConfig(regions=("us-east-1",)).display_name(3) == "accounts[3]"


def test_threshold_pair_rejects_disorder_in_python_too() -> None:
    with pytest.raises(ValidationError):
        ThresholdPair(under_review=0.2, at_risk=0.1)


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.errors == [f"cannot read {missing}: No such file or directory"]
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.errors[0].startswith(f"cannot read {tmp_path}: ")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"accounts: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load_config(binary)
    assert caught.value.errors[0].startswith(f"cannot read {binary}: not UTF-8")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "<config>: empty file (expected a mapping with an 'accounts' key)"),
        ("42", "<config>: expected a mapping with an 'accounts' key, got 42"),
        ("a: 2024-13-01", "<config>: invalid YAML: month must be in 1..12"),
        ("a: {b: 1, b: 2}", "<config>:1:11: invalid YAML: duplicate key 'b' (first on line 1)"),
        ("{1.5: x, accounts: [{regions: [us-east-1]}]}", "['1.5']: keys must be strings"),
    ],
)
def test_parse_config_top_level_errors(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.errors == [error]


FIELD_NAMES = [
    *("accounts", "collectors", "reputation_thresholds", "name", "regions", "role_arn"),
    *("external_id", "profile", "endpoint_url", "labels", "configuration_sets", "include"),
    *("exclude", "ses_requests_per_second", "enabled", "interval", "max_staleness", "period"),
    *("lookback", *COLLECTOR_NAMES, "bounce", "complaint", "under_review", "at_risk"),
]
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["us-east-1", "eu-west-1", "5m", "0s", "90s", ".*", "(", "http://h"])
    | st.sampled_from(["arn:aws:iam::123456789012:role/r", "0.05", "env", "__x"])
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
DOCUMENTS = TREES | st.builds(
    lambda accounts, rest: {**rest, "accounts": accounts},
    st.lists(st.dictionaries(KEYS, TREES, max_size=5), max_size=3),
    st.dictionaries(KEYS, TREES, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS)
def test_any_document_loads_or_raises_config_error(document: Any) -> None:
    text = yaml.safe_dump(document)
    try:
        config = parse_config(text)
    except ConfigError as error:
        assert error.errors
        assert all(isinstance(line, str) and line for line in error.errors)
        assert not any("errors.pydantic.dev" in line for line in error.errors)
    else:
        assert isinstance(config, Config)
