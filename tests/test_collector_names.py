"""One list of collector names: the fields of CollectorsConfig. The registry, the
--collector.NAME flags and the README's collector table must say the same."""

from __future__ import annotations

import re
from pathlib import Path

from ses_exporter.cli import build_parser
from ses_exporter.collectors import REGISTRY
from ses_exporter.config import COLLECTOR_NAMES, CollectorsConfig

README = Path(__file__).resolve().parents[1] / "README.md"
EXPECTED = ("account", "send_statistics", "cloudwatch", "configuration_sets")


def test_the_names_are_the_config_fields() -> None:
    assert COLLECTOR_NAMES == tuple(CollectorsConfig.model_fields) == EXPECTED


def test_the_registry_has_one_class_per_name_in_the_same_order() -> None:
    assert tuple(REGISTRY) == COLLECTOR_NAMES
    assert [cls.name for cls in REGISTRY.values()] == list(COLLECTOR_NAMES)


def test_every_name_has_its_flags_and_no_other_collector_flag_exists() -> None:
    flags = {o for a in build_parser()._actions for o in a.option_strings if "collector." in o}
    expected = {f"--{no}collector.{name}" for name in COLLECTOR_NAMES for no in ("", "no-")}
    assert flags == expected


def test_the_readme_collector_table_lists_the_names_in_order() -> None:
    section = README.read_text(encoding="utf-8").split("\n### Collectors\n", 1)[1]
    table = section.strip().split("\n\n", 1)[0]  # the first block after the heading
    names = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)
    assert tuple(names) == COLLECTOR_NAMES
