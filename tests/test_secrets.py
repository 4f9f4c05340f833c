"""No secret in logs, metrics or pages: a real run that has every kind of secret at hand.

The daemon runs at ``--log.level=debug`` with an access key, a secret key and a session
token in its environment, and two accounts behind the fault proxy: one using those
credentials directly, one assuming a role with an external ID (moto's STS answers with
temporary credentials, which the proxy records). Faults then make it log errors that
carry secrets the way AWS and botocore do:

* IncompleteSignature messages quote the request back (Authorization header with the
  access key id, the session token, AssumeRole's form body with the ExternalId);
* an AssumeRole answer cut short: botocore's parse error quotes the body, temporary
  credentials and all;
* temporary credentials that expire in 11 minutes, so botocore refreshes them on every
  use; the refresh failing is logged by botocore itself, with a traceback;
* AccessDenied, ExpiredToken; and a reload with a broken config that holds the external ID.

Everything the run printed or served is then searched for every secret, and for every
16-character piece of each, raw, URL-encoded and JSON-escaped.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.daemon import DaemonProcess, fake_aws_env
from tests.faultproxy import Fault, FaultProxy, MotoServer, World

pytestmark = pytest.mark.process

DIRECT, ASSUMED = "us-east-1", "eu-west-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/ses-exporter"
PIECE = 16
CREDENTIAL_LIFETIME = timedelta(minutes=11)  # inside botocore's 15-minute advisory refresh


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass(frozen=True)
class Secrets:
    access_key_id: str
    secret_access_key: str
    session_token: str
    external_id: str

    @classmethod
    def fresh(cls) -> Secrets:
        upper = string.ascii_uppercase + string.digits
        b64 = string.ascii_letters + string.digits + "+/"
        return cls(
            access_key_id="AKIA" + _random(upper, 16),
            secret_access_key=_random(b64, 40),
            session_token="IQoJb3JpZ2luX2VjE" + _random(b64, 300) + "==",
            external_id="ext-" + _random(string.ascii_letters + string.digits + "-_", 24),
        )


def config(endpoint: str, external_id: str, log_every: str = "1s") -> str:
    every = f"interval: {log_every}, max_staleness: 4s"
    return f"""\
accounts:
  - name: direct
    regions: [{DIRECT}]
    endpoint_url: {endpoint}
    ses_requests_per_second: 50
  - name: assumed
    regions: [{ASSUMED}]
    endpoint_url: {endpoint}
    role_arn: {ROLE_ARN}
    external_id: "{external_id}"
    ses_requests_per_second: 50
collectors:
  account: {{{every}}}
  send_statistics: {{{every}}}
  cloudwatch: {{{every}, period: 60s, lookback: 10m}}
  configuration_sets: {{{every}}}
"""


def assumed_credentials(answers: list[bytes]) -> set[str]:
    """AccessKeyId, SecretAccessKey and SessionToken of every AssumeRole answer."""
    found = set()
    for body in answers:
        for tag in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
            found |= set(re.findall(rf"<{tag}>([^<]+)</{tag}>", body.decode()))
    return found


def short_lived(body: bytes) -> bytes:
    expiry = (datetime.now(UTC) + CREDENTIAL_LIFETIME).strftime("%Y-%m-%dT%H:%M:%SZ")
    return re.sub(
        rb"<Expiration>[^<]*</Expiration>", f"<Expiration>{expiry}</Expiration>".encode(), body
    )


def forms(secret: str) -> set[str]:
    """The secret as it may be written: raw, URL-encoded (both ways), JSON-escaped."""
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
    }


def leaks(text: str, named: dict[str, str]) -> list[str]:
    """Names of the secrets of which any PIECE-character piece, in any form, is in text."""
    found = []
    for name, secret in named.items():
        for form in forms(secret):
            pieces = {form[i : i + PIECE] for i in range(max(len(form) - PIECE, 0) + 1)}
            if any(piece in text for piece in pieces):
                found.append(name)
                break
    return found


@dataclass
class Run:
    secrets: Secrets
    proxy: FaultProxy
    output: str
    served: dict[str, str]  # what each HTTP request got back, headers and body


def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _logged_cut_answer(output: str) -> bool:
    """A cut-short answer reads as a parse error or as a broken connection, depending on
    where the cut falls."""
    return "ResponseParserError" in output or "Connection was closed" in output


def exercise(daemon: DaemonProcess, proxy: FaultProxy, s: Secrets) -> dict[str, str]:
    """Drives the faults and collects every page; returns {request: response}."""
    served: dict[str, str] = {}

    def fetch(path: str, method: str = "GET") -> None:
        response = daemon.request(path, method=method)
        served[f"{method} {path} #{len(served)}"] = f"{response.headers}\n{response.body}"

    # Waits are for what the daemon did (seen by the proxy, written in its log); their
    # limits only stop a hang, so they are long for a loaded machine.
    # 1. AssumeRole quotes the request back (form body with the ExternalId, the base
    #    credentials' Authorization header and session token), then is cut short: until
    #    the cut answer is logged (botocore retries a broken connection, so the proxy
    #    seeing the calls is not enough: a retry after the fault is cleared succeeds).
    until(lambda: proxy.seen("AssumeRole") >= 2, 120)
    fetch("/")
    proxy.fault("AssumeRole", Fault.CUT_SHORT)
    until(lambda: proxy.seen("AssumeRole") >= 4, 120)
    until(lambda: _logged_cut_answer(daemon.output()), 120)
    fetch("/")
    # 2. AssumeRole works, with credentials botocore wants to refresh at every use.
    proxy.clear("AssumeRole")
    until(lambda: proxy.seen("GetAccount", ASSUMED) >= 2, 120)
    # 3. The refresh fails, quoting the request; every other call fails one way or another.
    proxy.fault("AssumeRole", Fault.ECHO_REQUEST)
    for operation in ("GetAccount", "ListConfigurationSets"):
        proxy.fault(operation, Fault.ECHO_REQUEST)
    proxy.fault("GetSendStatistics", Fault.ACCESS_DENIED)
    proxy.fault("GetMetricData", Fault.EXPIRED_TOKEN)
    proxy.fault("GetConfigurationSet", Fault.CUT_SHORT)
    seen = proxy.seen("GetAccount")
    until(lambda: proxy.seen("GetAccount") >= seen + 4, 120)
    for path in ("/metrics", "/", "/status", "/-/ready", "/-/healthy", "/nope", "/-/reload"):
        fetch(path)
    # 4. A reload with a broken config that holds the external ID, then the good one.
    good = daemon.config_file.read_text()
    daemon.config_file.write_text(good.replace(f'"{s.external_id}"', f'"{s.external_id}'))
    fetch("/-/reload", "POST")
    daemon.config_file.write_text(good.replace("  - name: assumed", "  - nme: assumed"))
    fetch("/-/reload", "POST")
    daemon.config_file.write_text(good)
    fetch("/-/reload", "POST")
    fetch("/metrics")
    fetch("/")
    return served


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        World(server, (DIRECT, ASSUMED)).seed()
        yield server


@pytest.fixture(scope="module", params=["logfmt", "json"])
def run(
    request: pytest.FixtureRequest, moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    s = Secrets.fresh()
    with FaultProxy(moto.url, capture=frozenset({"AssumeRole"})) as proxy:
        proxy.rewrite("AssumeRole", short_lived)
        proxy.fault("AssumeRole", Fault.ECHO_REQUEST)
        env = fake_aws_env(
            AWS_ACCESS_KEY_ID=s.access_key_id,
            AWS_SECRET_ACCESS_KEY=s.secret_access_key,
            AWS_SESSION_TOKEN=s.session_token,
        )
        daemon = DaemonProcess(
            config(proxy.url, s.external_id),
            tmp_path_factory.mktemp(f"secrets-{request.param}"),
            f"--log.format={request.param}",
            env=env,
        )
        try:
            served = exercise(daemon, proxy, s)
        finally:
            daemon.stop()
        yield Run(s, proxy, daemon.output(), served)


def test_the_run_met_every_secret_and_logged_the_errors(run: Run) -> None:
    """The secrets did reach the wire and the errors the log: the search is not vacuous."""
    assert run.proxy.access_keys(DIRECT) == {run.secrets.access_key_id}
    assumed_keys = run.proxy.access_keys(ASSUMED) - {run.secrets.access_key_id}
    assert assumed_keys and all(k.startswith("ASIA") for k in assumed_keys)
    assert assumed_credentials(run.proxy.captured("AssumeRole"))
    assert _logged_cut_answer(run.output)  # the cut-short AssumeRole answer
    for expected in (
        "IncompleteSignature",
        "AccessDenied",
        "ExpiredToken",
        "Refreshing temporary credentials failed",
        "config reload failed",
        "<redacted>",
    ):
        assert expected in run.output, expected
    assert "Traceback" in run.output  # botocore's own warning, with exc_info
    assert any("&lt;redacted&gt;" in page for page in run.served.values())  # /status


def test_no_secret_in_logs_metrics_or_pages(run: Run) -> None:
    named = {
        "AWS_ACCESS_KEY_ID": run.secrets.access_key_id,
        "AWS_SECRET_ACCESS_KEY": run.secrets.secret_access_key,
        "AWS_SESSION_TOKEN": run.secrets.session_token,
        "external_id": run.secrets.external_id,
    }
    for index, value in enumerate(sorted(assumed_credentials(run.proxy.captured("AssumeRole")))):
        named[f"assumed credential #{index}"] = value
    assert leaks(run.output, named) == [], "in the log"
    for request, page in run.served.items():
        assert leaks(page, named) == [], request


def test_redaction_keeps_aws_messages_readable(run: Run) -> None:
    assert "ExpiredToken: The security token included in the request is expired" in run.output


def test_the_leak_search_finds_a_piece_of_a_secret_in_any_form() -> None:
    secret = "AbC/dEf+GhI=jKl/MnO+pQr"
    named = {"s": secret}
    assert leaks(f"...{secret[2:20]}...", named) == ["s"]
    assert leaks(urllib.parse.quote(secret, safe="")[5:30], named) == ["s"]
    assert leaks(secret[: PIECE - 1], named) == []
