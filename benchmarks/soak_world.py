"""The soak's world: an AWS Organization in moto, SES traffic with a ground truth, the
daemon behind TLS and basic auth, and slow clients.

* ``Organization``: moto's organization (the caller's account, 123456789012, is its
  management account) with member accounts reached through the role ``ses-exporter``; each
  account gets, in every region of ``REGIONS``, the configuration sets of ``SETS`` and
  ``QUIET_SET``, a verified sender, and one zero datapoint a day old per CloudWatch series
  SES would have, so ListMetrics lists every series from the daemon's first poll on.
  ``add`` creates an account while the daemon runs; ``remove`` takes it out of the
  organization (RemoveAccountFromOrganization: ListAccounts no longer lists it).
* ``Publisher``: SES traffic as ``ground_truth.py`` plays it, for many targets: every
  ``TICK_SECONDS`` a random number of events per metric, configuration set and target;
  each minute's datapoints are published to CloudWatch (straight to moto, never through
  the fault proxy) ``late`` after the minute, 30 % in two parts (an upward revision).
  ``truth`` is the events sent per (account, region, metric, set or None: account-wide).
  ``pause`` stops sending (what was sent is still published), ``idle`` says everything
  sent is published.
* ``SecureDaemon``: the real daemon with ``--web.config.file`` (TLS and basic auth); its
  requests go over HTTPS with the password.
* ``slow_clients``: a burst of connections that never finish a request: half send
  nothing, half finish the TLS handshake and trickle a request line a byte at a time.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import math
import random
import select
import socket
import ssl
import threading
import time
from base64 import b64encode
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import boto3
from botocore.config import Config

from benchmarks.ground_truth import ACCOUNT_WIDE, datum
from tests.daemon import DaemonProcess
from tests.orgworld import create_account
from tests.pki import make_pki

REGIONS = ("us-east-1", "eu-west-1")
NAMESPACE = "AWS/SES"
SET_DIMENSION = "ses:configuration-set"
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
TICK_SECONDS = 5.0
PERIOD = 60.0
SPLIT_CHANCE = 0.3
USER = "prometheus"
PASSWORD = "soak-password"

Target = tuple[str, str]  # (account id, region)
Key = tuple[str, str, str, str | None]  # (account id, region, metric, set or None)


def moto_client(url: str, service: str, region: str, **credentials: str) -> Any:
    keys = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=url,
        # moto's server fails on botocore's gzip-compressed PutMetricData bodies.
        config=Config(disable_request_compression=True, retries={"max_attempts": 5}),
        **keys,
    )


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
        day_ago = math.floor(time.time() / PERIOD) * PERIOD - 86_400
        series = [(m, s) for m in METRICS for s in SETS] + [(m, None) for m in ACCOUNT_WIDE]
        for region in REGIONS:
            sesv2 = moto_client(self.url, "sesv2", region, **keys)
            for name in (*SETS, QUIET_SET):
                sesv2.create_configuration_set(
                    ConfigurationSetName=name,
                    ReputationOptions={"ReputationMetricsEnabled": True},
                )
            moto_client(self.url, "ses", region, **keys).verify_email_identity(EmailAddress=SENDER)
            moto_client(self.url, "cloudwatch", region, **keys).put_metric_data(
                Namespace=NAMESPACE, MetricData=[datum((m, s), day_ago, 0) for m, s in series]
            )


@dataclass(order=True)
class _Due:
    when: float
    seq: int
    target: Target = field(compare=False)
    minute: float = field(compare=False)
    metric: str = field(compare=False)
    configuration_set: str | None = field(compare=False)
    value: int = field(compare=False)


class Publisher(threading.Thread):
    """SES sending and CloudWatch publishing late, for ``targets``; see the module doc."""

    def __init__(
        self,
        clients: dict[Target, Any],
        late: tuple[float, float],
        rng: random.Random,
    ):
        super().__init__(daemon=True, name="publisher")
        self.clients = clients
        self.late = late
        self.rng = rng
        self.truth: dict[Key, int] = defaultdict(int)
        self.datapoints = 0
        self.revisions = 0
        self.errors = 0
        self.last_publication = 0.0
        self._open: dict[float, dict[Key, int]] = {}  # minute -> events not yet scheduled
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._sending = threading.Event()
        self._sending.set()
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def pause(self) -> None:
        self._sending.clear()

    def resume(self) -> None:
        self._sending.set()

    def idle(self) -> bool:
        """Nothing sent waits to be published (after ``pause``: all is in CloudWatch)."""
        with self._lock:
            return not self._sending.is_set() and not self._open and not self._due

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=60)

    def run(self) -> None:
        while not self._stopping.is_set():
            now = time.time()
            with self._lock:
                if self._sending.is_set():
                    self._send(now)
                self._schedule(now)
                due = self._take_due(now)
            self._publish(due)
            self._stopping.wait(TICK_SECONDS)

    def _send(self, now: float) -> None:
        minute = math.floor(now / PERIOD) * PERIOD
        events = self._open.setdefault(minute, defaultdict(int))
        for account_id, region in self.clients:
            for metric, most in METRICS.items():
                account_wide = 0
                for name in SETS:
                    n = self.rng.randint(0, most)
                    events[(account_id, region, metric, name)] += n
                    account_wide += n
                if metric in ACCOUNT_WIDE:
                    account_wide += self.rng.randint(0, most)  # mail sent without a set
                    events[(account_id, region, metric, None)] += account_wide

    def _schedule(self, now: float) -> None:
        """Each datapoint of each ended minute: due after a delay, maybe in two parts."""
        low, high = self.late
        for minute in [m for m in self._open if now >= m + PERIOD]:
            by_scope: dict[tuple[Target, str | None], list[tuple[str, int]]] = defaultdict(list)
            for (account_id, region, metric, name), value in self._open.pop(minute).items():
                self.truth[(account_id, region, metric, name)] += value
                if value:
                    by_scope[((account_id, region), name)].append((metric, value))
            for (target, name), items in by_scope.items():
                first = minute + PERIOD + self.rng.uniform(low, high)
                split = self.rng.random() < SPLIT_CHANCE
                rest = self.rng.uniform(first, minute + PERIOD + high)
                for metric, value in items:
                    part = self.rng.randint(1, value - 1) if split and value >= 2 else value
                    self._push(first, target, minute, metric, name, part)
                    if part < value:
                        self._push(rest, target, minute, metric, name, value - part)
                        self.revisions += 1

    def _push(
        self, when: float, target: Target, minute: float, metric: str, name: str | None, n: int
    ) -> None:
        heapq.heappush(self._due, _Due(when, next(self._seq), target, minute, metric, name, n))

    def _take_due(self, now: float) -> list[_Due]:
        due: list[_Due] = []
        while self._due and self._due[0].when <= now:
            due.append(heapq.heappop(self._due))
        return due

    def _publish(self, due: Sequence[_Due]) -> None:
        by_target: dict[Target, list[_Due]] = defaultdict(list)
        for d in due:
            by_target[d.target].append(d)
        for target, items in by_target.items():
            for first in range(0, len(items), 1000):  # PutMetricData takes at most 1,000
                batch = items[first : first + 1000]
                try:
                    self.clients[target].put_metric_data(
                        Namespace=NAMESPACE,
                        MetricData=[
                            datum((d.metric, d.configuration_set), d.minute, d.value) for d in batch
                        ],
                    )
                except Exception:  # a moto hiccup: publish it at the next tick
                    self.errors += 1
                    with self._lock:
                        for d in batch:
                            self._push(
                                d.when, d.target, d.minute, d.metric, d.configuration_set, d.value
                            )
                    continue
                self.datapoints += len(batch)
                self.last_publication = time.time()


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

    def __init__(self, config: str, workdir: Path, security: WebSecurity):
        self.security = security
        super().__init__(
            config, workdir, f"--web.config.file={security.web_config}", log_level="info"
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
