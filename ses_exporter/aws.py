"""The one module that imports boto3: sessions, clients, pacing and request accounting.

Every AWS client the exporter uses is created here, up front, once per target, with
botocore's ``standard`` retry mode and bounded timeouts. Two event hooks are attached to
each client:

* a pacer on ``before-call`` for SES (``ses`` and ``sesv2``): SES throttles its APIs at
  about one request per second per account and region, so all SES calls of one target
  share one pacer;
* an accounting hook on ``after-call`` / ``after-call-error`` that feeds
  ``ses_exporter_aws_requests_total{service,operation,outcome}``.

Collectors never import boto3 or botocore: they receive the clients as arguments and
catch the ``ClientError`` and ``BotoCoreError`` this module re-exports.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import botocore.client
import botocore.loaders
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config as BotoConfig
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
    ReadOnlyCredentials,
)
from botocore.errorfactory import ClientExceptionsFactory

# Re-exported: the collectors catch these without importing botocore.
from botocore.exceptions import BotoCoreError as BotoCoreError  # noqa: PLC0414
from botocore.exceptions import ClientError as ClientError  # noqa: PLC0414
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError
from botocore.regions import EndpointResolver

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
# Keep-alive connections kept per endpoint URL, shared by every client of that endpoint:
# as many as polls can run at once (poller.MAX_WORKERS), so that urllib3 never has to
# discard one (and log a warning) when many targets call the same endpoint together.
# Connections are only opened as concurrency needs them.
DEFAULT_POOL_CONNECTIONS = 256

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

    def set_rate(self, rate_per_second: float) -> None:
        """A new pace (after a reload), from the next call on."""
        with self._lock:
            self._interval = 1.0 / rate_per_second


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


Page = TypeVar("Page", bound=Mapping[str, Any])


class RepeatedNextTokenError(RuntimeError):
    """An API answered with a NextToken it had given before: following it would never end."""


DAY = 86_400
# How long CloudWatch answers GetMetricData at a period, finest first: "Data points with a
# period of 60 seconds (1-minute) are available for 15 days, 300 seconds (5-minute) for 63
# days, 3600 seconds (1-hour) for 455 days" (the CloudWatch concepts guide). A StartTime
# older than 15 days returns no datapoints unless the period is a multiple of 300 (older
# than 63 days: of 3600). The config and the cloudwatch collector both follow it.
RETENTION: tuple[tuple[int, int], ...] = ((60, 15 * DAY), (300, 63 * DAY), (3600, 455 * DAY))


def retention(period: int) -> int:
    """Seconds back from now that CloudWatch still answers GetMetricData at ``period``
    (0 for a period that is not a multiple of 60)."""
    kept = 0
    for step, seconds in RETENTION:
        if period % step == 0:
            kept = seconds
    return kept


def next_token_pages(
    operation: str, call: Callable[..., Page], request: Mapping[str, Any]
) -> Iterator[Page]:
    """Every page of a NextToken-paginated ``operation``: ``call(**request)``, then again
    with each NextToken until an answer has none (or an empty one). One call per page, so
    a caller can count requests (GetMetricData bills every metric of every request).

    A page without results but with a token is followed: AWS documents that only the token
    says whether more pages come (GetMetricData sends PartialData pages like that). A token
    seen before raises ``RepeatedNextTokenError``: botocore's PageIterator catches only the
    same token twice in a row, not a cycle of two. Used where botocore has no paginator
    (sesv2 ListConfigurationSets) and for GetMetricData; ListMetrics and Organizations use
    botocore's paginators.
    """
    kwargs = dict(request)
    seen: set[str] = set()
    while True:
        page = call(**kwargs)
        yield page
        token = page.get("NextToken")
        if not token:
            return
        if token in seen:
            raise RepeatedNextTokenError(f"{operation} returned NextToken {token!r} twice")
        seen.add(token)
        kwargs["NextToken"] = token


def unix_seconds(value: Any) -> float | None:
    """A timestamp of a botocore answer (a datetime; naive ones are UTC) in unix seconds;
    None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.timestamp()
    return float(cast(float, value))


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
    data: dict[str, Any] = SharedBotocore.loader().load_data("partitions")
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


# What every target calls: a region must have an endpoint for each of them.
POLLED_SERVICES = ("sesv2", "ses", "cloudwatch")


@functools.cache
def service_regions(service: str) -> frozenset[str]:
    """The regions where botocore's endpoint data gives ``service`` an endpoint, in every
    partition (e.g. sesv2 has none in aws-cn: SES is not offered in the China regions)."""
    loader = SharedBotocore.loader()
    resolver = EndpointResolver(loader.load_data("endpoints"))
    # The endpoint data is keyed by endpoint prefix (sesv2 and ses: "email").
    prefix = loader.load_service_model(service, "service-2")["metadata"]["endpointPrefix"]
    return frozenset(
        region
        for partition in resolver.get_available_partitions()
        for region in resolver.get_available_endpoints(prefix, partition)
    )


def dns_suffix(region: str) -> str:
    """amazonaws.com, or amazonaws.com.cn in the China regions."""
    for partition in _partitions():
        if region in partition.get("regions", {}):
            return str(partition["outputs"]["dnsSuffix"])
    return "amazonaws.com"


class _SharedExceptionsFactory(ClientExceptionsFactory):
    """botocore's per-service cache of exception classes, made safe for many threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def create_client_exceptions(self, service_model: Any) -> Any:
        with self._lock:
            return super().create_client_exceptions(service_model)


class SharedBotocore:
    """What every client in the process shares: one botocore data loader, and per service
    one ``ServiceModel``, one client class and one set of modeled exception classes.

    Without this, every account session loads the same JSON service models, endpoint
    rules and partitions again, and every client builds its own class with one method per
    operation: about 5 MiB per target. botocore has no public hook for the last two, so
    ``ClientCreator``'s two factory methods are wrapped once, process-wide, with caches
    that apply only to clients built on this shared loader (moto's and other code's
    clients are untouched). Both are pure functions of the loader's data and of the
    session's built-in handlers, which are the same for every session made here.

    Each session would also build, at its first error from a service, one exception class
    per error the service models: 6.2 MiB for 50 accounts once SES v1 and v2, CloudWatch
    and STS have each failed once in each, which the soak saw growing for an hour as
    faults reached new services. The sessions share one ``ClientExceptionsFactory``, which
    makes them once per service (160 KiB).
    """

    _lock = threading.Lock()
    _loader: botocore.loaders.Loader | None = None
    _exceptions = _SharedExceptionsFactory()

    @classmethod
    def loader(cls) -> botocore.loaders.Loader:
        with cls._lock:
            if cls._loader is None:
                cls._loader = botocore.loaders.create_loader()
                _cache_models_and_classes(cls._loader)
            return cls._loader

    @classmethod
    def session(cls, profile: str | None = None) -> botocore.session.Session:
        """A new botocore session on the shared loader (credentials stay per session).

        STS is always called at the regional endpoint of the client's region
        (sts.<region>.amazonaws.com, .com.cn in China): botocore before 1.40
        sends sixteen older regions (us-east-1, eu-west-1, ...) to the global
        sts.amazonaws.com by default, whose session tokens the opt-in regions
        (af-south-1, me-south-1, ...) reject unless the account changed a setting. A
        session variable outranks the environment and the config file, so
        AWS_STS_REGIONAL_ENDPOINTS=legacy cannot bring the global endpoint back; an
        explicit ``endpoint_url`` still wins.
        """
        session = botocore.session.Session(profile=profile)
        session.register_component("data_loader", cls.loader())
        # An internal component: botocore has no public way to set it.
        session._register_internal_component(  # type: ignore[attr-defined]
            "exceptions_factory", cls._exceptions
        )
        session.set_config_variable("sts_regional_endpoints", "regional")
        return session


def _cache_models_and_classes(loader: botocore.loaders.Loader) -> None:
    creator: Any = botocore.client.ClientCreator  # private methods: not in the stubs
    load_model, create_class = creator._load_service_model, creator._create_client_class
    models: dict[tuple[str, str | None], Any] = {}
    classes: dict[str, type] = {}
    lock = threading.Lock()

    def _load_service_model(self: Any, service_name: str, api_version: str | None = None) -> Any:
        if self._loader is not loader:
            return load_model(self, service_name, api_version)
        with lock:
            key = (service_name, api_version)
            if key not in models:
                models[key] = load_model(self, service_name, api_version)
            return models[key]

    def _create_client_class(self: Any, service_name: str, service_model: Any) -> type:
        if self._loader is not loader:
            return create_class(self, service_name, service_model)  # type: ignore[no-any-return]
        with lock:
            if service_name not in classes:
                classes[service_name] = create_class(self, service_name, service_model)
            return classes[service_name]

    creator._load_service_model = _load_service_model
    creator._create_client_class = _create_client_class


class _Provided(CredentialProvider):
    """Hands a session credentials made elsewhere (an assumed role's, refreshing)."""

    METHOD = "assume-role"

    def __init__(self, credentials: Any):
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


class _SignedByClient:
    """AssumeRoleCredentialFetcher hands its source credentials to the client creator;
    ours returns the shared STS client, which signs with its own session's credentials."""

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        return ReadOnlyCredentials(None, None, None)


_SIGNED_BY_CLIENT = _SignedByClient()


class ClientFactory:
    """Creates the clients of one exporter and shares between them what is safe to share.

    * one base session per profile: the default credential chain (or the profile) is
      resolved once, not once per account;
    * one STS client per (profile, region, endpoint) to assume roles with;
    * one HTTP connection pool per endpoint URL: connections carry no credentials (every
      request is signed on its own), so all accounts that call the same regional endpoint
      reuse the same keep-alive connections. Open sockets are bounded by the endpoints
      in use times the concurrent polls, not by the number of targets.
    """

    def __init__(
        self,
        counter: RequestCounter,
        client_hooks: Iterable[ClientHook] = (),
        pool_connections: int = DEFAULT_POOL_CONNECTIONS,
    ):
        self.counter = counter
        self.client_hooks = tuple(client_hooks)
        self.pool_connections = pool_connections
        self._lock = threading.Lock()
        self._bases: dict[str | None, botocore.session.Session] = {}
        self._sts: dict[tuple[str | None, str, str | None], BaseClient] = {}
        self._pools: dict[tuple[str, float, float], Any] = {}

    def base_session(self, profile: str | None) -> botocore.session.Session:
        with self._lock:
            if profile not in self._bases:
                self._bases[profile] = SharedBotocore.session(profile)
            return self._bases[profile]

    def create_client(
        self,
        session: botocore.session.Session,
        service: str,
        region: str,
        endpoint_url: str | None,
        pacer: Pacer | None = None,
    ) -> BaseClient:
        config = client_config(self.pool_connections)
        # botocore's session.create_client is not thread-safe; clients themselves are.
        with self._lock:
            client = session.create_client(
                service, region_name=region, endpoint_url=endpoint_url, config=config
            )
            self._share_pool(client, config)
        client.meta.events.register("before-parse", _check_body)
        _attach_accounting(client, service, self.counter)
        if pacer is not None and service in PACED_SERVICES:
            _attach_pacer(client, pacer)
        for hook in self.client_hooks:
            hook(service, client)
        return client

    def _share_pool(self, client: BaseClient, config: BotoConfig) -> None:
        # botocore gives every client its own URLLib3Session (pool manager and SSL
        # context); it has no public way to pass one in, hence the attribute.
        endpoint = client._endpoint  # type: ignore[attr-defined]
        timeouts = (getattr(config, "connect_timeout", 0.0), getattr(config, "read_timeout", 0.0))
        key = (str(endpoint.host), float(timeouts[0]), float(timeouts[1]))
        pool = self._pools.setdefault(key, endpoint.http_session)
        if pool is not endpoint.http_session:
            endpoint.http_session.close()
            endpoint.http_session = pool

    def assume_role_sts(
        self, profile: str | None, region: str, endpoint_url: str | None
    ) -> BaseClient:
        """The STS client that assumes roles for accounts of this profile and region."""
        key = (profile, region, endpoint_url)
        with self._lock:
            client = self._sts.get(key)
        if client is None:
            client = self.create_client(self.base_session(profile), "sts", region, endpoint_url)
            with self._lock:
                client = self._sts.setdefault(key, client)
        return client

    def account_session(
        self,
        *,
        profile: str | None,
        role_arn: str | None,
        external_id: str | None,
        endpoint_url: str | None,
        region: str,
    ) -> AccountSession:
        """A session from the default credential chain or ``profile``, optionally assuming
        ``role_arn``.

        The assumed role's credentials are DeferredRefreshableCredentials: botocore fetches
        them on first use and again shortly before they expire, so a long-running exporter
        never holds expired credentials. Nothing here calls AWS.
        """
        base = self.base_session(profile)
        if role_arn is None:
            return AccountSession(self, base, endpoint_url, region)
        extra_args: dict[str, Any] = {"RoleSessionName": ROLE_SESSION_NAME}
        if external_id:
            extra_args["ExternalId"] = external_id

        def create_sts(service_name: str, **_: Any) -> BaseClient:
            return self.assume_role_sts(profile, region, endpoint_url)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=create_sts,
            source_credentials=_SIGNED_BY_CLIENT,
            role_arn=role_arn,
            extra_args=extra_args,
        )
        credentials = DeferredRefreshableCredentials(
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )
        assumed = SharedBotocore.session()
        assumed.register_component(
            "credential_provider", CredentialResolver([_Provided(credentials)])
        )
        return AccountSession(self, assumed, endpoint_url, region)


class AccountSession:
    """One configured account: its botocore session and its STS client (created on first use)."""

    def __init__(
        self,
        factory: ClientFactory,
        session: botocore.session.Session,
        endpoint_url: str | None,
        region: str,
    ):
        self.factory = factory
        self.session = session
        self.endpoint_url = endpoint_url
        self.region = region
        self._sts: STSClient | None = None
        self._lock = threading.Lock()

    def client(self, service: str, region: str, pacer: Pacer | None = None) -> BaseClient:
        return self.factory.create_client(self.session, service, region, self.endpoint_url, pacer)

    @property
    def sts(self) -> STSClient:
        """One STS client per account (GetCallerIdentity is asked once per account)."""
        with self._lock:
            if self._sts is None:
                self._sts = cast("STSClient", self.client("sts", self.region))
            return self._sts

    def target_clients(self, region: str, requests_per_second: float) -> TargetClients:
        return TargetClients(lambda: self, region, Pacer(requests_per_second))


class TargetClients:
    """The clients of one (account, region) target, each created on its first use (so that
    building 1,500 targets costs nothing until they poll), sharing one SES pacer."""

    def __init__(self, account: Callable[[], AccountSession], region: str, pacer: Pacer):
        self._account = account  # the account's session, itself created on first use
        self.region = region
        self.pacer = pacer
        self._clients: dict[str, BaseClient] = {}
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._account().client(service, self.region, self.pacer)
                self._clients[service] = client
            return client

    def with_pacer(self, service: str, pacer: Pacer) -> Any:
        """A new client of ``service`` paced by ``pacer`` instead of the target's SES pacer,
        for an API with a throttle of its own (VDM's BatchGetMetricData); the caller keeps it."""
        return self._account().client(service, self.region, pacer)

    @property
    def ses(self) -> SESClient:
        return cast("SESClient", self._client("ses"))

    @property
    def sesv2(self) -> SESV2Client:
        return cast("SESV2Client", self._client("sesv2"))

    @property
    def cloudwatch(self) -> CloudWatchClient:
        return cast("CloudWatchClient", self._client("cloudwatch"))

    @property
    def sts(self) -> STSClient:
        return self._account().sts


def client_config(pool_connections: int = DEFAULT_POOL_CONNECTIONS) -> BotoConfig:
    # In a client Config, botocore's "max_attempts" counts retries; the total is what we mean.
    return BotoConfig(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout(),
        max_pool_connections=pool_connections,
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
    """One account's session with a factory of its own (tests; the daemon shares one)."""
    factory = ClientFactory(counter, client_hooks)
    return factory.account_session(
        profile=profile,
        role_arn=role_arn,
        external_id=external_id,
        endpoint_url=endpoint_url,
        region=region,
    )


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
