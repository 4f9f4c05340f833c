"""The vdm collector: sesv2 BatchGetMetricData (which moto lacks) answered by Stubber or by
the demo's ``VdmStore``, which answers as AWS does: one daily datapoint per query summed
over exactly what its dimensions match (never over anything it did not ask for), past
days revised upwards, every answer checked against botocore's model."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ses_exporter.aws import ClientFactory, RequestCounter
from ses_exporter.collectors.vdm import (
    EVENTS,
    VdmCollector,
    VdmCollectorConfig,
    VdmSettings,
    VdmSnapshot,
    vdm_families,
    wanted_keys,
)
from ses_exporter.collectors.vdm_source import (
    METRICS,
    Slice,
    VdmDataError,
    fetch_vdm,
    plan_batches,
)
from ses_exporter.config_types import ConfigurationSetFilter
from ses_exporter.daemon import Exporter
from ses_exporter.demo.vdm import VdmStore
from ses_exporter.targets import build_targets
from tests.fakes import FakeAccountApi, denied, throttled
from tests.helpers import ManualClock, config_for, exporter_samples, sample_value, values

REGION = "eu-west-1"
LABELS = {"account_id": "123456789012", "region": REGION}
DAY = 86_400.0
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()  # a Tuesday, 09:00 UTC


def collector(
    fake_api: FakeAccountApi, store: VdmStore, clock: ManualClock, **settings: Any
) -> VdmCollector:
    config = config_for(REGION)
    fake_api.vdm[REGION] = store
    factory = ClientFactory(RequestCounter(), [fake_api.hook])
    target = build_targets(config, factory)[0]
    section = VdmCollectorConfig(enabled=True, interval=3600, **settings)
    return VdmCollector(target.clients, VdmSettings(section, ConfigurationSetFilter()), clock)


def poll(c: VdmCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return values(c.poll(LABELS))


def gmail(name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, (("isp", "Gmail"),))


ACCOUNT_SENDS = ("aws_ses_vdm_sends_total", ())
GMAIL_SENDS = gmail("aws_ses_vdm_isp_sends_total")
GMAIL_HARD = gmail("aws_ses_vdm_isp_permanent_bounces_total")


# --- planning and the request -----------------------------------------------------------


def test_queries_are_ten_a_call_one_slice_a_call_at_the_minimum() -> None:
    keys = wanted_keys(("Gmail", "Yahoo", "AOL", "iCloud", "Hotmail"))
    batches = plan_batches(keys)
    assert (len(keys), len(batches)) == (60, 6)
    assert all(len({where for _, where in batch}) == 1 for batch in batches)
    assert [metric for metric, _ in batches[1]] == list(METRICS)
    isps = [f"isp{n}" for n in range(50)]
    sets = [f"set{n}" for n in range(100)]
    keys = wanted_keys(isps, sets)
    assert len(keys) == 10 * (1 + 50 + 50 * 100)
    assert len(plan_batches(keys)) == 5_051  # ceil(50,510 / 10): none fewer is possible
    assert max(len(b) for b in plan_batches(keys)) == 10
    both = wanted_keys(["Gmail"], ["m"], ["a@example.com"])
    assert [where for _, where in both[::10]] == [
        Slice(),
        Slice("Gmail"),
        Slice("Gmail", configuration_set="m"),
        Slice("Gmail", identity="a@example.com"),
    ]


def test_the_request_as_the_model_wants_it_and_errors_fail_the_read() -> None:
    client = boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )
    keys = [("SEND", Slice()), ("PERMANENT_BOUNCE", Slice("Gmail", configuration_set="m"))]
    start, end = T0 - 3 * DAY, T0
    day = datetime.fromtimestamp(T0 - T0 % DAY, UTC)
    with Stubber(client) as stub:  # checks the parameters and the answer against the model
        expected = {
            "Queries": [
                {
                    "Id": "q0",
                    "Namespace": "VDM",
                    "Metric": "SEND",
                    "StartDate": datetime.fromtimestamp(start, UTC),
                    "EndDate": datetime.fromtimestamp(end, UTC),
                },
                {
                    "Id": "q1",
                    "Namespace": "VDM",
                    "Metric": "PERMANENT_BOUNCE",
                    "Dimensions": {"ISP": "Gmail", "CONFIGURATION_SET": "m"},
                    "StartDate": datetime.fromtimestamp(start, UTC),
                    "EndDate": datetime.fromtimestamp(end, UTC),
                },
            ]
        }
        # q1 has no result at all: no datapoints (a count delayed, never one invented).
        answer = {"Results": [{"Id": "q0", "Timestamps": [day], "Values": [42]}], "Errors": []}
        stub.add_response("batch_get_metric_data", answer, expected)
        assert fetch_vdm(client, keys, start, end) == {
            keys[0]: {day.timestamp(): 42.0},
            keys[1]: {},
        }
        failed = {
            "Results": [{"Id": "q0", "Timestamps": [day], "Values": [42]}],
            "Errors": [{"Id": "q1", "Code": "ACCESS_DENIED", "Message": "not yours"}],
        }
        stub.add_response("batch_get_metric_data", failed, expected)
        with pytest.raises(VdmDataError, match="ACCESS_DENIED for PERMANENT_BOUNCE of"):
            fetch_vdm(client, keys, start, end)
        stub.assert_no_pending_responses()


# --- families ---------------------------------------------------------------------------


def test_families_by_scope_with_their_labels_and_sources() -> None:
    snap = VdmSnapshot(
        enabled=True,
        engagement_metrics=False,
        counters=(
            (("SEND", Slice("Gmail", identity="a@example.com")), 4.0),
            (("SEND", Slice("Gmail", configuration_set="m")), 3.0),
            (("SEND", Slice("Gmail")), 2.0),
            (("SEND", Slice()), 9.0),
        ),
    )
    families = vdm_families(snap, LABELS)
    assert [f.name for f in families] == [
        "ses_exporter_vdm_enabled",
        "aws_ses_vdm_engagement_metrics_enabled",
        "aws_ses_vdm_sends",
        "aws_ses_vdm_isp_sends",
        "aws_ses_vdm_configuration_set_sends",
        "aws_ses_vdm_identity_sends",
    ]
    got = values(families)
    assert (
        got[
            (
                "aws_ses_vdm_configuration_set_sends_total",
                (("configuration_set", "m"), ("isp", "Gmail")),
            )
        ]
        == 3
    )
    assert (
        got[("aws_ses_vdm_identity_sends_total", (("identity", "a@example.com"), ("isp", "Gmail")))]
        == 4
    )
    assert got[("ses_exporter_vdm_enabled", ())] == 1
    assert got[("aws_ses_vdm_engagement_metrics_enabled", ())] == 0
    assert all("BatchGetMetricData SEND" in f.documentation for f in families[2:])
    assert len({name for row in EVENTS for name in (row.account, row.isp)}) == 20


# --- counting ---------------------------------------------------------------------------


def test_first_poll_is_the_baseline_then_growth_and_revisions_count_once(
    aws: None, fake_api: FakeAccountApi
) -> None:
    store, clock = VdmStore(), ManualClock(T0)
    store.add(T0 - DAY, "SEND", 500, isp="Gmail")  # yesterday: history
    store.add(T0, "SEND", 100, isp="Gmail")  # today so far
    store.add(T0, "SEND", 40, isp="Comcast")  # a provider the exporter does not list
    c = collector(fake_api, store, clock)
    first = poll(c)
    assert first[GMAIL_SENDS] == 0 and first[ACCOUNT_SENDS] == 0  # the baseline
    assert first[("ses_exporter_vdm_enabled", ())] == 1
    clock.now += 3600
    store.add(T0, "SEND", 30, isp="Gmail")  # today grows
    store.add(T0 - DAY, "SEND", 5, isp="Gmail")  # yesterday revised (late data)
    store.add(T0, "SEND", 7, isp="Comcast")
    second = poll(c)
    assert second[GMAIL_SENDS] == 35
    assert second[ACCOUNT_SENDS] == 42  # every provider, the unlisted one too
    clock.now += 3600
    assert poll(c)[GMAIL_SENDS] == 35  # read again: nothing counts twice
    clock.now = T0 - T0 % DAY + DAY + 600  # past midnight: a new day's datapoint
    store.add(clock.now, "SEND", 12, isp="Gmail")
    store.add(T0, "SEND", 1, isp="Gmail")  # the day before, still revised
    assert poll(c)[GMAIL_SENDS] == 48


def test_a_series_without_datapoints_at_the_first_poll_counts_its_first_ones(
    aws: None, fake_api: FakeAccountApi
) -> None:
    store, clock = VdmStore(), ManualClock(T0)
    c = collector(fake_api, store, clock, isps=("Gmail",))
    assert poll(c)[GMAIL_HARD] == 0  # a query without datapoints is still a series at 0
    clock.now += 3600
    store.add(T0, "PERMANENT_BOUNCE", 3, isp="Gmail")
    # Present at the first poll without data: its first datapoints since that poll count.
    assert poll(c)[GMAIL_HARD] == 3


def test_vdm_off_reads_nothing_says_so_once_and_counters_go_on_when_it_is_back(
    aws: None, fake_api: FakeAccountApi, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock = VdmStore(), ManualClock(T0)
    store.add(T0, "SEND", 10, isp="Gmail")
    c = collector(fake_api, store, clock, isps=("Gmail",))
    poll(c)
    clock.now += 3600
    store.add(T0, "SEND", 5, isp="Gmail")
    assert poll(c)[GMAIL_SENDS] == 5
    fake_api.set_account(REGION, VdmAttributes={"VdmEnabled": "DISABLED"})
    calls = store.requests
    caplog.set_level(logging.INFO, "ses_exporter.collectors.vdm")
    for _ in range(3):
        clock.now += 3600
        off = poll(c)
        assert off[("ses_exporter_vdm_enabled", ())] == 0
        assert off[GMAIL_SENDS] == 5  # the totals stay, flat
    assert store.requests == calls  # no BatchGetMetricData while VDM is off
    warnings = [r for r in caplog.records if "VDM is not enabled" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    store.add(T0, "SEND", 2, isp="Gmail")  # sent while the exporter did not look
    fake_api.set_account(REGION, VdmAttributes={"VdmEnabled": "ENABLED"})
    clock.now += 3600
    back = poll(c)
    assert back[("ses_exporter_vdm_enabled", ())] == 1
    assert back[GMAIL_SENDS] == 7
    assert sum("VDM is enabled" in r.getMessage() for r in caplog.records) == 1


def test_an_outage_longer_than_lookback_loses_no_event_and_counts_none_twice(
    aws: None, fake_api: FakeAccountApi
) -> None:
    store, clock = VdmStore(), ManualClock(T0)
    c = collector(fake_api, store, clock, isps=("Gmail",), lookback=DAY)
    poll(c)
    store.fail("INTERNAL_FAILURE")
    for day in range(1, 5):  # four days of failed polls; mail goes on every day
        clock.now = T0 + day * DAY
        store.add(clock.now, "SEND", 10 * day, isp="Gmail")
        with pytest.raises(VdmDataError, match="INTERNAL_FAILURE"):
            c.poll(LABELS)
    store.add(T0 + DAY, "SEND", 1, isp="Gmail")  # a revision of a day inside the gap
    store.clear_failures()
    assert poll(c)[GMAIL_SENDS] == 10 + 20 + 30 + 40 + 1
    clock.now += 3600
    assert poll(c)[GMAIL_SENDS] == 101


def test_a_gap_older_than_max_catch_up_is_logged_and_the_rest_counted(
    aws: None, fake_api: FakeAccountApi, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock = VdmStore(), ManualClock(T0)
    c = collector(fake_api, store, clock, isps=("Gmail",), lookback=DAY, max_catch_up=2 * DAY)
    poll(c)
    store.add(T0 + DAY, "SEND", 7, isp="Gmail")  # older than max_catch_up when read
    store.add(T0 + 4 * DAY, "SEND", 3, isp="Gmail")
    clock.now = T0 + 4 * DAY
    caplog.set_level(logging.WARNING, "ses_exporter.collectors.vdm")
    assert poll(c)[GMAIL_SENDS] == 3
    assert any("before max_catch_up" in r.getMessage() for r in caplog.records)


def test_sets_and_identities_are_listed_filtered_and_crossed_with_each_isp(
    aws: None, fake_api: FakeAccountApi
) -> None:
    sesv2 = boto3.client("sesv2", region_name=REGION)
    for name in ("marketing", "transactional", "test-1"):
        sesv2.create_configuration_set(ConfigurationSetName=name)
    for identity in ("news@example.com", "ops@example.net"):
        sesv2.create_email_identity(EmailIdentity=identity)
    store, clock = VdmStore(), ManualClock(T0)
    c = collector(
        fake_api,
        store,
        clock,
        isps=("Gmail", "Yahoo"),
        by_configuration_set=True,
        by_identity=True,
        identities={"include": [".*@example\\.com"]},
    )
    c.settings = VdmSettings(c.settings.config, ConfigurationSetFilter(exclude=("test-.*",)))
    poll(c)
    clock.now += 3600
    store.add(T0, "COMPLAINT", 2, isp="Yahoo", configuration_set="marketing")
    store.add(T0, "COMPLAINT", 1, isp="Yahoo", identity="news@example.com")
    got = poll(c)
    per_set = {
        labels: v for (name, labels), v in got.items() if name.endswith("set_complaints_total")
    }
    assert per_set == {
        (("configuration_set", s), ("isp", isp)): 2.0 if (s, isp) == ("marketing", "Yahoo") else 0
        for s in ("marketing", "transactional")
        for isp in ("Gmail", "Yahoo")
    }
    per_identity = {
        labels: v for (name, labels), v in got.items() if name.endswith("identity_complaints_total")
    }
    assert per_identity == {
        (("identity", "news@example.com"), ("isp", "Gmail")): 0,
        (("identity", "news@example.com"), ("isp", "Yahoo")): 1,
    }
    # 1 account + 2 ISPs + 2 sets x 2 + 1 identity x 2 slices, ten metrics each, ten a call
    assert store.queries == 2 * 10 * (1 + 2 + 4 + 2)
    assert store.requests == 2 * 9


# --- the collector in the exporter ------------------------------------------------------


def test_off_by_default_and_a_failure_fails_only_the_vdm_collector(
    aws: None, fake_api: FakeAccountApi
) -> None:
    assert (
        "vdm"
        not in build_targets(config_for(REGION), ClientFactory(RequestCounter()))[0].collectors
    )
    config = config_for(
        "us-east-1",
        REGION,
        extra="collectors:\n  vdm: {enabled: true, isps: [Gmail]}\n"
        "  send_statistics: {enabled: false}\n  cloudwatch: {enabled: false}\n"
        "  configuration_sets: {enabled: false}\n  identities: {enabled: false}\n"
        "  dedicated_ips: {enabled: false}\n",
    )
    stores = fake_api.vdm = {"us-east-1": VdmStore(), REGION: VdmStore()}
    exporter = Exporter(config, client_hooks=[fake_api.hook])

    def poll_all() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        for target in exporter.targets:
            for name in target.collectors:
                exporter.poller.poll(target, name)
        return exporter_samples(exporter)

    poll_all()
    stores[REGION].fail("ACCESS_DENIED", "no VDM for you")
    fake_api.fail("us-east-1", "GetAccount", None)
    got = poll_all()
    success = "ses_exporter_collector_success"
    assert sample_value(got, success, region=REGION, collector="vdm") == 0
    assert sample_value(got, success, region=REGION, collector="account") == 1
    assert sample_value(got, success, region="us-east-1", collector="vdm") == 1
    # The last good values stay exposed until they are stale.
    assert sample_value(got, "aws_ses_vdm_isp_sends_total", region=REGION, isp="Gmail") == 0
    fake_api.fail(REGION, "GetAccount", throttled())
    got = poll_all()
    assert sample_value(got, success, region=REGION, collector="vdm") == 0
    assert sample_value(got, "ses_exporter_vdm_enabled", region="us-east-1") == 1


def test_where_get_account_is_denied_batch_get_metric_data_tells_whether_vdm_is_on(
    aws: None, fake_api: FakeAccountApi, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock = VdmStore(), ManualClock(T0)
    c = collector(fake_api, store, clock, isps=("Gmail",))
    fake_api.fail(REGION, "GetAccount", denied())
    caplog.set_level(logging.INFO, "ses_exporter.collectors.vdm")
    assert poll(c)[("ses_exporter_vdm_enabled", ())] == 1
    clock.now += 3600
    store.add(T0, "SEND", 4, isp="Gmail")
    assert poll(c)[GMAIL_SENDS] == 4
    del fake_api.vdm[REGION]  # VDM turned off: AWS answers NotFoundException
    clock.now += 3600
    off = poll(c)
    assert off[("ses_exporter_vdm_enabled", ())] == 0 and off[GMAIL_SENDS] == 4
    assert ("aws_ses_vdm_engagement_metrics_enabled", ()) not in off  # GetAccount said nothing
    said = [r.getMessage() for r in caplog.records]
    assert sum("GetAccount denied" in m for m in said) == 1
    assert sum("VDM is not enabled" in m for m in said) == 1
