"""Building metric families from snapshots, and merging them at scrape time.

Builders run in the poller thread right after a poll, and the store renders their
families there too (``exposition``). ``merge_families`` defines what a scrape prints (one
family per name, every target's samples under it): the join of pre-rendered results
reproduces it byte for byte, and the fallback for what the join cannot serve uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

GAUGE = "gauge"
COUNTER = "counter"


class FamilyBuilder:
    """Collects samples into families; every sample carries the target's labels first.

    >>> b = FamilyBuilder({"account_id": "123456789012", "region": "us-east-1"})
    >>> b.gauge("aws_ses_max_send_rate", "MaxSendRate.", 14.0)
    >>> [s.labels for s in b.families()[0].samples]
    [{'account_id': '123456789012', 'region': 'us-east-1'}]
    """

    def __init__(self, base_labels: Mapping[str, str]):
        self._base = dict(base_labels)
        self._families: dict[str, Metric] = {}

    def gauge(
        self,
        name: str,
        documentation: str,
        value: float,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self._add(name, documentation, GAUGE, name, value, labels)

    def counter(
        self,
        name: str,
        documentation: str,
        value: float,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"counter {name} must end in _total")
        self._add(name[: -len("_total")], documentation, COUNTER, name, value, labels)

    def families(self) -> list[Metric]:
        return list(self._families.values())

    def _add(
        self,
        family: str,
        documentation: str,
        kind: str,
        sample_name: str,
        value: float,
        labels: Mapping[str, str] | None,
    ) -> None:
        metric = self._families.get(family)
        if metric is None:
            metric = self._families[family] = Metric(family, documentation, kind)
        sample_labels = {**self._base, **labels} if labels else dict(self._base)
        metric.samples.append(Sample(sample_name, sample_labels, float(value), None, None))


def merge_families(groups: Iterable[Iterable[Metric]]) -> list[Metric]:
    """One family per name (HELP, type and unit of its first group), with the samples of
    every group (every target) in order."""
    merged: dict[str, Metric] = {}
    for group in groups:
        for family in group:
            target = merged.get(family.name)
            if target is None:
                target = merged[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            target.samples.extend(family.samples)
    return list(merged.values())


def threshold_family(
    ratios: Mapping[tuple[str, str], float], extra_labels: Mapping[str, str] | None = None
) -> Metric:
    """``ses_exporter_reputation_threshold_ratio``: the configured thresholds by (rate,
    status) (``ReputationThresholds.ratios``), so rules and dashboards compare against the
    same numbers as ``aws_ses_reputation_status`` instead of copies of them. The exporter
    exposes it without target labels; ``backfill`` adds its ``--label`` labels."""
    extra = dict(extra_labels or {})
    family = GaugeMetricFamily(
        "ses_exporter_reputation_threshold_ratio",
        "Reputation thresholds the exporter derives aws_ses_reputation_status and "
        "aws_ses_configuration_set_reputation_status from (reputation_thresholds in the "
        "config), 0-1: a rate at or above a status's threshold has that status.",
        labels=["rate", "status", *extra],
    )
    for (rate, status), ratio in ratios.items():
        family.add_metric([rate, status, *extra.values()], ratio)
    return family
