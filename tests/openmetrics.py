"""Reading what ``ses-exporter backfill`` writes: OpenMetrics series with timestamps."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.openmetrics.parser import text_string_to_metric_families

THRESHOLD_FAMILY = "ses_exporter_reputation_threshold_ratio"
# A series: (sample name, labels as a sorted tuple)
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def parse_openmetrics(text: str) -> dict[SeriesKey, list[tuple[float, float]]]:
    """{series: [(timestamp, value), ...]} read with prometheus_client's OpenMetrics parser
    (strict: families not interleaved, # EOF last, counters named *_total)."""
    series: dict[SeriesKey, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert s.timestamp is not None
            series.setdefault(key, []).append((float(s.timestamp), s.value))
    return series


def per_target(
    series: Mapping[SeriesKey, list[tuple[float, float]]],
) -> dict[SeriesKey, list[tuple[float, float]]]:
    """The series of the targets: all but the thresholds, which have no target labels."""
    return {key: points for key, points in series.items() if key[0] != THRESHOLD_FAMILY}
