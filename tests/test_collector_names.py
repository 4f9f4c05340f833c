"""One list of collectors: the registry, which each collector module joins on import
(``collectors.base.register``). The configuration's ``collectors`` section, the
--collector.NAME flags, the README's collector table and the collector headings of
docs/metrics.md follow it, and nothing outside ``collectors/`` names a collector."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ses_exporter.cli import build_parser
from ses_exporter.collectors import REGISTRY
from ses_exporter.collectors.base import Collector, register
from ses_exporter.config import COLLECTOR_NAMES, CollectorsConfig, format_duration, parse_config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
METRICS_DOC = ROOT / "docs" / "metrics.md"
EXPECTED = (
    "account",
    "send_statistics",
    "cloudwatch",
    "configuration_sets",
    "identities",
    "dedicated_ips",
    "suppression",
    "vdm",
)


def test_the_names_are_the_registry_in_order_and_the_config_fields() -> None:
    assert tuple(REGISTRY) == COLLECTOR_NAMES == tuple(CollectorsConfig.model_fields) == EXPECTED
    assert [cls.name for cls in REGISTRY.values()] == list(COLLECTOR_NAMES)


def test_each_section_has_its_collectors_model_and_default_interval() -> None:
    sections = CollectorsConfig()
    for name, cls in REGISTRY.items():
        section = sections.get(name)
        assert type(section) is cls.config_model
        assert section.interval == cls.default_interval
    # A section given without an interval keeps its collector's own default.
    config = parse_config(
        "accounts: [{regions: [us-east-1]}]\ncollectors: {cloudwatch: {period: 60s}}\n"
    )
    assert config.collectors.get("cloudwatch").interval == REGISTRY["cloudwatch"].default_interval


def test_a_second_collector_with_a_taken_name_is_refused() -> None:
    class Twin(Collector):
        name = "account"
        title = "a twin"
        default_interval = 60.0

        def poll(self, labels):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(ValueError, match="two collectors are named 'account'"):
        register(Twin)
    assert REGISTRY["account"] is not Twin


def test_every_name_has_its_flags_and_no_other_collector_flag_exists() -> None:
    flags = {o for a in build_parser()._actions for o in a.option_strings if "collector." in o}
    expected = {f"--{no}collector.{name}" for name in COLLECTOR_NAMES for no in ("", "no-")}
    assert flags == expected


def test_the_readme_collector_table_lists_the_names_intervals_in_order() -> None:
    section = README.read_text(encoding="utf-8").split("\n## Collectors\n", 1)[1]
    table = section.strip().split("\n\n", 1)[0]  # the first block after the heading
    rows = re.findall(r"^\| `([a-z_]+)` \|[^|]*\| ([0-9]+) s \|", table, flags=re.MULTILINE)
    assert [name for name, _ in rows] == list(COLLECTOR_NAMES)
    for name, seconds in rows:
        assert float(seconds) == REGISTRY[name].default_interval, name


def test_the_metrics_doc_has_a_heading_per_collector_with_its_title() -> None:
    page = METRICS_DOC.read_text(encoding="utf-8")
    headings = re.findall(r"^## `([a-z_]+)` — (.+)$", page, flags=re.MULTILINE)
    assert headings == [(name, cls.title) for name, cls in REGISTRY.items()]


def test_no_module_outside_collectors_names_a_collector_class() -> None:
    package = ROOT / "ses_exporter"
    classes = {cls.__name__ for cls in REGISTRY.values()}
    outside = [p for p in package.rglob("*.py") if p.parent != package / "collectors"]
    named = {
        f"{path.relative_to(package)}: {cls}"
        for path in outside
        for cls in classes
        if re.search(rf"\b{cls}\b", path.read_text(encoding="utf-8"))
    }
    assert outside and named == set()


def test_durations_of_the_defaults_print_as_the_readme_says() -> None:
    assert [format_duration(cls.default_interval) for cls in REGISTRY.values()] == [
        "1m",
        "5m",
        "5m",
        "15m",
        "5m",
        "5m",
        "1h",
        "1h",
    ]
