"""STS is called at its region's regional endpoint, whatever botocore's default.

botocore before 1.40 sends sixteen older regions to the global sts.amazonaws.com, and
AWS_STS_REGIONAL_ENDPOINTS=legacy still does in every version: these tests set it, so
they prove the exporter overrides the default rather than relying on it. No request
leaves the machine: a ``before-send`` hook records the URL and answers with a canned body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from ses_exporter.aws import ClientFactory, RequestCounter, caller_account_id

ROLE = "arn:aws:iam::111122223333:role/ses-exporter"
_XMLNS = 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"'
ANSWERS = {
    "AssumeRole": (
        f"<AssumeRoleResponse {_XMLNS}><AssumeRoleResult><Credentials>"
        "<AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>"
        "<SessionToken>token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>"
        "</Credentials><AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:ses-exporter"
        "</AssumedRoleId><Arn>arn:aws:sts::111122223333:assumed-role/ses-exporter/"
        "ses-exporter</Arn></AssumedRoleUser></AssumeRoleResult>"
        "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>"
    ),
    "GetCallerIdentity": (
        f"<GetCallerIdentityResponse {_XMLNS}><GetCallerIdentityResult>"
        "<Arn>arn:aws:sts::111122223333:assumed-role/ses-exporter/ses-exporter</Arn>"
        "<UserId>AROAEXAMPLE:ses-exporter</UserId><Account>111122223333</Account>"
        "</GetCallerIdentityResult><ResponseMetadata><RequestId>2</RequestId>"
        "</ResponseMetadata></GetCallerIdentityResponse>"
    ),
}


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class StsRecorder:
    """A client hook that answers every STS call itself and records where it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (operation, URL)

    def __call__(self, service: str, client: Any) -> None:
        if service == "sts":
            client.meta.events.register_first("before-send.sts", self.answer)

    def answer(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        self.sent.append((operation, request.url))
        return AWSResponse(request.url, 200, {}, _Raw(ANSWERS[operation].encode()))


@pytest.fixture(autouse=True)
def legacy_botocore_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, no config files, and the global-endpoint default of old botocore."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("us-east-1", "https://sts.us-east-1.amazonaws.com/"),
        ("eu-west-1", "https://sts.eu-west-1.amazonaws.com/"),
        ("af-south-1", "https://sts.af-south-1.amazonaws.com/"),  # opt-in
        ("il-central-1", "https://sts.il-central-1.amazonaws.com/"),  # opt-in
        ("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn/"),
    ],
)
def test_assume_role_and_caller_identity_go_to_the_regional_endpoint(region: str, url: str) -> None:
    recorder = StsRecorder()
    factory = ClientFactory(RequestCounter(), [recorder])
    account = factory.account_session(
        profile=None, role_arn=ROLE, external_id=None, endpoint_url=None, region=region
    )
    assert caller_account_id(account.target_clients(region, 1000).sts) == "111122223333"
    assert recorder.sent == [("AssumeRole", url), ("GetCallerIdentity", url)]


def test_the_base_credentials_caller_identity_goes_to_the_regional_endpoint() -> None:
    recorder = StsRecorder()
    factory = ClientFactory(RequestCounter(), [recorder])
    account = factory.account_session(
        profile=None, role_arn=None, external_id=None, endpoint_url=None, region="us-east-1"
    )
    caller_account_id(account.sts)
    assert recorder.sent == [("GetCallerIdentity", "https://sts.us-east-1.amazonaws.com/")]


def test_a_configured_endpoint_url_still_wins() -> None:
    recorder = StsRecorder()
    factory = ClientFactory(RequestCounter(), [recorder])
    account = factory.account_session(
        profile=None,
        role_arn=ROLE,
        external_id=None,
        endpoint_url="http://127.0.0.1:5999",
        region="af-south-1",
    )
    caller_account_id(account.sts)
    assert recorder.sent == [
        ("AssumeRole", "http://127.0.0.1:5999/"),
        ("GetCallerIdentity", "http://127.0.0.1:5999/"),
    ]
