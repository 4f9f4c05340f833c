"""A real Prometheus (Debian's ``prometheus``) as a child process, and the rule generator.

* ``launch_prometheus``: the one place tests start a Prometheus server, with a given
  configuration file and data directory, on a free port; ``Prometheus`` asks its HTTP API
  and waits for conditions; ``firing`` lists an alert's firing instances.
* ``launch_prometheus_scraping``: one that scrapes exporters every second with given rules.
* ``GENERATOR``: ``deploy/prometheus/generate.py``, which writes the bundled rules.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any, Self

from tests.daemon import free_port, stop_process

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"


class Prometheus:
    def __init__(self, proc: subprocess.Popen[bytes], port: int):
        self.proc, self.port = proc, port

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it lingers."""
        return stop_process(self.proc)

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            answer = json.load(resp)
        assert answer["status"] == "success", answer
        return answer["data"]

    def wait_for(self, what: str, check: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "prometheus exited"
            try:
                found = check()
            except OSError:
                found = None
            if found:
                return found
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}")


def firing(prometheus: Prometheus, name: str) -> list[dict[str, Any]]:
    alerts = prometheus.api("alerts")["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]


def launch_prometheus(config: Path, data: Path) -> Prometheus:
    """Debian's prometheus with this configuration and data directory, on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Prometheus(proc, port)


def launch_prometheus_scraping(
    tmp: Path, exporter_port: int | list[int], rules_text: str
) -> Prometheus:
    """Debian's prometheus scraping the exporter(s) every second in one job, with these
    rules."""
    ports = exporter_port if isinstance(exporter_port, list) else [exporter_port]
    targets = ", ".join(f"'127.0.0.1:{port}'" for port in ports)
    rules = tmp / "rules.yml"
    rules.write_text(rules_text)
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{rules}]\n"
        "scrape_configs:\n  - job_name: ses-exporter\n"
        f"    static_configs: [{{targets: [{targets}]}}]\n"
    )
    return launch_prometheus(config, tmp / "data")


def load_generator() -> ModuleType:
    """deploy/prometheus/generate.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("ses_rules_generate", DEPLOY / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()
