"""moto's server for the benchmarks: CloudWatch made fast enough for 6,000 metrics, and
sesv2 GetAccount answered.

Usage: ``python benchmarks/moto_server.py`` listens on 127.0.0.1, on a free port it prints
("ready PORT"), until its standard input is closed. Like every werkzeug server it closes
each connection after one answer (AWS keeps them open).

moto 5.2.1 answers every GetMetricData query by scanning every datapoint of the account
once per period of the window, and deduplicates ListMetrics by comparing each metric with
every metric found before: O(queries x datapoints) and O(metrics^2) in pure Python, about a
minute per poll at 1,000 configuration sets. That is moto's time, not the exporter's, so
this server indexes the datapoints by (namespace, name, dimensions) first. The answers are
moto's own (its code runs on the matching datapoints), with one difference that makes moto
more like CloudWatch: a query without dimensions reads only the metric without dimensions
(plain moto sums every dimension set of that name).

moto 5.2.5 has no sesv2 GetAccount (``GET /v2/email/account``): this server answers it
with a fixed production account (``get_account``, routed by adding its path to moto's
sesv2 URL map), in every account and region, shaped as
botocore's sesv2 model describes GetAccountResponse, so the daemon's ``account`` collector
succeeds (``scale.py`` runs it). The patches apply to moto's classes in this process only
(the test double's own), not to moto as the tests use it.

Nothing here touches the exporter: it talks to this server over HTTP like to AWS.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend, MetricDatumBase
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends
from moto.sesv2 import urls as sesv2_urls
from moto.sesv2.responses import SESV2Response

Key = tuple[str, str, tuple[tuple[str, str], ...]]


def _key(namespace: str, name: str, dimensions: Sequence[Any]) -> Key:
    return (namespace, name, tuple(sorted((d.name, d.value) for d in dimensions)))


def _query_key(query: dict[str, Any]) -> Key:
    metric = query["MetricStat"]["Metric"]
    pairs = [
        SimpleNamespace(name=d["Name"], value=d["Value"]) for d in metric.get("Dimensions", [])
    ]
    return _key(metric["Namespace"], metric["MetricName"], pairs)


def _indexed_get_metric_data(original: Callable[..., list[dict[str, Any]]]) -> Callable[..., Any]:
    def get_metric_data(
        self: CloudWatchBackend,
        queries: list[dict[str, Any]],
        start_time: Any,
        end_time: Any,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        if any("MetricStat" not in q for q in queries):
            return original(self, queries, start_time, end_time, scan_by)
        index: dict[Key, list[MetricDatumBase]] = defaultdict(list)
        for datum in self.get_all_metrics():
            index[_key(datum.namespace, datum.name, datum.dimensions)].append(datum)
        results = []
        for query in queries:
            data = index.get(_query_key(query), [])
            only = SimpleNamespace(get_all_metrics=lambda data=data: data)
            results += original(only, [query], start_time, end_time, scan_by)
        return results

    return get_metric_data


def _deduplicated_filtered_metrics(
    self: CloudWatchBackend, metric_name: str, namespace: str, dimensions: list[dict[str, str]]
) -> list[MetricDatumBase]:
    """moto's get_filtered_metrics, with the already-seen check done by a set."""
    seen: set[Key] = set()
    found = []
    for datum in self.get_all_metrics():
        if not datum.filter(namespace=namespace, name=metric_name, dimensions=dimensions):
            continue
        key = _key(datum.namespace, datum.name, datum.dimensions)
        if datum.dimensions and key in seen:
            continue
        seen.add(key)
        found.append(datum)
    return found


def get_account(self: SESV2Response) -> str:
    """sesv2 GetAccount of the caller's account (moto maps assumed-role keys to the role's
    account): a production account in good standing, with moto's own count of sent mail."""
    sent = ses_backends[self.current_account][self.region].sent_message_count
    return json.dumps(
        {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": True,
            "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": sent},
            "SendingEnabled": True,
            "SuppressionAttributes": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
            "Details": {
                "MailType": "TRANSACTIONAL",
                "WebsiteURL": "https://example.com",
                "ContactLanguage": "EN",
                "UseCaseDescription": "Benchmark account",
                "ReviewDetails": {"Status": "GRANTED", "CaseId": "bench-case-1"},
            },
            "VdmAttributes": {"VdmEnabled": "DISABLED"},
        }
    )


def main() -> None:
    SESV2Response.get_account = get_account  # type: ignore[attr-defined]
    # moto's catch-all "/v2/.*" becomes a literal path in its Flask server: route this one.
    sesv2_urls.url_paths["{0}/v2/email/account$"] = SESV2Response.dispatch
    CloudWatchBackend.get_metric_data = _indexed_get_metric_data(  # type: ignore[method-assign]
        CloudWatchBackend.get_metric_data
    )
    CloudWatchBackend.get_filtered_metrics = _deduplicated_filtered_metrics  # type: ignore[method-assign]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print("ready", server.get_host_and_port()[1], flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or kills us)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
