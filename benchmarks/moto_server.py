"""moto's server for the benchmarks: CloudWatch made fast enough for 6,000 metrics, and
sesv2 GetAccount, GetDedicatedIps, ListSuppressedDestinations and (with ``--vdm-isps``)
BatchGetMetricData answered.

Usage: ``python benchmarks/moto_server.py [--vdm-isps N --vdm-sets M]`` listens on
127.0.0.1, on a free port it prints ("ready PORT"), until its standard input is closed.
Like every werkzeug server it closes each connection after one answer (AWS keeps them
open).

moto answers every GetMetricData query by scanning every datapoint of the account once per
period of the window, sums every dimension set into a query without dimensions (CloudWatch
never does), and deduplicates ListMetrics by comparing each metric with every metric found
before. ``tests/cloudwatch_like.py`` (the tests' own patch) makes it exact and fast.

moto 5.2.5 has no sesv2 GetAccount (``GET /v2/email/account``): this server answers it
with a fixed production account (``get_account``, routed by adding its path to moto's
sesv2 URL map), in every account and region, shaped as botocore's sesv2 model describes
GetAccountResponse, so the daemon's ``account`` collector succeeds (``scale.py`` runs it);
VDM is disabled there unless the server runs with ``--vdm-isps``. Nor has it
GetDedicatedIps or ListSuppressedDestinations: every account answers them as one without
dedicated IPs and with an empty suppression list (``tests.moto_routes``, shared with the
browser tests' accounts world), so the dedicated_ips and suppression collectors poll as
they would such an account.

Nor has it BatchGetMetricData (Virtual Deliverability Manager): with ``--vdm-isps N
--vdm-sets M`` the server holds the demo's ``VdmStore``, seeded by ``world.seed_vdm``
(daily counts of N mailbox providers and M configuration sets), answers every
BatchGetMetricData from it (``tests.moto_routes.vdm_answers``, in every account and
region; each answer checked against botocore's BatchGetMetricDataResponse shape before it
is sent), and GetAccount says VDM is enabled. The patches apply to moto's classes in this
process only (the test double's own), not to moto as the tests use it.

Nothing here touches the exporter: it talks to this server over HTTP like to AWS.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.validate import validate_parameters
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends
from moto.sesv2.responses import SESV2Response
from world import seed_vdm

from ses_exporter.demo.responders import InvalidSimulatedAnswer
from ses_exporter.demo.vdm import VdmStore
from tests import cloudwatch_like
from tests.fakes import GET_ACCOUNT
from tests.moto_routes import DEFAULT_ANSWERS, route, vdm_answers


def get_account(self: SESV2Response, vdm: str = "DISABLED") -> str:
    """sesv2 GetAccount of the caller's account (moto maps assumed-role keys to the role's
    account): the tests' production account in good standing (``tests.fakes.GET_ACCOUNT``),
    with moto's own count of sent mail."""
    answer = copy.deepcopy(GET_ACCOUNT)
    answer["SendQuota"]["SentLast24Hours"] = float(
        ses_backends[self.current_account][self.region].sent_message_count
    )
    answer["VdmAttributes"] = {"VdmEnabled": vdm}
    return json.dumps(answer)


class CheckedVdmStore(VdmStore):
    """The demo's VdmStore, each BatchGetMetricData answer checked against botocore's
    output shape before it is sent (a misfit fails the call with HTTP 500 instead of
    reaching the daemon)."""

    def __init__(self) -> None:
        super().__init__()
        model = botocore.session.get_session().get_service_model("sesv2")
        output = model.operation_model("BatchGetMetricData").output_shape
        assert output is not None
        self._output: Shape = output

    def batch_get_metric_data(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        answer = super().batch_get_metric_data(params)
        try:
            validate_parameters(dict(answer), self._output)
        except ParamValidationError as exc:
            raise InvalidSimulatedAnswer(f"BatchGetMetricData: {exc}") from None
        return answer


def get_account_vdm_enabled(self: SESV2Response) -> str:
    return get_account(self, vdm="ENABLED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vdm-isps", type=int, default=0, help="VDM: mailbox providers")
    parser.add_argument("--vdm-sets", type=int, default=0, help="VDM: configuration sets")
    args = parser.parse_args()
    answers = {"account": ("get_account", get_account), **DEFAULT_ANSWERS}
    if args.vdm_isps:
        store = CheckedVdmStore()
        seed_vdm(store, args.vdm_isps, args.vdm_sets, time.time())
        answers["account"] = ("get_account", get_account_vdm_enabled)
        answers["metrics/batch"] = vdm_answers(lambda account, region: store)
    route(answers)
    cloudwatch_like.install()
    # werkzeug logs every request under one logging lock (and the parent discards it):
    # at 1,500 targets the first round's requests queued on that lock and on the
    # terminal writer, slowing the simulated AWS rather than the exporter measured.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print("ready", server.get_host_and_port()[1], flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or kills us)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
