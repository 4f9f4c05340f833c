"""A full scrape compared with a golden file, and checked by promtool.

Regenerate the golden file after an intended change with
``python -m pytest tests/test_golden.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import gzip
import platform
import re
import shutil
import subprocess

import pytest
from prometheus_client.exposition import choose_encoder

from ses_exporter import __version__
from tests.fakes import FakeAccountApi
from tests.golden import GOLDEN, full_scrape, polled_exporter

# Values that differ from run to run are masked; the series themselves are compared.
VOLATILE = re.compile(
    r"^((ses_exporter_collector_(duration_seconds|last_success_timestamp_seconds"
    r"|scheduling_lag_seconds)"
    r"|ses_exporter_organization_discovery_last_success_timestamp_seconds"
    r"|aws_ses_(configuration_set_)?reputation_last_datapoint_timestamp_seconds)\{.*\}) .*$",
    re.MULTILINE,
)
PROCESS_FAMILIES = re.compile(
    r"^# (HELP|TYPE) (process|python)_.*\n|^(process|python)_.*\n", re.MULTILINE
)


def normalise(text: str) -> str:
    """Without process_*/python_* families; volatile values and versions masked."""
    text = PROCESS_FAMILIES.sub("", text)
    text = VOLATILE.sub(r"\1 <volatile>", text)
    return text.replace(f'version="{__version__}"', 'version="<version>"').replace(
        f'python_version="{platform.python_version()}"', 'python_version="<python>"'
    )


def test_full_scrape_matches_golden(
    aws: None, fake_api: FakeAccountApi, update_golden: bool
) -> None:
    got = normalise(full_scrape(fake_api).decode())
    if update_golden:
        GOLDEN.write_text(got)
    assert got == GOLDEN.read_text(), "scrape changed: rerun with --update-golden and review"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_full_scrape_passes_promtool_check_metrics(aws: None, fake_api: FakeAccountApi) -> None:
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=full_scrape(fake_api),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "text/plain;version=0.0.4;q=0.3",  # Prometheus 3 (abridged)
        "application/openmetrics-text",
        "text/plain;version=1.0.0;escaping=dots",  # served by prometheus_client itself
    ],
)
def test_pre_rendered_scrape_equals_prometheus_client_on_the_same_registry(
    aws: None, fake_api: FakeAccountApi, accept: str | None
) -> None:
    """/metrics joins pre-rendered results; prometheus_client printing the daemon's registry
    (every fresh family merged, then the self-metrics) must give the same bytes, in the
    text format (the golden file above) and in OpenMetrics."""
    exporter = polled_exporter(fake_api)
    encoder, content_type = choose_encoder(accept or "")
    expected = normalise(encoder(exporter.registry).decode())
    body, got_type = exporter.render_metrics(accept)
    assert (normalise(body.decode()), got_type) == (expected, content_type)
    compressed, _ = exporter.render_metrics(accept, gzip=True)
    assert normalise(gzip.decompress(compressed).decode()) == expected
    if accept is not None and "openmetrics" in accept:
        assert body.endswith(b"\n# EOF\n") and body.count(b"# EOF") == 1
        counter = "aws_ses_send_statistics_bounces"
        assert f"# TYPE {counter} counter\n{counter}_total{{" in expected
