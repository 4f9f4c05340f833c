"""Links into the AWS console, in the partition of the target's region.

The same hosts and CloudWatch graph format as the Grafana dashboards' links: China regions
(``cn-*``) use ``console.amazonaws.cn``, GovCloud (``us-gov-*``)
``console.amazonaws-us-gov.com``, every other region ``console.aws.amazon.com``.
"""

from __future__ import annotations

import re
from urllib.parse import quote


def console_host(region: str) -> str:
    if region.startswith("cn-"):
        return "console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "console.amazonaws-us-gov.com"
    return "console.aws.amazon.com"


def ses_console_url(region: str, page: str = "account") -> str:
    """The SES console's page (``account``: Account dashboard, ``reputation``) of the region."""
    r = quote(region, safe="")
    return f"https://{r}.{console_host(region)}/ses/home?region={r}#/{page}"


def cloudwatch_url(
    region: str, metric: str, statistic: str, days: int, configuration_set: str | None = None
) -> str:
    """The CloudWatch console's graph of an AWS/SES metric over the last ``days`` days,
    per hour (account-wide, or of one configuration set)."""
    r = quote(region, safe="")
    dims = f"~'ses*3aconfiguration-set~'{_jsurl(configuration_set)}" if configuration_set else ""
    graph = (
        f"~(metrics~(~(~'AWS*2fSES~'{_jsurl(metric)}{dims}))~view~'timeSeries~stacked~false"
        f"~region~'{r}~stat~'{statistic}~period~3600~start~'-P{days}D~end~'P0D)"
    )
    return (
        f"https://{r}.{console_host(region)}/cloudwatch/home?region={r}"
        f"#metricsV2:graph={graph};query=~'*7bAWS*2fSES*7d"
    )


def _jsurl(value: str) -> str:
    """A string as the CloudWatch console's URL state writes it: URL-encoded with ``*``
    in place of ``%``, in lower case (so ``/`` is ``*2f``)."""
    return re.sub("%([0-9A-F]{2})", lambda m: "*" + m.group(1).lower(), quote(value, safe="-_."))
