"""Fault tolerance of the real daemon: a fault-injecting proxy between it and moto.

One daemon (one account, two regions, every collector at 1 s, ``max_staleness`` 4 s)
serves the whole module; each test switches a fault on for one operation, watches
``/metrics`` while it lasts, switches it off and watches the recovery. On every scrape:

* ``/metrics`` answers 200 within 3 s, however long a poll hangs;
* every collector of every target not hit by the fault reports success 1;
* series are exposed while their collector's last success is younger than
  ``max_staleness``, and gone once it is older, unless a poll that may replace them is
  still in flight (the staleness rule: never for a healthy collector, whose polls take
  milliseconds; for a faulty one at most as long as botocore's bounded attempts take),
  judged by the age of the values at any moment the daemon may have rendered the scrape
  (between sending the request and the answer), so a slow machine cannot fail it;
* no counter series ever decreases (checked across the whole module).

Connection refused (the proxy stops listening) needs a second target behind another
endpoint, so it gets its own daemon.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ses_exporter import aws
from ses_exporter.collectors.configuration_sets import list_configuration_sets
from tests.daemon import DaemonProcess, Scrape, fake_aws_env
from tests.faultproxy import Fault, FaultProxy, MotoServer, World

pytestmark = pytest.mark.process

A, B = "us-east-1", "eu-west-1"
COLLECTORS = ("account", "send_statistics", "cloudwatch", "configuration_sets")
INTERVAL = 1.0
MAX_STALENESS = 4.0
# Between the exposed timestamp and the daemon's own reading of the clock (rounding).
CLOCK_SLACK = 0.01
# The exporter's retry budget: 3 attempts per AWS call (the first and two retries),
# written out here rather than read from ses_exporter.aws, so that a change shows.
ATTEMPTS_PER_CALL = 3
# A scrape never waits for AWS: one that did would wait for a hung call, up to the read
# timeout per attempt plus botocore's backoff. Well above what a loaded machine needs.
SCRAPE_BUDGET = 3.0
# A family each collector always exposes, to see its cached values come and go.
WITNESS = {
    "account": "aws_ses_daily_sending_quota",
    "send_statistics": "aws_ses_send_statistics_delivery_attempts_total",
    "cloudwatch": "aws_ses_sends_total",
    "configuration_sets": "aws_ses_configuration_sets",
}
# Proposed knob (not implemented yet): the daemon's botocore read timeout, in seconds.
READ_TIMEOUT_ENV = "SES_EXPORTER_AWS_READ_TIMEOUT_SECONDS"
HANG_READ_TIMEOUT = 2.0

Target = tuple[str, str]  # (region, collector)
Condition = Callable[[Scrape], bool]


def daemon_config(*accounts: tuple[str, str, tuple[str, ...]]) -> str:
    """(name, endpoint_url, regions) per account; every collector every second."""
    lines = ["accounts:"]
    for name, endpoint, regions in accounts:
        lines += [
            f"  - name: {name}",
            f"    regions: [{', '.join(regions)}]",
            f"    endpoint_url: {endpoint}",
            "    ses_requests_per_second: 50",
        ]
    every = f"interval: {INTERVAL:g}s, max_staleness: {MAX_STALENESS:g}s"
    lines += [
        "collectors:",
        f"  account: {{{every}}}",
        f"  send_statistics: {{{every}}}",
        f"  cloudwatch: {{{every}, period: 60s, lookback: 10m}}",
        f"  configuration_sets: {{{every}}}",
    ]
    return "\n".join(lines) + "\n"


def poll_bound() -> float:
    """The longest a faulty poll can last: every attempt up to the read timeout, plus
    botocore's standard-mode backoff (random up to 2^attempt s) between them."""
    attempts = ATTEMPTS_PER_CALL
    return attempts * HANG_READ_TIMEOUT + sum(2.0**n for n in range(1, attempts))


# --- reading a scrape -----------------------------------------------------------------


def success(scrape: Scrape, region: str, collector: str) -> float | None:
    return scrape.value("ses_exporter_collector_success", region=region, collector=collector)


def last_success(scrape: Scrape, region: str, collector: str) -> float:
    value = scrape.value(
        "ses_exporter_collector_last_success_timestamp_seconds", region=region, collector=collector
    )
    assert value is not None, f"no last success for {region}/{collector}"
    return value


def requests(scrape: Scrape, service: str, operation: str, outcome: str) -> float:
    found = scrape.value(
        "ses_exporter_aws_requests_total", service=service, operation=operation, outcome=outcome
    )
    return found or 0.0


def all_ok(scrape: Scrape, regions: tuple[str, ...] = (A, B)) -> bool:
    return all(success(scrape, r, c) == 1 for r in regions for c in COLLECTORS)


class Invariants:
    """What must hold on every scrape while ``failing`` targets are hit by a fault."""

    def __init__(self, failing: set[Target], regions: tuple[str, ...] = (A, B)):
        self.failing = failing
        self.regions = regions
        self.scrapes = 0
        self.kept_in_flight = 0  # scrapes where a faulty poll in flight kept stale values

    def check(self, scrape: Scrape) -> Scrape:
        assert scrape.status == 200
        assert scrape.seconds < SCRAPE_BUDGET, f"/metrics took {scrape.seconds:.3f}s"
        for region in self.regions:
            for collector in COLLECTORS:
                faulty = (region, collector) in self.failing
                if not faulty:
                    assert success(scrape, region, collector) == 1, (region, collector)
                self._staleness(scrape, region, collector, faulty)
        self.scrapes += 1
        return scrape

    def _staleness(self, scrape: Scrape, region: str, collector: str, faulty: bool) -> None:
        youngest, oldest = ages(scrape, region, collector)
        present = scrape.value(WITNESS[collector], region=region) is not None
        # A faulty poll in flight keeps the values until its attempts are over.
        limit = MAX_STALENESS + (poll_bound() if faulty else 0.0)
        if oldest < MAX_STALENESS - CLOCK_SLACK:
            assert present, f"{region}/{collector} values gone {oldest:.2f}s after a success"
        elif youngest > limit + CLOCK_SLACK:
            assert not present, f"{region}/{collector} values still there after {youngest:.2f}s"
        elif present and youngest > MAX_STALENESS + CLOCK_SLACK:
            self.kept_in_flight += 1


def ages(scrape: Scrape, region: str, collector: str) -> tuple[float, float]:
    """How old the collector's last success was when the daemon rendered the scrape: at
    least its age when the request was sent, at most its age when the answer came."""
    last = last_success(scrape, region, collector)
    return scrape.at - scrape.seconds - last, scrape.at - last


def wait(
    daemon: DaemonProcess, invariants: Invariants, condition: Condition, timeout: float
) -> Scrape:
    """Scrapes until ``condition`` holds, checking the invariants on every scrape."""

    def checked(scrape: Scrape) -> bool:
        invariants.check(scrape)
        return condition(scrape)

    # Patience, not a claim: generous, so that a loaded machine cannot fail it.
    return daemon.wait_for(checked, 3 * timeout + 10)[0]


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def world(moto: MotoServer) -> Iterator[World]:
    w = World(moto, (A, B)).seed()
    w.start_traffic(every=1.0)
    yield w
    w.stop()


@pytest.fixture(scope="module")
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto.url) as p:
        yield p


@pytest.fixture(scope="module")
def daemon(
    proxy: FaultProxy, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    d = DaemonProcess(
        daemon_config(("faults", proxy.url, (A, B))),
        tmp_path_factory.mktemp("faults"),
        env=fake_aws_env(**{READ_TIMEOUT_ENV: f"{HANG_READ_TIMEOUT:g}"}),
    )
    try:
        d.wait_ready()
        d.wait_for(all_ok, 15)
        yield d
    finally:
        d.stop()


@pytest.fixture
def healthy(daemon: DaemonProcess, proxy: FaultProxy) -> Iterator[DaemonProcess]:
    """Every test starts without faults, every collector of both targets succeeding."""
    proxy.clear()
    daemon.wait_for(all_ok, 15)
    yield daemon
    proxy.clear()
    assert daemon.watch.decreases == []


# --- fault by fault: GetAccount (rest-json) in A and GetSendStatistics (query) in B ---


@dataclass(frozen=True)
class Case:
    fault: Fault
    rest_outcome: str  # ses_exporter_aws_requests_total outcome of sesv2 GetAccount
    query_outcome: str  # ... of ses GetSendStatistics
    retried: bool | None  # botocore's standard retry mode tries it again (None: may or not)

    def __str__(self) -> str:
        return self.fault.value


CASES = [
    Case(Fault.THROTTLING, "Throttling", "Throttling", retried=True),
    Case(Fault.TOO_MANY_REQUESTS, "TooManyRequestsException", "TooManyRequestsException", True),
    Case(Fault.HTTP_500, "InternalFailure", "InternalFailure", retried=True),
    # An HTML page from a load balancer has no AWS error code: botocore uses the status.
    Case(Fault.HTTP_503, "503", "503", retried=True),
    Case(Fault.RESET, "connection_error", "connection_error", retried=True),
    # botocore retries a body that breaks off while reading it (XML), not one the exporter
    # finds short before parsing (JSON): either way, bounded.
    Case(Fault.TRUNCATED, "connection_error", "connection_error", retried=None),
    Case(Fault.EXPIRED_TOKEN, "ExpiredTokenException", "ExpiredToken", retried=False),
]
# Two faults at once, in different collectors of different targets: each target keeps
# one failing and three healthy collectors, and both protocols are covered per fault.
HIT = {(A, "account"), (B, "send_statistics")}


def processed(started: float, region: str, collector: str) -> Condition:
    """A scrape showing that a poll begun after ``started`` has finished, failed or not."""

    def check(s: Scrape) -> bool:
        return success(s, region, collector) == 0 or last_success(s, region, collector) > started

    return check


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fault_fails_only_the_hit_collectors_and_they_recover(
    healthy: DaemonProcess, proxy: FaultProxy, case: Case
) -> None:
    daemon = healthy
    invariants = Invariants(failing=HIT)
    before = invariants.check(daemon.scrape())
    started = time.time()
    proxy.fault("GetAccount", case.fault, region=A)
    proxy.fault("GetSendStatistics", case.fault, region=B)
    # A retried fault costs botocore's backoff (up to 1 + 2 + 4 s) before the poll fails.
    timeout = 12 if case.retried else 4
    wait(daemon, invariants, lambda s: all(success(s, *hit) == 0 for hit in HIT), timeout)
    # The healthy collectors of both targets keep polling meanwhile.
    healthy_ones = [(r, c) for r in (A, B) for c in COLLECTORS if (r, c) not in HIT]
    failed = wait(
        daemon,
        invariants,
        lambda s: all(last_success(s, *t) > last_success(before, *t) for t in healthy_ones),
        3,
    )
    for (region, collector), service, operation, outcome in (
        ((A, "account"), "sesv2", "GetAccount", case.rest_outcome),
        ((B, "send_statistics"), "ses", "GetSendStatistics", case.query_outcome),
    ):
        counted = requests(failed, service, operation, outcome)
        assert counted > requests(before, service, operation, outcome), (operation, outcome)
        assert success(failed, region, collector) == 0
    cleared = time.time()
    proxy.clear()
    recovered = wait(
        daemon, invariants, lambda s: all(last_success(s, *t) > cleared for t in HIT), 10
    )
    assert recovered.value("aws_ses_daily_sending_quota", region=A) == 50000
    assert recovered.value("aws_ses_send_statistics_delivery_attempts_total", region=B) is not None
    # Bounded retries, no overlapping polls: at most one call per interval, each tried
    # at most ATTEMPTS_PER_CALL times (a retried fault: each poll that failed used them all).
    for operation, region in (("GetAccount", A), ("GetSendStatistics", B)):
        calls = proxy.calls(operation, region, since=started, until=cleared)
        assert max(calls) <= ATTEMPTS_PER_CALL, (operation, calls)
        if case.retried:
            assert max(calls) == ATTEMPTS_PER_CALL, (operation, calls)
        elif case.retried is False:
            assert set(calls) == {1}, operation
        assert len(calls) <= (cleared - started) / INTERVAL + 2, operation


@pytest.mark.parametrize(
    ("operation", "collector"),
    [
        ("GetSendStatistics", "send_statistics"),  # query: XML parse error
        ("GetAccount", "account"),  # JSON answers: ses_exporter.aws rejects what is not JSON
        ("GetMetricData", "cloudwatch"),
        ("ListConfigurationSets", "configuration_sets"),
    ],
)
def test_a_malformed_answer_fails_the_poll(
    healthy: DaemonProcess, proxy: FaultProxy, operation: str, collector: str
) -> None:
    daemon = healthy
    invariants = Invariants(failing={(A, collector)})
    before = invariants.check(daemon.scrape())
    started = time.time()
    proxy.fault(operation, Fault.MALFORMED, region=A)
    done = wait(daemon, invariants, processed(started + 0.5, A, collector), 5)
    assert success(done, A, collector) == 0, "a malformed answer was taken for data"
    service = {"GetSendStatistics": "ses", "GetMetricData": "cloudwatch"}.get(operation, "sesv2")
    assert requests(done, service, operation, "invalid_response") > requests(
        before, service, operation, "invalid_response"
    )
    proxy.clear()
    wait(daemon, invariants, lambda s: success(s, A, collector) == 1, 5)


def test_access_denied_get_account_falls_back_get_send_statistics_fails(
    healthy: DaemonProcess, proxy: FaultProxy
) -> None:
    """GetAccount denied: the account collector falls back to ses GetSendQuota and
    GetAccountSendingEnabled and still succeeds. GetSendStatistics denied
    (an XML error): only send_statistics fails."""
    daemon = healthy
    invariants = Invariants(failing={(B, "send_statistics")})
    before = invariants.check(daemon.scrape())
    started = time.time()
    proxy.fault("GetAccount", Fault.ACCESS_DENIED, region=A)
    proxy.fault("GetSendStatistics", Fault.ACCESS_DENIED, region=B)
    done = wait(
        daemon,
        invariants,
        lambda s: (
            s.value("aws_ses_account_production_access_enabled", region=A) is None
            and success(s, B, "send_statistics") == 0
        ),
        5,
    )
    # moto's GetSendQuota says 200; GetAccount (the proxy) said 50,000.
    assert done.value("aws_ses_daily_sending_quota", region=A) == 200
    assert done.value("aws_ses_account_sending_enabled", region=A) == 1
    assert done.value("aws_ses_account_production_access_enabled", region=B) == 1
    for service, operation, outcome in (
        ("sesv2", "GetAccount", "AccessDeniedException"),
        ("ses", "GetSendStatistics", "AccessDenied"),
    ):
        assert requests(done, service, operation, outcome) > requests(
            before, service, operation, outcome
        )
    assert proxy.seen("GetSendQuota", A) >= 1 and proxy.seen("GetAccountSendingEnabled", A) >= 1
    assert proxy.seen("GetSendQuota", B) == 0
    cleared = time.time()
    proxy.clear()
    wait(
        daemon,
        invariants,
        lambda s: (
            s.value("aws_ses_account_production_access_enabled", region=A) == 1
            and success(s, B, "send_statistics") == 1
        ),
        5,
    )
    assert set(proxy.calls("GetSendStatistics", B, since=started, until=cleared)) == {1}


def test_values_stay_until_max_staleness_then_disappear(
    healthy: DaemonProcess, proxy: FaultProxy
) -> None:
    daemon = healthy
    invariants = Invariants(failing={(A, "account")})
    proxy.fault("GetAccount", Fault.EXPIRED_TOKEN, region=A)  # not retried: fails at once
    kept_while_failing = dropped = None
    for scrape in daemon.scrapes(MAX_STALENESS + 30):  # breaks once they are gone
        invariants.check(scrape)
        quota = scrape.value("aws_ses_daily_sending_quota", region=A)
        if success(scrape, A, "account") == 0 and quota is not None:
            kept_while_failing = kept_while_failing or scrape
        if quota is None:
            dropped = scrape
            break
    assert kept_while_failing is not None, "the last good values were not kept"
    assert dropped is not None, "the values never went stale"
    # Kept up to max_staleness: the scrape that dropped them was rendered after it.
    youngest, oldest = ages(dropped, A, "account")
    assert oldest >= MAX_STALENESS - CLOCK_SLACK, (youngest, oldest)
    # Everything of the account collector in A is gone, its self-metrics stay.
    assert not [
        k for k in dropped.samples if k[0].startswith("aws_ses_account_") and ("region", A) in k[1]
    ]
    assert dropped.value("aws_ses_smtp_endpoint_info", region=A) is None
    assert dropped.value("aws_ses_daily_sending_quota", region=B) == 50000
    assert success(dropped, A, "account") == 0
    proxy.clear()
    back = wait(
        daemon,
        invariants,
        lambda s: s.value("aws_ses_daily_sending_quota", region=A) is not None,
        5,
    )
    assert success(back, A, "account") == 1


# --- other operations -----------------------------------------------------------------


def test_get_metric_data_fault_fails_only_cloudwatch_and_counters_resume(
    healthy: DaemonProcess, proxy: FaultProxy
) -> None:
    daemon = healthy
    invariants = Invariants(failing={(A, "cloudwatch")})
    before = invariants.check(daemon.scrape())
    sends_before = before.value("aws_ses_sends_total", region=A)
    assert sends_before is not None
    proxy.fault("GetMetricData", Fault.EXPIRED_TOKEN, region=A)
    failed = wait(daemon, invariants, lambda s: success(s, A, "cloudwatch") == 0, 5)
    # CloudWatch speaks JSON 1.0 here; botocore reports the code of the query-compatible
    # x-amzn-query-error header (ExpiredToken), not the JSON __type (ExpiredTokenException).
    assert requests(failed, "cloudwatch", "GetMetricData", "ExpiredToken") > requests(
        before, "cloudwatch", "GetMetricData", "ExpiredToken"
    )
    proxy.clear()
    wait(daemon, invariants, lambda s: success(s, A, "cloudwatch") == 1, 5)
    # The world keeps sending: the counter carries on from where it was, upwards.
    grown = wait(
        daemon,
        invariants,
        lambda s: (s.value("aws_ses_sends_total", region=A) or 0) > sends_before,
        10,
    )
    assert grown.values("aws_ses_configuration_set_sends_total", region=A)


def test_a_hung_call_keeps_metrics_fast_and_the_rest_polling(
    healthy: DaemonProcess, proxy: FaultProxy
) -> None:
    """The proxy reads GetAccount and never answers. Until botocore's read timeout the
    poll neither fails nor succeeds: its success stays 1, its age grows past
    max_staleness and its values stay, because the poll that may replace them is in
    flight (the staleness rule); when its attempts time out it fails and they go. The other target
    and collectors carry on. Released, it completes."""
    daemon = healthy
    invariants = Invariants(failing={(A, "account")})
    proxy.fault("GetAccount", Fault.HANG, region=A)
    hung = wait(
        daemon,
        invariants,
        lambda s: success(s, A, "account") == 0,
        MAX_STALENESS + poll_bound() + 3,
    )
    assert invariants.kept_in_flight > 0  # the in-flight poll kept them past max_staleness
    assert hung.value("aws_ses_daily_sending_quota", region=A) is None
    assert hung.value("aws_ses_daily_sending_quota", region=B) == 50000
    released = time.time()
    proxy.clear()
    back = wait(
        daemon,
        invariants,
        lambda s: s.value("aws_ses_daily_sending_quota", region=A) is not None,
        5,
    )
    assert last_success(back, A, "account") > released
    assert success(back, A, "account") == 1


def test_the_read_timeout_the_daemon_is_given_is_the_one_its_clients_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon below runs with READ_TIMEOUT_ENV set, so that a hung call ends soon."""
    monkeypatch.setenv(READ_TIMEOUT_ENV, f"{HANG_READ_TIMEOUT:g}")
    assert aws.READ_TIMEOUT_ENV == READ_TIMEOUT_ENV
    assert aws.client_config().read_timeout == HANG_READ_TIMEOUT


def test_a_hung_call_times_out_and_counts_as_timeout(
    healthy: DaemonProcess, proxy: FaultProxy
) -> None:
    daemon = healthy
    invariants = Invariants(failing={(A, "account")})
    before = invariants.check(daemon.scrape())
    proxy.fault("GetAccount", Fault.HANG, region=A)
    budget = ATTEMPTS_PER_CALL * (HANG_READ_TIMEOUT + 4) + 2  # each attempt, then backoff
    failed = wait(daemon, invariants, lambda s: success(s, A, "account") == 0, budget)
    assert requests(failed, "sesv2", "GetAccount", "timeout") > requests(
        before, "sesv2", "GetAccount", "timeout"
    )
    proxy.clear()
    wait(daemon, invariants, lambda s: success(s, A, "account") == 1, 10)


def proxied_client(proxy: FaultProxy, service: str, region: str) -> Any:
    """A boto3 client with the exporter's botocore config, through the fault proxy."""
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=proxy.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=aws.client_config(),
    )


def test_a_failing_call_is_tried_three_times_in_total(proxy: FaultProxy) -> None:
    """Retries are bounded: a real botocore client with the exporter's config,
    against 500s, makes exactly 3 HTTP attempts for one call."""
    region = "ca-central-1"  # no target of the daemon polls it
    ses = proxied_client(proxy, "ses", region)
    proxy.fault("GetSendQuota", Fault.HTTP_500, region=region)
    try:
        with pytest.raises(ClientError):
            ses.get_send_quota()
    finally:
        proxy.clear("GetSendQuota", region)
    assert proxy.calls("GetSendQuota", region) == [ATTEMPTS_PER_CALL]


def test_list_configuration_sets_pages_end_to_end_through_the_proxy(proxy: FaultProxy) -> None:
    """The request the collector really sends (no PageSize) reaches moto unchanged, and
    NextToken paging is followed over HTTP: moto pages 100 sets at a time."""
    region = "ca-central-1"  # no target of the daemon polls it
    sesv2 = proxied_client(proxy, "sesv2", region)
    names = [f"paged-{i:03d}" for i in range(130)]
    for name in names:
        sesv2.create_configuration_set(ConfigurationSetName=name)
    before = proxy.seen("ListConfigurationSets", region)
    got = list_configuration_sets(sesv2)
    assert sorted(got) == names
    assert proxy.seen("ListConfigurationSets", region) - before == 2


# --- connection refused: a second endpoint that stops listening -----------------------


def test_connection_refused_fails_only_that_endpoints_target(
    moto: MotoServer, world: World, tmp_path: Path
) -> None:
    with FaultProxy(moto.url) as up, FaultProxy(moto.url) as down:
        daemon = DaemonProcess(
            daemon_config(("up", up.url, (A,)), ("down", down.url, (B,))), tmp_path
        )
        try:
            daemon.wait_ready()
            daemon.wait_for(all_ok, 15)
            invariants = Invariants(failing={(B, c) for c in COLLECTORS})
            before = invariants.check(daemon.scrape())
            down.stop_listening()
            failed = wait(
                daemon,
                invariants,
                lambda s: all(success(s, B, c) == 0 for c in COLLECTORS),
                15,
            )
            for operation in ("GetAccount", "GetSendStatistics"):
                service = "sesv2" if operation == "GetAccount" else "ses"
                assert requests(failed, service, operation, "connection_error") > requests(
                    before, service, operation, "connection_error"
                )
            # The healthy target keeps polling meanwhile (its next tick may be a second away).
            moved_on = wait(
                daemon,
                invariants,
                lambda s: last_success(s, A, "account") > last_success(before, A, "account"),
                5,
            )
            assert success(moved_on, A, "account") == 1
            down.start()  # the same port again
            wait(daemon, invariants, all_ok, 10)
            assert daemon.watch.decreases == []
            assert "Traceback" not in daemon.output()
        finally:
            daemon.stop()


def test_daemon_survived_every_fault(daemon: DaemonProcess) -> None:
    assert daemon.proc.poll() is None
    assert daemon.watch.decreases == []
    output = daemon.output()
    assert "Traceback" not in output
    assert 'msg="poll failed"' in output
    assert daemon.request("/-/healthy").status == 200
    assert daemon.stop() == 0
