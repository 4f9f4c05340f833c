"""deploy/iam: the policy grants exactly the calls the collectors make, nothing more."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import FakeAccountApi, denied
from tests.golden import full_scrape

IAM = Path(__file__).parent.parent / "deploy" / "iam"
IAM_PREFIX = {"ses": "ses", "sesv2": "ses", "cloudwatch": "cloudwatch", "sts": "sts"}
NEEDS_NO_GRANT = {"sts:GetCallerIdentity"}


def granted(policy: str) -> set[str]:
    document = json.loads((IAM / policy).read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_policy_grants_every_call_of_every_collector_and_nothing_else(
    aws: None, fake_api: FakeAccountApi
) -> None:
    fake_api.fail("eu-west-1", "GetAccount", denied())  # the v1 fallback is used too
    body = full_scrape(fake_api).decode()
    called = {
        f"{IAM_PREFIX[s.labels['service']]}:{s.labels['operation']}"
        for family in text_string_to_metric_families(body)
        if family.name == "ses_exporter_aws_requests"
        for s in family.samples
        # the golden run also discovers an organization: organizations-discovery-policy.json
        if s.labels["service"] != "organizations"
    }
    assert "ses:GetSendQuota" in called and "ses:GetAccountSendingEnabled" in called
    assert granted("ses-exporter-policy.json") == called - NEEDS_NO_GRANT
    assert not any(
        a.split(":")[1].startswith(("Put", "Send", "Create", "Delete", "Update"))
        for a in granted("ses-exporter-policy.json")
    )


def test_assume_role_policy_only_assumes_roles() -> None:
    assert granted("assume-role-policy.json") == {"sts:AssumeRole"}


def test_discovery_policy_grants_every_organizations_call_and_nothing_else(aws: None) -> None:
    """Measured: the calls a discovery makes, with and without organizational_units."""
    import boto3

    from ses_exporter.aws import ClientFactory, RequestCounter
    from ses_exporter.config import OrganizationConfig
    from ses_exporter.discovery import OrganizationDiscovery
    from tests.orgworld import build_organization

    world = build_organization(boto3.client("organizations", region_name="us-east-1"), 30)
    counter = RequestCounter()
    for units in ((), (world.ou_id("prod"),)):
        config = OrganizationConfig(
            member_role_name="ses-exporter", regions=("us-east-1",), organizational_units=units
        )
        assert OrganizationDiscovery(0, config, ClientFactory(counter)).refresh()
    called = {f"organizations:{operation}" for _, operation, _ in counter.snapshot()}
    assert granted("organizations-discovery-policy.json") == called


def test_member_role_template_grants_the_exporter_policy_to_the_exporter_only() -> None:
    template = json.loads((IAM / "member-role.cfn.json").read_text())
    role = template["Resources"]["SesExporterRole"]["Properties"]
    policy = json.loads((IAM / "ses-exporter-policy.json").read_text())
    assert role["Policies"] == [{"PolicyName": "ses-exporter-read-only", "PolicyDocument": policy}]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": {"Ref": "ExporterPrincipalArn"}}
    assert template["Parameters"]["ExternalId"]["NoEcho"] is True
