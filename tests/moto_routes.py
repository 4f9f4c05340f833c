"""sesv2 answers moto's server lacks, routed into it, for the processes that serve moto
over HTTP (the accounts world of the browser tests, the benchmarks' moto server).

moto 5.2.5 has no sesv2 GetAccount, GetDedicatedIps, ListSuppressedDestinations or
BatchGetMetricData. Each answer is a method set on moto's ``SESV2Response`` and its path
added to moto's sesv2 URL map (the catch-all "/v2/.*" becomes a literal path in its Flask
server). Only the moto of the process that calls ``route`` is changed, never moto as the
tests use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from moto.core.exceptions import JsonRESTError
from moto.sesv2 import urls as sesv2_urls
from moto.sesv2.responses import SESV2Response

from ses_exporter.demo.responders import SimulatedError
from ses_exporter.demo.vdm import VdmStore, vdm_disabled

Answer = Callable[[SESV2Response], str]


def no_dedicated_ips(self: SESV2Response) -> str:
    """sesv2 GetDedicatedIps of an account without dedicated IPs."""
    return json.dumps({"DedicatedIps": []})


def empty_suppression_list(self: SESV2Response) -> str:
    """sesv2 ListSuppressedDestinations of an empty account-level suppression list."""
    return json.dumps({"SuppressedDestinationSummaries": []})


# What an account without dedicated IPs and suppressed addresses answers.
DEFAULT_ANSWERS: dict[str, tuple[str, Answer]] = {
    "dedicated-ips": ("get_dedicated_ips", no_dedicated_ips),
    "suppression/addresses": ("list_suppressed_destinations", empty_suppression_list),
}


def vdm_answers(stores: Callable[[str, str], VdmStore | None]) -> tuple[str, Answer]:
    """sesv2 BatchGetMetricData (POST metrics/batch) from ``stores(account, region)``, the
    caller's VdmStore, or NotFoundException where it is None (VDM disabled), over HTTP:
    botocore's rest-json request (dates in epoch seconds) in, its answer out."""

    def batch_get_metric_data(self: SESV2Response) -> str:
        store = stores(self.current_account, self.region)
        try:
            params = json.loads(self.body or "{}")
            answer = vdm_disabled(params) if store is None else store.batch_get_metric_data(params)
        except SimulatedError as exc:
            error = JsonRESTError(exc.code, exc.message)
            error.code = exc.status
            raise error from None
        results = [
            {**r, "Timestamps": [t.timestamp() for t in r["Timestamps"]]} for r in answer["Results"]
        ]
        return json.dumps({"Results": results, "Errors": answer["Errors"]})

    return "batch_get_metric_data", batch_get_metric_data


def route(answers: dict[str, tuple[str, Answer]]) -> None:
    """For each path under /v2/email/ -> (moto's method name for the operation, answer)."""
    for path, (method, answer) in answers.items():
        setattr(SESV2Response, method, answer)
        sesv2_urls.url_paths[f"{{0}}/v2/email/{path}$"] = SESV2Response.dispatch
