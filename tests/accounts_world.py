"""A simulated AWS where each account has its own standing, for tests of the real daemon.

    ses-exporter (child process) --HTTP--> moto server (child process: this file)

moto 5.2.5 has no sesv2 GetAccount, and answers ses GetSendStatistics with one running
point stamped "now" that no real account ever sees. This server (moto's
``ThreadedMotoServer`` with two answers added) gives each account the GetAccount answer a
test chose for it, keyed by account id (moto knows the account of every caller, also of
credentials from sts AssumeRole), and GetSendStatistics as SES does: 15-minute buckets of
what moto's SES actually sent and rejected, counted when it did. Everything else is moto.

Usage: ``python -m tests.accounts_world ACCOUNTS`` (``ACCOUNTS`` is JSON, account id ->
``Standing`` fields) prints ``ready PORT``, then serves until its standard input closes.
``AccountsWorld`` runs it as a child process and sends mail in it as each account.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from tests.fakes import GET_ACCOUNT
from tests.faultproxy import MotoServer, serve_moto

BUCKET_SECONDS = 900  # GetSendStatistics answers in 15-minute buckets
SENDER = "sender@example.com"
UNVERIFIED_SENDER = "someone@unverified.example.net"


@dataclass(frozen=True)
class Standing:
    """What sesv2 GetAccount says about one account (in every region)."""

    enforcement_status: str  # HEALTHY, PROBATION or SHUTDOWN
    max_24_hour_send: float
    max_send_rate: float
    production_access: bool = True
    sending_enabled: bool = True


def role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/ses-exporter"


class AccountsWorld(MotoServer):
    """This module's server in a child process on a free port of 127.0.0.1."""

    def __init__(self, accounts: dict[str, Standing]) -> None:
        self.accounts = accounts
        super().__init__(json.dumps(_as_json(accounts)), module="tests.accounts_world")

    def client_as(self, account_id: str, service: str, region: str) -> Any:
        """A boto3 client of this server signed with ``account_id``'s role credentials."""
        import boto3
        from botocore.config import Config

        sts = self.client("sts", region)
        credentials = sts.assume_role(RoleArn=role_arn(account_id), RoleSessionName="test")
        keys = credentials["Credentials"]
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys["SessionToken"],
            config=Config(disable_request_compression=True, retries={"max_attempts": 1}),
        )

    def send_mail(self, account_id: str, region: str, emails: int, rejected: int = 0) -> None:
        """``emails`` one-recipient emails from a verified sender, then ``rejected`` from an
        unverified one (SES rejects them, and counts them as rejects)."""
        ses = self.client_as(account_id, "ses", region)
        ses.verify_email_identity(EmailAddress=SENDER)
        for number in range(emails):
            ses.send_email(
                Source=SENDER,
                Destination={"ToAddresses": [f"user{number}@example.com"]},
                Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "hello"}}},
            )
        for _ in range(rejected):
            try:
                ses.send_email(
                    Source=UNVERIFIED_SENDER,
                    Destination={"ToAddresses": ["user@example.com"]},
                    Message={"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}},
                )
            except ses.exceptions.MessageRejected:
                continue
            raise AssertionError("moto accepted mail from an unverified sender")

    def send_statistics(self, account_id: str, region: str) -> list[dict[str, Any]]:
        """The account's GetSendStatistics data points, as the daemon gets them."""
        ses = self.client_as(account_id, "ses", region)
        return list(ses.get_send_statistics()["SendDataPoints"])


def _as_json(accounts: dict[str, Standing]) -> dict[str, dict[str, Any]]:
    return {account_id: asdict(standing) for account_id, standing in accounts.items()}


# --- the server (child process) -------------------------------------------------------

# (account id, region) -> bucket start -> [delivery attempts, rejects]
_buckets: dict[tuple[str, str], dict[int, list[int]]] = defaultdict(
    lambda: defaultdict(lambda: [0, 0])
)


def _counting(send: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps an SESBackend send method: what it sent or rejected goes into the bucket of
    the moment it did, whichever way it ends."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent, rejected = self.sent_message_count, self.rejected_messages_count
        try:
            return send(self, *args, **kwargs)
        finally:
            bucket = int(time.time() // BUCKET_SECONDS * BUCKET_SECONDS)
            counts = _buckets[(self.account_id, self.region_name)][bucket]
            counts[0] += self.sent_message_count - sent
            counts[1] += self.rejected_messages_count - rejected

    return wrapper


def _serve(accounts: dict[str, dict[str, Any]]) -> None:
    from moto.core.responses import ActionResult
    from moto.ses.models import SESBackend, ses_backends
    from moto.ses.responses import EmailResponse
    from moto.sesv2.responses import SESV2Response

    from tests.moto_routes import DEFAULT_ANSWERS, route

    def get_account(self: SESV2Response) -> str:
        standing = accounts[self.current_account]
        sent = ses_backends[self.current_account][self.region].sent_message_count
        # The tests' usual GetAccount answer, with this account's standing.
        return json.dumps(
            GET_ACCOUNT
            | {
                "EnforcementStatus": standing["enforcement_status"],
                "ProductionAccessEnabled": standing["production_access"],
                "SendQuota": {
                    "Max24HourSend": standing["max_24_hour_send"],
                    "MaxSendRate": standing["max_send_rate"],
                    "SentLast24Hours": float(sent),
                },
                "SendingEnabled": standing["sending_enabled"],
                "VdmAttributes": {"VdmEnabled": "DISABLED"},
            }
        )

    def get_send_statistics(self: EmailResponse) -> ActionResult:
        # No bounces or complaints: moto's SES delivers everything it accepts.
        buckets = _buckets[(self.current_account, self.region)]
        points = [
            {
                "Timestamp": datetime.fromtimestamp(start, UTC),
                "DeliveryAttempts": attempts,
                "Bounces": 0,
                "Complaints": 0,
                "Rejects": rejects,
            }
            for start, (attempts, rejects) in sorted(buckets.items())
        ]
        return ActionResult({"SendDataPoints": points})

    route({"account": ("get_account", get_account), **DEFAULT_ANSWERS})
    EmailResponse.get_send_statistics = get_send_statistics  # type: ignore[method-assign]
    for name in ("send_email", "send_raw_email", "send_templated_email"):
        setattr(SESBackend, name, _counting(getattr(SESBackend, name)))
    serve_moto()


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
