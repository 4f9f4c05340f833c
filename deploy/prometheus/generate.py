"""Generate the Prometheus rules of ses-exporter from one small config: rules are code.

    python3 deploy/prometheus/generate.py           # rewrite ses-exporter.rules.yml
    python3 deploy/prometheus/generate.py --check   # exit 1 if the committed file is stale
    python3 deploy/prometheus/generate.py --config mine.yml --output my.rules.yml

The settings (rules-config.yml next to this script, every key optional, each documented
there): the job selector, the Grafana and runbook base URLs, the labels that tell replicas
apart and those that identify one scrape target, thresholds (stale data, discovery, the
paused-set window, send rate, reputation trend, budgets, a mailbox provider's VDM rates
against the account's), extra labels, per-alert severities, disabled alerts and the `for`
of every alert. A bad setting is reported with
its key path and exit status 2, like the exporter's config.

What the rules rely on, and why (docs/runbooks.md has one section per alert):

* Every alert about SES aggregates the replica labels away (`max without (instance,
  pod)`), so two replicas polling the same account raise one alert; the two about the
  exporter's own process (down, config reload) stay per instance.
* The reputation thresholds come from the exporter (`ses_exporter_reputation_threshold_ratio`,
  its `reputation_thresholds` config): no copy of them lives here. They carry no target
  labels, only those of the scrape, so a series is joined with the thresholds of the
  process that exposed it: `on (join_labels)` (cluster, namespace, job, instance, pod:
  one scrape target; a label absent on both sides matches as empty), *inside* the
  `max without` of the replicas. Joined after the max on `job` alone, two releases in one
  job (or a global ruler's clusters) put two threshold series in one match group and
  Prometheus refuses the whole expression ("found duplicate series").
* What is left of the join labels without the replica labels (cluster, namespace, job)
  names a deployment: shard coverage, total spend and the annotations' threshold look-up
  are per deployment.
* Severity is the paging policy of docs/runbooks.md: critical (it pages) only where AWS
  acts or is about to act on an account, or SES rejects the mail of an identity that is
  sending; a configuration set never pages.
* Critical alerts have `keep_firing_for`: when their data goes stale (a collector keeps
  failing, the exporter is gone) they keep firing until SesExporterDataStale or
  SesExporterDown has taken over, instead of resolving as if the problem were fixed.
  Prometheus supports it from 2.42 (checked with Debian's promtool 2.42 in the tests).
* Every alert is a plain rule with `labels.severity` and a stable name, so the Helm chart
  can drop, relabel or re-grade alerts in the parsed file.
* Virtual Deliverability Manager counts per day: its ratios are recorded over 1d, per
  mailbox provider and account-wide, each side deduplicated before the division; an
  ISP's ratio meets its account's one ignoring only the isp label.
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
# Alerts about the exporter or a whole deployment link here: the per-target dashboards
# open on one account, so a link without var-account_id would show an arbitrary one.
FLEET_DASHBOARD = "ses-fleet-overview"
REPUTATION_DASHBOARD = "ses-reputation-metrics"
IDENTITIES_DASHBOARD = "ses-identities"
VDM_DASHBOARD = "ses-deliverability"
USD_PER_1000_METRICS = 0.01  # CloudWatch GetMetricData, standard resolution
QUOTA_PREDICTION_FLOOR = 0.5  # no forecast below half the quota used (see the rule)
_DURATION = re.compile(r"0|([0-9]+(ms|s|m|h|d))+")


# ---------------------------------------------------------------- settings

SEVERITIES = ("critical", "warning", "info")
# Labels the rules set themselves; extra_labels may not replace them.
RESERVED_LABELS = {"alertname", "severity", "rate"}


@dataclass(frozen=True)
class Settings:
    job_selector: str = 'job="ses-exporter"'
    grafana_url: str = "http://localhost:3000"
    runbook_url: str = "https://github.com/ses-exporter/ses-exporter/blob/main/docs/runbooks.md"
    replica_labels: tuple[str, ...] = ("instance", "pod")
    join_labels: tuple[str, ...] = ("cluster", "namespace", "job", "instance", "pod")
    keep_firing_for: str = "1h"
    data_stale_after: str = "1h"
    organization_discovery_stale_after: str = "2h"
    configuration_set_paused_window: str = "1d"
    configuration_sets_paused_on_purpose: tuple[str, ...] = ()
    reject_min_count: int = 10
    send_rate_warning_ratio: float = 0.8
    reputation_trend_window: str = "6h"
    reputation_trend_horizon: str = "1d"
    cloudwatch_monthly_budget_usd: float = 50.0
    cloudwatch_total_monthly_budget_usd: float = 500.0
    identity_sending_window: str = "1d"
    dkim_pending_after: str = "1d"
    warmup_campaign_factor: float = 2.0
    warmup_campaign_min_hourly_sends: int = 1000
    suppressed_destinations_daily_growth: int = 1000
    vdm_isp_rate_factor: float = 2.0
    vdm_isp_min_sends: int = 1000
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    severity: Mapping[str, str] = field(default_factory=dict)
    disabled_alerts: tuple[str, ...] = ()
    for_: Mapping[str, str] = field(default_factory=dict)


class SettingsError(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def _duration(path: str, value: Any, errors: list[str]) -> str:
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        errors.append(f"{path}: {value!r} is not a Prometheus duration (e.g. 30s, 5m, 1h)")
    return str(value)


def _positive_duration(path: str, value: Any, errors: list[str]) -> str:
    before = len(errors)
    duration = _duration(path, value, errors)
    if len(errors) == before and seconds(duration) <= 0:
        errors.append(f"{path}: must be longer than 0")
    return duration


def seconds(duration: str) -> float:
    """A Prometheus duration (already checked) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d)", duration))


def _text(key: str, value: Any, errors: list[str]) -> Any:
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{key}: expected a non-empty string")
    elif key != "job_selector" and not re.match(r"https?://", value):
        errors.append(f"{key}: {value!r} is not an absolute http(s) URL")
    else:
        return value if key == "job_selector" else value.rstrip("/")
    return None


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _labels(key: str, value: Any, errors: list[str]) -> Any:
    if isinstance(value, list) and all(
        isinstance(v, str) and _LABEL_NAME.fullmatch(v) for v in value
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


def _factor(key: str, value: Any, errors: list[str]) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
        return float(value)
    errors.append(f"{key}: expected a factor above 1 (2 is twice the usual level)")
    return None


def _share(key: str, value: Any, errors: list[str]) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1:
        return float(value)
    errors.append(f"{key}: expected a ratio above 0 and at most 1 (0.8 is 80 %)")
    return None


def _regexes(key: str, value: Any, errors: list[str]) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        errors.append(f"{key}: expected a list of configuration set names or regular expressions")
        return None
    for i, pattern in enumerate(value):
        try:
            re.compile(pattern)
        except re.error as err:
            errors.append(f"{key}[{i}]: {pattern!r} is not a regular expression ({err})")
    return tuple(value)


def _alert_map(key: str, value: Any, errors: list[str]) -> dict[str, Any] | None:
    """A mapping keyed by alert names; unknown names are errors."""
    if not isinstance(value, dict):
        errors.append(f"{key}: expected a mapping of alert names to values")
        return None
    names = alert_names()
    for name in value:
        if name not in names:
            errors.append(f"{key}.{name}: no such alert")
    return value


def _fors(key: str, value: Any, errors: list[str]) -> Any:
    value = _alert_map(key, value, errors)
    if value is None:
        return None
    return {name: _duration(f"{key}.{name}", d, errors) for name, d in value.items()}


def _severities(key: str, value: Any, errors: list[str]) -> Any:
    value = _alert_map(key, value, errors)
    for name, severity in (value or {}).items():
        if severity not in SEVERITIES:
            errors.append(f"{key}.{name}: {severity!r} is not one of {', '.join(SEVERITIES)}")
    return value


def _disabled(key: str, value: Any, errors: list[str]) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(f"{key}: expected a list of alert names")
        return None
    names = alert_names()
    for i, name in enumerate(value):
        if name not in names:
            errors.append(f"{key}[{i}]: {name!r}: no such alert")
    return tuple(value)


def _extra_labels(key: str, value: Any, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        errors.append(f"{key}: expected a mapping of label names to values")
        return None
    for name, label_value in value.items():
        if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            errors.append(f"{key}.{name}: not a label name")
        elif name in RESERVED_LABELS:
            errors.append(f"{key}.{name}: set by the rules themselves")
        if not isinstance(label_value, str):
            errors.append(f"{key}.{name}: expected a string value (quote numbers)")
    return value


_CHECKS: dict[str, Callable[[str, Any, list[str]], Any]] = {
    "job_selector": _text,
    "grafana_url": _text,
    "runbook_url": _text,
    "replica_labels": _labels,
    "join_labels": _labels,
    "keep_firing_for": _duration,
    "data_stale_after": _positive_duration,
    "organization_discovery_stale_after": _positive_duration,
    "configuration_set_paused_window": _positive_duration,
    "configuration_sets_paused_on_purpose": _regexes,
    "reject_min_count": _count,
    "send_rate_warning_ratio": _share,
    "reputation_trend_window": _positive_duration,
    "reputation_trend_horizon": _positive_duration,
    "cloudwatch_monthly_budget_usd": _money,
    "cloudwatch_total_monthly_budget_usd": _money,
    "identity_sending_window": _positive_duration,
    "dkim_pending_after": _positive_duration,
    "warmup_campaign_factor": _factor,
    "warmup_campaign_min_hourly_sends": _count,
    "suppressed_destinations_daily_growth": _count,
    "vdm_isp_rate_factor": _factor,
    "vdm_isp_min_sends": _count,
    "extra_labels": _extra_labels,
    "severity": _severities,
    "disabled_alerts": _disabled,
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
    if not errors:
        settings = replace(Settings(), **values)
        missing = [name for name in settings.replica_labels if name not in settings.join_labels]
        if missing:
            # A join without them would meet two replicas' thresholds in one match group.
            errors.append(
                f"join_labels: must include every replica label (missing: {', '.join(missing)})"
            )
    if errors:
        raise SettingsError(errors)
    return settings


# ---------------------------------------------------------------- PromQL pieces


@dataclass(frozen=True)
class PromQL:
    """PromQL and annotation helpers bound to the settings."""

    settings: Settings

    def selector(self, metric: str, *matchers: str) -> str:
        return f"{metric}{{{', '.join([self.settings.job_selector, *matchers])}}}"

    def per_target(self, expr: str) -> str:
        """One series per target, whichever replicas report it."""
        return f"max without ({', '.join(self.settings.replica_labels)}) ({expr})"

    @property
    def on_target(self) -> str:
        """Vector matching on the labels of one scrape target: a series meets the
        threshold series of the exporter process that exposed it, never another's."""
        return f"on ({', '.join(self.settings.join_labels)})"

    @property
    def deployment(self) -> tuple[str, ...]:
        """The join labels that stay after the replicas are aggregated away: they tell one
        deployment (release, cluster) of the exporter from another."""
        return tuple(n for n in self.settings.join_labels if n not in self.settings.replica_labels)

    def dashboard(self, uid: str, per_set: bool = False, per_isp: bool = False) -> str:
        # No spaces inside {{}}: a URL with none stays on one line in the YAML.
        query = "var-account_id={{$labels.account_id}}&var-region={{$labels.region}}"
        if per_set:
            query += "&var-configuration_set={{$labels.configuration_set}}"
        if per_isp:
            query += "&var-isp={{$labels.isp}}"
        return f"{self.settings.grafana_url}/d/{uid}/{uid}?{query}"

    def runbook(self, alert: str) -> str:
        return f"{self.settings.runbook_url}#{alert.lower()}"

    def threshold_text(self, rate: str, status: str) -> str:
        """The configured threshold, read from the deployment that reported the alert's
        series (a label the alert lacks matches series without it)."""
        fixed = [f'rate="{rate}"', f'status="{status}"']
        return self.percentage_text(
            "ses_exporter_reputation_threshold_ratio", self.deployment, fixed
        )

    def percentage_text(self, metric: str, labels: tuple[str, ...], fixed: list[str]) -> str:
        """The value of a series, as a percentage, that has the alert's values of `labels`
        and the `fixed` matchers; "unknown" when there is none."""
        matchers = [f'{name}="%s"' for name in labels] + fixed
        args = "".join(f" $labels.{name}" for name in labels)
        query = f"`{metric}{{{', '.join(matchers)}}}`"
        return (
            f"{{{{ with printf {query}{args} | query }}}}"
            "{{ . | first | value | humanizePercentage }}{{ else }}unknown{{ end }}"
        )


WHERE = "{{ $labels.account_id }} in {{ $labels.region }}"
SET = "configuration set {{ $labels.configuration_set }}"
SET_WHERE = "(account {{ $labels.account_id }}, {{ $labels.region }})"
VALUE_PCT = "{{ $value | humanizePercentage }}"


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal (Go's escaping)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text(*parts: str) -> str:
    """Prose: the parts joined by spaces (the YAML writer folds it)."""
    return " ".join(parts)


def lines(*parts: str) -> str:
    """A comment above a rule: one part per line."""
    return "\n".join(parts)


# ---------------------------------------------------------------- the rules

Rule = dict[str, Any]
Comment = str


def recording_rules(promql: PromQL) -> list[tuple[Comment, Rule]]:
    rejects = promql.per_target(f"increase({promql.selector('aws_ses_rejects_total')}[1h])")
    sends = promql.per_target(f"increase({promql.selector('aws_ses_sends_total')}[1h])")
    remaining = promql.per_target(promql.selector("aws_ses_remaining_sends"))
    slope = promql.per_target(f"deriv({promql.selector('aws_ses_sent_last_24h')}[1h])")
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
            "Emails SES accepted in the last hour (CloudWatch Send), per target: what\n"
            "SesDedicatedIpWarmupCampaign compares with its own average over 7 days. A series\n"
            "of its own so that the average is over what was recorded (a young target has a\n"
            "short history, not a low average), without a 7-day subquery at every evaluation.",
            {"record": "ses:sends:increase1h", "expr": f"{sends}\n"},
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
        *vdm_ratio_rules(promql),
    ]


# Virtual Deliverability Manager ratios: name -> (numerator, denominator), the event stems
# of the exporter's aws_ses_vdm_<stem>_total and aws_ses_vdm_isp_<stem>_total counters.
VDM_RATIOS = {
    "delivery": ("deliveries", "sends"),
    "permanent_bounce": ("permanent_bounces", "sends"),
    "transient_bounce": ("transient_bounces", "sends"),
    "complaint": ("complaints", "feedback_loop_deliveries"),
    "open": ("opens", "open_tracked_deliveries"),
    "click": ("clicks", "click_tracked_deliveries"),
}
VDM_SCOPES = {"isp": "per mailbox provider (isp label)", "": "account-wide (every ISP)"}


def vdm_ratio_record(ratio: str, scope: str) -> str:
    """ses:vdm_isp_<ratio>_ratio:increase1d (per ISP) or ses:vdm_<ratio>_ratio:increase1d."""
    return f"ses:vdm_{scope + '_' if scope else ''}{ratio}_ratio:increase1d"


def vdm_ratio_rules(promql: PromQL) -> list[tuple[Comment, Rule]]:
    out: list[tuple[Comment, Rule]] = []
    for scope, scope_text in VDM_SCOPES.items():
        family = f"aws_ses_vdm_{scope + '_' if scope else ''}{{}}_total"
        for ratio, (numerator, denominator) in VDM_RATIOS.items():
            counts = [
                promql.per_target(f"increase({promql.selector(family.format(stem))}[1d])")
                for stem in (numerator, denominator)
            ]
            comment = f"VDM {numerator} / {denominator} of the last day, {scope_text}."
            if not out:
                comment = lines(
                    comment,
                    "Virtual Deliverability Manager answers one datapoint a day (revised upwards",
                    "for a few days): ratios over a day, as the SES console's VDM dashboard shows",
                    "them. Absent while the denominator is 0 (no NaN or +Inf), e.g. an ISP without",
                    "a feedback loop has no complaint ratio. Replicas are aggregated away first.",
                )
            rule = {
                "record": vdm_ratio_record(ratio, scope),
                "expr": f"{counts[0]}\n  /\n({counts[1]} > 0)\n",
            }
            out.append((comment, rule))
    return out


@dataclass(frozen=True, kw_only=True)
class Alert:
    name: str
    severity: str
    expr: str
    summary: str
    description: str
    dashboard: str
    comment: str = ""
    extra_labels: Mapping[str, str] = field(default_factory=dict)


def exporter_alerts(promql: PromQL) -> list[Alert]:
    up = promql.selector("up")
    throttled = promql.selector(
        "ses_exporter_aws_requests_total",
        'outcome=~"Throttling|ThrottlingException|TooManyRequestsException'
        '|RequestLimitExceeded|LimitExceededException"',
    )
    requests = promql.selector("ses_exporter_aws_requests_total")
    keep = ", ".join([*promql.settings.replica_labels, "outcome"])
    requested = promql.selector("ses_exporter_cloudwatch_metrics_requested_total")
    per_account = ", ".join([*promql.settings.replica_labels, "region"])
    monthly = f"30 * 86400 * {USD_PER_1000_METRICS} / 1000"
    home = f"{promql.settings.grafana_url}/d/{FLEET_DASHBOARD}/{FLEET_DASHBOARD}"
    return [
        Alert(
            name="SesExporterDown",
            severity="warning",
            expr=f"{up} == 0\n  or\nabsent({up})\n",
            summary="ses-exporter is down or not scraped",
            description=text(
                "Prometheus has not scraped ses-exporter{{ with $labels.instance }} at",
                "{{ . }}{{ end }} (job {{ $labels.job }}) for {{ $for }}, or has no such target.",
                "No SES alert can fire for the targets it polls until it is back.",
            ),
            dashboard=home,
            comment=lines(
                "Per instance: with sharding, each replica polls its own targets. absent() also",
                "fires when Prometheus has no such target at all (service discovery, relabelling).",
            ),
        ),
        Alert(
            name="SesExporterCollectorFailing",
            severity="warning",
            expr=f"{promql.per_target(promql.selector('ses_exporter_collector_success'))} == 0\n",
            summary=text(
                "ses-exporter collector {{ $labels.collector }} is failing for",
                WHERE,
            ),
            description=text(
                "Every poll of the {{ $labels.collector }} collector for account",
                "{{ $labels.account_id }} in {{ $labels.region }} has failed for {{ $for }}.",
                "The exporter's log and ses_exporter_aws_requests_total by outcome show why",
                "(throttling, AccessDenied, timeouts). The last good values stay exposed until",
                "they are older than max_staleness (3 x the collector's interval by default).",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
            comment=lines(
                "At least two polls of the slowest default collector (configuration_sets, every 15",
                "minutes) by default, so one throttled poll does not alert. max over replicas: a",
                "replica that still succeeds keeps the data flowing.",
            ),
        ),
        Alert(
            name="SesExporterDataStale",
            severity="warning",
            expr="time() - "
            + promql.per_target(
                promql.selector("ses_exporter_collector_last_success_timestamp_seconds")
            )
            + f" > {seconds(promql.settings.data_stale_after):g}\n",
            summary=text(
                "ses-exporter data of {{ $labels.collector }} for",
                WHERE,
                "is {{ $value | humanizeDuration }} old",
            ),
            description=text(
                "The {{ $labels.collector }} collector for account {{ $labels.account_id }} in",
                "{{ $labels.region }} has not completed a successful poll for",
                "{{ $value | humanizeDuration }}. Its series have been dropped, so the alerts",
                "that need them cannot fire. If ses_exporter_collector_success still shows 1, a",
                "poll is hung: restart the exporter.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
            comment=lines(
                "Age of the last successful poll, whatever the last poll did: also catches a hung",
                f"poll. data_stale_after ({promql.settings.data_stale_after}): past the "
                "max_staleness of every",
                "collector (3 intervals; raise it with the intervals); critical alerts keep firing",
                "(keep_firing_for) until this one has taken over.",
            ),
        ),
        Alert(
            name="SesExporterConfigReloadFailed",
            severity="warning",
            expr=f"{promql.selector('ses_exporter_config_last_reload_successful')} == 0\n",
            summary="ses-exporter failed to reload its configuration",
            description=text(
                "The last configuration reload of ses-exporter at {{ $labels.instance }} failed;",
                "it keeps running with the previous configuration. `ses-exporter --config.check",
                "--config.file=...` lists the errors.",
            ),
            dashboard=home,
        ),
        Alert(
            name="SesExporterThrottled",
            severity="warning",
            expr=f"sum without ({keep}) (rate({throttled}[15m]))\n  /\n"
            f"sum without ({keep}) (rate({requests}[15m]))\n  >= 0.1\n",
            summary=text(
                "AWS throttles {{ $value | humanizePercentage }} of ses-exporter's",
                "{{ $labels.service }} {{ $labels.operation }} requests",
            ),
            description=text(
                "For {{ $for }}, {{ $value | humanizePercentage }} of the exporter's",
                "{{ $labels.service }} {{ $labels.operation }} calls failed with a throttling",
                "error after botocore's retries, so those polls failed. Its calls share the",
                "account's API rate limit with your applications: lengthen the collector's",
                "interval or narrow configuration_sets.",
            ),
            dashboard=home,
            comment=lines(
                "ses_exporter_aws_requests_total counts calls after botocore's retries: the share "
                "of",
                "calls that still ended in a throttling error, per service and operation.",
            ),
        ),
        Alert(
            name="SesCloudWatchSpendHigh",
            severity="warning",
            expr=f"sum without ({per_account}) (rate({requested}[1h])) * {monthly}\n"
            f"  > {promql.settings.cloudwatch_monthly_budget_usd:g}\n",
            summary=text(
                "ses-exporter's CloudWatch requests for {{ $labels.account_id }} cost about",
                '${{ $value | printf "%.0f" }} a month',
            ),
            description=text(
                "At the rate of the last hour, the GetMetricData requests of ses-exporter for",
                "account {{ $labels.account_id }} (all regions) cost about",
                '${{ $value | printf "%.2f" }} over 30 days ($0.01 per 1,000 metrics',
                "requested), more than the budget of "
                f"${promql.settings.cloudwatch_monthly_budget_usd:g}.",
                "Lengthen collectors.cloudwatch.interval or narrow configuration_sets",
                "(each set adds its own metrics).",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD).split("&var-region")[0],
            comment=lines(
                "Summed over replicas, not deduplicated: two replicas polling the same account",
                "both pay. The price is that of us-east-1; it is the same in most regions.",
            ),
        ),
        Alert(
            name="SesCloudWatchTotalSpendHigh",
            severity="warning",
            expr=f"sum by ({', '.join(promql.deployment)}) (rate({requested}[1h])) * {monthly}\n"
            f"  > {promql.settings.cloudwatch_total_monthly_budget_usd:g}\n",
            summary=text(
                "ses-exporter's CloudWatch requests for all its accounts cost about",
                '${{ $value | printf "%.0f" }} a month',
            ),
            description=text(
                "At the rate of the last hour, the GetMetricData requests of ses-exporter (job",
                "{{ $labels.job }}{{ with $labels.namespace }}, namespace {{ . }}{{ end }}) for",
                'all the accounts and regions it polls cost about ${{ $value | printf "%.2f" }}',
                "over 30 days ($0.01 per 1,000 metrics requested), more than the budget of",
                f"${promql.settings.cloudwatch_total_monthly_budget_usd:g} for the whole "
                "organization.",
                "Lengthen collectors.cloudwatch.interval or narrow configuration_sets.",
            ),
            dashboard=home,
            comment=lines(
                "The bill of every account one deployment polls (the Organization's payer sees it",
                "summed): per deployment, the join labels without the replica labels.",
            ),
        ),
        Alert(
            name="SesExporterOrganizationDiscoveryFailing",
            severity="warning",
            expr=promql.per_target(
                "\n  time() - "
                + promql.selector(
                    "ses_exporter_organization_discovery_last_success_timestamp_seconds"
                )
                + f" > {seconds(promql.settings.organization_discovery_stale_after):g}\n"
                "or\n  "
                + promql.selector("ses_exporter_organization_discovery_success")
                + " == 0\n    unless\n  "
                + promql.selector(
                    "ses_exporter_organization_discovery_last_success_timestamp_seconds"
                )
                + "\n"
            )
            + "\n",
            summary="ses-exporter cannot list the accounts of organization "
            "{{ $labels.organization }}",
            description=text(
                "AWS Organizations discovery of {{ $labels.organization }}",
                "{{ if eq $value 0.0 }}has never succeeded{{ else }}last succeeded",
                "{{ $value | humanizeDuration }} ago{{ end }} (job {{ $labels.job }}). Accounts",
                "added since are not polled and no alert can fire for them; the accounts of the",
                "last good discovery are still polled.",
            ),
            dashboard=home,
            comment=lines(
                "Per replica first (each replica lists the organization itself; with sharding a",
                "failing one misses the new accounts it would own), then the most stale replica:",
                "the age of its last successful discovery, or 0 if it never had one. The default",
                f"{promql.settings.organization_discovery_stale_after} "
                "(organization_discovery_stale_after) and `for` let one failed",
                "refresh (every hour by default) pass.",
            ),
        ),
        Alert(
            name="SesExporterShardCoverageBroken",
            severity="warning",
            expr="(\n  sum without ({replicas}) ({targets})\n    -\n"
            "  max without ({replicas}) ({all_shards})\n  != 0\n"
            'or\n  count_values without ({replicas}) ("shard_index", {shard_index}) > 1\n)\n'
            "  and ignoring (shard_index)\nmax without ({replicas}) ({shards}) > 1\n".format(
                replicas=", ".join(promql.settings.replica_labels),
                targets=promql.selector("ses_exporter_targets"),
                all_shards=promql.selector("ses_exporter_targets_all_shards"),
                shard_index=promql.selector("ses_exporter_shard_index"),
                shards=promql.selector("ses_exporter_shards"),
            ),
            summary=text(
                "ses-exporter's shards do not poll every target exactly once",
                "(job {{ $labels.job }}{{ with $labels.namespace }}, namespace {{ . }}{{ end }})",
            ),
            description=text(
                "{{ with $labels.shard_index }}{{ $value }} replicas run as shard {{ . }} of the",
                "same deployment{{ else }}The targets the replicas poll together minus the",
                "targets of all shards is {{ $value }} (negative: targets no replica polls;",
                "positive: targets polled twice){{ end }}, for {{ $for }}. Every replica needs",
                "the same configuration and --shard.count and its own --shard.index.",
            ),
            dashboard=home,
            comment=lines(
                "Per deployment (what stays after the replica labels go): the sum of the replicas'",
                "ses_exporter_targets must equal ses_exporter_targets_all_shards, and no shard "
                "index",
                "may run twice. Only for sharded deployments (--shard.count > 1): unsharded",
                "replicas are an HA pair that polls everything twice on purpose. A rolling update",
                "breaks the split for a few minutes, which the `for` lets pass.",
            ),
        ),
    ]


def health_alerts(promql: PromQL) -> list[Alert]:
    shutdown = promql.per_target(
        promql.selector("aws_ses_account_enforcement_status", 'status="SHUTDOWN"')
    )
    disabled = promql.per_target(promql.selector("aws_ses_account_sending_enabled"))
    on_purpose = promql.settings.configuration_sets_paused_on_purpose
    set_enabled = promql.selector(
        "aws_ses_configuration_set_sending_enabled",
        *([f"configuration_set!~{promql_string('|'.join(on_purpose))}"] if on_purpose else []),
    )
    window = promql.settings.configuration_set_paused_window
    return [
        Alert(
            name="SesAccountUnderReview",
            severity="critical",
            expr=promql.per_target(
                promql.selector("aws_ses_account_enforcement_status", 'status="PROBATION"')
            )
            + " == 1\n",
            summary=f"SES account {WHERE} is under review",
            description=text(
                f"AWS has put SES of account {WHERE} under review (enforcement status",
                'PROBATION, "Under review" in the console), usually for a high bounce or',
                "complaint rate. Fix the cause before the review period ends, or AWS pauses",
                "sending.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
        ),
        Alert(
            name="SesSendingPaused",
            severity="critical",
            expr=f"max without (status) ({shutdown}) == 1\n  or\n{disabled} == 0\n",
            summary=f"SES sending is paused for {WHERE}",
            description=text(
                "{{ if eq $value 1.0 }}AWS has paused sending (enforcement status SHUTDOWN,",
                '"Paused" in the console){{ else }}Sending is disabled (SendingEnabled is',
                f"false){{{{ end }}}} for account {WHERE}: SES rejects every email it is asked",
                "to send there.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
            comment=lines(
                "Enforcement SHUTDOWN (AWS paused the account) or SendingEnabled false (paused by",
                "someone, and the only signal on the v1 API fallback): 1 for SHUTDOWN, 0 for",
                "sending disabled.",
            ),
        ),
        Alert(
            name="SesAccountEnforcementStatusUnknown",
            severity="warning",
            expr=promql.per_target(
                promql.selector(
                    "aws_ses_account_enforcement_status", 'status!~"HEALTHY|PROBATION|SHUTDOWN"'
                )
            )
            + " == 1\n",
            summary=f"SES account {WHERE} has the unknown enforcement status "
            f"{{{{ $labels.status }}}}",
            description=text(
                f"AWS reports the enforcement status {{{{ $labels.status }}}} for account {WHERE},",
                "none of HEALTHY, PROBATION (under review) and SHUTDOWN (paused) that the alerts",
                "know: SesAccountUnderReview and SesSendingPaused cannot tell what it means.",
                "Read the account's status in the SES console.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
            comment=lines(
                "The exporter exposes any status AWS returns as its own series; a new one (or a",
                "typo in a simulated one) must not go unnoticed.",
            ),
        ),
        Alert(
            name="SesConfigurationSetSendingPaused",
            severity="warning",
            expr=f"{promql.per_target(set_enabled)} == 0\n  and\n"
            f"{promql.per_target(f'max_over_time({set_enabled}[{window}])')} == 1\n",
            summary=text(
                "SES configuration set {{ $labels.configuration_set }} is paused in",
                "{{ $labels.account_id }}/{{ $labels.region }}",
            ),
            description=text(
                f"Sending is disabled for {SET} of account {WHERE} (SendingEnabled is false):",
                f"SES rejects every email sent with it. It was enabled within the last {window};",
                f"this alert stops {window} after the pause (a set paused that long is taken as",
                "paused on purpose). Sets paused on purpose for good belong in",
                "configuration_sets_paused_on_purpose.",
            ),
            dashboard=promql.dashboard(REPUTATION_DASHBOARD, per_set=True),
            comment=lines(
                "Only while the set was enabled within configuration_set_paused_window "
                f"({window}):",
                "a set disabled on purpose stops alerting by itself instead of needing a permanent",
                "silence; a set already paused when Prometheus first saw it never alerts. Sets",
                "matching configuration_sets_paused_on_purpose never alert.",
            ),
        ),
    ]


# level -> (severity account-wide, per set, statuses that count). Only the account-wide
# at-risk level pages: AWS acts on accounts, never on one configuration set, and reviews
# an account on its own (SesAccountUnderReview pages then).
LEVELS = {
    "ApproachingReview": ("warning", "info", ""),
    "UnderReview": ("warning", "warning", "under_review|at_risk"),
    "AtRisk": ("critical", "warning", "at_risk"),
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


def reputation_alert(promql: PromQL, rate: str, level: str, per_set: bool) -> Alert:
    prefix = "aws_ses_configuration_set_" if per_set else "aws_ses_"
    ratio = promql.per_target(promql.selector(f"{prefix}reputation_{rate}_ratio"))
    account_severity, set_severity, statuses = LEVELS[level]
    who = f"{SET} {SET_WHERE}" if per_set else f"account {WHERE}"
    short = f"{SET}" if per_set else WHERE
    name = f"Ses{'ConfigurationSet' if per_set else ''}{rate.capitalize()}Rate{level}"
    if level == "ApproachingReview":
        raw = promql.selector(f"{prefix}reputation_{rate}_ratio")
        threshold = promql.selector(
            "ses_exporter_reputation_threshold_ratio", f'rate="{rate}"', 'status="under_review"'
        )
        # Joined per scrape target before the replicas are aggregated away: each series
        # meets its own exporter's threshold, one to one, however many replicas and releases.
        expr = promql.per_target(
            f"\n  {raw}\n    >= {promql.on_target} group_left ()\n  ({threshold} * 4 / 5)\n"
        )
        expr += "\n"
        where = "at least 80% of the review threshold"
        status = "under_review"
    else:
        matchers = (f'rate="{rate}"', f'status=~"{statuses}"')
        if "|" not in statuses:
            matchers = (f'rate="{rate}"', f'status="{statuses}"')
        flag = promql.per_target(promql.selector(f"{prefix}reputation_status", *matchers) + " == 1")
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
        name=name,
        severity=set_severity if per_set else account_severity,
        expr=expr,
        summary=f"SES {rate} rate of {short} is {VALUE_PCT}"
        + (
            (": at risk" if per_set else ": sending at risk") if level == "AtRisk" else f", {where}"
        ),
        description=text(
            f"The {rate} rate of {who} is {VALUE_PCT}, {where}",
            f"({promql.threshold_text(rate, status)}, the exporter's reputation_thresholds).",
            consequence,
            ADVICE[(rate, per_set)],
        ),
        dashboard=promql.dashboard(REPUTATION_DASHBOARD, per_set=per_set),
        extra_labels={"rate": rate},
    )


def rising_alert(promql: PromQL, rate: str) -> Alert:
    ratio = promql.selector(f"aws_ses_reputation_{rate}_ratio")
    between = promql.selector(
        "aws_ses_reputation_status", f'rate="{rate}"', 'status="under_review"'
    )
    at_risk = promql.selector(
        "ses_exporter_reputation_threshold_ratio", f'rate="{rate}"', 'status="at_risk"'
    )
    window, horizon = (
        promql.settings.reputation_trend_window,
        promql.settings.reputation_trend_horizon,
    )
    forecast = promql.per_target(
        f"\n  predict_linear({ratio}[{window}], {seconds(horizon):g})\n"
        f"    >= {promql.on_target} group_left ()\n  {at_risk}\n"
    )
    return Alert(
        name=f"Ses{rate.capitalize()}RateRisingTowardsAtRisk",
        severity="warning",
        expr=f"{promql.per_target(ratio)}\n  and ignoring (rate, status)\n"
        f"{promql.per_target(f'{between} == 1')}\n"
        f"  and\n{forecast}\n",
        summary=f"SES {rate} rate of {WHERE} is {VALUE_PCT} and heading for the at-risk threshold",
        description=text(
            f"The {rate} rate of account {WHERE} is {VALUE_PCT}, past the review threshold,",
            f"and at the pace of the last {window} it reaches the at-risk threshold",
            f"({promql.threshold_text(rate, 'at_risk')}) within {humanize(horizon)}. AWS may pause",
            f"sending from the account there. {ADVICE[(rate, False)]}",
        ),
        dashboard=promql.dashboard(REPUTATION_DASHBOARD),
        comment=lines(
            "Between the review and at-risk thresholds (status under_review) and a linear",
            f"forecast over reputation_trend_window ({window}) at or past the at-risk threshold",
            f"within reputation_trend_horizon ({horizon}): the rate is heading up, not settling.",
        ),
        extra_labels={"rate": rate},
    )


def reputation_alerts(promql: PromQL) -> list[Alert]:
    return [
        reputation_alert(promql, rate, level, per_set)
        for per_set in (False, True)
        for rate in ("bounce", "complaint")
        for level in LEVELS
    ] + [rising_alert(promql, rate) for rate in ("bounce", "complaint")]


def quota_alerts(promql: PromQL) -> list[Alert]:
    used = promql.per_target(promql.selector("aws_ses_sending_quota_used_ratio"))
    growing = promql.per_target(f"deriv({promql.selector('aws_ses_sent_last_24h')}[15m])")
    rejects = promql.per_target(f"increase({promql.selector('aws_ses_rejects_total')}[1h])")
    sending = promql.per_target(f"rate({promql.selector('aws_ses_sends_total')}[15m])")
    max_rate = promql.per_target(promql.selector("aws_ses_max_send_rate"))
    return [
        Alert(
            name="SesDailyQuotaHigh",
            severity="warning",
            expr=f"{used} >= 0.80\n",
            summary=f"SES account {WHERE} has used {VALUE_PCT} of its daily sending quota",
            description=text(
                f"{VALUE_PCT} of the 24-hour sending quota of account {WHERE} is used. At 100%",
                "SES rejects sends until older emails leave the 24-hour window. Hold back bulk",
                "mail or ask AWS for a higher quota.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
            comment=lines(
                "aws_ses_sending_quota_used_ratio is 0 for an unlimited quota: never fires for "
                "one.",
            ),
        ),
        Alert(
            name="SesDailyQuotaCritical",
            severity="critical",
            expr=f"{used} >= 0.95\n",
            summary=f"SES account {WHERE} has used {VALUE_PCT} of its daily sending quota: sends "
            "fail soon",
            description=text(
                f"{VALUE_PCT} of the 24-hour sending quota of account {WHERE} is used; SES",
                "starts rejecting sends at 100%. Stop bulk mail now so transactional mail still",
                "goes out.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
        ),
        Alert(
            name="SesDailyQuotaExhaustionPredicted",
            severity="warning",
            expr="ses:sending_quota_exhaustion_seconds:deriv1h < 4 * 3600\n"
            f"  and\n{used} >= {QUOTA_PREDICTION_FLOOR}\n  and\n{growing} > 0\n",
            summary=f"SES account {WHERE} runs out of daily sending quota in "
            "{{ $value | humanizeDuration }}",
            description=text(
                "At the pace of the last hour (new sends minus those leaving the 24-hour",
                f"window), the remaining sending quota of account {WHERE} lasts",
                "{{ $value | humanizeDuration }}, less than 4 hours, and the account is still",
                "sending. Then SES rejects sends. Spread bulk mail out or ask AWS for a higher",
                "quota.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
            comment=lines(
                "Modelled on node-mixin's NodeFilesystemSpaceFillingUp: a forecast alone is noisy,",
                "so it also needs half the quota used already, sending still in progress (the",
                "window grew over the last 15 minutes: a campaign that has ended stops it), and a",
                "long `for` (one-off bursts end before it).",
            ),
        ),
        Alert(
            name="SesSendRateNearMax",
            severity="warning",
            expr=f"{sending}\n  /\n({max_rate} > 0)\n"
            f"  >= {promql.settings.send_rate_warning_ratio:g}\n",
            summary=f"SES account {WHERE} sends at {VALUE_PCT} of its maximum send rate",
            description=text(
                f"Over the last 15 minutes account {WHERE} sent on average {VALUE_PCT} of its",
                "maximum send rate (emails per second). Above it SES throttles sends",
                '("Maximum sending rate exceeded"); bursts reach it before the average does.',
                "Spread the sending out or ask AWS for a higher rate.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
            comment=lines(
                "CloudWatch Send per second over 15 minutes (the counter moves once per cloudwatch",
                "poll) against SendQuota.MaxSendRate; absent for an unlimited rate.",
            ),
        ),
        Alert(
            name="SesRejectRateSpike",
            severity="warning",
            expr="ses:reject_ratio:rate1h >= 0.01\n  and\n"
            f"{rejects} >= {promql.settings.reject_min_count}\n",
            summary=f"SES rejects {VALUE_PCT} of the emails of {WHERE}",
            description=text(
                f"In the last hour SES rejected {VALUE_PCT} of the emails sent by account",
                f"{WHERE} (CloudWatch Reject / Send). SES rejects emails that contain a virus:",
                "find the application sending infected attachments, it may be compromised.",
            ),
            dashboard=promql.dashboard(ACCOUNT_DASHBOARD),
            comment=lines(
                "SES rejects only emails that contain a virus, so a healthy sender sees almost",
                "none: an absolute level is the spike detector, with a minimum count so that one",
                "infected email among a handful does not page.",
            ),
        ),
    ]


IDENTITY = "identity {{ $labels.identity }}"


def sending_identities(promql: PromQL) -> str:
    """Identities that are sending: sending enabled within identity_sending_window, in an
    account and region that sent mail in the last 24 hours. Labels: the identity's."""
    window = promql.settings.identity_sending_window
    enabled = promql.per_target(
        f"max_over_time({promql.selector('aws_ses_identity_sending_enabled')}[{window}])"
    )
    sent = promql.per_target(promql.selector("aws_ses_sent_last_24h"))
    return f"(\n  {enabled} == 1\n    and ignoring (identity, identity_type)\n  {sent} > 0\n)\n"


SENDING_COMMENT = (
    "Only identities that are sending: SendingEnabled within identity_sending_window",
    "({window}; SES turns it off once verification has failed, so the window keeps the",
    "alert on an identity that was sending until then) in an account and region whose",
    "SentLast24Hours is above 0. SES has no per-identity send count without event publishing.",
)


def identity_alerts(promql: PromQL) -> list[Alert]:
    window = promql.settings.identity_sending_window
    sending = sending_identities(promql)
    sending_comment = lines(*SENDING_COMMENT).replace("{window}", window)

    def status(metric: str, *matchers: str) -> str:
        return promql.per_target(promql.selector(metric, *matchers)) + " == 1"

    dashboard = promql.dashboard(IDENTITIES_DASHBOARD)
    dkim = "aws_ses_identity_dkim_status"
    domains = 'identity_type=~"DOMAIN|MANAGED_DOMAIN"'
    pending_after = promql.settings.dkim_pending_after
    pending = promql.selector(dkim, domains, 'status="PENDING"')
    dkim_not_signing = (
        "(\n  "
        + status(dkim, domains, 'status=~"FAILED|TEMPORARY_FAILURE"')
        + "\nor\n  "
        + promql.per_target(
            f"\n    {pending} == 1\n      and\n    {pending} offset {pending_after} == 1\n  "
        )
        + "\n)\n"
    )
    signing = status("aws_ses_identity_dkim_signing_enabled")
    mail_from_labels = "ignoring (mail_from_domain, behavior_on_mx_failure, status)"

    def mail_from(behavior: str) -> str:
        failing = status(
            "aws_ses_identity_mail_from_status",
            f'behavior_on_mx_failure="{behavior}"',
            'status=~"FAILED|TEMPORARY_FAILURE"',
        )
        return f"{failing}\n  and {mail_from_labels}\n{sending}"

    mail_from_status = (
        "its custom MAIL FROM domain {{ $labels.mail_from_domain }} has the status"
        " {{ $labels.status }}"
    )
    return [
        Alert(
            name="SesIdentityVerificationFailed",
            severity="critical",
            expr=status("aws_ses_identity_verification_status", 'status="FAILED"')
            + f"\n  and ignoring (status)\n{sending}",
            summary=f"SES {IDENTITY} of {WHERE} failed verification: its mail is rejected",
            description=text(
                f"The verification of {IDENTITY} ({{{{ $labels.identity_type }}}}) of account",
                f"{WHERE} has FAILED, and it was sending within the last {humanize(window)}: SES",
                "rejects every email sent from it (MessageRejected: Email address is not",
                "verified). For a domain, its DKIM or verification DNS records are gone;",
                "restore them and SES verifies it again.",
            ),
            dashboard=dashboard,
            comment=sending_comment,
        ),
        Alert(
            name="SesIdentityVerificationTemporaryFailure",
            severity="warning",
            expr=status("aws_ses_identity_verification_status", 'status="TEMPORARY_FAILURE"')
            + f"\n  and ignoring (status)\n{sending}",
            summary=f"SES cannot verify {IDENTITY} of {WHERE} for now",
            description=text(
                f"The verification status of {IDENTITY} ({{{{ $labels.identity_type }}}}) of",
                f"account {WHERE} is TEMPORARY_FAILURE: SES cannot find its DNS records. It",
                "still sends, and SES keeps checking for 72 hours; if the records are still",
                "missing then, the status becomes FAILED and SES rejects the identity's mail.",
                "Check the records in DNS now.",
            ),
            dashboard=dashboard,
            comment=sending_comment,
        ),
        Alert(
            name="SesIdentityDkimNotSigning",
            severity="warning",
            expr=f"{dkim_not_signing}  and ignoring (status)\n{signing}\n"
            f"  and ignoring (status)\n{sending}",
            summary=f"SES does not DKIM-sign the mail of {IDENTITY} of {WHERE}",
            description=text(
                f"DKIM signing is enabled for {IDENTITY} of account {WHERE} but its DKIM status",
                'is {{ $labels.status }}{{ if eq $labels.status "PENDING" }} since more',
                f"than {humanize(pending_after)}{{{{ end }}}}: SES cannot find its DKIM records,",
                "so its mail goes out without a DKIM signature of the domain and fails DMARC",
                "unless SPF aligns. Publish the CNAME (Easy DKIM) or TXT (BYODKIM) records",
                "`aws sesv2 get-email-identity` lists.",
            ),
            dashboard=dashboard,
            comment=lines(
                "Domains whose DKIM status is FAILED or TEMPORARY_FAILURE, or PENDING now and",
                f"dkim_pending_after ({pending_after}) ago: SES keeps looking for the records",
                "for 72 hours, a day is long enough to say they are missing.",
                *SENDING_COMMENT,
            ).replace("{window}", window),
        ),
        Alert(
            name="SesIdentityMailFromFailed",
            severity="warning",
            expr=mail_from("USE_DEFAULT_VALUE"),
            summary=text(
                f"SES sends the mail of {IDENTITY} of {WHERE} from amazonses.com:",
                "its MAIL FROM domain fails",
            ),
            description=text(
                f"For {IDENTITY} of account {WHERE}, {mail_from_status}: SES cannot find its",
                "MX record. With behavior_on_mx_failure USE_DEFAULT_VALUE, SES sends the",
                "identity's mail with a MAIL FROM under amazonses.com: it still goes out, but",
                "SPF no longer aligns with the From domain for DMARC, and bounces no longer",
                "come back through the custom domain. Restore the MX and SPF records of the",
                "MAIL FROM domain.",
            ),
            dashboard=dashboard,
            comment=sending_comment,
        ),
        Alert(
            name="SesIdentityMailFromRejecting",
            severity="critical",
            expr=mail_from("REJECT_MESSAGE"),
            summary=text(
                f"SES rejects the mail of {IDENTITY} of {WHERE}: its MAIL FROM domain fails",
            ),
            description=text(
                f"For {IDENTITY} of account {WHERE}, {mail_from_status}: SES cannot find its",
                "MX record. With behavior_on_mx_failure REJECT_MESSAGE, SES rejects every",
                "email sent from the identity (MailFromDomainNotVerified). Restore the MX",
                "record of the MAIL FROM domain, or switch the behavior to USE_DEFAULT_VALUE",
                "to send from amazonses.com meanwhile.",
            ),
            dashboard=dashboard,
            comment=sending_comment,
        ),
    ]


def list_alerts(promql: PromQL) -> list[Alert]:
    factor = promql.settings.warmup_campaign_factor
    floor = promql.settings.warmup_campaign_min_hourly_sends
    growth = promql.settings.suppressed_destinations_daily_growth
    ratio = promql.per_target(promql.selector("aws_ses_dedicated_ip_warmup_ratio"))
    warming = promql.per_target(
        promql.selector("aws_ses_dedicated_ip_warmup_status", 'status="IN_PROGRESS"')
    )
    suppressed = promql.selector("aws_ses_suppressed_destinations")
    dashboard = promql.dashboard(IDENTITIES_DASHBOARD)
    return [
        Alert(
            name="SesDedicatedIpWarmupCampaign",
            severity="warning",
            expr=f"{ratio}\n  and ignoring (status)\n{warming} == 1\n"
            "  and ignoring (ip, pool)\n"
            "(\n  ses:sends:increase1h\n"
            f"    > {factor:g} * avg_over_time(ses:sends:increase1h[7d])\n"
            f"  and\n  ses:sends:increase1h >= {floor}\n)\n",
            summary=text(
                "SES dedicated IP {{ $labels.ip }} of",
                f"{WHERE} is {VALUE_PCT} warmed up and a campaign is going out",
            ),
            description=text(
                "Dedicated IP {{ $labels.ip }} (pool {{ $labels.pool }}) of account",
                f"{WHERE} is still warming up ({VALUE_PCT} done), and the region sent more",
                f"than {factor:g} times its hourly average of the last 7 days in the last hour",
                f"(at least {floor} emails). Mailbox providers throttle or junk a burst from an",
                "IP they do not know yet, and its reputation suffers for weeks. Spread the",
                "campaign out or send it from a warmed-up pool.",
            ),
            dashboard=dashboard,
            comment=lines(
                "CloudWatch Send (aws_ses_sends_total) per hour, not SentLast24Hours: the rolling",
                "24-hour count changes by what is sent minus what leaves the window, so it cannot",
                "tell a campaign hour from a usual one. SES has no per-IP send count: the",
                f"region's sends stand for the IP's. warmup_campaign_factor ({factor:g}) and",
                f"warmup_campaign_min_hourly_sends ({floor}) say what a campaign is; the value",
                "is the IP's warm-up ratio.",
            ),
        ),
        Alert(
            name="SesSuppressionListGrowing",
            severity="warning",
            expr=f"{promql.per_target(suppressed)}\n  -\n"
            f"{promql.per_target(f'min_over_time({suppressed}[1d])')}\n  > {growth}\n",
            summary=text(
                "{{ $value | humanize }} addresses joined the SES suppression list of",
                f"{WHERE} in a day ({{{{ $labels.reason }}}})",
            ),
            description=text(
                "The account-level suppression list of account",
                f"{WHERE} grew by {{{{ $value | humanize }}}} addresses with reason",
                "{{ $labels.reason }} within the last 24 hours, more than",
                f"{growth}. SES adds an address after a hard bounce or a complaint: a list or",
                "an application is sending to addresses that do not want or cannot take its",
                "mail, and the reputation rates follow. Find the sender (configuration sets on",
                "the reputation dashboard) and clean its list.",
            ),
            dashboard=dashboard,
            comment=lines(
                "Growth from the lowest count of the last day (also for a target younger than a",
                f"day), per reason: more than suppressed_destinations_daily_growth ({growth}).",
                "While the count is truncated (SesSuppressionListTruncated) it cannot grow.",
            ),
        ),
        Alert(
            name="SesSuppressionListTruncated",
            severity="warning",
            expr=promql.per_target(promql.selector("aws_ses_suppressed_destinations_truncated"))
            + " == 1\n",
            summary=f"ses-exporter counts only part of the SES suppression list of {WHERE}",
            description=text(
                f"The suppression list of account {WHERE} has more addresses than",
                "collectors.suppression.max_pages pages of 1,000 hold: the exporter's",
                "aws_ses_suppressed_destinations is a lower bound and",
                "SesSuppressionListGrowing cannot see the list grow. Raise",
                "collectors.suppression.max_pages (each page is one ListSuppressedDestinations",
                "call per poll), or clean the list.",
            ),
            dashboard=dashboard,
        ),
    ]


ISP = "{{ $labels.isp }}"
VDM_ALERTS = {  # alert -> (ratio, the events, why it happens, what to do)
    "SesVdmIspPermanentBounceRateHigh": (
        "permanent_bounce",
        "hard bounces",
        "The mail sent there goes to addresses the provider does not know (an old or "
        "bought list, a sign-up form without confirmation).",
        "Find the sender or list that bounces there and stop mailing the addresses that "
        "bounced (SES puts them on the suppression list).",
    ),
    "SesVdmIspComplaintRateHigh": (
        "complaint",
        "complaints",
        "Its users mark the mail as spam far more often than the account's other recipients do.",
        "Find the mail that draws the complaints there and check its opt-in and "
        "unsubscribe handling.",
    ),
}


def vdm_isp_alert(promql: PromQL, name: str) -> Alert:
    ratio, events, why, action = VDM_ALERTS[name]
    factor = promql.settings.vdm_isp_rate_factor
    floor = promql.settings.vdm_isp_min_sends
    sends = promql.per_target(f"increase({promql.selector('aws_ses_vdm_isp_sends_total')}[1d])")
    account_rate = promql.percentage_text(
        vdm_ratio_record(ratio, ""), ("account_id", "region", *promql.deployment), []
    )
    rate = ratio.replace("_", " ")
    return Alert(
        name=name,
        severity="warning",
        expr=f"{vdm_ratio_record(ratio, 'isp')}\n  > ignoring (isp) group_left ()\n"
        f"({factor:g} * {vdm_ratio_record(ratio, '')})\n"
        f"  and\n{sends} >= {floor}\n",
        summary=text(
            f"SES {rate} rate at {ISP} is {VALUE_PCT} for {WHERE},",
            f"more than {factor:g} times the account's",
        ),
        description=text(
            f"Over the last day, Virtual Deliverability Manager counted {events} for",
            f"{VALUE_PCT} of the mail account {WHERE} sent to the mailbox provider {ISP},",
            f"more than {factor:g} times the account's own {rate} rate ({account_rate},",
            f"every provider). {why} Mailbox providers throttle or junk a sender whose",
            f"{rate} rate with them stays high, and the account's reputation follows.",
            action,
        ),
        dashboard=promql.dashboard(VDM_DASHBOARD, per_isp=True),
        comment=lines(
            f"An ISP's {rate} ratio of the last day above vdm_isp_rate_factor ({factor:g}) times",
            "the account's own (every ISP, unlisted ones too), with at least vdm_isp_min_sends",
            f"({floor}) sends to it in the day: one provider much worse than the rest. Both",
            "ratios are per target and deduplicated (recording rules), so the join ignores",
            "the isp label only. Needs the vdm collector and VDM enabled in the account.",
        ),
    )


def vdm_disabled_alert(promql: PromQL) -> Alert:
    enabled = promql.per_target(promql.selector("ses_exporter_vdm_enabled"))
    return Alert(
        name="SesVdmDisabled",
        severity="info",
        expr=f"{enabled} == 0\n",
        summary=text(
            f"Virtual Deliverability Manager is off for {WHERE}:",
            "ses-exporter reads no VDM metrics there",
        ),
        description=text(
            f"The vdm collector of ses-exporter is on for account {WHERE}, but GetAccount",
            "says VDM is DISABLED there, so the collector reads nothing: the",
            "Deliverability by mailbox provider dashboard stays empty and the SesVdmIsp*",
            "alerts cannot fire. Turn VDM on (`aws sesv2 put-account-vdm-attributes`; it",
            "costs $0.07 per 1,000 emails sent) or the collector off for this target.",
        ),
        dashboard=promql.dashboard(VDM_DASHBOARD),
        comment=lines(
            "info: nothing is at risk and VDM off may be a choice (it is paid for per email);",
            "the alert says why the collector's metrics stay empty.",
        ),
    )


def vdm_alerts(promql: PromQL) -> list[Alert]:
    return [*(vdm_isp_alert(promql, name) for name in VDM_ALERTS), vdm_disabled_alert(promql)]


ALERT_GROUPS: list[tuple[str, Callable[[PromQL], list[Alert]]]] = [
    ("The exporter", exporter_alerts),
    ("Account health", health_alerts),
    ("Reputation (account-wide, then per configuration set)", reputation_alerts),
    ("Sending quota and rejects", quota_alerts),
    ("Identities: verification, DKIM, MAIL FROM", identity_alerts),
    ("Dedicated IPs and the suppression list", list_alerts),
    ("Virtual Deliverability Manager: mailbox providers", vdm_alerts),
]
DEFAULT_FOR = {  # alert -> `for`; rules-config.yml lists the same
    "SesExporterDown": "5m",
    "SesExporterCollectorFailing": "30m",
    "SesExporterDataStale": "0s",
    "SesExporterConfigReloadFailed": "5m",
    "SesExporterThrottled": "30m",
    "SesCloudWatchSpendHigh": "1h",
    "SesCloudWatchTotalSpendHigh": "1h",
    "SesExporterOrganizationDiscoveryFailing": "15m",
    "SesExporterShardCoverageBroken": "15m",
    "SesAccountUnderReview": "5m",
    "SesSendingPaused": "5m",
    "SesAccountEnforcementStatusUnknown": "15m",
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
    "SesBounceRateRisingTowardsAtRisk": "30m",
    "SesComplaintRateRisingTowardsAtRisk": "30m",
    "SesDailyQuotaHigh": "15m",
    "SesDailyQuotaCritical": "5m",
    "SesDailyQuotaExhaustionPredicted": "1h",
    "SesSendRateNearMax": "15m",
    "SesRejectRateSpike": "15m",
    "SesIdentityVerificationFailed": "10m",
    "SesIdentityVerificationTemporaryFailure": "30m",
    "SesIdentityDkimNotSigning": "30m",
    "SesIdentityMailFromFailed": "30m",
    "SesIdentityMailFromRejecting": "10m",
    "SesDedicatedIpWarmupCampaign": "15m",
    "SesSuppressionListGrowing": "15m",
    "SesSuppressionListTruncated": "1h",
    "SesVdmIspPermanentBounceRateHigh": "1h",
    "SesVdmIspComplaintRateHigh": "1h",
    "SesVdmDisabled": "1h",
}


def alert_names() -> list[str]:
    promql = PromQL(Settings())
    return [a.name for _, build in ALERT_GROUPS for a in build(promql)]


def alert_rule(promql: PromQL, alert: Alert) -> Rule:
    rule: Rule = {"alert": alert.name, "expr": alert.expr}
    duration = promql.settings.for_.get(alert.name, DEFAULT_FOR.get(alert.name, "0s"))
    if duration not in {"0", "0s"}:
        rule["for"] = duration
    severity = promql.settings.severity.get(alert.name, alert.severity)
    if severity == "critical":
        rule["keep_firing_for"] = promql.settings.keep_firing_for
    rule["labels"] = {"severity": severity, **alert.extra_labels, **promql.settings.extra_labels}
    rule["annotations"] = {
        "summary": alert.summary,
        "description": alert.description.replace("{{ $for }}", humanize(duration)),
        "dashboard": alert.dashboard,
        "runbook_url": promql.runbook(alert.name),
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
# Severity (the paging policy of docs/runbooks.md; deploy/prometheus/alertmanager.yml
# pages on critical and opens a ticket on warning):
#   critical  page: SES rejects the account's mail now or AWS is acting on the account
#             (paused, under review), the account-wide rate is at risk, quota >= 95 %,
#             SES rejects the mail of an identity that is sending (verification failed,
#             MAIL FROM domain failing with REJECT_MESSAGE).
#   warning   ticket: act within hours; a threshold is near or crossed by one configuration
#             set, or the exporter cannot see SES.
#   info      no notification: one configuration set is drifting towards a threshold, or
#             VDM is off where the vdm collector is on.
#
# Levels are cumulative ("...UnderReview" still fires past the at-risk threshold), so an
# alert never resolves because things got worse; deploy/prometheus/alertmanager.yml
# inhibits the lower level while the higher one fires. Every alert has a `runbook_url`
# (docs/runbooks.md) and an absolute `dashboard` link.
#
# Replicas and releases: SES alerts aggregate the replica labels away (max without), and
# joins with the exporter's threshold series match on the labels of one scrape target
# (join_labels) before that, so two replicas, two releases in one job or a global ruler
# over clusters give one alert per target and deployment, never a duplicate-series error.
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
    promql = PromQL(settings)
    out = [HEADER, "\ngroups:\n", f"  - name: {GROUPS[0]}\n    rules:\n"]
    for comment, rule in recording_rules(promql):
        out += ["\n", _comment(comment, 6), _rule_yaml(rule)]
    out.append(f"\n  - name: {GROUPS[1]}\n    rules:\n")
    for title, build in ALERT_GROUPS:
        out.append(f"\n      # ---- {title} " + "-" * max(4, 76 - len(title)) + "\n")
        for alert in build(promql):
            if alert.name in promql.settings.disabled_alerts:
                continue
            out.append("\n")
            if alert.comment:
                out.append(_comment(alert.comment, 6))
            out.append(_rule_yaml(alert_rule(promql, alert)))
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
