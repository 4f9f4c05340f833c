"""Answers for the calls moto lacks (sesv2 GetAccount, GetDedicatedIps,
ListSuppressedDestinations, BatchGetMetricData, ses GetAccountSendingEnabled) or gets wrong (sesv2
GetConfigurationSet's SendingOptions, GetEmailIdentity's DKIM and MAIL FROM, ses
GetSendStatistics' buckets).

``FakeAccountApi.hook`` is handed to the exporter's client factory like the demo's: it
installs before-call responders, so every other call still goes to moto. Per region a
test can set the GetAccount answer, the GetSendStatistics buckets, the VDM counts that
BatchGetMetricData answers from (a ``VdmStore``), or make a call fail; every answer is
checked against the botocore model (``install_responder``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from botocore.client import BaseClient
from botocore.exceptions import ReadTimeoutError

from ses_exporter.demo.responders import SimulatedError, install_api_responder, install_responder
from ses_exporter.demo.vdm import VdmStore, vdm_disabled

GET_ACCOUNT: dict[str, Any] = {
    "DedicatedIpAutoWarmupEnabled": False,
    "EnforcementStatus": "HEALTHY",
    "ProductionAccessEnabled": True,
    "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 41250.0},
    "SendingEnabled": True,
    "SuppressionAttributes": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
    "Details": {
        "MailType": "TRANSACTIONAL",
        "WebsiteURL": "https://example.com",
        "ContactLanguage": "EN",
        "ReviewDetails": {"Status": "GRANTED", "CaseId": "case-1"},
    },
    "VdmAttributes": {"VdmEnabled": "ENABLED"},
}


class FakeAccountApi:
    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.failures: dict[tuple[str, str], BaseException] = {}
        self.sending_enabled: dict[str, bool] = {}
        self.calls: list[tuple[str, str]] = []
        # Called with (region, operation) before answering: a test can make a call slow.
        self.on_call: Callable[[str, str], None] = lambda region, operation: None
        # GetConfigurationSet answers by set name; moto 5.2 mangles SendingOptions.
        self.configuration_sets: dict[str, dict[str, Any]] = {}
        # GetSendStatistics buckets per region (a region left out: an idle account), if set
        # before the clients are made; moto would return one running point stamped "now",
        # which no real account ever sees.
        self.send_data_points: dict[str, list[dict[str, Any]]] = {}
        # GetEmailIdentity answers by identity name, if set (moto 5.2 answers DKIM
        # NOT_STARTED for every identity and has no MAIL FROM); ListEmailIdentities is moto's.
        self.identity_details: dict[str, dict[str, Any]] = {}
        # GetDedicatedIps entries and ListSuppressedDestinations summaries per region (moto
        # has neither call): none unless set. Pages of ``page_size`` entries unless the call
        # asks for fewer (PageSize), so that paging is exercised as AWS pages.
        self.dedicated_ips: dict[str, list[dict[str, Any]]] = {}
        self.suppressed: dict[str, list[dict[str, Any]]] = {}
        self.page_size = 2
        # BatchGetMetricData answers per region from the region's VdmStore (counts a test
        # adds, Errors it injects: ``VdmStore.fail``); a region without one answers as AWS
        # does where VDM is disabled (NotFoundException). Read when the call is made.
        self.vdm: dict[str, VdmStore] = {}

    def set_account(self, region: str, **changes: Any) -> None:
        answer = copy.deepcopy(GET_ACCOUNT)
        answer.update(changes)
        self.answers[region] = answer

    def fail(self, region: str, operation: str, error: BaseException | None) -> None:
        """Make ``operation`` fail in ``region`` (None clears the failure)."""
        if error is None:
            self.failures.pop((region, operation), None)
        else:
            self.failures[(region, operation)] = error

    def hook(self, service: str, client: BaseClient) -> None:
        region = client.meta.region_name
        if service == "sesv2":
            install_responder(client, "GetAccount", lambda p: self._answer(region, "GetAccount"))
            if self.configuration_sets:
                install_responder(client, "GetConfigurationSet", self._configuration_set)
            if self.identity_details:
                install_responder(client, "GetEmailIdentity", self._email_identity)
            install_api_responder(client, "BatchGetMetricData", self._vdm_answer(region))
            for operation, entries, key in (
                ("GetDedicatedIps", self.dedicated_ips, "DedicatedIps"),
                ("ListSuppressedDestinations", self.suppressed, "SuppressedDestinationSummaries"),
            ):
                install_api_responder(
                    client, operation, self._pages(region, operation, entries, key)
                )
        elif service == "ses":
            if self.send_data_points:  # else moto answers (and the client signs its calls)
                install_responder(
                    client,
                    "GetSendStatistics",
                    lambda p: {"SendDataPoints": self.send_data_points.get(region, [])},
                )
            install_responder(
                client,
                "GetAccountSendingEnabled",
                lambda p: self._answer(region, "GetAccountSendingEnabled"),
            )

    def _configuration_set(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        name = unquote(str(request["url_path"]).rsplit("/", 1)[-1])
        if name not in self.configuration_sets:
            raise SimulatedError("NotFoundException", f"{name} does not exist", 404)
        return {"ConfigurationSetName": name, **self.configuration_sets[name]}

    def _email_identity(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        name = unquote(str(request["url_path"]).rsplit("/", 1)[-1])
        if name not in self.identity_details:
            raise SimulatedError("NotFoundException", f"Email identity {name} does not exist", 404)
        return self.identity_details[name]

    def _pages(
        self, region: str, operation: str, entries: Mapping[str, list[dict[str, Any]]], key: str
    ) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
        """Answers one page of ``entries[region]`` per call, following NextToken (an
        offset, opaque to the caller), as AWS pages a list."""

        def page(params: Mapping[str, Any]) -> Mapping[str, Any]:
            self.calls.append((region, operation))
            failure = self.failures.get((region, operation))
            if failure is not None:
                raise failure
            start = int(params.get("NextToken", "0"))
            size = min(self.page_size, int(params.get("PageSize", self.page_size)))
            listed = entries.get(region, [])
            answer: dict[str, Any] = {key: listed[start : start + size]}
            if start + size < len(listed):
                answer["NextToken"] = str(start + size)
            return answer

        return page

    def _vdm_answer(self, region: str) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
        def answer(params: Mapping[str, Any]) -> Mapping[str, Any]:
            self.calls.append((region, "BatchGetMetricData"))
            self.on_call(region, "BatchGetMetricData")
            failure = self.failures.get((region, "BatchGetMetricData"))
            if failure is not None:
                raise failure
            store = self.vdm.get(region)
            return vdm_disabled(params) if store is None else store.batch_get_metric_data(params)

        return answer

    def _answer(self, region: str, operation: str) -> Mapping[str, Any]:
        self.calls.append((region, operation))
        self.on_call(region, operation)
        failure = self.failures.get((region, operation))
        if failure is not None:
            raise failure
        if operation == "GetAccountSendingEnabled":
            return {"Enabled": self.sending_enabled.get(region, True)}
        return self.answers.get(region, GET_ACCOUNT)


def throttled() -> SimulatedError:
    return SimulatedError("Throttling", "Rate exceeded", 400)


def too_many_requests() -> SimulatedError:
    return SimulatedError("TooManyRequestsException", "Too many requests", 429)


def denied() -> SimulatedError:
    return SimulatedError("AccessDeniedException", "User is not authorized to GetAccount", 403)


def read_timeout() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")


def in_every_region(points: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The same GetSendStatistics answer in every region the backfill tests use."""
    regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2"]
    regions += ["eu-west-3", "eu-central-1", "ap-south-1", "ap-northeast-1", "ca-central-1"]
    return {region: points for region in regions}
