"""Sharding end to end: real exporter processes on one config against a moto server.

40 accounts reached through their role ARNs (moto answers AssumeRole with credentials of
the role's own account) and one listed account whose id only STS tells (placed by its
name), in three regions: 123 targets. Three replicas (``--shard.index`` 0, 1, 2) poll
every target once between them; with a fourth, at most ~40 % of the targets move.
Which targets a replica polls is read from its own ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon import DaemonProcess
from tests.faultproxy import MotoServer

pytestmark = pytest.mark.process

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
ROLE_ACCOUNTS = [str(300_000_000_000 + i) for i in range(40)]
DEFAULT_ACCOUNT = "123456789012"  # moto's, for the default credentials
Target = tuple[str, str]


def config(endpoint_url: str) -> str:
    lines = ["accounts:", "  - name: by-name"]
    lines += [f"    endpoint_url: {endpoint_url}", f"    regions: [{', '.join(REGIONS)}]"]
    for account_id in ROLE_ACCOUNTS:
        lines += [
            f"  - role_arn: arn:aws:iam::{account_id}:role/ses-exporter",
            f"    endpoint_url: {endpoint_url}",
            f"    regions: [{', '.join(REGIONS)}]",
        ]
    # One cheap collector that moto's server answers (ses GetSendStatistics).
    lines += [
        "collectors:",
        "  account: {enabled: false}",
        "  cloudwatch: {enabled: false}",
        "  configuration_sets: {enabled: false}",
        "  identities: {enabled: false}",
        "  dedicated_ips: {enabled: false}",
    ]
    return "\n".join(lines) + "\n"


def replica(config_path: Path, index: int, count: int) -> DaemonProcess:
    """One exporter process of ``count``, at ``index``."""
    workdir = config_path.parent / f"replica-{index}-of-{count}"
    shard = (f"--shard.count={count}", f"--shard.index={index}")
    return DaemonProcess(config_path.read_text(), workdir, *shard, log_level=None)


def polled(replica: DaemonProcess) -> tuple[set[Target], dict[str, float]]:
    """The targets whose poll succeeded, and the shard self-metrics."""
    body = replica.request("/metrics").body
    targets: set[Target] = set()
    gauges: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == "ses_exporter_collector_success":
                assert s.value == 1, s.labels
                targets.add((s.labels["account_id"], s.labels["region"]))
            elif s.name.startswith(("ses_exporter_shard", "ses_exporter_targets")):
                gauges[s.name] = s.value
    return targets, gauges


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def run_replicas(config_path: Path, count: int) -> list[set[Target]]:
    with ExitStack() as stack:
        replicas = [replica(config_path, i, count) for i in range(count)]
        for started in replicas:
            stack.callback(started.stop)
        for started in replicas:
            started.wait_ready(timeout=60)
        shares = []
        expected_all = len(REGIONS) * (1 + len(ROLE_ACCOUNTS))
        for index, started in enumerate(replicas):
            targets, gauges = polled(started)
            assert gauges == {
                "ses_exporter_targets": len(targets),
                "ses_exporter_targets_all_shards": expected_all,
                "ses_exporter_shard_index": index,
                "ses_exporter_shards": count,
            }
            shares.append(targets)
        return shares


def test_replicas_poll_every_target_once_and_a_fourth_moves_few(
    moto: MotoServer, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config(moto.url))
    everything = {(a, r) for a in [DEFAULT_ACCOUNT, *ROLE_ACCOUNTS] for r in REGIONS}

    three = run_replicas(path, 3)
    assert sum(len(share) for share in three) == len(everything)  # no target twice
    assert set().union(*three) == everything  # and none left out
    assert all(share for share in three)

    four = run_replicas(path, 4)
    assert sum(len(share) for share in four) == len(everything)
    assert set().union(*four) == everything
    owner_of = {t: i for i, share in enumerate(three) for t in share}
    moved = {t for i, share in enumerate(four) for t in share if owner_of[t] != i}
    assert moved == four[3]  # only to the new replica: none between the old three
    assert len(moved) <= 0.4 * len(everything), f"{len(moved)} of {len(everything)} moved"
