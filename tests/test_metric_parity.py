"""The metric tables of docs/metrics.md, the golden scrape and the code's families are one
set of (name, type, labels), and every metric name is written out in the code.

* docs: the rows of the tables in docs/metrics.md (SES families carry ``account_id``,
  ``region`` and the account's static labels besides the labels listed).
* golden: tests/data/golden/full_scrape.prom, every family with at least one sample.
* code: the builders fed with snapshots in which AWS reported everything, and the
  self-metrics of the golden test's exporter.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

import ses_exporter
from ses_exporter.collectors.account import AccountSnapshot, account_families
from ses_exporter.collectors.cloudwatch import (
    COUNTERS,
    REPUTATION,
    CloudWatchSnapshot,
    cloudwatch_families,
)
from ses_exporter.collectors.configuration_sets import (
    ConfigurationSetSnapshot,
    configuration_set_families,
)
from ses_exporter.collectors.dedicated_ips import DedicatedIp, dedicated_ip_families
from ses_exporter.collectors.identities import IdentityDetails, ListedIdentity, identity_families
from ses_exporter.collectors.send_statistics import send_statistics_families
from ses_exporter.collectors.suppression import suppression_families
from ses_exporter.collectors.vdm import VdmSnapshot, vdm_families, wanted_keys
from ses_exporter.config import ReputationThresholds
from tests.fakes import FakeAccountApi
from tests.golden import GOLDEN, polled_exporter

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(ses_exporter.__file__).resolve().parent
TARGET = frozenset({"account_id", "region"})
STATIC = frozenset({"env", "team"})  # the golden config's static labels

Family = tuple[str, frozenset[str]]  # (type, label names)


def documented_families() -> dict[str, Family]:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    found: dict[str, Family] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"`[a-z0-9_]+`", cells[0]):
            continue
        name, kind = cells[0].strip("`"), cells[1].split()[0]
        labels = frozenset(re.findall(r"`([a-z0-9_]+)`", cells[2]))
        if name.startswith("aws_ses_"):
            labels |= TARGET
        assert name not in found, f"{name} is listed twice"
        found[name] = (kind, labels)
    return found


def scraped(text: str) -> dict[str, Family]:
    found: dict[str, Family] = {}
    for family in text_string_to_metric_families(text.replace(" <volatile>\n", " 0\n")):
        if family.name.startswith(("process_", "python_")) or not family.samples:
            continue
        found[_name(family)] = (family.type, _labels(family.samples))
    return found


def built(families: Iterable[Metric]) -> dict[str, Family]:
    return {_name(f): (f.type, _labels(f.samples)) for f in families if f.samples}


def _name(family: Metric) -> str:
    return family.name + "_total" if family.type == "counter" else family.name


def _labels(samples: Iterable[object]) -> frozenset[str]:
    return frozenset(k for s in samples for k in s.labels) - STATIC  # type: ignore[attr-defined]


def code_families(exporter_text: str) -> dict[str, Family]:
    labels = {"account_id": "123456789012", "region": "us-east-1"}
    account = AccountSnapshot(
        50000,
        14,
        100,
        True,
        "GetAccount",
        True,
        "HEALTHY",
        (("mail_type", "MARKETING"),),
        suppressed_reasons=("BOUNCE",),
    )
    counters = tuple(((row.key, scope), 1.0) for row in COUNTERS for scope in (None, "m"))
    rates = tuple(((rate, scope), (1.7e9, 0.01)) for rate in REPUTATION for scope in (None, "m"))
    found = {
        **built(account_families(account, "us-east-1", labels)),
        **built(send_statistics_families({f: 1.0 for f in FIELDS}, labels)),
        **built(
            cloudwatch_families(CloudWatchSnapshot(counters, rates), ReputationThresholds(), labels)
        ),
        **built(
            configuration_set_families(
                1, [ConfigurationSetSnapshot("m", True, True, 1.7e9)], labels
            )
        ),
        **built(
            identity_families(
                [ListedIdentity("example.com", "DOMAIN", True, "SUCCESS")],
                {"example.com": IDENTITY},
                labels,
            )
        ),
        **built(
            dedicated_ip_families(
                {"p": "STANDARD"}, [DedicatedIp("198.51.100.7", "p", "IN_PROGRESS", 0.4)], labels
            )
        ),
        **built(suppression_families({"BOUNCE": 3}, False, labels)),
        **built(vdm_families(VDM, labels)),
    }
    # The account collector's info labels are whatever AWS reports; take the full set.
    full_info = scraped(exporter_text)["aws_ses_account_info"]
    found["aws_ses_account_info"] = full_info
    self_metrics = {
        name: family
        for name, family in scraped(exporter_text).items()
        if name.startswith("ses_exporter_")
    }
    return {**found, **self_metrics}


# Every scope of every VDM metric: the account, an ISP, a set and an identity with it.
VDM = VdmSnapshot(True, True, tuple((key, 1.0) for key in wanted_keys(["Gmail"], ["m"], ["a"])))
FIELDS = ("delivery_attempts", "bounces", "complaints", "rejects")
IDENTITY = IdentityDetails(
    dkim_status="SUCCESS",
    dkim_signing_enabled=True,
    dkim_signing_attributes_origin="AWS_SES",
    mail_from_domain="bounce.example.com",
    mail_from_status="SUCCESS",
    behavior_on_mx_failure="USE_DEFAULT_VALUE",
    configuration_set="",
    verification_last_success=1.7e9,
)


def test_the_docs_tables_and_the_golden_scrape_list_the_same_families() -> None:
    documented = documented_families()
    golden = scraped(GOLDEN.read_text(encoding="utf-8"))
    missing = set(documented) - set(golden)
    assert missing == set(), f"in docs/metrics.md, not in the golden scrape: {sorted(missing)}"
    assert set(golden) - set(documented) == set(), "in the golden scrape, not in docs/metrics.md"
    for name in golden:
        assert golden[name] == documented[name], name
    assert len(golden) >= 61


def test_the_code_builds_exactly_the_golden_families(aws: None) -> None:
    exporter = polled_exporter(FakeAccountApi())
    text = exporter.render_metrics(None)[0].decode()
    code = code_families(text)
    golden = scraped(GOLDEN.read_text(encoding="utf-8"))
    assert code == golden
    # and nothing else: every family the registry knows has samples in the golden run
    registered = {
        _name(f)
        for f in exporter.registry.collect()
        if not f.name.startswith(("process_", "python_"))
    }
    assert registered == set(golden)


def literal_strings() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def test_every_metric_name_is_written_out_in_the_code() -> None:
    """grep for a metric name lands on its definition: no name assembled from fragments."""
    strings = literal_strings()
    assert [name for name in documented_families() if name not in strings] == []


def test_no_metric_name_is_assembled_from_fragments() -> None:
    """No f-string or + builds a name starting aws_ses_ or ses_exporter_."""
    assembled = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                first = node.values[0] if node.values else None
                head = first.value if isinstance(first, ast.Constant) else ""
                if isinstance(head, str) and head.startswith(("aws_ses_", "ses_exporter_")):
                    assembled.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
                for side in (node.left, node.right):
                    if (
                        isinstance(side, ast.Constant)
                        and isinstance(side.value, str)
                        and re.fullmatch(r"(aws_ses|ses_exporter)_[a-z_]*", side.value)
                    ):
                        assembled.append(f"{path.name}:{node.lineno}")
    assert assembled == []


def test_the_parser_of_the_docs_tables_reads_labels_and_types() -> None:
    documented = documented_families()
    assert documented["aws_ses_reputation_status"] == (
        "gauge",
        frozenset({"account_id", "region", "rate", "status"}),
    )
    assert documented["ses_exporter_aws_requests_total"] == (
        "counter",
        frozenset({"service", "operation", "outcome"}),
    )
    assert documented["aws_ses_account_info"][0] == "gauge"
