"""The dedicated_ips collector: source functions, families, then polls and their failures.

moto answers ListDedicatedIpPools and GetDedicatedIpPool; GetDedicatedIps, which moto
lacks, is answered by Stubber or by the fake (``FakeAccountApi.dedicated_ips``, two IPs a
page). Both check every answer against the botocore model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ses_exporter.aws import ClientFactory, RequestCounter
from ses_exporter.collectors.dedicated_ips import (
    DedicatedIp,
    DedicatedIpsCollector,
    dedicated_ip_families,
    list_dedicated_ips,
    list_pools,
    pool_scaling_mode,
)
from ses_exporter.daemon import Exporter
from ses_exporter.demo.responders import InvalidSimulatedAnswer, SimulatedError, install_responder
from ses_exporter.targets import Target, build_targets
from tests.fakes import FakeAccountApi, throttled
from tests.helpers import Values, config_for, exporter_samples, sample_value, values

REGION = "us-east-1"
LABELS = {"account_id": "123456789012", "region": REGION}
STATUS = "aws_ses_dedicated_ip_warmup_status"
RATIO = "aws_ses_dedicated_ip_warmup_ratio"
POOL = "aws_ses_dedicated_ip_pool_info"


def ip(address: str, status: str, percentage: int, pool: str = "marketing") -> dict[str, Any]:
    """One GetDedicatedIps entry as AWS gives it."""
    return {"Ip": address, "WarmupStatus": status, "WarmupPercentage": percentage, "PoolName": pool}


def of(got: Values, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (name, labels), v in got.items() if name == metric}


def calls(counter: RequestCounter) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_, operation, _), n in counter.snapshot().items():
        out[operation] = out.get(operation, 0) + n
    return out


def make_target(fake_api: FakeAccountApi, counter: RequestCounter) -> Target:
    """The default configuration's target, its calls counted by ``counter``."""
    config = config_for(REGION)
    return build_targets(config, ClientFactory(counter, [fake_api.hook]))[0]


def seed(fake_api: FakeAccountApi) -> None:
    """Two pools in moto; five IPs in the fake (three pages of two)."""
    sesv2 = boto3.client("sesv2", region_name=REGION)
    sesv2.create_dedicated_ip_pool(PoolName="marketing", ScalingMode="STANDARD")
    sesv2.create_dedicated_ip_pool(PoolName="auto", ScalingMode="MANAGED")
    fake_api.dedicated_ips[REGION] = [
        ip("198.51.100.7", "IN_PROGRESS", 42),
        ip("198.51.100.8", "DONE", 100),
        ip("198.51.100.9", "NOT_APPLICABLE", 0, pool="auto"),
        ip("198.51.100.10", "IN_PROGRESS", 7),
        ip("198.51.100.11", "DONE", 100, pool="auto"),
    ]


@pytest.fixture
def sesv2() -> Iterator[Any]:
    yield boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )


# --- source functions -------------------------------------------------------------------


def test_pools_and_their_scaling_modes_against_moto(aws: None) -> None:
    client = boto3.client("sesv2", region_name=REGION)
    assert list_pools(client) == []
    client.create_dedicated_ip_pool(PoolName="marketing", ScalingMode="STANDARD")
    client.create_dedicated_ip_pool(PoolName="auto", ScalingMode="MANAGED")
    assert list_pools(client) == ["marketing", "auto"]
    assert pool_scaling_mode(client, "marketing") == "STANDARD"
    assert pool_scaling_mode(client, "auto") == "MANAGED"
    with pytest.raises(ClientError, match="NotFoundException"):
        pool_scaling_mode(client, "missing")


def test_list_pools_follows_next_token_without_page_size_and_drops_duplicates(
    sesv2: Any,
) -> None:
    with Stubber(sesv2) as stub:  # the exact parameters of each call are checked
        page = {"DedicatedIpPools": ["a", "b"], "NextToken": "tok-1"}
        stub.add_response("list_dedicated_ip_pools", page, {})
        stub.add_response(
            "list_dedicated_ip_pools", {"DedicatedIpPools": ["b", "c"]}, {"NextToken": "tok-1"}
        )
        assert list_pools(sesv2) == ["a", "b", "c"]
        stub.assert_no_pending_responses()


def test_get_dedicated_ips_follows_next_token_over_every_pool(sesv2: Any) -> None:
    """No PoolName (every pool) and no PageSize; each IP once, in AWS's order."""
    with Stubber(sesv2) as stub:
        first = {
            "DedicatedIps": [
                ip("198.51.100.7", "IN_PROGRESS", 42),
                {"Ip": "198.51.100.8", "WarmupStatus": "DONE", "WarmupPercentage": 100},
            ],
            "NextToken": "page-2",
        }
        stub.add_response("get_dedicated_ips", first, {})
        second = {"DedicatedIps": [ip("198.51.100.7", "IN_PROGRESS", 43)], "NextToken": "page-3"}
        stub.add_response("get_dedicated_ips", second, {"NextToken": "page-2"})
        stub.add_response("get_dedicated_ips", {"DedicatedIps": []}, {"NextToken": "page-3"})
        found = list_dedicated_ips(sesv2)
        stub.assert_no_pending_responses()
    assert found == [
        DedicatedIp("198.51.100.7", "marketing", "IN_PROGRESS", 0.43),  # the later entry
        DedicatedIp("198.51.100.8", "", "DONE", 1.0),  # no PoolName: ""
    ]


def test_get_dedicated_ips_refuses_a_looping_token(sesv2: Any) -> None:
    with Stubber(sesv2) as stub:
        for address in ("198.51.100.7", "198.51.100.8"):
            page = {"DedicatedIps": [ip(address, "DONE", 100)], "NextToken": "t"}
            stub.add_response("get_dedicated_ips", page)
        with pytest.raises(RuntimeError, match="NextToken 't' twice"):
            list_dedicated_ips(sesv2)


def test_get_dedicated_ips_across_the_fakes_pages(aws: None, fake_api: FakeAccountApi) -> None:
    seed(fake_api)
    client = boto3.client("sesv2", region_name=REGION)
    fake_api.hook("sesv2", client)
    found = list_dedicated_ips(client)
    assert fake_api.calls == [(REGION, "GetDedicatedIps")] * 3  # 5 IPs, 2 a page
    assert [(i.ip, i.pool, i.warmup_status, i.warmup_ratio) for i in found] == [
        ("198.51.100.7", "marketing", "IN_PROGRESS", 0.42),
        ("198.51.100.8", "marketing", "DONE", 1.0),
        ("198.51.100.9", "auto", "NOT_APPLICABLE", 0.0),
        ("198.51.100.10", "marketing", "IN_PROGRESS", 0.07),
        ("198.51.100.11", "auto", "DONE", 1.0),
    ]


def test_an_ip_without_warmup_percentage_is_no_answer_aws_can_give(
    aws: None, fake_api: FakeAccountApi
) -> None:
    """The model requires WarmupPercentage, so the fake refuses such an answer; an IP
    without a ratio is checked on the families half below."""
    fake_api.dedicated_ips[REGION] = [{"Ip": "198.51.100.7", "WarmupStatus": "DONE"}]
    client = boto3.client("sesv2", region_name=REGION)
    fake_api.hook("sesv2", client)
    with pytest.raises(InvalidSimulatedAnswer, match="WarmupPercentage"):
        list_dedicated_ips(client)


# --- families ---------------------------------------------------------------------------


def test_families_pool_info_one_status_series_per_ip_and_ratios() -> None:
    pools = {"marketing": "STANDARD", "auto": "MANAGED"}
    ips = [
        DedicatedIp("198.51.100.9", "marketing", "DONE", 1.0),
        DedicatedIp("198.51.100.7", "marketing", "IN_PROGRESS", 0.42),
        DedicatedIp("198.51.100.8", "auto", "NOT_APPLICABLE", None),  # no WarmupPercentage
    ]
    families = dedicated_ip_families(pools, ips, LABELS)
    got = values(families)
    assert of(got, POOL) == {
        (("pool", "auto"), ("scaling_mode", "MANAGED")): 1,
        (("pool", "marketing"), ("scaling_mode", "STANDARD")): 1,
    }
    assert of(got, STATUS) == {
        (("ip", "198.51.100.7"), ("pool", "marketing"), ("status", "IN_PROGRESS")): 1,
        (("ip", "198.51.100.8"), ("pool", "auto"), ("status", "NOT_APPLICABLE")): 1,
        (("ip", "198.51.100.9"), ("pool", "marketing"), ("status", "DONE")): 1,
    }
    assert of(got, RATIO) == {
        (("ip", "198.51.100.7"), ("pool", "marketing")): 0.42,
        (("ip", "198.51.100.9"), ("pool", "marketing")): 1.0,
    }
    status = next(f for f in families if f.name == STATUS)
    assert [s.labels["ip"] for s in status.samples] == [  # stable: by pool, then IP
        "198.51.100.8",
        "198.51.100.7",
        "198.51.100.9",
    ]
    assert all(s.labels["account_id"] == "123456789012" for f in families for s in f.samples)
    docs = {f.name: f.documentation for f in families}
    assert "Source: SES ListDedicatedIpPools, GetDedicatedIpPool." in docs[POOL]
    assert docs[STATUS].endswith("Source: SES GetDedicatedIps.")
    assert docs[RATIO].endswith("Source: SES GetDedicatedIps.")


def test_no_pools_and_no_ips_have_no_families() -> None:
    assert dedicated_ip_families({}, [], LABELS) == []


# --- the collector ----------------------------------------------------------------------


def test_a_poll_with_pools_in_moto_and_ips_in_the_fake(aws: None, fake_api: FakeAccountApi) -> None:
    seed(fake_api)
    counter = RequestCounter()
    target = make_target(fake_api, counter)
    collector = target.collectors["dedicated_ips"]
    assert isinstance(collector, DedicatedIpsCollector)
    got = values(collector.poll(target.labels()))
    assert calls(counter) == {
        "ListDedicatedIpPools": 1,
        "GetDedicatedIpPool": 2,
        "GetDedicatedIps": 3,
    }
    assert of(got, POOL) == {
        (("pool", "auto"), ("scaling_mode", "MANAGED")): 1,
        (("pool", "marketing"), ("scaling_mode", "STANDARD")): 1,
    }
    assert len(of(got, STATUS)) == 5
    assert of(got, RATIO)[(("ip", "198.51.100.10"), ("pool", "marketing"))] == 0.07
    assert of(got, RATIO)[(("ip", "198.51.100.9"), ("pool", "auto"))] == 0


def test_no_pools_no_series_and_two_requests(aws: None, fake_api: FakeAccountApi) -> None:
    counter = RequestCounter()
    target = make_target(fake_api, counter)
    assert target.collectors["dedicated_ips"].poll(target.labels()) == []
    assert calls(counter) == {"ListDedicatedIpPools": 1, "GetDedicatedIps": 1}


def raising(code: str, status: int) -> Any:
    def responder(request: Mapping[str, Any]) -> Mapping[str, Any]:
        raise SimulatedError(code, "simulated", status)

    return responder


@pytest.mark.parametrize(
    "operation", ["ListDedicatedIpPools", "GetDedicatedIpPool", "GetDedicatedIps"]
)
def test_a_failing_call_fails_the_poll(aws: None, fake_api: FakeAccountApi, operation: str) -> None:
    seed(fake_api)
    target = make_target(fake_api, RequestCounter())
    if operation == "GetDedicatedIps":
        fake_api.fail(REGION, operation, throttled())
    else:
        install_responder(target.clients.sesv2, operation, raising("Throttling", 400))
    with pytest.raises(ClientError, match="Throttling"):
        target.collectors["dedicated_ips"].poll(target.labels())


# --- through the exporter: failure isolation and staleness ------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_failing_poll_keeps_the_last_values_until_stale_and_spares_the_others(
    aws: None, fake_api: FakeAccountApi
) -> None:
    clock = Clock()
    config = config_for(
        "us-east-1",
        "eu-west-1",
        extra="collectors:\n  account: {interval: 60s}\n  dedicated_ips: {interval: 60s}\n"
        "  send_statistics: {enabled: false}\n  cloudwatch: {enabled: false}\n"
        "  configuration_sets: {enabled: false}\n  identities: {enabled: false}\n",
    )
    seed(fake_api)
    fake_api.dedicated_ips["eu-west-1"] = [ip("203.0.113.5", "IN_PROGRESS", 10, pool="")]
    exporter = Exporter(config, client_hooks=[fake_api.hook], clock=clock)

    def poll_all() -> None:
        for target in exporter.targets:
            for name in target.collectors:
                exporter.poller.poll(target, name)

    ratio = "aws_ses_dedicated_ip_warmup_ratio"
    success = "ses_exporter_collector_success"
    poll_all()
    first = exporter_samples(exporter)
    assert sample_value(first, ratio, region="us-east-1", ip="198.51.100.7") == 0.42
    assert sample_value(first, ratio, region="eu-west-1", ip="203.0.113.5") == 0.1

    fake_api.fail("us-east-1", "GetDedicatedIps", throttled())
    fake_api.dedicated_ips["eu-west-1"][0]["WarmupPercentage"] = 11
    clock.now += 60
    poll_all()
    during = exporter_samples(exporter)
    assert sample_value(during, success, region="us-east-1", collector="dedicated_ips") == 0
    assert sample_value(during, success, region="us-east-1", collector="account") == 1
    assert sample_value(during, success, region="eu-west-1", collector="dedicated_ips") == 1
    assert sample_value(during, ratio, region="us-east-1", ip="198.51.100.7") == 0.42  # kept
    assert sample_value(during, ratio, region="eu-west-1", ip="203.0.113.5") == 0.11
    assert sample_value(during, "aws_ses_daily_sending_quota", region="us-east-1") == 50000

    # max_staleness defaults to 3 x interval = 180 s after the last success.
    clock.now += 120
    poll_all()
    assert (
        sample_value(exporter_samples(exporter), ratio, region="us-east-1", ip="198.51.100.7")
        == 0.42
    )
    clock.now += 1
    poll_all()
    stale = exporter_samples(exporter)
    assert sample_value(stale, ratio, region="us-east-1") is None
    assert sample_value(stale, "aws_ses_dedicated_ip_pool_info", region="us-east-1") is None
    assert sample_value(stale, ratio, region="eu-west-1", ip="203.0.113.5") == 0.11
    assert sample_value(stale, "aws_ses_daily_sending_quota", region="us-east-1") == 50000

    fake_api.fail("us-east-1", "GetDedicatedIps", None)
    clock.now += 60
    poll_all()
    back = exporter_samples(exporter)
    assert sample_value(back, success, region="us-east-1", collector="dedicated_ips") == 1
    assert sample_value(back, ratio, region="us-east-1", ip="198.51.100.7") == 0.42
