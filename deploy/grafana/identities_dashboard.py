"""SES / Identities: the identities SES sends from (verification, DKIM, custom MAIL FROM),
the dedicated IPs and their warm-up, and the account's suppression list.

The identity alerts (SesIdentity*), SesDedicatedIpWarmupCampaign and the suppression list
alerts link here. Identities are one table, the worst first, over the selected regions;
dedicated IPs and the suppression list are rows repeated per region, because their charts
link to the SES console page of one region (CloudWatch has no metric for them).
"""

from __future__ import annotations

from layout import dashboard
from panels import (
    BLUE,
    BY_TARGET,
    ENABLED,
    GREEN,
    GREY,
    ORANGE,
    RED,
    TARGET,
    Json,
    column,
    console_chart,
    exporter_panels,
    latest,
    merged_table,
    query,
    row,
    stat,
    status_code,
    table_query,
    words,
)

BY_IDENTITY = f"{BY_TARGET}, identity, identity_type"
BY_IP = f"{BY_TARGET}, pool, ip"
NOT_POLLED = (
    "No data from the exporter's {collector} collector (off, failing or down), or no {what}"
)


def states(*found: tuple[int, str, str, str]) -> list[tuple[int, str, str, str]]:
    """(code, matcher, word, colour), a higher code worse; statuses SES may add later are
    "Other" (3), between the good and the pending ones."""
    known = "|".join(m.split('"')[1] for _, m, _, _ in found)
    return sorted([*found, (3, f'status!~"{known}"', "Other", GREY)])


NOT_STARTED = (2, 'status="NOT_STARTED"', "Not started", GREY)
PENDING_OR_FAILED = (
    (4, 'status="PENDING"', "Pending", BLUE),
    (5, 'status="TEMPORARY_FAILURE"', "Temporary failure", ORANGE),
    (6, 'status="FAILED"', "Failed", RED),
)
VERIFICATION = states((1, 'status="SUCCESS"', "Verified", GREEN), NOT_STARTED, *PENDING_OR_FAILED)
DKIM = states((1, 'status="SUCCESS"', "Successful", GREEN), NOT_STARTED, *PENDING_OR_FAILED)
MAIL_FROM = states((1, 'status="SUCCESS"', "Successful", GREEN), *PENDING_OR_FAILED)
WARMUP = [
    (1, 'status="DONE"', "Done", GREEN),
    (2, 'status="NOT_APPLICABLE"', "Not applicable", GREY),
    (3, 'status!~"DONE|NOT_APPLICABLE|IN_PROGRESS"', "Other", GREY),
    (4, 'status="IN_PROGRESS"', "Warming up", ORANGE),
]
SIGNING = [(1, "On", GREEN), (0, "Off", ORANGE)]

VERIFICATION_CODE = status_code(
    "aws_ses_identity_verification_status", TARGET, BY_IDENTITY, VERIFICATION
)
DKIM_CODE = status_code("aws_ses_identity_dkim_status", TARGET, BY_IDENTITY, DKIM)
MAIL_FROM_CODE = status_code("aws_ses_identity_mail_from_status", TARGET, BY_IDENTITY, MAIL_FROM)
# Worst first: verification x 100, then DKIM x 10, then MAIL FROM (codes 1-6, 6 = FAILED);
# an identity whose details the exporter has not read yet, or without a custom MAIL FROM
# domain, counts 0 there.
WORST_FIRST = (
    f"100 * {VERIFICATION_CODE} + 10 * ({DKIM_CODE} or 0 * {VERIFICATION_CODE})"
    f" + ({MAIL_FROM_CODE} or 0 * {VERIFICATION_CODE})"
)


def count_by_status(title: str, family: str, description: str) -> Json:
    """Identities per status (each identity once, whichever replicas report it)."""
    one = f"max by ({BY_IDENTITY}, status) ({family}{{{TARGET}}} == 1)"
    panel = stat(
        title,
        f"count by (status) ({one})",
        (6, 4),
        description,
        unit="locale",
        decimals=0,
        noValue=NOT_POLLED.format(collector="identities", what="identities"),
    )
    panel["targets"][0]["legendFormat"] = "{{status}}"
    return panel


def identities_table() -> Json:
    columns = {
        "region": "Region",
        "identity": "Identity",
        "identity_type": "Type",
        "Value #A": "Worst first",
        "Value #B": "Verification",
        "Value #C": "DKIM",
        "Value #D": "DKIM signing",
        "Value #E": "MAIL FROM",
        "mail_from_domain": "MAIL FROM domain",
        "behavior_on_mx_failure": "On MX failure",
        "Value #G": "Sending",
        "configuration_set": "Configuration set",
        "account_id": "Account ID",
    }
    queries = {
        "A": WORST_FIRST,
        "B": VERIFICATION_CODE,
        "C": DKIM_CODE,
        "D": latest("aws_ses_identity_dkim_signing_enabled", by=BY_IDENTITY),
        "E": MAIL_FROM_CODE,
        "F": f"max by ({BY_IDENTITY}, mail_from_domain, behavior_on_mx_failure) "
        f"(aws_ses_identity_mail_from_status{{{TARGET}}} == 1)",
        "G": latest("aws_ses_identity_sending_enabled", by=BY_IDENTITY),
        "H": latest("aws_ses_identity_info", by=f"{BY_IDENTITY}, configuration_set"),
    }
    return merged_table(
        "Identities",
        columns,
        [table_query(expr, ref) for ref, expr in queries.items()],
        (24, 12),
        "Every identity of the selected account and regions (ListEmailIdentities, "
        "GetEmailIdentity), the worst first. 'Worst first' is the sort key: the "
        "verification status x 100, DKIM x 10, MAIL FROM, each coded 1 (successful) to 6 "
        "(failed): Pending 4, Temporary failure 5. SES rejects mail from an identity whose "
        "verification failed, sends a domain's mail without its DKIM signature while DKIM "
        "fails, and falls back to amazonses.com (USE_DEFAULT_VALUE) or rejects the mail "
        "(REJECT_MESSAGE) while the MAIL FROM domain is not successful. Empty DKIM or "
        "MAIL FROM cells: the exporter has not read the identity's details yet (it reads "
        "a few per poll), or the identity has no custom MAIL FROM domain. Configuration "
        "set: the identity's default one (empty: none).",
        sort_by="Worst first",
        hidden=("Value #F", "Value #H"),
        overrides=[
            column("Worst first", decimals=0, width=90),
            column("Verification", words=words(VERIFICATION)),
            column("DKIM", words=words(DKIM)),
            column("DKIM signing", words=SIGNING),
            column("MAIL FROM", words=words(MAIL_FROM)),
            column("Sending", words=ENABLED),
        ],
    )


def dedicated_ip_panels() -> list[Json]:
    ratio = latest("aws_ses_dedicated_ip_warmup_ratio", by=BY_IP)
    warmup = status_code("aws_ses_dedicated_ip_warmup_status", TARGET, BY_IP, WARMUP)
    pools = latest("aws_ses_dedicated_ip_pool_info", by=f"{BY_TARGET}, pool, scaling_mode")
    ips = {
        "region": "Region",
        "pool": "Pool",
        "ip": "IP",
        "Value #A": "Warm-up",
        "Value #B": "Warmed up",
        "account_id": "Account ID",
    }
    no_ips = NOT_POLLED.format(collector="dedicated_ips", what="dedicated IPs")
    return [
        row("Dedicated IPs · $region", repeat="region"),
        console_chart(
            "Warm-up per IP",
            [query(ratio, "{{ip}} ({{pool}}) {{region}}")],
            (12, 8),
            "How far each dedicated IP is warmed up (GetDedicatedIps WarmupPercentage / 100). "
            "While an IP warms up, SES sends only part of the mail over it; a campaign then "
            "raises SesDedicatedIpWarmupCampaign. The links open the SES console's dedicated "
            "IPs page of the series' region.",
            unit="percentunit",
            page="dedicated-ips",
            page_title="SES console: Dedicated IPs",
            noValue=no_ips,
            max=1,
        ),
        merged_table(
            "Dedicated IPs",
            ips,
            [table_query(warmup, "A"), table_query(ratio, "B")],
            (6, 8),
            "Each dedicated IP's warm-up status (GetDedicatedIps WarmupStatus), warming up "
            "first, and how far it is warmed up.",
            sort_by="Warm-up",
            overrides=[
                column("Warm-up", words=words(WARMUP)),
                column("Warmed up", unit="percentunit", decimals=0),
            ],
        ),
        merged_table(
            "Pools",
            {"region": "Region", "pool": "Pool", "scaling_mode": "Scaling mode"},
            [table_query(pools, "A")],
            (6, 8),
            "Dedicated IP pools (ListDedicatedIpPools, GetDedicatedIpPool): STANDARD pools "
            "hold the IPs you lease and warm up; MANAGED pools are scaled and warmed by SES.",
            sort_by="Pool",
            hidden=("Value #A",),
            overrides=[],
        ),
    ]


def suppression_panels() -> list[Json]:
    size = latest("aws_ses_suppressed_destinations", by=f"{BY_TARGET}, reason")
    off = NOT_POLLED.format(collector="suppression", what="suppression list (off by default)")
    truncated = stat(
        "Count complete",
        latest("aws_ses_suppressed_destinations_truncated"),
        (6, 4),
        "Whether the exporter counted the whole list: it reads at most "
        "collectors.suppression.max_pages pages of 1,000 addresses per poll; past that the "
        "count is a lower bound (SesSuppressionListTruncated): raise max_pages.",
        unit="locale",
        background=True,
        mappings=[
            {
                "options": {
                    "0": {"color": GREEN, "index": 0, "text": "Complete"},
                    "1": {"color": ORANGE, "index": 1, "text": "Truncated: raise max_pages"},
                },
                "type": "value",
            }
        ],
        noValue=off,
    )
    reasons = stat(
        "Reasons SES suppresses",
        latest("aws_ses_suppression_reason_enabled", by=f"{BY_TARGET}, reason"),
        (6, 4),
        "The reasons for which SES adds addresses to the account's suppression list "
        "(GetAccount SuppressionAttributes.SuppressedReasons).",
        unit="none",
        background=True,
        mappings=[
            {
                "options": {
                    str(v): {"color": c, "index": i, "text": t}
                    for i, (v, t, c) in enumerate(ENABLED)
                },
                "type": "value",
            }
        ],
        noValue=off,
    )
    reasons["targets"][0]["legendFormat"] = "{{reason}} {{region}}"
    return [
        row("Suppression list · $region", repeat="region"),
        console_chart(
            "Suppressed addresses",
            [query(size, "{{reason}} {{account_id}} {{region}}")],
            (12, 8),
            "Addresses on the account's suppression list per reason "
            "(ListSuppressedDestinations), polled hourly; a lower bound while the count is "
            "truncated. A steep rise raises SesSuppressionListGrowing. The links open the SES "
            "console's suppression list page of the series' region.",
            unit="locale",
            page="suppression-list",
            page_title="SES console: Suppression list",
            noValue=off,
            decimals=0,
        ),
        truncated,
        reasons,
    ]


def identities_panels() -> list[Json]:
    identities = stat(
        "Identities per type",
        latest("aws_ses_identities", by=f"{BY_TARGET}, identity_type"),
        (6, 4),
        "Identities per type (ListEmailIdentities, after collectors.identities.include / "
        "exclude): EMAIL_ADDRESS, DOMAIN, MANAGED_DOMAIN.",
        unit="locale",
        decimals=0,
        noValue=NOT_POLLED.format(collector="identities", what="identities"),
    )
    identities["targets"][0]["legendFormat"] = "{{identity_type}} {{region}}"
    return [
        row("Identities"),
        identities,
        count_by_status(
            "Verification",
            "aws_ses_identity_verification_status",
            "Identities per verification status (ListEmailIdentities VerificationStatus). "
            "SES rejects mail from a FAILED identity; TEMPORARY_FAILURE turns into FAILED "
            "after 72 hours.",
        ),
        count_by_status(
            "DKIM",
            "aws_ses_identity_dkim_status",
            "Identities per DKIM status (GetEmailIdentity DkimAttributes.Status): SES signs "
            "a domain's mail only while it is SUCCESS.",
        ),
        count_by_status(
            "MAIL FROM",
            "aws_ses_identity_mail_from_status",
            "Identities with a custom MAIL FROM domain per status (GetEmailIdentity "
            "MailFromAttributes); anything but SUCCESS applies the identity's "
            "behavior_on_mx_failure.",
        ),
        identities_table(),
        *dedicated_ip_panels(),
        *suppression_panels(),
        *exporter_panels(),
    ]


def identities_dashboard() -> Json:
    return dashboard(
        "ses-identities",
        "SES / Identities",
        "The identities of ses-exporter's accounts (verification, DKIM, custom MAIL FROM), "
        "their dedicated IPs' warm-up and the account-level suppression list.",
        identities_panels(),
    )
