"""The ``dedicated_ips`` collector: dedicated IP pools, and each dedicated IP's warm-up.

A dedicated IP that is still warming up takes only part of the mail SES would send
through it; a campaign sent through a pool whose IPs are warming goes out through the
shared pool or is delayed. This collector shows each IP's warm-up and each pool's scaling
mode (STANDARD: the IPs you lease; MANAGED: SES leases and warms them up itself).

Sources, all paged by NextToken (botocore has no paginators for them):

* sesv2 ListDedicatedIpPools: the pool names;
* sesv2 GetDedicatedIpPool, once per pool: its ``ScalingMode``;
* sesv2 GetDedicatedIps without ``PoolName``: every dedicated IP of the account in the
  region, with its pool, ``WarmupStatus`` (IN_PROGRESS, DONE, NOT_APPLICABLE) and
  ``WarmupPercentage``.

An account without dedicated IPs costs two requests per poll and has no series. Any
failure fails the poll (the last values stay until they are stale).

Sample exposition::

    aws_ses_dedicated_ip_pool_info{account_id="123456789012",region="us-east-1",
        pool="marketing",scaling_mode="STANDARD"} 1.0
    aws_ses_dedicated_ip_warmup_status{account_id="123456789012",region="us-east-1",
        ip="198.51.100.7",pool="marketing",status="IN_PROGRESS"} 1.0
    aws_ses_dedicated_ip_warmup_ratio{account_id="123456789012",region="us-east-1",
        ip="198.51.100.7",pool="marketing"} 0.42
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import Metric

from ..aws import next_token_pages
from ..families import FamilyBuilder
from .base import Collector, register

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


@dataclass(frozen=True)
class DedicatedIp:
    """One entry of GetDedicatedIps."""

    ip: str
    pool: str  # "" when AWS gives none
    warmup_status: str
    warmup_ratio: float | None  # WarmupPercentage / 100; None when AWS gives none or -1


def list_pools(sesv2: SESV2Client) -> list[str]:
    """sesv2 ListDedicatedIpPools -> every pool name, in AWS's order, without duplicates."""
    pages = next_token_pages("ListDedicatedIpPools", sesv2.list_dedicated_ip_pools, {})
    return list(dict.fromkeys(name for page in pages for name in page.get("DedicatedIpPools", [])))


def pool_scaling_mode(sesv2: SESV2Client, pool: str) -> str:
    """sesv2 GetDedicatedIpPool -> ScalingMode ("" when AWS gives none)."""
    answer = sesv2.get_dedicated_ip_pool(PoolName=pool)
    return str(answer.get("DedicatedIpPool", {}).get("ScalingMode", ""))


def list_dedicated_ips(sesv2: SESV2Client) -> list[DedicatedIp]:
    """sesv2 GetDedicatedIps over every pool -> each IP once."""
    found: dict[str, DedicatedIp] = {}
    for page in next_token_pages("GetDedicatedIps", sesv2.get_dedicated_ips, {}):
        for entry in page.get("DedicatedIps", []):
            percentage = entry.get("WarmupPercentage")
            found[entry["Ip"]] = DedicatedIp(
                ip=entry["Ip"],
                pool=entry.get("PoolName", ""),
                warmup_status=entry["WarmupStatus"],
                # -1 for the IPs of a managed pool, which SES warms up itself: no ratio
                warmup_ratio=None if percentage is None or percentage < 0 else percentage / 100,
            )
    return list(found.values())


SOURCE = " Source: SES {}."


def dedicated_ip_families(
    pools: Mapping[str, str], ips: Iterable[DedicatedIp], labels: Mapping[str, str]
) -> list[Metric]:
    """Pools (name -> scaling mode) and IPs -> the dedicated_ips collector's families."""
    b = FamilyBuilder(labels)
    for pool in sorted(pools):
        b.gauge(
            "aws_ses_dedicated_ip_pool_info",
            "1 for each dedicated IP pool, with its scaling mode (STANDARD: IPs you lease"
            " and warm up; MANAGED: SES leases and warms them up)."
            + SOURCE.format("ListDedicatedIpPools, GetDedicatedIpPool"),
            1,
            {"pool": pool, "scaling_mode": pools[pool]},
        )
    ordered = sorted(ips, key=lambda i: (i.pool, i.ip))
    for i in ordered:
        b.gauge(
            "aws_ses_dedicated_ip_warmup_status",
            "1 for the dedicated IP's current warm-up status (WarmupStatus: IN_PROGRESS,"
            " DONE, NOT_APPLICABLE)." + SOURCE.format("GetDedicatedIps"),
            1,
            {"ip": i.ip, "pool": i.pool, "status": i.warmup_status},
        )
    for i in ordered:
        if i.warmup_ratio is not None:
            b.gauge(
                "aws_ses_dedicated_ip_warmup_ratio",
                "How far the dedicated IP's warm-up has come, 0-1 (WarmupPercentage / 100)."
                + SOURCE.format("GetDedicatedIps"),
                i.warmup_ratio,
                {"ip": i.ip, "pool": i.pool},
            )
    return b.families()


@register
class DedicatedIpsCollector(Collector):
    name = "dedicated_ips"
    title = "dedicated IPs and their warm-up (ListDedicatedIpPools, GetDedicatedIps)"
    default_interval = 300.0

    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        sesv2 = self.clients.sesv2
        pools = {pool: pool_scaling_mode(sesv2, pool) for pool in list_pools(sesv2)}
        return dedicated_ip_families(pools, list_dedicated_ips(sesv2), labels)
