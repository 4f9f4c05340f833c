"""moto's server for the benchmarks: CloudWatch made fast enough for 6,000 metrics, and
sesv2 GetAccount, GetDedicatedIps and ListSuppressedDestinations answered.

Usage: ``python benchmarks/moto_server.py`` listens on 127.0.0.1, on a free port it prints
("ready PORT"), until its standard input is closed. Like every werkzeug server it closes
each connection after one answer (AWS keeps them open).

moto answers every GetMetricData query by scanning every datapoint of the account once per
period of the window, sums every dimension set into a query without dimensions (CloudWatch
never does), and deduplicates ListMetrics by comparing each metric with every metric found
before. ``tests/cloudwatch_like.py`` (the tests' own patch) makes it exact and fast.

moto 5.2.5 has no sesv2 GetAccount (``GET /v2/email/account``): this server answers it
with a fixed production account (``get_account``, routed by adding its path to moto's
sesv2 URL map), in every account and region, shaped as
botocore's sesv2 model describes GetAccountResponse, so the daemon's ``account`` collector
succeeds (``scale.py`` runs it). Nor has it GetDedicatedIps or ListSuppressedDestinations:
every account answers them as one without dedicated IPs and with an empty suppression
list (``tests.moto_routes``, shared with the browser tests' accounts world), so the
dedicated_ips and suppression collectors poll as they would such an account. The patches
apply to moto's classes in this process only (the test double's own), not to moto as the
tests use it.

Nothing here touches the exporter: it talks to this server over HTTP like to AWS.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends
from moto.sesv2.responses import SESV2Response

from tests import cloudwatch_like
from tests.moto_routes import DEFAULT_ANSWERS, route


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
    route({"account": ("get_account", get_account), **DEFAULT_ANSWERS})
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
