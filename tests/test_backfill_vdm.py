"""``ses-exporter backfill`` with ``collectors.vdm`` on: VDM's daily datapoints as the live
vdm collector's counters, against the demo's ``VdmStore`` (BatchGetMetricData as AWS
answers it: one datapoint per UTC day, summed over exactly what a query's dimensions
match, at most 60 days a query, every answer checked against botocore's model).

The names, labels and HELP are the live collector's; each whole UTC day of the window
counts at its end; the join with the live counters (a first install, ``--continue-from``,
``--exporter-restarted``); VDM disabled in a region; BatchGetMetricData errors.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from ses_exporter.aws import ClientFactory, RequestCounter
from ses_exporter.backfill.command import BackfillOptions, BackfillReport, backfill, run_backfill
from ses_exporter.backfill.history import VDM_MAX_DAYS, fetch_vdm_history
from ses_exporter.backfill.prometheus import COUNTER_NAMES, LiveValue
from ses_exporter.collectors.cloudwatch_source import Window
from ses_exporter.collectors.vdm import EVENTS, VdmCollector
from ses_exporter.collectors.vdm_source import Slice
from ses_exporter.config import Config, parse_config
from ses_exporter.demo.responders import SimulatedError, install_api_responder
from ses_exporter.demo.vdm import VdmStore
from ses_exporter.targets import build_targets
from tests.fakes import FakeAccountApi
from tests.openmetrics import SeriesKey, parse_openmetrics

DAY = 86_400
NOW = datetime(2026, 12, 7, 15, 0, 40, tzinfo=UTC).timestamp()
TODAY = NOW - NOW % DAY  # 00:00 UTC of the day the backfill runs
ACCOUNT = "123456789012"
VDM_GAUGES = {"ses_exporter_vdm_enabled", "aws_ses_vdm_engagement_metrics_enabled"}
SENDS = EVENTS[0].account  # the SEND row: aws_ses_vdm_sends_total
ISP_SENDS = EVENTS[0].isp
ISP_HARD_BOUNCES = EVENTS[2].isp
IMPLIED = ("account_id", "region", "job", "instance")  # the target's and the scrape's labels
Series = dict[SeriesKey, list[tuple[float, float]]]


def config(regions: str = "[us-east-1]", vdm: str = "", account: str = "") -> Config:
    return parse_config(
        f"accounts:\n  - name: t\n    regions: {regions}\n    ses_requests_per_second: 1000\n"
        f"{account}"
        "collectors:\n  cloudwatch: {enabled: false}\n  send_statistics: {enabled: false}\n"
        f"  vdm: {{enabled: true, isps: [Gmail, Yahoo], requests_per_second: 16{vdm}}}\n"
    )


class Recorder:
    """BatchGetMetricData of each region answered by its store (installed before the other
    hooks, so it answers first); ``asked``: (region, Queries) of every call."""

    def __init__(self, stores: Mapping[str, VdmStore]):
        self.stores = stores
        self.asked: list[tuple[str, list[Mapping[str, Any]]]] = []

    def hook(self, service: str, client: BaseClient) -> None:
        region = client.meta.region_name
        if service != "sesv2":
            return
        store = self.stores.get(region)

        def answer(params: Mapping[str, Any]) -> Mapping[str, Any]:
            self.asked.append((region, list(params["Queries"])))
            if store is None:  # as AWS answers where VDM is disabled
                raise SimulatedError(
                    "NotFoundException", "To use this feature you must enable VDM.", 404
                )
            return store.batch_get_metric_data(params)

        install_api_responder(client, "BatchGetMetricData", answer)


def run(
    cfg: Config, fake_api: FakeAccountApi, recorder: Recorder, **options: Any
) -> tuple[BackfillReport, Series, str]:
    out = io.BytesIO()
    report = backfill(
        cfg,
        BackfillOptions(**{"days": 3, "step": 3600, **options}),
        out,
        [recorder.hook, fake_api.hook],
        io.StringIO(),
        clock=lambda: NOW,
    )
    text = out.getvalue().decode()
    return report, parse_openmetrics(text) if report.written else {}, text


def points(series: Series, name: str, **labels: str) -> list[tuple[float, float]]:
    (found,) = [
        p
        for (n, ls), p in series.items()
        if n == name and {k: v for k, v in ls if k not in IMPLIED} == labels
    ]
    return found


def step_values(found: list[tuple[float, float]]) -> dict[float, float]:
    """{time: value} where the value changes, and the first sample."""
    changes, last = {}, None
    for t, v in found:
        if v != last:
            changes[t] = v
            last = v
    return changes


def history(store: VdmStore) -> None:
    """A few days around the window of ``days=3`` ending at NOW (15:00 UTC)."""
    store.add(TODAY - 3 * DAY + 20 * 3600, "SEND", 1000, isp="Gmail")  # a day the start cuts
    store.add(TODAY - 2 * DAY, "SEND", 100, isp="Gmail")
    store.add(TODAY - 2 * DAY, "SEND", 10, isp="Comcast")  # not in isps: the account has it
    store.add(TODAY - DAY + 3600, "SEND", 200, isp="Gmail")
    store.add(TODAY - DAY, "PERMANENT_BOUNCE", 7, isp="Yahoo")
    store.add(TODAY + 3600, "SEND", 50, isp="Gmail")  # today so far: the end cuts it


# --- what is written --------------------------------------------------------------------


def test_a_day_counts_at_its_end_and_only_whole_days_of_the_window(
    aws: None, fake_api: FakeAccountApi
) -> None:
    store = VdmStore()
    history(store)
    recorder = Recorder({"us-east-1": store})
    report, series, _ = run(config(), fake_api, recorder)
    assert report.written and report.failed == []
    start = NOW - 40 - 3 * DAY  # 15:00 three days ago
    gmail = points(series, ISP_SENDS, isp="Gmail")
    assert gmail[0] == (start, 0.0) and gmail[-1] == (NOW - 40, 300.0)
    assert [t for t, _ in gmail] == [start + 3600 * k for k in range(3 * 24 + 1)]
    # 1,000 on the day the window's start cuts and 50 today: in no whole day, not counted
    assert step_values(gmail) == {start: 0.0, TODAY - DAY: 100.0, TODAY: 300.0}
    assert step_values(points(series, SENDS)) == {start: 0.0, TODAY - DAY: 110.0, TODAY: 310.0}
    yahoo = points(series, ISP_HARD_BOUNCES, isp="Yahoo")
    assert step_values(yahoo) == {start: 0.0, TODAY: 7.0}
    # Every query of the live collector is a series from the window's start, at 0 if idle.
    vdm = {(n, ls) for n, ls in series if n.startswith("aws_ses_vdm_")}
    assert len(vdm) == 10 * 3  # ten metrics: the account, Gmail, Yahoo
    assert all(series[key][0] == (start, 0.0) for key in vdm)
    # The whole days only: one chunk [00:00 two days ago, 00:00 today), ten queries a call.
    assert report.vdm_calls == len(recorder.asked) == 3 and report.vdm_queries == 30
    for _, queries in recorder.asked:
        assert {(q["StartDate"].timestamp(), q["EndDate"].timestamp()) for q in queries} == {
            (TODAY - 2 * DAY, TODAY)
        }
    assert "; 3 BatchGetMetricData calls, 30 queries (free)" in report.summary()


def test_names_labels_and_help_are_the_live_collectors(aws: None, fake_api: FakeAccountApi) -> None:
    sesv2 = boto3.client("sesv2", region_name="us-east-1")
    for name in ("marketing", "test-1"):
        sesv2.create_configuration_set(ConfigurationSetName=name)
    for identity in ("news@example.com", "ops@example.net"):
        sesv2.create_email_identity(EmailIdentity=identity)
    store = VdmStore()
    history(store)
    store.add(TODAY - DAY, "COMPLAINT", 2, isp="Yahoo", configuration_set="marketing")
    store.add(TODAY - DAY, "OPEN", 4, isp="Gmail", identity="news@example.com")
    cfg = config(
        vdm=", by_configuration_set: true, by_identity: true, "
        'identities: {include: [".*@example\\\\.com"]}',
        account='    configuration_sets: {exclude: ["test-.*"]}\n',
    )
    recorder = Recorder({"us-east-1": store})
    report, series, text = run(cfg, fake_api, recorder, labels=(("job", "ses"),))
    assert report.written

    # The live collector of the same config and world, polled once: every series at 0.
    factory = ClientFactory(RequestCounter(), [recorder.hook, fake_api.hook])
    (target,) = build_targets(cfg, factory)
    target.account.account_id(target.clients)
    live = [f for f in target.collectors["vdm"].poll(target.labels()) if f.name not in VDM_GAUGES]
    live_samples = {(s.name, frozenset(s.labels.items())) for f in live for s in f.samples}
    written = {
        (name, frozenset(labels) - {("job", "ses")})
        for name, labels in series
        if name.startswith("aws_ses_vdm_") or name.startswith("ses_exporter_vdm_")
    }
    assert written == live_samples
    assert len(written) == 10 * (1 + 2 + 1 * 2 + 1 * 2)  # account, ISPs, set and identity x ISP
    families = {
        (f.name, f.documentation, f.type)
        for f in text_string_to_metric_families(text)
        if "_vdm_" in f.name
    }
    assert families == {(f.name, f.documentation, f.type) for f in live}
    assert step_values(
        points(series, EVENTS[4].configuration_set, configuration_set="marketing", isp="Yahoo")
    ) == {NOW - 40 - 3 * DAY: 0.0, TODAY: 2.0}
    assert points(series, EVENTS[5].identity, identity="news@example.com", isp="Gmail")[-1] == (
        NOW - 40,
        4.0,
    )


# --- the join with the live counters ------------------------------------------------------


def live_collector(
    fake_api: FakeAccountApi, recorder: Recorder, cfg: Config, clock: Callable[[], float]
) -> tuple[VdmCollector, dict[str, str]]:
    (target,) = build_targets(cfg, ClientFactory(RequestCounter(), [recorder.hook, fake_api.hook]))
    target.account.account_id(target.clients)
    built = target.collectors["vdm"]
    assert isinstance(built, VdmCollector)
    return VdmCollector(target.clients, built.settings, clock), target.labels()


def prometheus_increase(samples: Iterable[tuple[float, float]]) -> tuple[float, int]:
    """increase() over the samples as Prometheus counts it (a drop is a reset from 0), and
    the resets."""
    total, resets, last = 0.0, 0, None
    for _, value in sorted(samples):
        if last is not None:
            if value < last:
                total, resets = total + value, resets + 1
            else:
                total += value - last
        last = value
    return total, resets


def test_a_first_install_joins_the_live_counter_at_a_reset_counting_nothing_twice(
    aws: None, fake_api: FakeAccountApi
) -> None:
    store = VdmStore()
    history(store)
    recorder = Recorder({"us-east-1": store})
    cfg = config()
    _, series, _ = run(cfg, fake_api, recorder)
    now = [NOW + 60]
    collector, labels = live_collector(fake_api, recorder, cfg, lambda: now[0])

    def live_gmail() -> tuple[float, float]:
        found = [
            s.value
            for f in collector.poll(labels)
            for s in f.samples
            if s.name == ISP_SENDS and s.labels["isp"] == "Gmail"
        ]
        return now[0], found[0]

    joined = [*points(series, ISP_SENDS, isp="Gmail"), live_gmail()]  # the baseline: 0
    store.add(TODAY + 7200, "SEND", 30, isp="Gmail")  # today goes on
    store.add(TODAY - DAY, "SEND", 5, isp="Gmail")  # yesterday revised after the start
    now[0] = NOW + 3600
    joined.append(live_gmail())
    assert joined[-2:] == [(NOW + 60, 0.0), (NOW + 3600, 35.0)]
    increase, resets = prometheus_increase(joined)
    # The whole days (100 + 200), then what the live collector counted (30 + 5). Today's
    # 50 before the live start is its baseline and in no whole day of the backfill: in
    # neither, as the live collector's baseline is never counted.
    assert (increase, resets) == (100 + 200 + 30 + 5, 1)


def test_a_gap_fill_continues_the_live_vdm_counters_from_prometheus(
    aws: None, fake_api: FakeAccountApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {n for row in EVENTS for n in (row.account, row.isp)} <= set(COUNTER_NAMES)
    assert {n for row in EVENTS for n in (row.configuration_set, row.identity)} <= set(
        COUNTER_NAMES
    )
    store = VdmStore()
    history(store)
    recorder = Recorder({"us-east-1": store})
    scrape = {"job": "ses", "instance": "h:1"}
    live = [
        LiveValue(
            ISP_SENDS,
            tuple(
                sorted(
                    {**scrape, "account_id": ACCOUNT, "isp": "Gmail", "region": "us-east-1"}.items()
                )
            ),
            5000.0,
        )
    ]
    monkeypatch.setattr("ses_exporter.backfill.command.live_values", lambda url, at, labels: live)
    last_live = TODAY - 3 * DAY + 10 * 3600 - 45  # the gap: 09:59 three days ago ..
    first_live = TODAY - DAY + 8 * 3600 + 15  # .. 08:00 yesterday
    report, series, _ = run(
        config(),
        fake_api,
        recorder,
        days=None,
        start=last_live,
        end=first_live,
        labels=tuple(scrape.items()),
        continue_from="http://prometheus:9090",
    )
    assert report.written and report.continued == 1
    first, last = last_live + 45, first_live - 15
    # Only the day wholly inside the gap (two days ago): the live value at --start
    # already has what it counted of the day --start cuts, and the live collector,
    # running through the gap, counts the rest of it and the day --end cuts.
    assert step_values(points(series, ISP_SENDS, isp="Gmail")) == {
        first: 5000.0,
        TODAY - DAY: 5100.0,
    }
    assert points(series, ISP_SENDS, isp="Gmail")[-1] == (last, 5100.0)
    # No live value at --start: from 0.
    assert step_values(points(series, SENDS)) == {first: 0.0, TODAY - DAY: 110.0}
    for _, queries in recorder.asked:
        assert {(q["StartDate"].timestamp(), q["EndDate"].timestamp()) for q in queries} == {
            (TODAY - 2 * DAY, TODAY - DAY)
        }


def test_a_gap_fill_after_an_exporter_restart_starts_from_zero(
    aws: None, fake_api: FakeAccountApi
) -> None:
    store = VdmStore()
    history(store)
    recorder = Recorder({"us-east-1": store})
    last_live, first_live = TODAY - 2 * DAY + 3555, TODAY - DAY + 3615  # no whole day
    report, series, _ = run(
        config(),
        fake_api,
        recorder,
        days=None,
        start=last_live,
        end=first_live,
        exporter_restarted=True,
    )
    assert report.written and report.vdm_calls == 0 and recorder.asked == []
    gmail = points(series, ISP_SENDS, isp="Gmail")
    assert gmail[0] == (last_live + 45, 0.0) and {v for _, v in gmail} == {0.0}
    last_live = TODAY - 3 * DAY + 3555  # now one whole day: two days ago
    _, series, _ = run(
        config(),
        fake_api,
        recorder,
        days=None,
        start=last_live,
        end=first_live,
        exporter_restarted=True,
    )
    assert step_values(points(series, ISP_SENDS, isp="Gmail")) == {
        last_live + 45: 0.0,
        TODAY - DAY: 100.0,
    }


# --- VDM off, failures, the 60-day limit ----------------------------------------------------


def test_vdm_disabled_in_a_region_writes_no_vdm_series_there_and_fails_nothing(
    aws: None, fake_api: FakeAccountApi, tmp_path: Path
) -> None:
    store = VdmStore()
    history(store)
    fake_api.set_account("eu-west-1", VdmAttributes={"VdmEnabled": "DISABLED"})
    recorder = Recorder({"us-east-1": store})  # eu-west-1 would answer NotFoundException
    path = tmp_path / "out.om"
    err = io.StringIO()
    code = run_backfill(
        config("[us-east-1, eu-west-1]"),
        BackfillOptions(days=3, step=3600, output=str(path)),
        [recorder.hook, fake_api.hook],
        stderr=err,
    )
    assert code == 0, err.getvalue()
    regions = {
        dict(labels)["region"]
        for name, labels in parse_openmetrics(path.read_text())
        if "_vdm_" in name
    }
    assert regions == {"us-east-1"}
    assert {region for region, _ in recorder.asked} == {"us-east-1"}  # not even asked
    assert (
        f"{ACCOUNT}/eu-west-1: VDM is not enabled there (GetAccount VdmAttributes.VdmEnabled), "
        "no vdm series written" in err.getvalue()
    )
    assert "2 targets, " in err.getvalue() and "failed" not in err.getvalue()


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (
            "errors",
            "VdmDataError: BatchGetMetricData: ACCESS_DENIED for SEND of ISP Yahoo: not yours",
        ),
        ("call", "BadRequestException: Invalid ISP name provided."),
    ],
)
def test_a_batch_get_metric_data_error_fails_the_target(
    aws: None, fake_api: FakeAccountApi, tmp_path: Path, failure: str, message: str
) -> None:
    stores = {"us-east-1": VdmStore(), "eu-west-1": VdmStore()}
    history(stores["us-east-1"])
    history(stores["eu-west-1"])
    hooks: list[Any] = []
    if failure == "errors":
        stores["eu-west-1"].fail(
            "ACCESS_DENIED", "not yours", lambda q: q.get("Dimensions", {}).get("ISP") == "Yahoo"
        )
    else:

        def refuse(service: str, client: BaseClient) -> None:
            if service == "sesv2" and client.meta.region_name == "eu-west-1":

                def answer(_: Mapping[str, Any]) -> Mapping[str, Any]:
                    raise SimulatedError("BadRequestException", "Invalid ISP name provided.", 400)

                install_api_responder(client, "BatchGetMetricData", answer)

        hooks.append(refuse)
    hooks += [Recorder(stores).hook, fake_api.hook]
    cfg = config("[us-east-1, eu-west-1]")
    path = tmp_path / "out.om"
    path.write_text("before\n")
    err = io.StringIO()
    options = BackfillOptions(days=3, step=3600, output=str(path))
    assert run_backfill(cfg, options, hooks, stderr=err) == 1
    assert f"failed: {ACCOUNT}/eu-west-1: {message}" in err.getvalue()
    assert path.read_text() == "before\n"
    options = BackfillOptions(days=3, step=3600, output=str(path), keep_going=True)
    assert run_backfill(cfg, options, hooks, stderr=io.StringIO()) == 0
    regions = {
        dict(labels)["region"]
        for _, labels in parse_openmetrics(path.read_text())
        if "region" in dict(labels)
    }
    assert regions == {"us-east-1"}


def test_a_long_window_is_read_in_chunks_of_sixty_days(aws: None, fake_api: FakeAccountApi) -> None:
    store = VdmStore()  # refuses a query over more than 60 days, as AWS does
    store.add(TODAY - 125 * DAY, "SEND", 3, isp="Gmail")
    store.add(TODAY - DAY, "SEND", 4, isp="Gmail")
    recorder = Recorder({"us-east-1": store})
    (target,) = build_targets(
        config(), ClientFactory(RequestCounter(), [recorder.hook, fake_api.hook])
    )
    collector = target.collectors["vdm"]
    assert isinstance(collector, VdmCollector)
    counted: list[tuple[int, int]] = []
    window = Window(TODAY - 130 * DAY - 600, NOW, 60)
    found = fetch_vdm_history(
        target, collector.settings, window, lambda c, q: counted.append((c, q))
    )
    chunks = math.ceil(130 / VDM_MAX_DAYS)
    assert counted == [(3, 30)] * chunks and len(recorder.asked) == 3 * chunks
    spans = sorted(
        {
            (q["StartDate"].timestamp(), q["EndDate"].timestamp())
            for _, qs in recorder.asked
            for q in qs
        }
    )
    assert spans == [
        (TODAY - 130 * DAY, TODAY - 70 * DAY),
        (TODAY - 70 * DAY, TODAY - 10 * DAY),
        (TODAY - 10 * DAY, TODAY),
    ]
    assert (found.enabled, found.start, found.end) == (True, TODAY - 130 * DAY, TODAY)
    gmail = dict(found.points)[("SEND", Slice("Gmail"))]
    assert gmail == {TODAY - 125 * DAY: 3.0, TODAY - DAY: 4.0}
