"""The before-call responders (demo and tests) answer only what real botocore would accept.

``install_responder`` checks every simulated answer against the operation's output shape,
as ``botocore.stub.Stubber`` does: a wrong type, an unknown member or a missing required
one fails the call instead of reaching the exporter as something AWS cannot send.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from ses_exporter.demo.responders import InvalidSimulatedAnswer, check_answer, install_responder
from ses_exporter.demo.world import DemoWorld
from tests.fakes import GET_ACCOUNT, FakeAccountApi


def client(service: str, region: str = "eu-west-1") -> Any:
    return boto3.client(
        service, region_name=region, aws_access_key_id="a", aws_secret_access_key="b"
    )


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ({"SendQuota": {"Max24HourSend": "lots"}}, "Max24HourSend"),  # a string for a double
        ({"SendingEnabled": "yes"}, "SendingEnabled"),
        ({"EnforcementStatus": 1}, "EnforcementStatus"),
        ({"Unheard": True}, "Unheard"),  # a member the model does not have
        ({"Details": {"ReviewDetails": {"Status": ["GRANTED"]}}}, "Status"),
    ],
)
def test_an_answer_botocore_would_reject_fails_the_call(
    answer: dict[str, Any], complaint: str
) -> None:
    sesv2 = client("sesv2")
    install_responder(sesv2, "GetAccount", lambda _: answer)
    with pytest.raises(InvalidSimulatedAnswer, match=complaint):
        sesv2.get_account()


def test_a_missing_required_member_fails_the_call() -> None:
    ses = client("ses")  # the model marks VerificationAttributes required in this answer
    install_responder(ses, "GetIdentityVerificationAttributes", lambda _: {})
    with pytest.raises(InvalidSimulatedAnswer, match="VerificationAttributes"):
        ses.get_identity_verification_attributes(Identities=["a@example.com"])


def test_a_valid_answer_is_returned_as_botocore_would_parse_it() -> None:
    sesv2 = client("sesv2")
    install_responder(sesv2, "GetAccount", lambda _: GET_ACCOUNT)
    got = sesv2.get_account()
    assert got["SendQuota"] == GET_ACCOUNT["SendQuota"]
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_an_unknown_operation_fails_at_install() -> None:
    with pytest.raises(Exception, match="GetAcount"):
        install_responder(client("sesv2"), "GetAcount", lambda _: {})


def test_every_answer_of_the_test_fakes_fits_the_model(aws: None) -> None:
    fake = FakeAccountApi()
    fake.configuration_sets = {"m": {"SendingOptions": {"SendingEnabled": True}}}
    fake.send_data_points["eu-west-1"] = [{"Timestamp": 1.7e9, "DeliveryAttempts": 1}]
    sesv2, ses = client("sesv2"), client("ses")
    fake.hook("sesv2", sesv2)
    fake.hook("ses", ses)
    assert sesv2.get_account()["SendingEnabled"] is True
    assert sesv2.get_configuration_set(ConfigurationSetName="m")["ConfigurationSetName"] == "m"
    assert ses.get_account_sending_enabled()["Enabled"] is True
    assert ses.get_send_statistics()["SendDataPoints"][0]["DeliveryAttempts"] == 1
    elsewhere = client("ses", "us-east-1")
    fake.hook("ses", elsewhere)
    assert elsewhere.get_send_statistics()["SendDataPoints"] == []  # buckets are per region
    fake.send_data_points["eu-west-1"] = [{"Timestamp": 1.7e9, "DeliveryAttempts": "one"}]
    with pytest.raises(InvalidSimulatedAnswer, match="DeliveryAttempts"):
        ses.get_send_statistics()


@pytest.fixture
def demo() -> Iterator[DemoWorld]:
    world = DemoWorld(["us-east-1", "eu-west-1"])
    world.start()
    try:
        yield world
    finally:
        world.stop()


def test_every_answer_of_the_demo_fits_the_model(demo: DemoWorld) -> None:
    for region in ("us-east-1", "eu-west-1"):
        check_answer(client("sesv2", region), "GetAccount", demo.get_account(region))
        check_answer(client("ses", region), "GetSendStatistics", demo.send_statistics(region))
        sesv2 = client("sesv2", region)
        demo.client_hook("sesv2", sesv2)
        assert sesv2.get_configuration_set(ConfigurationSetName="marketing")["SendingOptions"]


def test_the_demo_regions_are_consistent_with_production_access(demo: DemoWorld) -> None:
    """A sandbox account has not been granted production access, and the reverse."""
    for region in ("us-east-1", "eu-west-1"):
        answer = copy.deepcopy(dict(demo.get_account(region)))
        status = answer["Details"]["ReviewDetails"]["Status"]
        assert answer["ProductionAccessEnabled"] == (status == "GRANTED")
