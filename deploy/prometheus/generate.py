"""Generate the Prometheus rules of ses-exporter from one small config: rules are code.

    python3 deploy/prometheus/generate.py           # rewrite ses-exporter.rules.yml
    python3 deploy/prometheus/generate.py --check   # exit 1 if the committed file is stale
    python3 deploy/prometheus/generate.py --config mine.yml --output my.rules.yml

The settings (rules-config.yml next to this script, every key optional): the job
selector, the Grafana and runbook base URLs, the labels that tell replicas apart, the
`for` of every alert, keep_firing_for of the critical alerts, and two levels. A bad
setting is reported with its key path and exit status 2, like the exporter's config.

What the rules rely on, and why (docs/runbooks.md has one section per alert):

* Every alert about SES aggregates the replica labels away (`max without (instance,
  pod)`), so two replicas polling the same account raise one alert; the two about the
  exporter's own process (down, config reload) stay per instance.
* The reputation thresholds come from the exporter (`ses_exporter_reputation_threshold_ratio`,
  its `reputation_thresholds` config), joined on `job`: no copy of them lives here.
* Critical alerts have `keep_firing_for`: when their data goes stale (a collector keeps
  failing, the exporter is gone) they keep firing until SesExporterDataStale or
  SesExporterDown has taken over, instead of resolving as if the problem were fixed.
  Prometheus supports it from 2.42 (checked with Debian's promtool 2.42 in the tests).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "rules-config.yml"
OUTPUT = HERE / "ses-exporter.rules.yml"
GROUPS = ("ses-exporter.recording", "ses-exporter.alerts")
ACCOUNT_DASHBOARD = "ses-account-dashboard"
REPUTATION_DASHBOARD = "ses-reputation-metrics"
USD_PER_1000_METRICS = 0.01  # CloudWatch GetMetricData, standard resolution
QUOTA_PREDICTION_FLOOR = 0.5  # no forecast below half the quota used (see the rule)
_DURATION = re.compile(r"0|([0-9]+(ms|s|m|h|d))+")


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    job_selector: str = 'job="ses-exporter"'
    grafana_url: str = "http://localhost:3000"
    runbook_url: str = "https://github.com/ses-exporter/ses-exporter/blob/main/docs/runbooks.md"
    replica_labels: tuple[str, ...] = ("instance", "pod")
    keep_firing_for: str = "1h"
    reject_min_count: int = 10
    cloudwatch_monthly_budget_usd: float = 50.0
    for_: Mapping[str, str] = field(default_factory=dict)


class SettingsError(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def _duration(path: str, value: Any, errors: list[str]) -> str:
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        errors.append(f"{path}: {value!r} is not a Prometheus duration (e.g. 30s, 5m, 1h)")
    return str(value)


def _text(key: str, value: Any, errors: list[str]) -> Any:
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{key}: expected a non-empty string")
    elif key != "job_selector" and not re.match(r"https?://", value):
        errors.append(f"{key}: {value!r} is not an absolute http(s) URL")
    else:
        return value if key == "job_selector" else value.rstrip("/")
    return None


def _labels(key: str, value: Any, errors: list[str]) -> Any:
    if isinstance(value, list) and all(
        isinstance(v, str) and re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", v) for v in value
    ):
        return tuple(value)
    errors.append(f"{key}: expected a list of label names")
    return None


def _count(key: str, value: Any, errors: list[str]) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    errors.append(f"{key}: expected a whole number >= 1")
    return None


def _money(key: str, value: Any, errors: list[str]) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    errors.append(f"{key}: expected a positive number")
    return None


def _fors(key: str, value: Any, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        errors.append(f"{key}: expected a mapping of alert names to durations")
        return None
    names = alert_names()
    for name in value:
        if name not in names:
            errors.append(f"{key}.{name}: no such alert")
    return {name: _duration(f"{key}.{name}", d, errors) for name, d in value.items()}


_CHECKS: dict[str, Callable[[str, Any, list[str]], Any]] = {
    "job_selector": _text,
    "grafana_url": _text,
    "runbook_url": _text,
    "replica_labels": _labels,
    "keep_firing_for": _duration,
    "reject_min_count": _count,
    "cloudwatch_monthly_budget_usd": _money,
    "for": _fors,
}


def load_settings(data: Any) -> Settings:
    """Settings from the parsed YAML; every problem at once, each with its key path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(["(top level): expected a mapping"])
    errors: list[str] = []
    values: dict[str, Any] = {}
    for key, value in data.items():
        check = _CHECKS.get(key)
        if check is None:
            errors.append(f"{key}: unknown key (known: {', '.join(_CHECKS)})")
            continue
        values["for_" if key == "for" else key] = check(key, value, errors)
    if errors:
        raise SettingsError(errors)
    return replace(Settings(), **values)


# ---------------------------------------------------------------- PromQL pieces


@dataclass(frozen=True)
class Q:
    """PromQL and annotation helpers bound to the settings."""

    s: Settings

    def sel(self, metric: str, *matchers: str) -> str:
        return f"{metric}{{{', '.join([self.s.job_selector, *matchers])}}}"

    def one(self, expr: str) -> str:
        """One series per target, whichever replicas report it."""
        return f"max without ({', '.join(self.s.replica_labels)}) ({expr})"

    def dashboard(self, uid: str, per_set: bool = False) -> str:
        # No spaces inside {{}}: a URL with none stays on one line in the YAML.
        query = "var-account_id={{$labels.account_id}}&var-region={{$labels.region}}"
        if per_set:
            query += "&var-configuration_set={{$labels.configuration_set}}"
        return f"{self.s.grafana_url}/d/{uid}/{uid}?{query}"

    def runbook(self, alert: str) -> str:
        return f"{self.s.runbook_url}#{alert.lower()}"


WHERE = "{{ $labels.account_id }} in {{ $labels.region }}"
SET = "configuration set {{ $labels.configuration_set }}"
SET_WHERE = "(account {{ $labels.account_id }}, {{ $labels.region }})"
VALUE_PCT = "{{ $value | humanizePercentage }}"


def threshold_text(rate: str, status: str) -> str:
    """The configured threshold, read from the exporter that reported the alert's series."""
    query = (
        f'`ses_exporter_reputation_threshold_ratio{{job="%s", rate="{rate}", status="{status}"}}`'
    )
    return (
        f"{{{{ with printf {query} $labels.job | query }}}}"
        "{{ . | first | value | humanizePercentage }}{{ else }}unknown{{ end }}"
    )


def text(*parts: str) -> str:
    return " ".join(parts)


# ---------------------------------------------------------------- the rules

Rule = dict[str, Any]
Comment = str


def recording_rules(q: Q) -> list[tuple[Comment, Rule]]:
    rejects = q.one(f"increase({q.sel('aws_ses_rejects_total')}[1h])")
    sends = q.one(f"increase({q.sel('aws_ses_sends_total')}[1h])")
    remaining = q.one(q.sel("aws_ses_remaining_sends"))
    slope = q.one(f"deriv({q.sel('aws_ses_sent_last_24h')}[1h])")
    return [
        (
            "Share of the emails SES accepted in the last hour that it then rejected (CloudWatch\n"
            "Reject / Send), per target; absent while nothing was sent, instead of NaN or +Inf.\n"
            "increase / increase rather than rate / rate: whole counts give exact ratios.\n"
            "increase() sees the first reject after the exporter started because the exporter\n"
            "exposes every counter at 0 before its first non-zero value.",
            {
                "record": "ses:reject_ratio:rate1h",
                "expr": f"{rejects}\n  /\n({sends} > 0)\n",
            },
        ),
        (
            "Seconds until the daily sending quota is used up at the pace of the last hour;\n"
            "absent while the rolling 24-hour count is flat or falling, +Inf when unlimited.\n"
            "The slope of SentLast24Hours (not the send rate) is what is sent now minus what\n"
            "leaves the 24-hour window, so an account that sends as much as yesterday at the\n"
            "same hours stays flat and is never predicted to run out.",
            {
                "record": "ses:sending_quota_exhaustion_seconds:deriv1h",
                "expr": f"{remaining}\n  /\n({slope} > 0)\n",
            },
        ),
    ]


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    expr: str
    summary: str
    description: str
    dashboard: str
    comment: str = ""
    extra_labels: Mapping[str, str] = field(default_factory=dict)


def exporter_alerts(q: Q) -> list[Alert]:
    up = q.sel("up")
    throttled = q.sel(
        "ses_exporter_aws_requests_total",
        'outcome=~"Throttling|ThrottlingException|TooManyRequestsException'
        '|RequestLimitExceeded|LimitExceededException"',
    )
    requests = q.sel("ses_exporter_aws_requests_total")
    keep = ", ".join([*q.s.replica_labels, "outcome"])
    requested = q.sel("ses_exporter_cloudwatch_metrics_requested_total")
    per_account = ", ".join([*q.s.replica_labels, "region"])
    monthly = f"30 * 86400 * {USD_PER_1000_METRICS} / 1000"
    home = f"{q.s.grafana_url}/d/{ACCOUNT_DASHBOARD}/{ACCOUNT_DASHBOARD}"
    return [
        Alert(
            "SesExporterDown",
            "warning",
            f"{up} == 0\n  or\nabsent({up})\n",
            "ses-exporter is down or not scraped",
            text(
                "Prometheus has not scraped ses-exporter{{ with $labels.instance }} at",
                "{{ . }}{{ end }} (job {{ $labels.job }}) for {{ $for }}, or has no such target.",
                "No SES alert can fire for the targets it polls until it is back.",
            ),
            home,
            "Per instance: with sharding, each replica polls its own targets. absent() also\n"
            "fires when Prometheus has no such target at all (service discovery, relabelling).",
        ),
        Alert(
            "SesExporterCollectorFailing",
            "warning",
            f"{q.one(q.sel('ses_exporter_collector_success'))} == 0\n",
            text(
                "ses-exporter collector {{ $labels.collector }} is failing for",
                WHERE,
            ),
            text(
                "Every poll of the {{ $labels.collector }} collector for account",
                "{{ $labels.account_id }} in {{ $labels.region }} has failed for {{ $for }}.",
                "The exporter's log and ses_exporter_aws_requests_total by outcome show why",
                "(throttling, AccessDenied, timeouts). The last good values stay exposed until",
                "they are older than max_staleness (3 x the collector's interval by default).",
            ),
            q.dashboard(ACCOUNT_DASHBOARD),
            "At least two polls of the slowest default collector (configuration_sets, every 15\n"
            "minutes) by default, so one throttled poll does not alert. max over replicas: a\n"
            "replica that still succeeds keeps the data flowing.",
        ),
        Alert(
            "SesExporterDataStale",
            "warning",
            "time() - "
            + q.one(q.sel("ses_exporter_collector_last_success_timestamp_seconds"))
            + " > 3600\n",
            text(
                "ses-exporter data of {{ $labels.collector }} for",
                WHERE,
                "is {{ $value | humanizeDuration }} old",
            ),
            text(
                "The {{ $labels.collector }} collector for account {{ $labels.account_id }} in",
                "{{ $labels.region }} has not completed a successful poll for",
                "{{ $value | humanizeDuration }}. Its series have been dropped, so the alerts",
                "that need them cannot fire. If ses_exporter_collector_success still shows 1, a",
                "poll is hung: restart the exporter.",
            ),
            q.dashboard(ACCOUNT_DASHBOARD),
            "Age of the last successful poll, whatever the last poll did: also catches a hung\n"
            "poll. 1 hour is past the default max_staleness of every collector; critical\n"
            "alerts keep firing (keep_firing_for) until this one has taken over.",
        ),
        Alert(
            "SesExporterConfigReloadFailed",
            "warning",
            f"{q.sel('ses_exporter_config_last_reload_successful')} == 0\n",
            "ses-exporter failed to reload its configuration",
            text(
                "The last configuration reload of ses-exporter at {{ $labels.instance }} failed;",
                "it keeps running with the previous configuration. `ses-exporter --config.check",
                "--config.file=...` lists the errors.",
            ),
            home,
        ),
        Alert(
            "SesExporterThrottled",
            "warning",
            f"sum without ({keep}) (rate({throttled}[15m]))\n  /\n"
            f"sum without ({keep}) (rate({requests}[15m]))\n  >= 0.1\n",
            text(
                "AWS throttles {{ $value | humanizePercentage }} of ses-exporter's",
                "{{ $labels.service }} {{ $labels.operation }} requests",
            ),
            text(
                "For {{ $for }}, {{ $value | humanizePercentage }} of the exporter's",
                "{{ $labels.service }} {{ $labels.operation }} calls failed with a throttling",
                "error after botocore's retries, so those polls failed. Its calls share the",
                "account's API rate limit with your applications: lengthen the collector's",
                "interval or narrow configuration_sets.",
            ),
            home,
            "ses_exporter_aws_requests_total counts calls after botocore's retries: the share of\n"
            "calls that still ended in a throttling error, per service and operation.",
        ),
        Alert(
            "SesCloudWatchSpendHigh",
            "warning",
            f"sum without ({per_account}) (rate({requested}[1h])) * {monthly}\n"
            f"  > {q.s.cloudwatch_monthly_budget_usd:g}\n",
            text(
                "ses-exporter's CloudWatch requests for {{ $labels.account_id }} cost about",
                '${{ $value | printf "%.0f" }} a month',
            ),
            text(
                "At the rate of the last hour, the GetMetricData requests of ses-exporter for",
                "account {{ $labels.account_id }} (all regions) cost about",
                '${{ $value | printf "%.2f" }} over 30 days ($0.01 per 1,000 metrics',
                f"requested), more than the budget of ${q.s.cloudwatch_monthly_budget_usd:g}.",
                "Lengthen collectors.cloudwatch.interval or narrow configuration_sets",
                "(each set adds its own metrics).",
            ),
            q.dashboard(ACCOUNT_DASHBOARD).split("&var-region")[0],
            "Summed over replicas, not deduplicated: two replicas polling the same account\n"
            "both pay. The price is that of us-east-1; it is the same in most regions.",
        ),
    ]


def health_alerts(q: Q) -> list[Alert]:
    shutdown = q.one(q.sel("aws_ses_account_enforcement_status", 'status="SHUTDOWN"'))
    disabled = q.one(q.sel("aws_ses_account_sending_enabled"))
    return [
        Alert(
            "SesAccountUnderReview",
            "critical",
            q.one(q.sel("aws_ses_account_enforcement_status", 'status="PROBATION"')) + " == 1\n",
            f"SES account {WHERE} is under review",
            text(
                f"AWS has put SES of account {WHERE} under review (enforcement status",
                'PROBATION, "Under review" in the console), usually for a high bounce or',
                "complaint rate. Fix the cause before the review period ends, or AWS pauses",
                "sending.",
            ),
            q.dashboard(ACCOUNT_DASHBOARD),
        ),
        Alert(
            "SesSendingPaused",
            "critical",
            f"max without (status) ({shutdown}) == 1\n  or\n{disabled} == 0\n",
            f"SES sending is paused for {WHERE}",
            text(
                "{{ if eq $value 1.0 }}AWS has paused sending (enforcement status SHUTDOWN,",
                '"Paused" in the console){{ else }}Sending is disabled (SendingEnabled is',
                f"false){{{{ end }}}} for account {WHERE}: SES rejects every email it is asked",
                "to send there.",
            ),
            q.dashboard(ACCOUNT_DASHBOARD),
            "Enforcement SHUTDOWN (AWS paused the account) or SendingEnabled false (paused by\n"
            "someone, and the only signal on the v1 API fallback): 1 for SHUTDOWN, 0 for\n"
            "sending disabled.",
        ),
        Alert(
            "SesConfigurationSetSendingPaused",
            "warning",
            q.one(q.sel("aws_ses_configuration_set_sending_enabled")) + " == 0\n",
            text(
                "SES configuration set {{ $labels.configuration_set }} is paused in",
                "{{ $labels.account_id }}/{{ $labels.region }}",
            ),
            text(
                f"Sending is disabled for {SET} of account {WHERE} (SendingEnabled is false):",
                "SES rejects every email sent with it. Silence this if the set was paused on",
                "purpose.",
            ),
            q.dashboard(REPUTATION_DASHBOARD, per_set=True),
        ),
    ]


LEVELS = {  # level -> (severity account-wide, per set, statuses that count)
    "ApproachingReview": ("warning", "info", ""),
    "UnderReview": ("critical", "warning", "under_review|at_risk"),
    "AtRisk": ("critical", "critical", "at_risk"),
}
ADVICE = {
    ("bounce", False): "Find the configuration set that bounces and clean its recipient lists.",
    ("complaint", False): (
        "Find the configuration set that draws complaints and check its opt-in and "
        "unsubscribe handling."
    ),
    ("bounce", True): "Stop its traffic to the bouncing addresses.",
    ("complaint", True): "Stop the mail of this set that draws complaints.",
}


def reputation_alert(q: Q, rate: str, level: str, per_set: bool) -> Alert:
    prefix = "aws_ses_configuration_set_" if per_set else "aws_ses_"
    ratio = q.one(q.sel(f"{prefix}reputation_{rate}_ratio"))
    account_severity, set_severity, statuses = LEVELS[level]
    who = f"{SET} {SET_WHERE}" if per_set else f"account {WHERE}"
    short = f"{SET}" if per_set else WHERE
    name = f"Ses{'ConfigurationSet' if per_set else ''}{rate.capitalize()}Rate{level}"
    if level == "ApproachingReview":
        threshold = q.one(
            q.sel(
                "ses_exporter_reputation_threshold_ratio", f'rate="{rate}"', 'status="under_review"'
            )
        )
        expr = f"{ratio}\n  >= on (job) group_left ()\n({threshold} * 4 / 5)\n"
        where = "at least 80% of the review threshold"
        status = "under_review"
    else:
        matchers = (f'rate="{rate}"', f'status=~"{statuses}"')
        if "|" not in statuses:
            matchers = (f'rate="{rate}"', f'status="{statuses}"')
        flag = q.one(q.sel(f"{prefix}reputation_status", *matchers) + " == 1")
        expr = f"{ratio}\n  and ignoring (rate, status)\n{flag}\n"
        status = "under_review" if level == "UnderReview" else "at_risk"
        where = (
            "at or above the " + ("review" if level == "UnderReview" else "at-risk") + " threshold"
        )
    consequence = {
        "ApproachingReview": (
            f"It pulls the account's {rate} rate towards review."
            if per_set
            else "AWS may put the account under review at that threshold."
        ),
        "UnderReview": (
            "If its volume is large it will put the whole account under review."
            if per_set
            else f"AWS puts accounts whose {rate} rate stays there under review."
        ),
        "AtRisk": (
            "It may get the whole account paused: pause the set if nothing else helps."
            if per_set
            else "AWS may pause sending from this account."
        ),
    }[level]
    return Alert(
        name,
        set_severity if per_set else account_severity,
        expr,
        f"SES {rate} rate of {short} is {VALUE_PCT}"
        + (
            (": at risk" if per_set else ": sending at risk") if level == "AtRisk" else f", {where}"
        ),
        text(
            f"The {rate} rate of {who} is {VALUE_PCT}, {where}",
            f"({threshold_text(rate, status)}, the exporter's reputation_thresholds).",
            consequence,
            ADVICE[(rate, per_set)],
        ),
        q.dashboard(REPUTATION_DASHBOARD, per_set=per_set),
        extra_labels={"rate": rate},
    )


def reputation_alerts(q: Q) -> list[Alert]:
    return [
        reputation_alert(q, rate, level, per_set)
        for per_set in (False, True)
        for rate in ("bounce", "complaint")
        for level in LEVELS
    ]


def quota_alerts(q: Q) -> list[Alert]:
    used = q.one(q.sel("aws_ses_sending_quota_used_ratio"))
    growing = q.one(f"deriv({q.sel('aws_ses_sent_last_24h')}[15m])")
    rejects = q.one(f"increase({q.sel('aws_ses_rejects_total')}[1h])")
    return [
        Alert(
            "SesDailyQuotaHigh",
            "warning",
            f"{used} >= 0.80\n",
            f"SES account {WHERE} has used {VALUE_PCT} of its daily sending quota",
            text(
                f"{VALUE_PCT} of the 24-hour sending quota of account {WHERE} is used. At 100%",
                "SES rejects sends until older emails leave the 24-hour window. Hold back bulk",
                "mail or ask AWS for a higher quota.",
            ),
            q.dashboard(ACCOUNT_DASHBOARD),
            "aws_ses_sending_quota_used_ratio is 0 for an unlimited quota: never fires for one.",
        ),
        Alert(
            "SesDailyQuotaCritical",
            "critical",
            f"{used} >= 0.95\n",
            f"SES account {WHERE} has used {VALUE_PCT} of its daily sending quota: sends fail soon",
            text(
                f"{VALUE_PCT} of the 24-hour sending quota of account {WHERE} is used; SES",
                "starts rejecting sends at 100%. Stop bulk mail now so transactional mail still",
                "goes out.",
            ),
            q.dashboard(ACCOUNT_DASHBOARD),
        ),
        Alert(
            "SesDailyQuotaExhaustionPredicted",
            "warning",
            "ses:sending_quota_exhaustion_seconds:deriv1h < 4 * 3600\n"
            f"  and\n{used} >= {QUOTA_PREDICTION_FLOOR}\n  and\n{growing} > 0\n",
            f"SES account {WHERE} runs out of daily sending quota in "
            "{{ $value | humanizeDuration }}",
            text(
                "At the pace of the last hour (new sends minus those leaving the 24-hour",
                f"window), the remaining sending quota of account {WHERE} lasts",
                "{{ $value | humanizeDuration }}, less than 4 hours, and the account is still",
                "sending. Then SES rejects sends. Spread bulk mail out or ask AWS for a higher",
                "quota.",
            ),
            q.dashboard(ACCOUNT_DASHBOARD),
            "Modelled on node-mixin's NodeFilesystemSpaceFillingUp: a forecast alone is noisy,\n"
            "so it also needs half the quota used already, sending still in progress (the\n"
            "window grew over the last 15 minutes: a campaign that has ended stops it), and a\n"
            "long `for` (one-off bursts end before it).",
        ),
        Alert(
            "SesRejectRateSpike",
            "warning",
            f"ses:reject_ratio:rate1h >= 0.01\n  and\n{rejects} >= {q.s.reject_min_count}\n",
            f"SES rejects {VALUE_PCT} of the emails of {WHERE}",
            text(
                f"In the last hour SES rejected {VALUE_PCT} of the emails sent by account",
                f"{WHERE} (CloudWatch Reject / Send). SES rejects emails that contain a virus:",
                "find the application sending infected attachments, it may be compromised.",
            ),
            q.dashboard(ACCOUNT_DASHBOARD),
            "SES rejects only emails that contain a virus, so a healthy sender sees almost\n"
            "none: an absolute level is the spike detector, with a minimum count so that one\n"
            "infected email among a handful does not page.",
        ),
    ]


ALERT_GROUPS: list[tuple[str, Callable[[Q], list[Alert]]]] = [
    ("The exporter", exporter_alerts),
    ("Account health", health_alerts),
    ("Reputation (account-wide, then per configuration set)", reputation_alerts),
    ("Sending quota and rejects", quota_alerts),
]
DEFAULT_FOR = {  # alert -> `for`; rules-config.yml lists the same
    "SesExporterDown": "5m",
    "SesExporterCollectorFailing": "30m",
    "SesExporterDataStale": "0s",
    "SesExporterConfigReloadFailed": "5m",
    "SesExporterThrottled": "30m",
    "SesCloudWatchSpendHigh": "1h",
    "SesAccountUnderReview": "5m",
    "SesSendingPaused": "5m",
    "SesConfigurationSetSendingPaused": "5m",
    "SesBounceRateApproachingReview": "30m",
    "SesBounceRateUnderReview": "15m",
    "SesBounceRateAtRisk": "5m",
    "SesComplaintRateApproachingReview": "30m",
    "SesComplaintRateUnderReview": "15m",
    "SesComplaintRateAtRisk": "5m",
    "SesConfigurationSetBounceRateApproachingReview": "30m",
    "SesConfigurationSetBounceRateUnderReview": "15m",
    "SesConfigurationSetBounceRateAtRisk": "5m",
    "SesConfigurationSetComplaintRateApproachingReview": "30m",
    "SesConfigurationSetComplaintRateUnderReview": "15m",
    "SesConfigurationSetComplaintRateAtRisk": "5m",
    "SesDailyQuotaHigh": "15m",
    "SesDailyQuotaCritical": "5m",
    "SesDailyQuotaExhaustionPredicted": "1h",
    "SesRejectRateSpike": "15m",
}


def alert_names() -> list[str]:
    q = Q(Settings())
    return [a.name for _, build in ALERT_GROUPS for a in build(q)]


def alert_rule(q: Q, alert: Alert) -> Rule:
    rule: Rule = {"alert": alert.name, "expr": alert.expr}
    duration = q.s.for_.get(alert.name, DEFAULT_FOR.get(alert.name, "0s"))
    if duration not in {"0", "0s"}:
        rule["for"] = duration
    if alert.severity == "critical":
        rule["keep_firing_for"] = q.s.keep_firing_for
    rule["labels"] = {"severity": alert.severity, **alert.extra_labels}
    rule["annotations"] = {
        "summary": alert.summary,
        "description": alert.description.replace("{{ $for }}", humanize(duration)),
        "dashboard": alert.dashboard,
        "runbook_url": q.runbook(alert.name),
    }
    return rule


def humanize(duration: str) -> str:
    units = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    parts = re.findall(r"([0-9]+)(ms|s|m|h|d)", duration)
    words = []
    for number, unit in parts:
        word = units[unit]
        words.append(f"{number} {word[:-1] if number == '1' else word}")
    return " ".join(words) or "0 seconds"


# ---------------------------------------------------------------- YAML with comments


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Literal blocks for expressions, folded paragraphs for prose, URLs on one line.
    style = "|" if "\n" in value else None
    if style is None and len(value) > 70 and not value.startswith("http"):
        style = ">"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

HEADER = """\
# Prometheus recording and alerting rules for ses-exporter.
# GENERATED by deploy/prometheus/generate.py from rules-config.yml: edit those, then run
#   python3 deploy/prometheus/generate.py
#
# Check:  promtool check rules deploy/prometheus/ses-exporter.rules.yml
# Test:   promtool test rules deploy/prometheus/ses-exporter.rules.test.yml
#
# Severity:
#   critical  SES rejects mail now, or AWS is about to make it (review, pause, quota).
#   warning   act within hours: a threshold is near, or the exporter cannot see SES.
#   info      worth a look: one configuration set is drifting towards a threshold.
#
# Levels are cumulative ("...UnderReview" still fires past the at-risk threshold), so an
# alert never resolves because things got worse; deploy/prometheus/alertmanager.yml
# inhibits the lower level while the higher one fires. Every alert has a `runbook_url`
# (docs/runbooks.md) and an absolute `dashboard` link.
"""


def _indent(block: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in block.splitlines(True))


def _comment(comment: str, spaces: int) -> str:
    return "".join(f"{' ' * spaces}# {line}".rstrip() + "\n" for line in comment.splitlines())


def _rule_yaml(rule: Rule) -> str:
    body = yaml.dump(rule, Dumper=_Dumper, sort_keys=False, width=80, allow_unicode=True)
    first, *rest = body.splitlines(True)
    return "      - " + first + _indent("".join(rest), 8)


def render(settings: Settings) -> str:
    q = Q(settings)
    out = [HEADER, "\ngroups:\n", f"  - name: {GROUPS[0]}\n    rules:\n"]
    for comment, rule in recording_rules(q):
        out += ["\n", _comment(comment, 6), _rule_yaml(rule)]
    out.append(f"\n  - name: {GROUPS[1]}\n    rules:\n")
    for title, build in ALERT_GROUPS:
        out.append(f"\n      # ---- {title} " + "-" * max(4, 76 - len(title)) + "\n")
        for alert in build(q):
            out.append("\n")
            if alert.comment:
                out.append(_comment(alert.comment, 6))
            out.append(_rule_yaml(alert_rule(q, alert)))
    return "".join(out)


def rules(settings: Settings) -> dict[str, Any]:
    """The rules as data (what render() writes, parsed back)."""
    return dict(yaml.safe_load(render(settings)))


def settings_from_file(path: Path) -> Settings:
    return load_settings(yaml.safe_load(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG, help="settings (YAML)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="rules file to write")
    parser.add_argument("--check", action="store_true", help="fail if --output is stale")
    args = parser.parse_args(argv)
    try:
        content = render(settings_from_file(args.config))
    except SettingsError as err:
        for line in err.errors:
            print(f"{args.config}: {line}", file=sys.stderr)
        return 2
    except (OSError, yaml.YAMLError) as err:
        print(f"{args.config}: {err}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != content:
            print(
                f"stale: {args.output}; run python3 deploy/prometheus/generate.py", file=sys.stderr
            )
            return 1
        return 0
    args.output.write_text(content, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
