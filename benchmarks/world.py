"""The benchmark's world: a moto server seeded with N configuration sets, and the real daemon.

* ``MotoServer``: ``moto_server.py`` in a child process, on a free port of 127.0.0.1.
* ``seed``: with boto3 over HTTP, N sesv2 configuration sets (reputation metrics on) and
  one AWS/SES datapoint a minute ago for each metric of ``SET_METRICS`` per set and of
  ``ACCOUNT_METRICS`` without dimensions, so that ListMetrics discovers them all.
* ``seed_accounts``: for ``scale.py``, N accounts reached by assuming a role (moto's STS
  answers AssumeRole with keys that act as the role's account), each with
  ``SETS_PER_REGION`` configuration sets and their datapoints in every region of
  ``REGIONS``; ``accounts_config`` lists them under ``accounts:`` with their ``role_arn``.
* ``seed_vdm``: for the VDM phase of ``run.py``, daily Virtual Deliverability Manager
  counts per mailbox provider (``isp_names``) and configuration set, which the moto
  server (started with ``vdm_isps``) answers sesv2 BatchGetMetricData from;
  ``vdm_config`` runs only the ``vdm`` collector against it.
* ``Daemon``: the real ``ses-exporter`` command (``python -m ses_exporter``) in a child
  process, configured by ``daemon_config``; ``Scraper`` GETs its /metrics over keep-alive.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
import botocore.session
from botocore.config import Config

from ses_exporter.collectors import REGISTRY

if TYPE_CHECKING:
    from ses_exporter.demo.vdm import VdmStore

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
SET_METRICS = (
    "Send",
    "Delivery",
    "Bounce",
    "Complaint",
    "Reputation.BounceRate",
    "Reputation.ComplaintRate",
)
ACCOUNT_METRICS = SET_METRICS
VALUES = {"Reputation.BounceRate": 0.01, "Reputation.ComplaintRate": 0.0002}
INTERVAL_SECONDS = 30  # every collector; leaves room for a quiet /metrics measurement
SES_REQUESTS_PER_SECOND = 1000.0  # real SES allows about 1; here only to be fast
PUBLISHED_AGO = 60.0  # seconds: the seeded datapoints' age when they are published
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")  # of every account in scale.py
SETS_PER_REGION = 2
FIRST_ACCOUNT_ID = 200_000_000_000  # clear of moto's default account, 123456789012
# VDM: the exporter's default mailbox providers first, then generated names (VDM's ISP
# dimension takes [A-Za-z0-9_-]); one provider the daemon is not told of, so the account
# total exceeds the listed providers' sum, as in AWS.
VDM_ISPS = ("Gmail", "Hotmail", "Yahoo", "AOL", "iCloud")
VDM_UNLISTED_ISP = "GMX"
VDM_DAYS = 4  # today and the 3 days the collector's lookback (3d, the default) re-reads
VDM_REQUESTS_PER_SECOND = 16.0  # BatchGetMetricData: AWS allows 16 calls a second
# One set's daily counts per provider (DELIVERY_* are the deliveries: every email tracked,
# every provider with a feedback loop).
VDM_DAILY = {
    "SEND": 200,
    "DELIVERY": 194,
    "PERMANENT_BOUNCE": 4,
    "TRANSIENT_BOUNCE": 2,
    "COMPLAINT": 1,
    "OPEN": 60,
    "CLICK": 12,
    "DELIVERY_OPEN": 194,
    "DELIVERY_CLICK": 194,
    "DELIVERY_COMPLAINT": 194,
}


def child_env() -> dict[str, str]:
    """This environment without AWS settings, plus fake credentials for moto."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}


class _Child:
    proc: subprocess.Popen[bytes]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def moto_client(
    url: str,
    service: str,
    region: str,
    retries: dict[str, Any] | None = None,
    **credentials: str,
) -> Any:
    """A boto3 client of the moto server at ``url``; the testing keys unless ``credentials``."""
    keys = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=url,
        # moto's server fails on botocore's gzip-compressed PutMetricData bodies.
        config=Config(disable_request_compression=True, retries=retries),
        **keys,
    )


class MotoServer(_Child):
    """``vdm_isps``/``vdm_sets`` > 0: the server answers BatchGetMetricData from counts
    seeded for that many providers and configuration sets (``seed_vdm``), and GetAccount
    says VDM is enabled."""

    def __init__(self, vdm_isps: int = 0, vdm_sets: int = 0) -> None:
        vdm = [f"--vdm-isps={vdm_isps}", f"--vdm-sets={vdm_sets}"] if vdm_isps else []
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "moto_server.py"), *vdm],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # werkzeug logs every request there
            env=child_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()
        if line[:1] != ["ready"]:
            raise RuntimeError("moto server did not start")
        self.url = f"http://127.0.0.1:{line[1]}"

    def client(self, service: str) -> Any:
        return moto_client(self.url, service, REGION)


def set_names(n: int) -> list[str]:
    return [f"set-{i:05d}" for i in range(n)]


def identity_names(n: int) -> list[str]:
    return [f"mail-{i:05d}.example.com" for i in range(n)]


def isp_names(n: int) -> list[str]:
    """``n`` mailbox providers: ``VDM_ISPS``, then isp05, isp06, ..."""
    generated = (f"isp{i:02d}" for i in range(len(VDM_ISPS), n))
    return [*VDM_ISPS, *generated][:n]


def create_sets(moto: MotoServer, n: int) -> None:
    sesv2 = moto.client("sesv2")
    for name in set_names(n):
        sesv2.create_configuration_set(
            ConfigurationSetName=name, ReputationOptions={"ReputationMetricsEnabled": True}
        )


def seed(moto: MotoServer, n: int) -> int:
    """Creates the sets, as many domain identities and the datapoints; returns the number
    of metrics ListMetrics will list."""
    when = datetime.now(UTC) - timedelta(seconds=PUBLISHED_AGO)  # before the slow part
    create_sets(moto, n)
    sesv2 = moto.client("sesv2")
    for name in identity_names(n):
        sesv2.create_email_identity(EmailIdentity=name)
    data = _datapoints(set_names(n), when)
    cloudwatch = moto.client("cloudwatch")
    for first in range(0, len(data), 1000):  # PutMetricData takes at most 1,000 a call
        cloudwatch.put_metric_data(Namespace="AWS/SES", MetricData=data[first : first + 1000])
    return len(data)


def seed_vdm(store: VdmStore, isps: int, sets: int, now: float) -> None:
    """``VDM_DAILY`` for each of ``VDM_DAYS`` days up to ``now``, per set of
    ``set_names(sets)`` and provider of ``isp_names(isps)`` plus ``VDM_UNLISTED_ISP``, and
    as much again per provider for mail sent without a configuration set."""
    providers = [*isp_names(isps), VDM_UNLISTED_ISP]
    for day in range(VDM_DAYS):
        when = now - day * 86_400
        for configuration_set in [*set_names(sets), None]:
            for isp in providers:
                for metric, count in VDM_DAILY.items():
                    store.add(when, metric, count, isp=isp, configuration_set=configuration_set)


def account_ids(n: int) -> list[str]:
    return [f"{FIRST_ACCOUNT_ID + i:012d}" for i in range(n)]


def role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/ses-exporter"


def seed_accounts(moto: MotoServer, ids: Sequence[str], workers: int = 8) -> int:
    """In each account, assumed like the daemon does, and each region of ``REGIONS``:
    ``SETS_PER_REGION`` sets and a datapoint a minute ago for each metric of
    ``SET_METRICS`` per set and of ``ACCOUNT_METRICS``; returns the metrics per target."""
    # One botocore session for every client: its loader reads each service model once.
    session = botocore.session.get_session()
    lock = threading.Lock()  # creating clients is not thread-safe; using them is
    config = Config(disable_request_compression=True)

    def client(service: str, region: str, **credentials: str) -> Any:
        with lock:
            return session.create_client(
                service, region_name=region, endpoint_url=moto.url, config=config, **credentials
            )

    sts = client("sts", REGION, **_fake_keys())
    when = datetime.now(UTC) - timedelta(minutes=1)
    names = set_names(SETS_PER_REGION)
    data = _datapoints(names, when)

    def seed_one(account_id: str) -> None:
        answer = sts.assume_role(RoleArn=role_arn(account_id), RoleSessionName="seed")
        keys = answer["Credentials"]
        credentials = {
            "aws_access_key_id": keys["AccessKeyId"],
            "aws_secret_access_key": keys["SecretAccessKey"],
            "aws_session_token": keys["SessionToken"],
        }
        for region in REGIONS:
            sesv2 = client("sesv2", region, **credentials)
            for name in names:
                sesv2.create_configuration_set(
                    ConfigurationSetName=name,
                    ReputationOptions={"ReputationMetricsEnabled": True},
                )
            cloudwatch = client("cloudwatch", region, **credentials)
            cloudwatch.put_metric_data(Namespace="AWS/SES", MetricData=data)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(seed_one, ids))  # list(): re-raises the first failure
    return len(data)


def _fake_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _datapoints(names: Sequence[str], when: datetime) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = [
        {"MetricName": metric, "Timestamp": when, "Value": VALUES.get(metric, 10.0)}
        for metric in ACCOUNT_METRICS
    ]
    for name in names:
        dimensions = [{"Name": "ses:configuration-set", "Value": name}]
        data += [
            {
                "MetricName": m,
                "Dimensions": dimensions,
                "Timestamp": when,
                "Value": VALUES.get(m, 1.0),
            }
            for m in SET_METRICS
        ]
    return data


def accounts_config(endpoint_url: str, ids: Sequence[str], intervals: dict[str, int]) -> str:
    """Every account of ``ids`` reached through its role, in ``REGIONS``; every collector
    on, at ``intervals`` (collector -> seconds)."""
    lines = ["accounts:"]
    for account_id in ids:
        lines += [
            f"  - role_arn: {role_arn(account_id)}",
            f"    endpoint_url: {endpoint_url}",
            f"    regions: [{', '.join(REGIONS)}]",
            f"    ses_requests_per_second: {SES_REQUESTS_PER_SECOND}",
        ]
    lines.append("collectors:")
    lines += [f"  {name}: {{interval: {seconds}s}}" for name, seconds in intervals.items()]
    return "\n".join(lines) + "\n"


def daemon_config(endpoint_url: str) -> str:
    every = f"{INTERVAL_SECONDS}s"
    return f"""\
accounts:
  - name: bench
    regions: [{REGION}]
    endpoint_url: {endpoint_url}
    ses_requests_per_second: {SES_REQUESTS_PER_SECOND}
collectors:
  account: {{enabled: false}}
  send_statistics: {{interval: {every}}}
  cloudwatch: {{interval: {every}}}  # period 5m, lookback 3h (the defaults)
  configuration_sets: {{interval: {every}}}
  identities: {{interval: {every}}}
  dedicated_ips: {{interval: {every}}}
"""


def vdm_config(endpoint_url: str, isps: int) -> str:
    """Only the ``vdm`` collector (so its GetAccount and ListConfigurationSets are the
    only ones), per configuration set, at AWS's 16 calls a second, every 30 s: a poll
    lasts longer, so the ticks during it are skipped and the next poll starts within 30 s
    of its end."""
    others = [f"  {name}: {{enabled: false}}" for name in REGISTRY if name != "vdm"]
    return (
        "\n".join(
            [
                "accounts:",
                "  - name: bench",
                f"    regions: [{REGION}]",
                f"    endpoint_url: {endpoint_url}",
                f"    ses_requests_per_second: {SES_REQUESTS_PER_SECOND}",
                "collectors:",
                *others,
                "  vdm:",
                "    enabled: true",
                f"    interval: {INTERVAL_SECONDS}s",
                f"    isps: [{', '.join(isp_names(isps))}]",
                "    by_configuration_set: true",
                f"    requests_per_second: {VDM_REQUESTS_PER_SECOND:g}",
            ]
        )
        + "\n"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon(_Child):
    """The daemon of this checkout, or of ``pythonpath`` (another checkout's root)."""

    def __init__(self, config_file: Path, pythonpath: Path | None = None):
        self.port = free_port()
        env = child_env()
        if pythonpath is not None:
            env["PYTHONPATH"] = str(pythonpath)
        self.log = open(config_file.with_suffix(".log"), "wb")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ses_exporter",
                f"--config.file={config_file}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            cwd=pythonpath or REPO,  # -m puts the working directory first on sys.path
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        super().__exit__(*exc)
        self.log.close()

    def wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited early; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("daemon never listened")

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text().splitlines()[-lines:])

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) of the daemon, from /proc/PID/status."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


class Scraper:
    """GET /metrics over one keep-alive connection (http.client), as Prometheus does."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, headers: dict[str, str] | None = None) -> tuple[bytes, float]:
        """The body (as sent: gzip-compressed if asked for) and the seconds it took."""
        started = time.perf_counter()
        try:
            self.conn.request("GET", "/metrics", headers=headers or {})
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The exporter closes idle keep-alive connections; Prometheus reconnects too.
            self.conn.close()
            started = time.perf_counter()
            self.conn.request("GET", "/metrics", headers=headers or {})
            response = self.conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"/metrics answered {response.status}")
        return body, elapsed

    def close(self) -> None:
        self.conn.close()
