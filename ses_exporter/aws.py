"""The one module that imports boto3: sessions, clients, pacing and request accounting.

Every AWS client the exporter uses is created here, up front, once per target, with
botocore's ``standard`` retry mode and bounded timeouts. Two event hooks are attached to
each client:

* a pacer on ``before-call`` for SES (``ses`` and ``sesv2``): SES throttles its APIs at
  about one request per second per account and region, so all SES calls of one target
  share one pacer;
* an accounting hook on ``after-call`` / ``after-call-error`` that feeds
  ``ses_exporter_aws_requests_total{service,operation,outcome}``.

Collectors never import boto3: they receive the clients as arguments.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import boto3
import botocore.loaders
from botocore.client import BaseClient
from botocore.config import Config as BotoConfig
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sts import STSClient

PACED_SERVICES = frozenset({"ses", "sesv2"})
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 15.0
INVALID_RESPONSE = "invalid_response"  # outcome of an answer that cannot be parsed
READ_TIMEOUT_ENV = "SES_EXPORTER_AWS_READ_TIMEOUT_SECONDS"
MAX_ATTEMPTS = 3
ROLE_SESSION_NAME = "ses-exporter"

# A callback that may attach extra event hooks to every new client (the demo and the
# tests use it to answer the calls moto lacks). Arguments: service name, client.
ClientHook = Callable[[str, BaseClient], None]


class Pacer:
    """Spaces calls at least ``1 / rate`` seconds apart; thread-safe, first call is free."""

    def __init__(self, rate_per_second: float, clock: Callable[[], float] = time.monotonic):
        self._interval = 1.0 / rate_per_second
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for this call's turn; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        delay = start - now
        if delay > 0:
            time.sleep(delay)
        return delay


class RequestCounter:
    """Counts AWS API calls by (service, operation, outcome); read by the self-metrics."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def add(self, service: str, operation: str, outcome: str) -> None:
        key = (service, operation, outcome)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._counts)


def error_outcome(exc: BaseException) -> str:
    """The `outcome` label for a failed call: the AWS error code, timeout or connection_error."""
    if isinstance(exc, ClientError):
        return error_code(exc) or "unknown_error"
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return "timeout"
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError):
        return "connection_error"
    if isinstance(exc, NoCredentialsError):
        return "no_credentials"
    if isinstance(exc, ResponseParserError):
        return INVALID_RESPONSE
    return type(exc).__name__


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ClientError, else None."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "") or None
    return None


def describe_error(exc: BaseException) -> str:
    """A one-line, secret-free description for logs and the landing page."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip().rstrip(":")
    return f"{type(exc).__name__}: {exc}"


@functools.cache
def _partitions() -> list[dict[str, Any]]:
    data: dict[str, Any] = botocore.loaders.create_loader().load_data("partitions")
    return list(data["partitions"])


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows of, in every partition (aws, aws-cn, aws-us-gov, ...)."""
    return frozenset(
        region
        for partition in _partitions()
        for region in partition.get("regions", {})
        if not region.endswith("-global")
    )


def dns_suffix(region: str) -> str:
    """amazonaws.com, or amazonaws.com.cn in the China regions."""
    for partition in _partitions():
        if region in partition.get("regions", {}):
            return str(partition["outputs"]["dnsSuffix"])
    return "amazonaws.com"


@dataclass
class TargetClients:
    """The boto3 clients of one (account, region) target."""

    ses: SESClient
    sesv2: SESV2Client
    cloudwatch: CloudWatchClient
    sts: STSClient
    pacer: Pacer


@dataclass
class AccountSession:
    """One boto3 session per configured account; assumed-role credentials refresh themselves."""

    session: boto3.session.Session
    endpoint_url: str | None
    counter: RequestCounter
    client_hooks: tuple[ClientHook, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str, region: str, pacer: Pacer | None = None) -> BaseClient:
        # boto3 session.client() is not thread-safe; clients themselves are.
        with self._lock:
            client = self.session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=self.endpoint_url,
                config=client_config(),
            )
        client.meta.events.register("before-parse", _check_body)
        _attach_accounting(client, service, self.counter)
        if pacer is not None and service in PACED_SERVICES:
            _attach_pacer(client, pacer)
        for hook in self.client_hooks:
            hook(service, client)
        return client  # type: ignore[no-any-return]

    def target_clients(self, region: str, requests_per_second: float) -> TargetClients:
        pacer = Pacer(requests_per_second)
        return TargetClients(
            ses=cast("SESClient", self.client("ses", region, pacer)),
            sesv2=cast("SESV2Client", self.client("sesv2", region, pacer)),
            cloudwatch=cast("CloudWatchClient", self.client("cloudwatch", region)),
            sts=cast("STSClient", self.client("sts", region)),
            pacer=pacer,
        )


def client_config() -> BotoConfig:
    # In a client Config, botocore's "max_attempts" counts retries; the total is what we mean.
    return BotoConfig(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout(),
        user_agent_extra="ses-exporter",
    )


def read_timeout() -> float:
    """15 s, or SES_EXPORTER_AWS_READ_TIMEOUT_SECONDS (the fault tests shorten hangs)."""
    value = os.environ.get(READ_TIMEOUT_ENV)
    try:
        seconds = float(value) if value else READ_TIMEOUT_SECONDS
    except ValueError:
        seconds = READ_TIMEOUT_SECONDS
    return seconds if seconds > 0 else READ_TIMEOUT_SECONDS


def make_session(
    *,
    profile: str | None,
    role_arn: str | None,
    external_id: str | None,
    endpoint_url: str | None,
    region: str,
    counter: RequestCounter,
    client_hooks: Iterable[ClientHook] = (),
) -> AccountSession:
    """A session from the default credential chain or ``profile``, optionally assuming ``role_arn``.

    The assumed role's credentials are DeferredRefreshableCredentials: botocore fetches
    them on first use and again shortly before they expire, so a long-running exporter
    never holds expired credentials.
    """
    base = boto3.session.Session(profile_name=profile, region_name=region)
    hooks = tuple(client_hooks)
    if role_arn is None:
        return AccountSession(base, endpoint_url, counter, hooks)
    base_account = AccountSession(base, endpoint_url, counter, hooks)
    extra_args: dict[str, Any] = {"RoleSessionName": ROLE_SESSION_NAME}
    if external_id:
        extra_args["ExternalId"] = external_id

    def create_sts(service_name: str, **_: Any) -> BaseClient:
        return base_account.client(service_name, region)

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=create_sts,
        source_credentials=base.get_credentials(),
        role_arn=role_arn,
        extra_args=extra_args,
    )
    credentials = DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
    assumed = boto3.session.Session(region_name=region)
    # boto3 has no public way to hand a session refreshable credentials.
    assumed._session._credentials = credentials  # type: ignore[attr-defined]
    return AccountSession(assumed, endpoint_url, counter, hooks)


def caller_account_id(sts: STSClient) -> str:
    """STS GetCallerIdentity -> the 12-digit account id (resolved once per account)."""
    return str(sts.get_caller_identity()["Account"])


def _attach_pacer(client: BaseClient, pacer: Pacer) -> None:
    def pace(**_: Any) -> None:
        pacer.acquire()

    # register_first: a hook that answers the call itself (demo, tests) must still be paced.
    client.meta.events.register_first("before-call", pace)


class IncompleteResponseError(ConnectionClosedError):
    """A 2xx answer whose body broke off: a connection error, retried as one."""


class MalformedResponseError(ResponseParserError):
    """A 2xx JSON answer that is not JSON; botocore raises ResponseParserError for bad XML."""


def _check_body(operation_model: Any, response_dict: Mapping[str, Any], **_: Any) -> None:
    """Runs before botocore parses a 2xx answer. A body shorter than its Content-Length is
    a broken connection (retried like one); a JSON body that is not JSON fails the call:
    botocore would read it as {"message": body}, and a GetAccount without its fields would
    read as quota 0 and sending disabled."""
    body = response_dict.get("body")
    if response_dict.get("status_code", 200) >= 300 or not isinstance(body, bytes):
        return
    length = str(response_dict.get("headers", {}).get("content-length", ""))
    if length.isdigit() and len(body) < int(length):
        raise IncompleteResponseError(endpoint_url=operation_model.name)
    service_model = operation_model.service_model
    # resolved_protocol: the one botocore really speaks (CloudWatch lists CBOR first, uses JSON)
    protocol = getattr(service_model, "resolved_protocol", None) or service_model.protocol
    if protocol in {"json", "rest-json"} and body.strip():
        try:
            json.loads(body)
        except ValueError:
            raise MalformedResponseError(
                f"{operation_model.name}: the answer is not valid JSON"
            ) from None


def _attach_accounting(client: BaseClient, service: str, counter: RequestCounter) -> None:
    def after_call(http_response: Any, parsed: Mapping[str, Any], model: Any, **_: Any) -> None:
        status = getattr(http_response, "status_code", 200)
        outcome = "success"
        if status >= 300:
            outcome = str(parsed.get("Error", {}).get("Code") or f"http_{status}")
        elif parsed.get("ResponseMetadata", {}).get("MaxAttemptsReached"):
            # botocore gave up on a broken 2xx yet returns it as an (empty) success.
            broken = IncompleteResponseError(endpoint_url=getattr(http_response, "url", model.name))
            counter.add(service, model.name, error_outcome(broken))
            raise broken
        counter.add(service, model.name, outcome)

    def after_call_error(exception: BaseException, event_name: str, **_: Any) -> None:
        counter.add(service, event_name.rsplit(".", 1)[-1], error_outcome(exception))

    client.meta.events.register("after-call", after_call)
    client.meta.events.register("after-call-error", after_call_error)
