"""The real exporter as a child process: the one place tests run ``python -m ses_exporter``.

* ``DaemonProcess``: the daemon with a given config (and ``--demo``, TLS, shard flags or
  any other arguments) on a free port of 127.0.0.1, its output in a log file that failure
  messages quote; it waits for readiness or any other condition, scrapes, and stops
  cleanly (SIGTERM, then SIGKILL).
* ``demo_daemon``: the same in demo mode, with the demo's config and shorter intervals.
* ``run_exporter``: a command that runs to its end (``--config.check``, ``backfill``).
* ``fake_aws_env``: the environment every such process gets, which cannot reach real AWS.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from ses_exporter.demo import DEMO_CONFIG

REPO = Path(__file__).resolve().parent.parent
# Starting a Python process with boto3 on a loaded machine takes seconds; a daemon that
# polls many targets takes longer still before it is ready.
READY_TIMEOUT = 60.0


def fake_aws_env(**extra: str) -> dict[str, str]:
    """This environment without AWS settings or HTTP proxies, fake credentials, ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> int:
    """SIGTERM, and SIGKILL if it has not exited within ``timeout`` s; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def run_exporter(
    *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m ses_exporter ARGS`` to its end, output captured as text; never raises on
    a non-zero exit status. ``env`` defaults to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "ses_exporter", *(str(arg) for arg in args)],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        check=False,
    )


# --- reading a scrape ------------------------------------------------------------------

SampleKey = tuple[str, frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class Scrape:
    status: int
    seconds: float
    at: float  # time.time() when the answer arrived
    body: str
    samples: dict[SampleKey, float] = field(default_factory=dict)
    counters: frozenset[str] = frozenset()  # sample names of counter families

    def values(self, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
        want = set(labels.items())
        return {k: v for (n, k), v in self.samples.items() if n == name and want <= k}

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample of ``name`` with these labels (among others), else None."""
        found = self.values(name, **labels)
        if len(found) > 1:
            raise AssertionError(f"{name}{labels} matches {len(found)} series")
        return next(iter(found.values()), None)


def parse_scrape(status: int, seconds: float, body: str) -> Scrape:
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[SampleKey, float] = {}
    counters = set()
    if status == 200:
        for family in text_string_to_metric_families(body):
            for s in family.samples:
                samples[(s.name, frozenset(s.labels.items()))] = s.value
                if family.type == "counter" and s.name.endswith("_total"):
                    counters.add(s.name)
    return Scrape(status, seconds, time.time(), body, samples, frozenset(counters))


class CounterWatch:
    """Remembers every counter series' highest value; reports any decrease."""

    def __init__(self) -> None:
        self.highest: dict[SampleKey, float] = {}
        self.decreases: list[str] = []

    def check(self, scrape: Scrape) -> None:
        for key, value in scrape.samples.items():
            if key[0] not in scrape.counters:
                continue
            before = self.highest.get(key)
            if before is not None and value < before:
                self.decreases.append(f"{key[0]}{dict(key[1])}: {before} -> {value}")
            self.highest[key] = max(value, before if before is not None else value)


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    headers: dict[str, str]
    seconds: float


# --- the daemon ------------------------------------------------------------------------


class DaemonProcess:
    """``python -m ses_exporter --config.file=...`` on a free port; output to a log file.

    ``config`` is written to ``workdir/ses-exporter.yaml`` (``config_file``); ``args`` follow
    the config, listen address and log level flags (``log_level=None`` leaves the daemon's
    default); ``env`` defaults to ``fake_aws_env()``. Use it as a context manager, or call
    ``stop()``.
    """

    def __init__(
        self,
        config: str,
        workdir: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        log_level: str | None = "debug",
    ):
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_file = workdir / "ses-exporter.yaml"
        self.config_file.write_text(config)
        self.port = free_port()
        self.log_path = workdir / "daemon.log"
        self._log = self.log_path.open("wb")
        self.watch = CounterWatch()
        command = [
            sys.executable,
            "-m",
            "ses_exporter",
            f"--config.file={self.config_file}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        if log_level is not None:
            command.append(f"--log.level={log_level}")
        self.proc = subprocess.Popen(
            [*command, *args],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else fake_aws_env(),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> int | None:
        code = stop_process(self.proc)
        self._log.close()
        return code

    def output(self) -> str:
        """Everything the daemon wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def connect(self, timeout: float) -> tuple[http.client.HTTPConnection, dict[str, str]]:
        """A connection to the daemon and the headers every request carries (a subclass
        with TLS or basic auth overrides this)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout), {}

    def request(
        self, path: str, method: str = "GET", timeout: float = 5.0, body: bytes | None = None
    ) -> Response:
        conn, headers = self.connect(timeout)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read().decode(errors="replace")
            return Response(
                response.status, data, dict(response.getheaders()), time.perf_counter() - started
            )
        finally:
            conn.close()

    def scrape(self, timeout: float = 5.0) -> Scrape:
        """GET /metrics; every scrape also feeds the counter watch."""
        response = self.request("/metrics", timeout=timeout)
        scrape = parse_scrape(response.status, response.seconds, response.body)
        self.watch.check(scrape)
        return scrape

    def wait_for(
        self, condition: Callable[[Scrape], bool], timeout: float, every: float = 0.2
    ) -> tuple[Scrape, list[Scrape]]:
        """Scrapes until ``condition`` holds; returns that scrape and every one taken."""
        taken: list[Scrape] = []
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}")
            scrape = self.scrape()
            taken.append(scrape)
            if condition(scrape):
                return scrape, taken
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(every)

    def scrapes(self, seconds: float, every: float = 0.2) -> Iterator[Scrape]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            yield self.scrape()
            time.sleep(every)

    def wait_until(
        self, what: str, check: Callable[[], bool], timeout: float = READY_TIMEOUT
    ) -> None:
        """Calls ``check`` until it returns true (an OSError counts as false); fails, with
        the end of the daemon's output, if the daemon exits or ``timeout`` s pass first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited with {self.proc.returncode} before {what}:\n"
                    f"{self.output()[-3000:]}"
                )
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"daemon never {what} in {timeout:g} s:\n{self.output()[-3000:]}")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until /-/ready answers 200 over plain HTTP."""
        self.wait_until(
            "became ready", lambda: self.request("/-/ready", timeout=1).status == 200, timeout
        )

    def proc_stats(self) -> dict[str, int]:
        """VmRSS (KiB), threads and open file descriptors, from /proc."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {
            "rss_kib": int(fields["VmRSS"].split()[0]),
            "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{self.proc.pid}/fd")),
        }


# --- the demo --------------------------------------------------------------------------


def demo_config(**intervals: str) -> str:
    """The demo's own configuration with shorter collector intervals, so tests need not wait.

    ``demo_config(account="1s")`` is ``ses_exporter.demo.DEMO_CONFIG`` with the account
    collector polling every second instead of every 15 s.
    """
    text = DEMO_CONFIG
    for collector, interval in intervals.items():
        line = re.compile(rf"^(  {collector}: {{interval: )[0-9a-z]+", re.MULTILINE)
        text, found = line.subn(rf"\g<1>{interval}", text)
        assert found == 1, f"DEMO_CONFIG sets no interval for {collector}"
    return text


# A poll every second, so that a test sees SentLast24Hours move within a few seconds.
FAST_DEMO_CONFIG = demo_config(account="1s")
# Every collector within seconds, for a real Prometheus scraping the demo every second.
DEMO_CONFIG_FOR_PROMETHEUS = demo_config(
    account="2s", send_statistics="5s", cloudwatch="5s", configuration_sets="10s"
)


def demo_daemon(
    workdir: Path, *args: str, config_text: str = FAST_DEMO_CONFIG, log_level: str | None = None
) -> DaemonProcess:
    """``ses-exporter --demo`` with ``config_text`` (the demo's, polling every second) and
    ``args``, at the daemon's default log level unless told."""
    return DaemonProcess(config_text, workdir, "--demo", *args, log_level=log_level)
