"""AWS Organizations discovery in the running exporter, against moto's Organizations and STS.

120 member accounts in nested OUs (``tests.orgworld``); every discovered account is polled
by assuming its member role. moto never denies AssumeRole, so a denial is answered by a
``before-call`` hook for one role ARN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from prometheus_client.parser import text_string_to_metric_families

from ses_exporter.config import parse_config
from ses_exporter.daemon import Exporter
from tests.fakes import FakeAccountApi
from tests.helpers import ONLY_ACCOUNT_COLLECTOR, exporter_value
from tests.orgworld import ORG_REGIONS, OrgWorld, build_organization, create_account, org_entry

# GetSendStatistics goes to moto, signed with the assumed role's credentials (the fake
# GetAccount answers before signing, so it alone would never assume a role).
WITH_MOTO_CALLS = (
    "collectors: {cloudwatch: {enabled: false}, configuration_sets: {enabled: false},"
    " identities: {enabled: false}, dedicated_ips: {enabled: false}}"
)


@dataclass
class _Http:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def org(aws: None) -> tuple[OrgWorld, Any]:
    client = boto3.client("organizations", region_name="us-east-1")
    return build_organization(client), client


def exporter_for(
    organization: str,
    fake_api: FakeAccountApi,
    *hooks: Any,
    accounts: str = "",
    collectors: str = ONLY_ACCOUNT_COLLECTOR,
) -> Exporter:
    text = f"{accounts}organizations:\n{organization}{collectors}"
    return Exporter(parse_config(text), client_hooks=[fake_api.hook, *hooks])


def scrape(exporter: Exporter) -> list[tuple[str, Mapping[str, str], float]]:
    body, _ = exporter.render_metrics(None)
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    ]


def throttled_list_accounts(failing: dict[str, bool]) -> Any:
    """A client hook: ListAccounts answers TooManyRequestsException while
    ``failing["on"]``."""

    def throttle(service: str, client: BaseClient) -> None:
        def before_call(**_: Any) -> Any:
            if failing["on"]:
                error = {"Code": "TooManyRequestsException", "Message": "slow down"}
                return _Http(400), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
            return None

        if service == "organizations":
            client.meta.events.register("before-call.organizations.ListAccounts", before_call)

    return throttle


def poll_all(exporter: Exporter) -> None:
    for target in exporter.targets:
        for name in target.collectors:
            exporter.poller.poll(target, name)


def test_every_active_account_becomes_a_target_in_every_region(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    world, _ = org
    exporter = exporter_for(org_entry(), fake_api)
    assert exporter.targets == []  # nothing is known before the first discovery
    assert not exporter.is_ready()
    exporter.discover_now()
    ids = world.account_ids() | {world.management_account_id}
    assert len(ids) == 121
    assert {(t.account.label, t.region) for t in exporter.targets} == {
        (i, r) for i in ids for r in ORG_REGIONS
    }
    member = next(iter(world.accounts))
    target = next(t for t in exporter.targets if t.account.label == member.account_id)
    assert target.account.config.role_arn == (
        f"arn:aws:iam::{member.account_id}:role/OrganizationAccountAccessRole"
    )
    assert (
        exporter_value(exporter, "ses_exporter_organization_accounts", organization="main") == 121
    )
    assert (
        exporter_value(exporter, "ses_exporter_organization_discovery_success", organization="main")
        == 1
    )
    assert exporter_value(exporter, "ses_exporter_targets") == 242
    info = exporter_value(
        exporter,
        "ses_exporter_account_info",
        account_id=member.account_id,
        account_name=member.name,
        organization="main",
    )
    assert info == 1


def test_discovered_accounts_are_polled_with_their_own_identity(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    world, _ = org
    entry = org_entry(accounts='{include: ["mail-00[0-2]"]}')
    exporter = exporter_for(entry, fake_api, collectors=WITH_MOTO_CALLS)
    exporter.discover_now()
    assert {t.account.label for t in exporter.targets} == {
        a.account_id for a in world.accounts if a.name in {"mail-000", "mail-001", "mail-002"}
    }
    poll_all(exporter)
    assert exporter.is_ready()
    for target in exporter.targets:
        labels = {"account_id": target.account.label, "region": target.region}
        assert exporter_value(exporter, "ses_exporter_collector_success", **labels) == 1
        assert exporter_value(exporter, "aws_ses_daily_sending_quota", **labels) == 50000
        assert exporter_value(exporter, "ses_exporter_collector_success", **labels) == 1
    # Each account was reached by assuming its member role (once, for both regions);
    # its id came from Organizations, so no GetCallerIdentity.
    requests = "ses_exporter_aws_requests_total"
    assert exporter_value(exporter, requests, operation="AssumeRole", outcome="success") == 3
    assert exporter_value(exporter, requests, operation="GetSendStatistics", outcome="success") == 6
    assert exporter_value(exporter, requests, operation="GetCallerIdentity") is None


def test_include_exclude_on_id_or_name_and_organizational_units(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    world, _ = org
    prod = world.ou_id("prod")
    excluded = sorted(world.accounts_under(prod))[0]
    entry = org_entry(
        organizational_units=f"[{prod}]",
        accounts=f'{{include: [".*"], exclude: ["{excluded}", "mail-00[0-9]"]}}',
    )
    exporter = exporter_for(entry, fake_api)
    exporter.discover_now()
    expected = {
        i
        for i in world.accounts_under(prod)
        if i != excluded and not world.name_of(i).startswith("mail-00")
    }
    assert len(expected) > 20
    assert {t.account.label for t in exporter.targets} == expected


def test_a_refresh_adds_and_removes_targets_and_keeps_the_others_untouched(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    world, client = org
    exporter = exporter_for(org_entry(), fake_api)
    exporter.discover_now()
    before = {(t.account.label, t.region): t for t in exporter.targets}
    closed = world.accounts[5].account_id
    client.close_account(AccountId=closed)  # moto: SUSPENDED at once
    added = create_account(client, "mail-new", world.root_id, world.ou_id("dev"))
    exporter.discover_now()
    after = {(t.account.label, t.region): t for t in exporter.targets}
    assert set(after) == (set(before) - {(closed, r) for r in ORG_REGIONS}) | {
        (added, r) for r in ORG_REGIONS
    }
    kept = set(before) & set(after)
    assert all(after[key] is before[key] for key in kept)  # same clients, counters, timers
    assert (
        exporter_value(exporter, "ses_exporter_organization_accounts", organization="main") == 121
    )


def test_a_member_whose_role_cannot_be_assumed_fails_only_its_own_targets(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    world, _ = org
    denied_id = world.accounts[1].account_id

    def deny(service: str, client: BaseClient) -> None:
        if service != "sts":
            return

        def before_call(params: Mapping[str, Any], **_: Any) -> Any:
            if denied_id in str(params.get("body", {}).get("RoleArn", "")):
                error = {"Code": "AccessDenied", "Message": "not authorized to sts:AssumeRole"}
                return _Http(403), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}
            return None

        client.meta.events.register("before-call.sts.AssumeRole", before_call)

    names = "|".join(world.name_of(a.account_id) for a in world.accounts[:3])
    entry = org_entry(accounts=f'{{include: ["{names}"]}}')
    exporter = exporter_for(entry, fake_api, deny, collectors=WITH_MOTO_CALLS)
    exporter.discover_now()
    poll_all(exporter)
    success = "ses_exporter_collector_success"
    for target in exporter.targets:
        labels = {"account_id": target.account.label, "region": target.region}
        expected = 0 if target.account.label == denied_id else 1
        assert exporter_value(exporter, success, collector="send_statistics", **labels) == expected
    assert (
        exporter_value(exporter, "aws_ses_send_statistics_bounces_total", account_id=denied_id)
        is None
    )
    others = {t.account.label for t in exporter.targets} - {denied_id}
    assert len(others) == 2
    for other in others:
        assert (
            exporter_value(exporter, "aws_ses_send_statistics_bounces_total", account_id=other) == 0
        )
    outcome = "AccessDenied"
    assert exporter_value(
        exporter, "ses_exporter_aws_requests_total", operation="AssumeRole", outcome=outcome
    )


def test_a_failed_refresh_keeps_the_accounts_found_before(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    failing = {"on": False}
    throttle = throttled_list_accounts(failing)
    exporter = exporter_for(org_entry(), fake_api, throttle)
    exporter.discover_now()
    targets = list(exporter.targets)
    first_success = exporter_value(
        exporter, "ses_exporter_organization_discovery_last_success_timestamp_seconds"
    )
    failing["on"] = True
    exporter.discover_now()
    assert exporter.targets == targets
    assert (
        exporter_value(exporter, "ses_exporter_organization_discovery_success", organization="main")
        == 0
    )
    assert (
        exporter_value(exporter, "ses_exporter_organization_accounts", organization="main") == 121
    )
    assert (
        exporter_value(
            exporter, "ses_exporter_organization_discovery_last_success_timestamp_seconds"
        )
        == first_success
    )


def test_an_account_listed_and_discovered_is_polled_once_as_listed(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    world, _ = org
    listed = world.accounts[0]
    accounts = (
        "accounts:\n  - name: by-hand\n    regions: [us-east-1]\n"
        f"    role_arn: arn:aws:iam::{listed.account_id}:role/OrganizationAccountAccessRole\n"
        "    labels: {team: mail}\n"
    )
    exporter = exporter_for(org_entry(), fake_api, accounts=accounts)
    exporter.discover_now()
    mine = [t for t in exporter.targets if t.account.known_id == listed.account_id]
    assert [(t.account.key, t.region) for t in mine] == [("by-hand", "us-east-1")]
    assert len(exporter.targets) == 1 + 2 * 120
    poll_all(exporter)
    assert exporter_value(exporter, "ses_exporter_account_info", account_id=listed.account_id) == 1
    names = [
        labels["account_name"]
        for name, labels, _ in scrape(exporter)
        if name == "ses_exporter_account_info" and labels["account_id"] == listed.account_id
    ]
    assert names == ["by-hand"]


def test_a_listed_account_found_by_sts_later_replaces_its_discovered_twin(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    world, _ = org
    # The default credentials are the management account's; STS tells its id on first poll.
    accounts = "accounts:\n  - name: management\n    regions: [us-east-1]\n"
    exporter = exporter_for(org_entry(), fake_api, accounts=accounts)
    exporter.discover_now()
    twins = [t for t in exporter.targets if t.account.key == world.management_account_id]
    assert len(twins) == 2  # not known to be the same account yet
    listed = next(t for t in exporter.targets if t.account.key == "management")
    exporter.poller.poll(listed, "account")
    assert listed.account.label == world.management_account_id
    assert [t for t in exporter.targets if t.account.key == world.management_account_id] == []
    assert listed in exporter.targets


def test_readiness_waits_for_the_first_discovery(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi
) -> None:
    exporter = exporter_for(org_entry(accounts='{include: ["mail-000"]}'), fake_api)
    assert not exporter.is_ready()
    exporter.discover_now()
    assert not exporter.is_ready()
    poll_all(exporter)
    assert exporter.is_ready()


def test_a_reload_that_changes_the_organization_rediscovers(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi, tmp_path: Any
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"organizations:\n{org_entry(accounts='{include: [mail-000]}')}{ONLY_ACCOUNT_COLLECTOR}"
    )
    from ses_exporter.config import load_config
    from ses_exporter.reload import Reloader

    exporter = Exporter(load_config(path), client_hooks=[fake_api.hook])
    reloader = Reloader(exporter, str(path))
    exporter.discover_now()
    assert len({t.account.key for t in exporter.targets}) == 1
    path.write_text(
        f"organizations:\n{org_entry(accounts='{include: [mail-00.]}')}{ONLY_ACCOUNT_COLLECTOR}"
    )
    before = list(exporter.targets)
    assert reloader.reload()[0]
    # Until the changed entry's own discovery answers, it keeps what it found before.
    assert exporter.targets == before
    exporter.discover_now()
    assert len({t.account.key for t in exporter.targets}) == 10
    assert all(t in exporter.targets for t in before)


def test_a_reload_that_changes_the_organization_keeps_its_targets_and_counters(
    org: tuple[OrgWorld, Any], fake_api: FakeAccountApi, tmp_path: Any
) -> None:
    """A changed entry (here its configuration-set filter, then a narrower accounts
    filter) starts from the accounts its previous version found: its targets are the same
    objects, their counters go on, and a ListAccounts that fails after the reload does not
    make them disappear. (It used to drop every discovered target on such a reload and
    rebuild it from the next discovery: counters restarted from 0, a soak found them
    decreasing within one process.)"""
    failing = {"on": False}
    throttle = throttled_list_accounts(failing)
    from ses_exporter.config import load_config
    from ses_exporter.reload import Reloader

    path = tmp_path / "config.yaml"
    entry = org_entry(accounts='{include: ["mail-00[0-3]"]}')
    path.write_text(f"organizations:\n{entry}{ONLY_ACCOUNT_COLLECTOR}")
    exporter = Exporter(load_config(path), client_hooks=[fake_api.hook, throttle])
    reloader = Reloader(exporter, str(path))
    exporter.discover_now()
    poll_all(exporter)
    before = {(t.account.label, t.region): t for t in exporter.targets}
    assert len(before) == 8
    requests = "ses_exporter_aws_requests_total"
    calls = exporter_value(exporter, requests, operation="GetAccount", outcome="success")
    assert calls == 8

    failing["on"] = True  # every discovery after the reloads fails
    changed = org_entry(
        accounts='{include: ["mail-00[0-3]"]}', configuration_sets="{exclude: [quiet]}"
    )
    path.write_text(f"organizations:\n{changed}{ONLY_ACCOUNT_COLLECTOR}")
    assert reloader.reload()[0]
    exporter.discover_now()
    after = {(t.account.label, t.region): t for t in exporter.targets}
    assert after.keys() == before.keys()
    assert all(after[key] is before[key] for key in before)  # clients, counters, timers
    assert exporter_value(exporter, requests, operation="GetAccount", outcome="success") == 8
    poll_all(exporter)
    assert exporter_value(exporter, requests, operation="GetAccount", outcome="success") == 16
    assert exporter_value(exporter, "ses_exporter_organization_accounts", organization="main") == 4

    narrower = changed.replace("mail-00[0-3]", "mail-00[0-1]")
    path.write_text(f"organizations:\n{narrower}{ONLY_ACCOUNT_COLLECTOR}")
    assert reloader.reload()[0]
    kept = {(t.account.label, t.region): t for t in exporter.targets}
    assert len(kept) == 4  # the new filter applies at once, to what was found before
    assert all(kept[key] is before[key] for key in kept)
    assert exporter_value(exporter, "ses_exporter_organization_accounts", organization="main") == 2
