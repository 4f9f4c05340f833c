"""The client factory: pacing, request accounting, assumed roles, regions."""

from __future__ import annotations

import datetime
import threading
from typing import Any

import boto3
import botocore.credentials
import botocore.session
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from dateutil.tz import tzlocal

from ses_exporter.aws import (
    POLLED_SERVICES,
    Pacer,
    RequestCounter,
    caller_account_id,
    client_config,
    dns_suffix,
    error_outcome,
    known_regions,
    make_session,
    service_regions,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_calls_by_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    slept: list[float] = []
    monkeypatch.setattr("ses_exporter.aws.time.sleep", slept.append)
    pacer = Pacer(2.0, clock)
    waits = [pacer.acquire() for _ in range(4)]
    assert waits == [0.0, 0.5, 1.0, 1.5]
    assert slept == [0.5, 1.0, 1.5]
    clock.now += 10  # idle time is not banked into a burst
    assert pacer.acquire() == 0.0
    assert pacer.acquire() == 0.5


def test_pacer_is_shared_safely_by_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr("ses_exporter.aws.time.sleep", lambda _: None)
    pacer = Pacer(1.0, clock)
    waits: list[float] = []
    threads = [threading.Thread(target=lambda: waits.append(pacer.acquire())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == [float(i) for i in range(8)]


def test_client_config_retries_and_timeouts_are_bounded() -> None:
    config = client_config()
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (5.0, 15.0)


def test_error_outcomes() -> None:
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "x"}}, "GetAccount")
    assert error_outcome(throttled) == "Throttling"
    assert error_outcome(ReadTimeoutError(endpoint_url="https://x")) == "timeout"
    assert error_outcome(ValueError("x")) == "ValueError"


def test_regions_and_partitions() -> None:
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= known_regions()
    assert "aws-global" not in known_regions()
    assert dns_suffix("cn-northwest-1") == "amazonaws.com.cn"
    assert dns_suffix("eu-west-1") == "amazonaws.com"


def test_service_regions_come_from_botocore_endpoint_data() -> None:
    """sesv2 and ses share the endpoint prefix "email"; CloudWatch's is "monitoring"."""
    session = botocore.session.get_session()
    for service in POLLED_SERVICES:
        expected = {
            region
            for partition in session.get_available_partitions()
            for region in session.get_available_regions(service, partition_name=partition)
        }
        assert service_regions(service) == expected
    assert "cn-north-1" in service_regions("cloudwatch")
    assert "cn-north-1" not in service_regions("sesv2") | service_regions("ses")
    assert {"us-east-1", "us-gov-west-1"} <= service_regions("sesv2")


def session(**kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "profile": None,
        "role_arn": None,
        "external_id": None,
        "endpoint_url": None,
        "region": "eu-west-1",
        "counter": RequestCounter(),
    }
    args.update(kwargs)
    return make_session(**args)


def test_calls_are_counted_by_service_operation_and_outcome(aws: None) -> None:
    counter = RequestCounter()
    clients = session(counter=counter).target_clients("eu-west-1", 1000)
    assert caller_account_id(clients.sts) == "123456789012"
    clients.ses.get_send_quota()
    with pytest.raises(ClientError):
        clients.ses.get_template(TemplateName="missing")
    counts = counter.snapshot()
    assert counts[("sts", "GetCallerIdentity", "success")] == 1
    assert counts[("ses", "GetSendQuota", "success")] == 1
    assert counts[("ses", "GetTemplate", "TemplateDoesNotExist")] == 1


def test_ses_calls_of_one_target_share_one_pacer(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    acquired: list[str] = []
    clients = session().target_clients("eu-west-1", 1000)
    monkeypatch.setattr(clients.pacer, "acquire", lambda: acquired.append("x") or 0.0)
    clients.ses.get_send_quota()
    clients.sesv2.list_configuration_sets()
    clients.sts.get_caller_identity()  # STS and CloudWatch are not SES-throttled
    assert acquired == ["x", "x"]


def test_assumed_role_with_external_id_and_refresh(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName="ses-exporter", AssumeRolePolicyDocument="{}")
    role = "arn:aws:iam::111122223333:role/ses-exporter"
    counter = RequestCounter()
    account = session(role_arn=role, external_id="s3cr3t-ext", counter=counter)
    clients = account.target_clients("eu-west-1", 1000)
    assert caller_account_id(clients.sts) == "111122223333"
    assert counter.snapshot()[("sts", "AssumeRole", "success")] == 1
    credentials = account.session.get_credentials()
    first_key = credentials.get_frozen_credentials().access_key
    # 47 minutes later the one-hour credentials are inside botocore's 15-minute refresh
    # window: the next use fetches new ones by itself.
    later = datetime.datetime.now(tzlocal()) + datetime.timedelta(minutes=47)
    monkeypatch.setattr(botocore.credentials, "_local_now", lambda: later)
    monkeypatch.setattr(credentials, "_time_fetcher", lambda: later)
    assert credentials.get_frozen_credentials().access_key != first_key
    assert counter.snapshot()[("sts", "AssumeRole", "success")] == 2


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def test_a_malformed_json_answer_is_an_error_not_an_empty_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No moto here: the before-send hook below is the only "AWS" this client talks to.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from botocore.awsrequest import AWSResponse

    from ses_exporter.aws import MalformedResponseError

    counter = RequestCounter()
    clients = session(counter=counter).target_clients("eu-west-1", 1000)
    truncated = b'{"SendQuota": {"Max24HourSend": 50000.0, "MaxSen'

    def answer(**_: Any) -> AWSResponse:
        return AWSResponse("https://email.eu-west-1.amazonaws.com", 200, {}, _Raw(truncated))

    clients.sesv2.meta.events.register_first("before-send.sesv2.GetAccount", answer)
    with pytest.raises(MalformedResponseError, match="GetAccount"):
        clients.sesv2.get_account()
    assert counter.snapshot() == {("sesv2", "GetAccount", "invalid_response"): 1}


def test_clients_share_models_classes_and_pools_but_not_credentials(aws: None) -> None:
    """What is the same for every target is built once (STYLE: shared things are loaded
    once); what identifies an account (credentials, pacer) stays its own."""
    from ses_exporter.aws import ClientFactory

    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName="ses-exporter", AssumeRolePolicyDocument="{}")
    factory = ClientFactory(RequestCounter())
    one = factory.account_session(
        profile=None, role_arn=None, external_id=None, endpoint_url=None, region="eu-west-1"
    )
    two = factory.account_session(
        profile=None,
        role_arn="arn:aws:iam::111122223333:role/ses-exporter",
        external_id=None,
        endpoint_url=None,
        region="eu-west-1",
    )
    a = one.target_clients("eu-west-1", 1000)
    b = two.target_clients("eu-west-1", 1000)
    elsewhere = two.target_clients("us-east-1", 1000)
    # Two accounts share class, model and pool: tests/test_upstream_hooks.py, per service.
    # ses and sesv2 share the endpoint email.<region>.amazonaws.com, CloudWatch does not.
    assert a.ses._endpoint.http_session is a.sesv2._endpoint.http_session  # type: ignore[attr-defined]
    assert a.cloudwatch._endpoint.http_session is not a.ses._endpoint.http_session  # type: ignore[attr-defined]
    assert elsewhere.sesv2._endpoint.http_session is not b.sesv2._endpoint.http_session  # type: ignore[attr-defined]
    assert a.pacer is not b.pacer
    assert elsewhere.sts is b.sts  # one STS client per account
    assert caller_account_id(a.sts) == "123456789012"
    assert caller_account_id(b.sts) == "111122223333"
    # A client made elsewhere in the process (moto's, a user's) is not affected.
    assert type(boto3.client("sesv2", region_name="eu-west-1")) is not type(a.sesv2)


def test_building_targets_creates_no_client_and_calls_nothing(aws: None) -> None:
    from ses_exporter.aws import ClientFactory
    from ses_exporter.config import parse_config
    from ses_exporter.targets import build_targets

    created: list[str] = []
    factory = ClientFactory(RequestCounter(), [lambda service, _: created.append(service)])
    accounts = "".join(
        f"  - regions: [us-east-1, eu-west-1]\n    role_arn: arn:aws:iam::{100000000000 + n}"
        ":role/x\n"
        for n in range(50)
    )
    targets = build_targets(parse_config(f"accounts:\n{accounts}"), factory)
    assert len(targets) == 100
    assert created == []
    targets[0].clients.cloudwatch  # noqa: B018 - the first use creates the client
    assert created == ["cloudwatch"]
    assert factory.counter.snapshot() == {}


def test_an_endpoints_pool_holds_as_many_connections_as_polls_can_run_at_once() -> None:
    from ses_exporter.aws import DEFAULT_POOL_CONNECTIONS
    from ses_exporter.poller import MAX_WORKERS

    assert DEFAULT_POOL_CONNECTIONS == MAX_WORKERS
