"""``ses-exporter backfill --shard.count/--shard.index``: each run writes exactly the
targets the live replica with the same flags polls, with that replica's labels.

The live replicas are whole ``Exporter`` objects on the same configuration (listed
accounts, one whose role ARN names a member, moto's Organizations), after they have
resolved their listed accounts' ids as they do in their first minute: together the runs
write every target once, and each run's targets are its replica's. A run that looks
sharded without saying which replica it is exits 2.
"""

from __future__ import annotations

import dataclasses
import io
import time
from typing import Any

import boto3
import pytest

from ses_exporter.backfill.command import BackfillOptions, UsageError, backfill, parse_options
from ses_exporter.cli import main
from ses_exporter.config import parse_config
from ses_exporter.daemon import Exporter
from ses_exporter.shard import POD_INDEX_ENV, Shard
from tests.fakes import FakeAccountApi, in_every_region
from tests.helpers import send_point
from tests.openmetrics import THRESHOLD_FAMILY, parse_openmetrics, per_target
from tests.orgworld import OrgWorld, build_organization

REGIONS = ("us-east-1", "eu-west-1")
# The live replicas poll the account collector (it resolves a listed account's id at its
# first poll) and send_statistics; backfill writes send_statistics' history.
COLLECTORS = (
    "collectors:\n  cloudwatch: {enabled: false}\n  configuration_sets: {enabled: false}\n"
    "  identities: {enabled: false}\n  dedicated_ips: {enabled: false}\n"
)


@pytest.fixture
def world(aws: None) -> OrgWorld:
    return build_organization(boto3.client("organizations", region_name="us-east-1"), accounts=12)


def config_text(world: OrgWorld) -> str:
    """A listed account whose id only STS tells (the management account, which the
    organization discovers too), one whose role ARN names a member, every member."""
    member = world.accounts[0].account_id
    return (
        "accounts:\n  - name: management\n    regions: [us-east-1]\n"
        "    ses_requests_per_second: 1000\n"
        f"  - name: by-hand\n    regions: [{', '.join(REGIONS)}]\n"
        f"    role_arn: arn:aws:iam::{member}:role/OrganizationAccountAccessRole\n"
        "    labels: {team: mail}\n    ses_requests_per_second: 1000\n"
        "organizations:\n  - name: main\n    member_role_name: OrganizationAccountAccessRole\n"
        f"    regions: [{', '.join(REGIONS)}]\n    ses_requests_per_second: 1000\n"
        f"{COLLECTORS}"
    )


def live_targets(text: str, fake_api: FakeAccountApi, shard: Shard) -> set[tuple[str, ...]]:
    """What the replica ``shard`` polls once it knows its accounts' ids."""
    exporter = Exporter(parse_config(text), client_hooks=[fake_api.hook], shard=shard)
    exporter.discover_now()
    for target in [t for t in exporter.targets if t.account.organization is None]:
        exporter.poller.poll(target, "account")
    exporter.resolve_now()
    return {target_key(t.labels()) for t in exporter.targets}


def target_key(labels: dict[str, str]) -> tuple[str, ...]:
    return (labels["account_id"], labels["region"], labels.get("team", ""))


def written(text: str, fake_api: FakeAccountApi, shard: Shard | None, instance: str) -> Any:
    """The report and series of a backfill of one day, of ``shard`` (None: unsharded)."""
    out = io.BytesIO()
    options = BackfillOptions(days=1, step=3600, labels=(("instance", instance),))
    if shard is not None:
        options = dataclasses.replace(options, shard=shard)
    report = backfill(parse_config(text), options, out, [fake_api.hook], io.StringIO())
    assert report.written and report.failed == []
    return report, parse_openmetrics(out.getvalue().decode())


def test_each_shard_writes_exactly_its_replicas_targets_and_together_all_once(
    world: OrgWorld, fake_api: FakeAccountApi
) -> None:
    fake_api.send_data_points = in_every_region([send_point(time.time() - 3600, 5)])
    text = config_text(world)
    single = live_targets(text, fake_api, Shard())
    # The listed one (its discovered twin dropped), 2 by role ARN, and in 2 regions the 13
    # discovered (12 members and the management account) less those two accounts.
    assert len(single) == 1 + 2 + 2 * 11
    shares = []
    for index in range(3):
        shard = Shard(index, 3)
        report, series = written(text, fake_api, shard, f"replica-{index}")
        mine = {target_key(dict(labels)) for _, labels in per_target(series)}
        assert mine == live_targets(text, fake_api, shard)
        assert report.targets == len(mine)  # no target without series, none twice
        # Every series carries the target's labels and this replica's: as its live ones.
        for name, labels in series:
            assert dict(labels)["instance"] == f"replica-{index}"
            if name != THRESHOLD_FAMILY:
                assert dict(labels).keys() - {"team"} == {"account_id", "region", "instance"}
        shares.append(mine)
    assert set().union(*shares) == single
    assert sum(len(share) for share in shares) == len(single)  # no overlap
    assert all(shares)


def test_an_unsharded_run_writes_a_listed_account_once_not_its_discovered_twin(
    world: OrgWorld, fake_api: FakeAccountApi
) -> None:
    fake_api.send_data_points = in_every_region([send_point(time.time() - 3600, 5)])
    text = config_text(world)
    report, series = written(text, fake_api, None, "one")
    sends = [
        dict(labels)
        for name, labels in per_target(series)
        if name == "aws_ses_send_statistics_delivery_attempts_total"
    ]
    assert report.targets == len(sends) == len(live_targets(text, fake_api, Shard()))
    management = [s for s in sends if s["account_id"] == world.management_account_id]
    assert [s["region"] for s in management] == ["us-east-1"]  # as listed, once


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        (["--shard.index", "1"], {}, "--shard.index=1 needs --shard.count"),
        ([], {POD_INDEX_ENV: "2"}, f"{POD_INDEX_ENV} is set, as in a pod of a sharded"),
        (["--shard.count", "3"], {}, "--shard.count=3 needs --shard.index=I (0 to 2)"),
        (["--shard.count", "3"], {POD_INDEX_ENV: "1"}, "--shard.count=3 needs --shard.index"),
        (["--shard.count", "3", "--shard.index", "3"], {}, "--shard.index=3 is out of range"),
        (["--shard.count", "0"], {}, "--shard.count=0: must be at least 1"),
    ],
)
def test_a_run_that_looks_sharded_without_saying_which_replica_exits_2(
    flags: list[str],
    environ: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(POD_INDEX_ENV, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["backfill", "--demo", "--days", "1", *flags]) == 2
    assert message in capsys.readouterr().err


def test_the_shard_flags_are_read_as_the_daemon_reads_them() -> None:
    def shard(**flags: Any) -> Shard:
        return parse_options(days=1, step="5m", **flags).shard

    assert shard(environ={}) == Shard()
    assert shard(shard_count=3, shard_index=2, environ={POD_INDEX_ENV: "0"}) == Shard(2, 3)
    # Explicitly one of one in a pod of the StatefulSet: every target.
    assert shard(shard_count=1, environ={POD_INDEX_ENV: "0"}) == Shard()
    with pytest.raises(UsageError, match=POD_INDEX_ENV):
        shard(environ={POD_INDEX_ENV: "0"})
