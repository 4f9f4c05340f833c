"""Sharding: rendezvous hashing, this replica's index, and what each replica polls.

The hashing is checked on 1,500 keys (the scale benchmark's target count): every key has
one owner, shares are even, and adding a replica moves about 1/(N+1) of the keys, all
of them to the new replica. Then whole exporters, one per shard, on the same config
with listed, role-ARN and discovered accounts (moto's Organizations): together they poll
what one process polls, each target once, also after STS has told a listed account's id.
"""

from __future__ import annotations

import math
from typing import Any

import boto3
import pytest

from ses_exporter import cli
from ses_exporter.config import parse_config
from ses_exporter.daemon import Exporter
from ses_exporter.shard import POD_INDEX_ENV, Shard, ShardError, owner, resolve_shard
from tests.fakes import FakeAccountApi
from tests.helpers import ONLY_ACCOUNT_COLLECTOR, exporter_value
from tests.orgworld import OrgWorld, build_organization, org_entry

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
KEYS = [f"{200_000_000_000 + i}/{region}" for i in range(500) for region in REGIONS]


def owners(count: int) -> dict[str, int]:
    return {key: owner(key, count) for key in KEYS}


def test_weights_are_the_same_in_every_process_and_python() -> None:
    # Pinned: a change here moves targets between replicas at an upgrade.
    got = [owner(f"{123456789012 + i}/us-east-1", 3) for i in range(8)]
    assert got == [1, 2, 0, 1, 2, 2, 2, 2]


@pytest.mark.parametrize("count", [2, 3, 4, 5, 8])
def test_every_target_has_one_owner_and_the_shares_are_even(count: int) -> None:
    shards = [Shard(i, count) for i in range(count)]
    mine = [{k for k in KEYS if s.owns(k)} for s in shards]
    assert sum(len(m) for m in mine) == len(KEYS)
    assert set().union(*mine) == set(KEYS)
    p = 1 / count
    sigma = math.sqrt(len(KEYS) * p * (1 - p))  # binomial
    for share in mine:
        assert abs(len(share) - len(KEYS) * p) < 4 * sigma


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_adding_a_replica_moves_about_one_in_n_plus_one_all_to_the_new_one(count: int) -> None:
    before, after = owners(count), owners(count + 1)
    moved = [k for k in KEYS if before[k] != after[k]]
    assert {after[k] for k in moved} <= {count}  # nothing moves between old replicas
    expected = 1 / (count + 1)
    assert abs(len(moved) / len(KEYS) - expected) < 0.04, len(moved) / len(KEYS)


def test_one_replica_owns_everything_without_hashing() -> None:
    assert all(Shard().owns(k) for k in KEYS)


@pytest.mark.parametrize(
    ("count", "index", "environ", "hostname", "expected"),
    [
        (None, None, {}, "laptop", Shard(0, 1)),
        (1, None, {}, "laptop", Shard(0, 1)),
        (3, 2, {POD_INDEX_ENV: "0"}, "ses-exporter-1", Shard(2, 3)),  # the flag wins
        (3, None, {POD_INDEX_ENV: "1"}, "ses-exporter-0", Shard(1, 3)),  # then the label
        (3, None, {POD_INDEX_ENV: ""}, "ses-exporter-2", Shard(2, 3)),  # then the hostname
        (3, None, {}, "prod-ses-exporter-0", Shard(0, 3)),
    ],
)
def test_the_index_comes_from_the_flag_the_pod_index_or_the_hostname(
    count: int | None, index: int | None, environ: dict[str, str], hostname: str, expected: Shard
) -> None:
    assert resolve_shard(count, index, environ, hostname) == expected


@pytest.mark.parametrize(
    ("count", "index", "environ", "hostname", "message"),
    [
        (3, 3, {}, "x", "--shard.index=3 is out of range for --shard.count=3 (valid: 0 to 2)"),
        (None, 1, {}, "x", "--shard.index=1 is out of range for --shard.count=1"),
        (3, -1, {}, "x", "--shard.index=-1 is out of range"),
        (0, None, {}, "x", "--shard.count=0: must be at least 1"),
        (3, None, {}, "laptop", "pass --shard.index=I (0 to 2), set SES_EXPORTER_POD_INDEX"),
        (3, None, {POD_INDEX_ENV: "two"}, "x-2", "SES_EXPORTER_POD_INDEX='two' is not"),
        # A StatefulSet scaled past --shard.count: its extra pods must not start.
        (3, None, {}, "ses-exporter-3", "--shard.index=3 is out of range"),
    ],
)
def test_a_missing_or_out_of_range_index_is_an_error_that_says_how_to_fix_it(
    count: int | None, index: int | None, environ: dict[str, str], hostname: str, message: str
) -> None:
    with pytest.raises(ShardError) as caught:
        resolve_shard(count, index, environ, hostname)
    assert message in str(caught.value)


def test_the_command_line_exits_2_on_a_bad_shard(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(POD_INDEX_ENV, raising=False)
    monkeypatch.setattr(cli.socket, "gethostname", lambda: "laptop")
    assert cli.main(["--demo", "--shard.count=3", "--shard.index=3"]) == cli.EXIT_USAGE
    assert "--shard.index=3 is out of range" in capsys.readouterr().err
    assert cli.main(["--demo", "--shard.count=3"]) == cli.EXIT_USAGE
    assert "needs this replica's index" in capsys.readouterr().err
    monkeypatch.setenv(POD_INDEX_ENV, "2")
    assert cli.main(["--demo", "--shard.count=3", "--config.check"]) == cli.EXIT_OK


LISTED = """accounts:
  - name: by-name
    regions: [us-east-1, eu-west-1]
  - role_arn: arn:aws:iam::210987654321:role/x
    regions: [us-east-1, eu-west-1]
"""


def test_targets_are_placed_by_id_where_the_config_tells_it_else_by_name() -> None:
    exporter = Exporter(parse_config(LISTED + ONLY_ACCOUNT_COLLECTOR))
    placements = {t.placement for t in exporter.all_targets}
    assert placements == {
        "by-name/us-east-1",
        "by-name/eu-west-1",
        "210987654321/us-east-1",
        "210987654321/eu-west-1",
    }
    # STS tells the listed account's id: it stays where it is (its owner keeps it).
    by_name = next(t for t in exporter.all_targets if t.account.key == "by-name")
    by_name.account._account_id = "111122223333"
    exporter.apply(exporter.config)
    assert by_name.account.label == "111122223333"
    assert by_name.placement == "by-name/us-east-1"


def test_placement_follows_the_config_not_what_reloads_left_behind() -> None:
    # After a reload, a replica that has run since the start may keep an older runtime key
    # ("prod#2", because "prod" was taken then); one started now calls it "prod". Both
    # must place it the same.
    old = "accounts:\n  - name: prod\n    regions: [us-east-1]\n    profile: a\n"
    new = "accounts:\n  - name: prod\n    regions: [us-east-1]\n    profile: b\n"
    running = Exporter(parse_config(old + ONLY_ACCOUNT_COLLECTOR))
    running.apply(parse_config(new + ONLY_ACCOUNT_COLLECTOR))
    fresh = Exporter(parse_config(new + ONLY_ACCOUNT_COLLECTOR))
    assert [t.placement for t in running.all_targets] == ["prod/us-east-1"]
    assert [t.placement for t in fresh.all_targets] == ["prod/us-east-1"]


@pytest.fixture
def org(aws: None) -> tuple[OrgWorld, Any]:
    client = boto3.client("organizations", region_name="us-east-1")
    return build_organization(client), client


def polled(exporter: Exporter) -> set[tuple[str, str]]:
    return {(t.account.label, t.region) for t in exporter.targets}


def test_replicas_poll_what_one_process_polls_each_target_once(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    world, _ = org
    # A listed account whose id only STS can tell (the default credentials are the
    # management account's, which the organization also discovers), one whose role ARN
    # names a member, and 121 discovered accounts in two regions.
    member = world.accounts[0].account_id
    accounts = (
        "accounts:\n  - name: management\n    regions: [us-east-1]\n"
        f"  - name: by-hand\n    regions: [us-east-1, eu-west-1]\n"
        f"    role_arn: arn:aws:iam::{member}:role/OrganizationAccountAccessRole\n"
    )
    text = f"{accounts}organizations:\n{org_entry()}{ONLY_ACCOUNT_COLLECTOR}"
    single = Exporter(parse_config(text), client_hooks=[fake_api.hook])
    replicas = [
        Exporter(parse_config(text), client_hooks=[fake_api.hook], shard=Shard(i, 3))
        for i in range(3)
    ]
    for exporter in (single, *replicas):
        exporter.discover_now()

    def check() -> None:
        shares = [polled(r) for r in replicas]
        assert sum(len(s) for s in shares) == len(polled(single))
        assert set().union(*shares) == polled(single)
        for replica in replicas:
            assert replica.all_shards_target_count() == single.target_count()
            assert (
                exporter_value(replica, "ses_exporter_targets_all_shards") == single.target_count()
            )
            assert exporter_value(replica, "ses_exporter_shards") == 3
        assert sum(exporter_value(r, "ses_exporter_targets") or 0 for r in replicas) == len(
            polled(single)
        )

    check()  # before STS: the listed account and its discovered twin both polled
    assert len(polled(single)) == 1 + 2 + 2 * 120
    # The owner of "management" learns its id at its first poll; the others resolve it
    # by themselves (one GetCallerIdentity) and drop the twin that they may own.
    for exporter in (single, *replicas):
        listed = [t for t in exporter.targets if t.account.key == "management"]
        for target in listed:
            exporter.poller.poll(target, "account")
        if not listed:
            assert list(exporter._resolving) == ["resolve/management"]
        exporter.resolve_now()
        assert exporter._resolving == {}
    check()
    assert len(polled(single)) == 1 + 2 * 120
    assert (world.management_account_id, "eu-west-1") not in polled(single)
    for index, replica in enumerate(replicas):
        assert exporter_value(replica, "ses_exporter_shard_index") == index
