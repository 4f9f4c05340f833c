"""Pre-rendered results joined per scrape print what prometheus_client prints, byte for byte.

The reference is prometheus_client itself: ``choose_encoder`` for the Accept header, run on a
registry holding ``families.merge_families`` of the same results (what ``/metrics`` printed
before results were pre-rendered). The join serves what the collectors make (gauges and
counters: both formats, every escaping, label escaping, odd values, a counter's ``_total``,
a family in several results with different HELP, empty families, ``# EOF``); every other
kind of family (``_created``, timestamps, exemplars, units, histograms, summaries, info,
state sets, ``:`` in names, a family twice in a result) is left to prometheus_client, and
the scrape prints it as the registry does.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Mapping, Sequence

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from ses_exporter.aws import RequestCounter
from ses_exporter.discovery import DiscoveryStatus
from ses_exporter.exposition import OPENMETRICS, TEXT, GzipPrefix, choose, join, parse, render
from ses_exporter.families import FamilyBuilder, merge_families
from ses_exporter.scrape import Scrape
from ses_exporter.store import ResultStore

ACCEPT_HEADERS = {
    None: TEXT,
    "text/plain": TEXT,
    "text/plain;version=0.0.4": TEXT,
    "text/plain;version=1.0.0;escaping=allow-utf-8": TEXT,
    "text/plain;version=1.0.0;escaping=values": TEXT,
    "text/plain;version=1.0.0;escaping=underscores": TEXT,
    "application/openmetrics-text": OPENMETRICS,
    "application/openmetrics-text;version=1.0.0": OPENMETRICS,
    "application/openmetrics-text;version=0.0.1,text/plain;version=0.0.4": TEXT,
    "application/openmetrics-text;version=2.0.0;escaping=underscores": OPENMETRICS,
    # What Prometheus 3 sends by default.
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
    "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2": OPENMETRICS,
}
HOSTILE = 'quote " backslash \\ newline \n tab \t unicode é ✉ 🙂 \\n literal'


class Families(Collector):
    def __init__(self, families: Sequence[Metric]):
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def reference(groups: Sequence[Sequence[Metric]], accept: str | None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families(merge_families(groups)))
    encoder, _ = choose_encoder(accept or "")
    return encoder(registry)


def joined(groups: Sequence[Sequence[Metric]], accept: str | None) -> bytes:
    _, _, fmt = choose(accept)
    assert fmt is not None
    body = join([render(group) for group in groups], fmt)
    return body + b"# EOF\n" if fmt == OPENMETRICS else body


def served_target(account_id: str, region: str, doc_suffix: str = "") -> list[Metric]:
    """What the collectors make (FamilyBuilder), for one target: gauges and counters, odd
    values and text, and a family without samples."""
    base = {"account_id": account_id, "region": region}
    b = FamilyBuilder(base)
    b.gauge("aws_ses_max_send_rate", "MaxSendRate." + doc_suffix, 14.0)
    b.gauge("aws_ses_daily_sending_quota", 'Quota "cached" \\ from\nGetAccount.', float("inf"))
    b.gauge("aws_ses_value", "Odd values.", float("nan"), {"kind": "nan"})
    b.gauge("aws_ses_value", "Odd values.", float("-inf"), {"kind": "neg_inf"})
    b.gauge("aws_ses_value", "Odd values.", 1e-10, {"kind": "tiny"})
    b.gauge("aws_ses_value", "Odd values.", 12345678901234.0, {"kind": "big"})
    b.gauge("aws_ses_configuration_set_sending_enabled", "Set.", 1, {"configuration_set": HOSTILE})
    b.counter("aws_ses_sends_total", "Sends.", 3.0, {"zz": "last", "aa": "first"})
    return [*b.families(), GaugeMetricFamily("aws_ses_empty", "No samples.")]


def left_target(account_id: str, region: str) -> list[Metric]:
    """The other kinds of families prometheus_client knows, for one target: never made
    by the collectors, left to prometheus_client."""
    labels, values = ["account_id", "region"], [account_id, region]
    created = CounterMetricFamily("aws_ses_created", "Counter with _created.", labels=labels)
    created.add_metric(values, 7.0, created=1700000000.5)
    exemplar = CounterMetricFamily("aws_ses_exemplar", "Counter with exemplar.", labels=labels)
    exemplar.add_metric(values, 2.0, exemplar=Exemplar({"trace_id": "abc"}, 1.0, 1700000000.0))
    stamped = GaugeMetricFamily("aws_ses_stamped", "Gauge with timestamp.", labels=labels)
    stamped.add_metric(values, 1.5, timestamp=1700000000.123)
    unit = GaugeMetricFamily(
        "aws_ses_age_seconds", "Gauge with unit.", labels=labels, unit="seconds"
    )
    unit.add_metric(values, 4.0)
    histogram = HistogramMetricFamily("aws_ses_latency", "Histogram.", labels=labels)
    histogram.add_metric(values, [("0.1", 1.0), ("+Inf", 3.0)], 0.7)
    gauge_histogram = GaugeHistogramMetricFamily("aws_ses_queue", "GH.", labels=labels)
    gauge_histogram.add_metric(values, [("1.0", 2.0), ("+Inf", 4.0)], 5.0)
    summary = SummaryMetricFamily("aws_ses_size", "Summary.", labels=labels)
    summary.add_metric(values, 3, 12.0)
    info = InfoMetricFamily("aws_ses_build", "Info.", labels=labels)
    info.add_metric(values, {"version": HOSTILE})
    stateset = StateSetMetricFamily("aws_ses_state", "State set.", labels=labels)
    stateset.add_metric(values, {"HEALTHY": True, "PROBATION": False})
    unknown = UnknownMetricFamily("aws_ses_unknown", "Unknown.", labels=labels)
    unknown.add_metric(values, 1.0)
    colon = GaugeMetricFamily("aws_ses:x", "OpenMetrics prints ':' per escaping.", value=1.0)
    odd_label = GaugeMetricFamily("aws_ses_x", "X.", labels=["ses:configuration-set"])
    odd_label.add_metric(["a"], 1.0)
    extra: list[Metric] = [created, exemplar, stamped, unit, histogram, gauge_histogram]
    return [*extra, summary, info, stateset, unknown, colon, odd_label]


def target(account_id: str, region: str) -> list[Metric]:
    """Every kind of family prometheus_client knows, for one target."""
    return served_target(account_id, region) + left_target(account_id, region)


GROUPS = [  # what the join serves
    served_target("111111111111", "eu-west-1"),
    served_target("222222222222", "us-east-1", doc_suffix=" Second target's HELP, not shown."),
    [],
    served_target("333333333333", "ap-southeast-2")[2:5],  # a subset, in another order below
    list(reversed(served_target("444444444444", "us-east-1"))),
]
MIXED = [target("111111111111", "eu-west-1"), [], list(reversed(target("2" * 12, "us-east-1")))]


@pytest.mark.parametrize("accept", list(ACCEPT_HEADERS))
def test_join_prints_what_prometheus_client_prints_for_the_merged_families(
    accept: str | None,
) -> None:
    assert choose(accept)[2] == ACCEPT_HEADERS[accept]
    assert joined(GROUPS, accept) == reference(GROUPS, accept)


@pytest.mark.parametrize("accept", list(ACCEPT_HEADERS))
def test_each_family_alone_and_one_target_alone(accept: str | None) -> None:
    for family in GROUPS[0]:
        assert joined([[family]], accept) == reference([[family]], accept), family.name
    assert joined([GROUPS[0]], accept) == reference([GROUPS[0]], accept)
    assert joined([], accept) == reference([], accept)


def shaped_target(number: int, families: Sequence[str]) -> list[Metric]:
    """Gauges and counters as our builders make them, ``families`` in that order."""
    b = FamilyBuilder({"account_id": f"{number:012d}", "region": "eu-west-1"})
    for name in families:
        if name.endswith("_total"):
            b.counter(name, f"HELP of {name} (target {number}).", float(number))
        else:
            b.gauge(name, f"HELP of {name}.", number / 7, {"configuration_set": HOSTILE})
    return b.families()


@pytest.mark.parametrize("accept", list(ACCEPT_HEADERS))
def test_results_of_several_shapes_interleaved_join_in_result_order(accept: str | None) -> None:
    """The join by shape (one column per family, cut by ``zip``) prints every family once,
    in order of first appearance, with its samples in result order even where results of
    different shapes share it, and the HELP of the first result that has it."""
    full = ["aws_ses_a", "aws_ses_b_total", "aws_ses_c", "aws_ses_d"]
    shapes = [full, ["aws_ses_c", "aws_ses_a"], full[:2], [], ["aws_ses_e", "aws_ses_d"]]
    groups = [shaped_target(n, shapes[n * 7 % 11 % len(shapes)]) for n in range(40)]
    assert {tuple(f.name for f in g) for g in groups} == {
        tuple(name.removesuffix("_total") for name in shape) for shape in shapes
    }
    assert joined(groups, accept) == reference(groups, accept)
    assert joined(groups[::-1], accept) == reference(groups[::-1], accept)


def test_a_counter_has_a_header_per_format_and_one_set_of_sample_lines() -> None:
    fragments = {f.name: f for f in render(GROUPS[0]).fragments}
    sends = fragments["aws_ses_sends"]
    assert sends.header[TEXT].startswith(b"# HELP aws_ses_sends_total ")
    assert sends.header[OPENMETRICS].startswith(b"# HELP aws_ses_sends ")
    assert sends.samples == (
        b'aws_ses_sends_total{aa="first",account_id="111111111111",region="eu-west-1",'
        b'zz="last"} 3.0\n'
    )


def test_only_what_the_collectors_make_is_served_the_rest_left_to_prometheus_client() -> None:
    assert choose("text/plain;version=1.0.0;escaping=dots")[2] is None
    assert choose("application/openmetrics-text;version=1.0.0;escaping=dots")[2] is None
    for family in served_target("111111111111", "eu-west-1"):
        assert render([family]).plain, family.name
    odd_name = GaugeMetricFamily("aws.ses.x", "X.", value=1.0)
    for family in [*left_target("111111111111", "eu-west-1"), odd_name]:
        rendered = render([family])
        assert not rendered.plain and not rendered.fragments, family.name
        assert not render([*GROUPS[0], family]).plain, family.name  # the whole result
    twice = GROUPS[0][:1] * 2  # a family twice in one result: merged by the registry
    assert not render(twice).plain


def test_a_family_prometheus_client_cannot_print_is_left_to_the_scrape() -> None:
    bad = GaugeMetricFamily("aws_ses_x", "X.", value=1.0)
    bad.samples[0] = bad.samples[0]._replace(value="not a number")
    assert not render([bad]).plain  # the poll is stored; the scrape reports it as before


def test_headers_are_kept_once_for_every_target() -> None:
    first, second = render(GROUPS[0]), render(GROUPS[1][:1] + GROUPS[0][1:])
    assert first.fragments[1].header[TEXT] is second.fragments[1].header[TEXT]
    assert first.fragments[1].samples is not second.fragments[1].samples
    together = first.nbytes(seen := set()) + second.nbytes(seen)
    assert together < first.nbytes() + second.nbytes()


def test_gzip_prefix_is_one_gzip_member_of_prefix_and_tail() -> None:
    prefix, tail = reference(GROUPS, None), b"# HELP ses_exporter_x X.\nses_exporter_x 1.0\n"
    cached = GzipPrefix("v1", prefix, 6)
    first, second = cached.finish(tail), cached.finish(tail + b"y 2.0\n")
    assert gzip.decompress(first) == prefix + tail
    assert gzip.decompress(second) == prefix + tail + b"y 2.0\n"
    assert len(first) < len(prefix) / 4


# --- Scrape: the store's results, freshness, the self-metrics, gzip ------------------------


class State:
    requests = RequestCounter()

    def cloudwatch_requested(self) -> Mapping[tuple[str, str], float]:
        return {("111111111111", "eu-west-1"): 12.0, ("111111111111", HOSTILE): 0.5}

    def reload_successful(self) -> bool:
        return True

    def reputation_thresholds(self) -> Mapping[tuple[str, str], float]:
        return {("bounce", "under_review"): 0.05, ("bounce", "at_risk"): 0.08}

    def polls_skipped(self) -> Mapping[str, int]:
        return {"cloudwatch": 1}

    def discovery_statuses(self) -> Sequence[DiscoveryStatus]:
        return []

    def account_names(self) -> Mapping[str, tuple[str, str]]:
        return {"111111111111": ("prod", ""), "222222222222": (HOSTILE, "org-1")}

    def target_count(self) -> int:
        return 2

    def all_shards_target_count(self) -> int:
        return 6

    def shard_position(self) -> tuple[int, int]:
        return 1, 3


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def scrape_with_results() -> tuple[Scrape, ResultStore, Clock]:
    store, clock = ResultStore(), Clock()
    keys = [("a", "eu-west-1", "account"), ("b", "us-east-1", "account"), ("b", "x", "cloudwatch")]
    for index, key in enumerate(keys):
        store.register(key, key[0], max_staleness=100.0 * (index + 1))
    store.record_success(keys[0], "111111111111", GROUPS[0], 990.0, 1000.0)
    store.record_success(keys[1], "222222222222", GROUPS[1], 990.0, 1000.0)
    store.record_failure(keys[2], "222222222222", "AccessDenied", 990.0, 1000.0)
    return Scrape(store, State(), clock), store, clock


@pytest.mark.parametrize(
    "accept",
    [*ACCEPT_HEADERS, "text/plain;version=1.0.0;escaping=dots"],
)
def test_scrape_prints_what_the_registry_prints(accept: str | None) -> None:
    scrape, _, clock = scrape_with_results()
    encoder, content_type = choose_encoder(accept or "")
    for now in (1000.0, 1150.0, 1500.0):  # both fresh, the first stale, both stale
        clock.now = now
        expected = encoder(scrape.registry)
        assert scrape.render(accept) == (expected, content_type)
        assert gzip.decompress(scrape.render(accept, gzip=True)[0]) == expected
        assert gzip.decompress(scrape.render(accept, gzip=True)[0]) == expected  # cached
    assert b"aws_ses_max_send_rate{" not in expected  # stale results left out


@pytest.mark.parametrize("accept", list(ACCEPT_HEADERS))
def test_scrape_falls_back_to_the_registry_for_results_the_join_does_not_serve(
    accept: str | None,
) -> None:
    encoder, content_type = choose_encoder(accept or "")
    bodies = []
    for families in [*MIXED, GROUPS[0][:1] * 2]:
        scrape, store, _ = scrape_with_results()
        store.record_success(("b", "x", "cloudwatch"), "222222222222", families, 990.0, 1000.0)
        expected = encoder(scrape.registry)
        assert scrape.render(accept) == (expected, content_type)
        assert gzip.decompress(scrape.render(accept, gzip=True)[0]) == expected
        bodies.append(expected)
    assert b"aws_ses_x{" in bodies[0] or b'{"ses:configuration-set"' in bodies[0]
    assert b"aws_ses_latency_bucket{" in bodies[0]


@pytest.mark.parametrize("accept", list(ACCEPT_HEADERS))
def test_per_target_self_metrics_are_kept_rendered_as_the_registry_prints_them(
    accept: str | None,
) -> None:
    # Each status keeps its collector_* sample lines; a scrape joins them. Odd label
    # values (quote, backslash, newline), lag, failures and values needing exponents.
    scrape, store, _ = scrape_with_results()
    odd = ('we"ird\\acc\nount', "eu-west-1", "cloudwatch")
    store.register(odd, odd[0], max_staleness=100.0)
    store.record_start(odd, 990.0, 1.5e-7)
    store.record_success(odd, odd[0], GROUPS[2], 990.0, 1_700_000_000.123456)
    store.record_start(("a", "eu-west-1", "account"), 995.0, 0.25)  # in flight, lag known
    store.register(("c", "us-east-1", "account"), "c", max_staleness=100.0)  # never polled
    encoder, content_type = choose_encoder(accept or "")
    expected = encoder(scrape.registry)
    assert b"ses_exporter_collector_scheduling_lag_seconds{" in expected
    assert b'account_id="we\\"ird\\\\acc\\nount"' in expected  # escaped as the formats say
    assert scrape.render(accept) == (expected, content_type)
    assert gzip.decompress(scrape.render(accept, gzip=True)[0]) == expected


EVERY_ACCEPT = [*ACCEPT_HEADERS, "text/plain;version=1.0.0;escaping=dots"]


def test_builder_families_are_plain_and_parse_gives_them_back_exactly() -> None:
    families = served_target("111111111111", "eu-west-1")
    assert {m.type for m in families} == {"gauge", "counter"}
    rendered = render(families)
    assert rendered.plain
    parsed = parse(rendered)
    for accept in EVERY_ACCEPT:
        assert reference([parsed], accept) == reference([families], accept), accept


@pytest.mark.parametrize("accept", EVERY_ACCEPT)
def test_store_keeps_plain_results_only_rendered(accept: str | None) -> None:
    store, key = ResultStore(), ("a", "eu-west-1", "cloudwatch")
    store.register(key, "a", max_staleness=100.0)
    families = served_target("111111111111", "eu-west-1")
    store.record_success(key, "111111111111", families, 990.0, 1000.0)
    (status,) = store.statuses()
    assert status.families == ()  # the Metric objects are not kept
    assert reference([status.metric_families()], accept) == reference([families], accept)
    kept = MIXED[0]  # with a histogram, exemplars, ...: kept as they are
    store.record_success(key, "111111111111", kept, 990.0, 1000.0)
    (status,) = store.statuses()
    assert status.families == tuple(kept) and status.metric_families() == tuple(kept)


def test_gzip_cache_follows_new_results_and_freshness() -> None:
    scrape, store, clock = scrape_with_results()
    before = gzip.decompress(scrape.render(None, gzip=True)[0])
    store.record_success(("b", "x", "cloudwatch"), "222222222222", GROUPS[3], 995.0, 1000.0)
    after = gzip.decompress(scrape.render(None, gzip=True)[0])
    assert after != before and after == choose_encoder("")[0](scrape.registry)
    clock.now = 1150.0
    assert gzip.decompress(scrape.render(None, gzip=True)[0]) == choose_encoder("")[0](
        scrape.registry
    )
    scrape.render("application/openmetrics-text", gzip=True)  # one cache per format
    assert set(scrape._gzip) == {TEXT, OPENMETRICS}


def test_store_version_follows_rendered_content_not_poll_bookkeeping() -> None:
    store, key = ResultStore(), ("a", "eu-west-1", "account")
    store.register(key, "a", max_staleness=100.0)
    version = store.snapshot()[0]
    store.record_start(key, 990.0, 0.1)
    assert store.snapshot()[0] == version  # in flight: same content
    store.record_success(key, "111111111111", GROUPS[0], 990.0, 1000.0)
    version, statuses = store.snapshot()
    assert statuses[0].rendered.fragments and statuses[0].rendered.plain
    store.record_failure(key, "111111111111", "Throttling", 1010.0, 1020.0)
    assert store.snapshot()[0] == version  # still fresh: the same fragments
    store.record_failure(key, "111111111111", "Throttling", 1200.0, 1210.0)
    stale_version, statuses = store.snapshot()
    assert stale_version != version and statuses[0].rendered.fragments == ()
    store.remove(key)
    assert store.snapshot()[0] != stale_version


def test_sample_lines_print_again_only_what_changed() -> None:
    from ses_exporter.exposition import SampleLines

    lines = SampleLines[tuple[str, str]]("x_total", ("region", "account_id"))
    first = lines.render({("b", "2"): 1.0, ("a", HOSTILE): 2.0})
    assert first == (
        b'x_total{account_id="'
        + HOSTILE.encode().replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b'"', b'\\"')
        + b'",region="a"} 2.0\nx_total{account_id="2",region="b"} 1.0\n'
    )
    kept = lines._lines[("b", "2")][1]
    second = lines.render({("b", "2"): 1.0, ("c", "3"): float("nan")})
    assert (
        second
        == b'x_total{account_id="2",region="b"} 1.0\nx_total{account_id="3",region="c"} NaN\n'
    )
    assert lines._lines[("b", "2")][1] is kept  # unchanged: not printed again
    assert ("a", HOSTILE) not in lines._lines  # gone from the values: forgotten
    assert lines.render({("b", "2"): 5.0}) == b'x_total{account_id="2",region="b"} 5.0\n'


def test_sample_lines_tell_negative_zero_from_zero() -> None:
    from ses_exporter.exposition import SampleLines

    lines = SampleLines[tuple[str]]("y", ("a",))
    assert lines.render({("1",): 0.0}) == b'y{a="1"} 0.0\n'
    assert lines.render({("1",): -0.0}) == b'y{a="1"} -0.0\n'
