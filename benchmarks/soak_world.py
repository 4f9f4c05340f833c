"""The soak's world: an AWS Organization in moto, SES traffic with a ground truth, the
daemon behind TLS and basic auth, and slow clients.

* ``Organization``: moto's organization (the caller's account, 123456789012, is its
  management account) with member accounts reached through the role ``ses-exporter``; each
  account gets, in every region of ``REGIONS``, the configuration sets of ``SETS`` and
  ``QUIET_SET``, a verified sender, and one zero datapoint a day old per CloudWatch series
  SES would have, so ListMetrics lists every series from the daemon's first poll on.
  ``add`` creates an account while the daemon runs; ``remove`` takes it out of the
  organization (RemoveAccountFromOrganization: ListAccounts no longer lists it).
* ``TRAFFIC``: what ``late_traffic.Publisher`` sends per target, published to CloudWatch
  (straight to moto, never through the fault proxy) 30 s to 2 min after the minute.
* ``SecureDaemon``: the real daemon with ``--web.config.file`` (TLS and basic auth); its
  requests go over HTTPS with the password.
* ``slow_clients``: a burst of connections that never finish a request: half send
  nothing, half finish the TLS handshake and trickle a request line a byte at a time.
"""

from __future__ import annotations

import http.client
import itertools
import select
import socket
import ssl
import threading
import time
from base64 import b64encode
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from benchmarks import world
from benchmarks.late_traffic import Traffic
from tests.daemon import DaemonProcess
from tests.orgworld import create_account
from tests.pki import make_pki

REGIONS = ("us-east-1", "eu-west-1")
SETS = ("transactional", "marketing")
QUIET_SET = "quiet"  # no traffic: the reloads exclude and include it
SENDER = "sender@example.com"
ROLE_NAME = "ses-exporter"
MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account: the testing keys act as it
# CloudWatch metric -> most events of that kind per set (and per no-set mail) per tick.
METRICS: dict[str, int] = {
    "Send": 4,
    "Delivery": 4,
    "Bounce": 1,
    "Complaint": 1,
    "Reject": 1,
    "Rendering Failure": 1,
    "Open": 3,
    "Click": 2,
    "DeliveryDelay": 1,
    "Subscription": 1,
}
LATE = (30.0, 120.0)
USER = "prometheus"
PASSWORD = "soak-password"

TRAFFIC = Traffic(SETS, METRICS, LATE)
RETRIES = {"max_attempts": 5}  # moto hiccups under load


def moto_client(url: str, service: str, region: str, **credentials: str) -> Any:
    return world.moto_client(url, service, region, RETRIES, **credentials)


class Organization:
    """The organization in moto and its accounts' resources (see the module doc)."""

    def __init__(self, moto_url: str):
        self.url = moto_url
        self.organizations = moto_client(moto_url, "organizations", "us-east-1")
        organization = self.organizations.create_organization(FeatureSet="ALL")["Organization"]
        if organization["MasterAccountId"] != MANAGEMENT_ACCOUNT:
            raise RuntimeError(f"moto's management account is {organization['MasterAccountId']}")
        self.root_id = self.organizations.list_roots()["Roots"][0]["Id"]
        self.sts = moto_client(moto_url, "sts", "us-east-1")
        self.members: list[str] = [MANAGEMENT_ACCOUNT]
        self._names = itertools.count()
        self._lock = threading.Lock()

    def credentials(self, account_id: str) -> dict[str, str]:
        """Keys for ``account_id`` (moto never denies AssumeRole)."""
        if account_id == MANAGEMENT_ACCOUNT:
            return {}
        keys = self.sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{ROLE_NAME}", RoleSessionName="soak-world"
        )["Credentials"]
        return {
            "aws_access_key_id": keys["AccessKeyId"],
            "aws_secret_access_key": keys["SecretAccessKey"],
            "aws_session_token": keys["SessionToken"],
        }

    def client(self, account_id: str, service: str, region: str) -> Any:
        return moto_client(self.url, service, region, **self.credentials(account_id))

    def add(self) -> str:
        """A new member account, seeded in every region; returns its id."""
        with self._lock:
            name = f"mail-{next(self._names):03d}"
            account_id = create_account(self.organizations, name, self.root_id)
            self.members.append(account_id)
        self.seed(account_id)
        return account_id

    def add_many(self, n: int, workers: int = 6) -> list[str]:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda _: self.add(), range(n)))

    def remove(self, account_id: str) -> None:
        self.organizations.remove_account_from_organization(AccountId=account_id)
        with self._lock:
            self.members.remove(account_id)

    def seed(self, account_id: str) -> None:
        keys = self.credentials(account_id)
        for region in REGIONS:
            sesv2 = moto_client(self.url, "sesv2", region, **keys)
            for name in (*SETS, QUIET_SET):
                sesv2.create_configuration_set(
                    ConfigurationSetName=name,
                    ReputationOptions={"ReputationMetricsEnabled": True},
                )
            moto_client(self.url, "ses", region, **keys).verify_email_identity(EmailAddress=SENDER)
            TRAFFIC.list_every_series(moto_client(self.url, "cloudwatch", region, **keys))


# --- the daemon behind TLS and basic auth ------------------------------------------------


@dataclass(frozen=True)
class WebSecurity:
    web_config: Path
    context: ssl.SSLContext
    authorization: str  # the Authorization header's value

    @classmethod
    def make(cls, directory: Path) -> WebSecurity:
        (directory / "pki").mkdir(parents=True, exist_ok=True)
        pki = make_pki(directory / "pki")
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
        web_config = directory / "web-config.yml"
        web_config.write_text(
            "tls_server_config:\n"
            f"  cert_file: {pki.server_cert}\n"
            f"  key_file: {pki.server_key}\n"
            f"basic_auth_users:\n  {USER}: {hashed}\n"
        )
        context = ssl.create_default_context(cafile=str(pki.ca))
        token = b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return cls(web_config, context, f"Basic {token}")


class SecureDaemon(DaemonProcess):
    """The daemon with TLS and basic auth; every request over HTTPS with the password."""

    def __init__(
        self,
        config: str,
        workdir: Path,
        security: WebSecurity,
        env: Mapping[str, str] | None = None,
    ):
        self.security = security
        super().__init__(
            config, workdir, f"--web.config.file={security.web_config}", log_level="info", env=env
        )

    def connect(self, timeout: float) -> tuple[http.client.HTTPConnection, dict[str, str]]:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, timeout=timeout, context=self.security.context
        )
        return conn, {"Authorization": self.security.authorization}


# --- slow clients ----------------------------------------------------------------------


@dataclass
class SlowBurst:
    opened: int = 0
    closed_by_server: int = 0  # the server ended the connection (its deadlines)
    still_open: int = 0  # open when the burst gave up waiting
    seconds_to_close: list[float] = field(default_factory=list)


def slow_clients(port: int, context: ssl.SSLContext, n: int, hold: float) -> SlowBurst:
    """``n`` connections that never finish a request, held up to ``hold`` s each: half
    send nothing (a TLS handshake that never starts), half trickle a request line a byte
    a second after the handshake. Returns how the server ended them."""
    burst = SlowBurst()
    lock = threading.Lock()

    def one(i: int) -> None:
        started = time.monotonic()
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=hold)
        except OSError:
            return  # refused: the connection limit; counted as never opened
        with lock:
            burst.opened += 1
        closed = False
        try:
            if i % 2:
                conn: socket.socket = context.wrap_socket(raw, server_hostname="127.0.0.1")
                for byte in itertools.cycle(b"GET /metrics HTTP/1.1\r\nX-Slow: "):
                    if time.monotonic() - started > hold:
                        break
                    conn.sendall(bytes([byte]))
                    if select.select([conn], [], [], 1.0)[0]:
                        conn.recv(4096)  # the server's answer (408) or its end of stream
                        closed = True
                        break
            else:
                conn = raw
                conn.settimeout(hold)
                closed = conn.recv(1) == b""
        except (OSError, ssl.SSLError):
            closed = True
        finally:
            raw.close()
        with lock:
            if closed:
                burst.closed_by_server += 1
                burst.seconds_to_close.append(time.monotonic() - started)
            else:
                burst.still_open += 1

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(one, range(n)))
    return burst
