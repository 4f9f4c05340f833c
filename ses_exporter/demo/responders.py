"""Answering AWS calls that moto does not implement, through botocore's event system.

moto has no sesv2 GetAccount and no ses GetAccountSendingEnabled. A handler on
``before-call.<service>.<Operation>`` that returns ``(http_response, parsed)`` makes
botocore skip the HTTP request for that one operation; every other call still goes to
moto. Both the demo and the tests use this, so the exporter runs its real code path.

Such an answer skips botocore's parser too, so nothing would stop one that real AWS
could never send (a missing required member, a string where the model has a number).
Every answer is therefore checked against the operation's output shape in the botocore
model, as ``botocore.stub.Stubber`` checks its responses; one that does not fit raises
``InvalidSimulatedAnswer`` into the calling code instead of reaching the exporter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

if TYPE_CHECKING:
    from botocore.client import BaseClient

# Given botocore's serialized request (``body``, ``url_path``, ...), returns the parsed
# answer, or raises SimulatedError to answer with an AWS error.
Responder = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class SimulatedError(Exception):
    """Makes a responder answer with an AWS error, as botocore would parse it."""

    def __init__(self, code: str, message: str = "", status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class InvalidSimulatedAnswer(AssertionError):
    """A responder answered what the botocore model says AWS cannot answer."""


@dataclass
class _Http:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


def _service_id(client: BaseClient) -> str:
    return str(client.meta.service_model.service_id.hyphenize())


def check_answer(client: BaseClient, operation: str, answer: Mapping[str, Any]) -> None:
    """Raise InvalidSimulatedAnswer unless ``answer`` fits the operation's output shape."""
    shape = client.meta.service_model.operation_model(operation).output_shape
    members = {key: value for key, value in answer.items() if key != "ResponseMetadata"}
    if shape is None:
        if members:
            raise InvalidSimulatedAnswer(f"{operation} has no output, got {sorted(members)}")
        return
    try:
        validate_parameters(members, shape)
    except ParamValidationError as exc:
        raise InvalidSimulatedAnswer(f"{operation}: {exc}") from None


def install_responder(client: BaseClient, operation: str, responder: Responder) -> None:
    """Answer ``operation`` (e.g. "GetAccount") on this client with ``responder(params)``,
    checked against the botocore model (``check_answer``)."""
    client.meta.service_model.operation_model(operation)  # fails now for an unknown name

    def answer(params: Mapping[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]]:
        try:
            parsed = dict(responder(params))
        except SimulatedError as exc:
            error = {"Error": {"Code": exc.code, "Message": exc.message}}
            return _Http(exc.status), {**error, "ResponseMetadata": {"HTTPStatusCode": exc.status}}
        check_answer(client, operation, parsed)
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200})
        return _Http(200), parsed

    event = f"before-call.{_service_id(client)}.{operation}"
    client.meta.events.register(event, answer)  # type: ignore[arg-type]


_API_PARAMS = "ses_exporter_demo_api_params"  # where the call's own parameters are kept


def install_api_responder(client: BaseClient, operation: str, responder: Responder) -> None:
    """Like ``install_responder``, but ``responder`` gets the parameters of the call as its
    caller passed them (datetimes, lists), not botocore's serialized request: CloudWatch
    speaks CBOR or JSON by botocore version, and reading its body back is not the point."""

    def keep(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_API_PARAMS] = dict(params)

    event = f"before-parameter-build.{_service_id(client)}.{operation}"
    client.meta.events.register(event, keep)
    install_responder(client, operation, lambda request: responder(request["context"][_API_PARAMS]))
