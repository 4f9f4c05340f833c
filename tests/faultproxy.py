"""A fault-injecting AWS proxy in front of a moto server, and the real daemon to point at it.

    ses-exporter (child process) --HTTP--> FaultProxy (this process) --HTTP--> moto (child)

* ``MotoServer``: moto's ``ThreadedMotoServer`` in a child process (this file run as a
  script), so moto's work neither shares the GIL with the proxy nor its global state with
  tests that use ``mock_aws`` in process.
* ``FaultProxy``: a threaded stdlib HTTP server the daemon uses as ``endpoint_url``. For
  every request it works out the service, the operation and the region (from the SigV4
  credential scope), then either injects the fault switched on for that operation, or
  answers what moto lacks (sesv2 GetAccount, ses GetAccountSendingEnabled), or forwards
  the request to moto unchanged (ListConfigurationSets pages through moto by NextToken). It
  counts requests per (operation, region) and attempts per API call (botocore sends one
  ``amz-sdk-invocation-id`` per call, the same on every retry).
* ``World``: seeds moto (configuration sets, a verified sender, CloudWatch datapoints) and
  keeps sending mail so that counters move.
* ``DaemonProcess`` (``tests/daemon.py``, imported here for the benchmarks):
  ``python -m ses_exporter`` with a given config; scrapes, /proc figures.

Error answers are what AWS sends in each protocol, so botocore parses them as real errors:

* query (ses, sts): ``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>``;
* rest-json (sesv2): header ``x-amzn-ErrorType`` and ``{"message": ...}``;
* json 1.0 (cloudwatch: botocore 1.43 prefers it over smithy-rpc-v2-cbor, the model lists
  both): ``{"__type", "message"}`` plus ``x-amzn-query-error: Code;Sender`` because
  CloudWatch is query-compatible (botocore then reports the query code, e.g. Throttling);
* smithy-rpc-v2-cbor, should botocore switch: the same map in CBOR.

Usage: ``python tests/faultproxy.py`` starts moto and prints ``ready PORT`` (for MotoServer).
"""

from __future__ import annotations

import contextlib
import enum
import functools
import http.client
import json
import math
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from xml.sax.saxutils import escape

from tests import daemon
from tests.daemon import fake_aws_env, stop_process
from tests.fakes import GET_ACCOUNT  # moto has no GetAccount

REPO = Path(__file__).resolve().parent.parent
ANY_REGION = "*"
# benchmarks/ import the daemon from here; it lives in tests/daemon.py.
DaemonProcess = daemon.DaemonProcess
Scrape = daemon.Scrape
parse_scrape = daemon.parse_scrape


class Fault(enum.Enum):
    THROTTLING = "throttling"  # 400 Throttling
    TOO_MANY_REQUESTS = "too_many_requests"  # 429 TooManyRequestsException
    HTTP_500 = "http_500"  # 500 InternalFailure, in the protocol's error format
    HTTP_503 = "http_503"  # 503 with a load balancer's HTML page: no AWS error code at all
    ACCESS_DENIED = "access_denied"  # 403 AccessDenied / AccessDeniedException
    EXPIRED_TOKEN = "expired_token"  # ExpiredToken / ExpiredTokenException
    # 400 IncompleteSignature quoting the request back (AWS quotes the Authorization header
    # in it); here also the session token and the body: redaction's worst case.
    ECHO_REQUEST = "echo_request"
    # The connection is reset (RST) once the request has been read: botocore raises
    # ConnectionClosedError, the request may have been processed. A refused connection
    # (nothing listens: ``FaultProxy.stop_listening``) fails before anything is sent, as
    # EndpointConnectionError. Both count as connection_error and are retried.
    RESET = "reset"
    HANG = "hang"  # the request is read and not answered until the fault is cleared
    TRUNCATED = "truncated"  # the real answer cut in half, then the connection is closed
    # The real answer without its last 16 bytes, Content-Length to match: a parse error
    # whose message (botocore's) quotes the body, e.g. AssumeRole's credentials.
    CUT_SHORT = "cut_short"
    MALFORMED = "malformed"  # 200 with a body that is not valid XML / JSON


@dataclass(frozen=True)
class AwsError:
    status: int
    code: str  # query and json (query-compatible) protocols
    rest_code: str  # rest-json (sesv2)
    message: str
    sender: bool = True  # <Type>Sender</Type>, else Receiver


ERRORS: dict[Fault, AwsError] = {
    Fault.THROTTLING: AwsError(400, "Throttling", "Throttling", "Rate exceeded"),
    Fault.TOO_MANY_REQUESTS: AwsError(
        429, "TooManyRequestsException", "TooManyRequestsException", "Too Many Requests"
    ),
    Fault.HTTP_500: AwsError(
        500, "InternalFailure", "InternalFailure", "An internal error occurred.", sender=False
    ),
    Fault.ACCESS_DENIED: AwsError(
        403,
        "AccessDenied",
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/ses-exporter/ses-exporter is not "
        "authorized to perform: {action} because no identity-based policy allows it",
    ),
    Fault.EXPIRED_TOKEN: AwsError(
        403,
        "ExpiredToken",
        "ExpiredTokenException",
        "The security token included in the request is expired",
    ),
    Fault.ECHO_REQUEST: AwsError(
        400,
        "IncompleteSignature",
        "IncompleteSignatureException",
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        "\nAuthorization={authorization}\nX-Amz-Security-Token={token}\nBody={body}",
    ),
}
LOAD_BALANCER_503 = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n"
QUERY_NAMESPACES = {
    "ses": "http://ses.amazonaws.com/doc/2010-12-01/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "cloudwatch": "http://monitoring.amazonaws.com/doc/2010-08-01/",
}
SIGNING_NAMES = {"ses": "ses", "monitoring": "cloudwatch", "sts": "sts"}

# --- what a request is --------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request as AWS would see it."""

    service: str  # ses, sesv2, cloudwatch, sts ("" if unknown)
    protocol: str  # query, rest-json, json, cbor
    operation: str
    region: str
    access_key: str
    invocation: str  # amz-sdk-invocation-id: one per API call, kept across retries


_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@functools.cache
def _sesv2_routes() -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path regex, operation) for every sesv2 operation, literal paths first."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sesv2")
    routes = []
    for name in model.operation_names:
        http_spec = model.operation_model(name).http
        uri = http_spec["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\\{[^}]+?\\\+\\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
        routes.append((uri.count("{"), http_spec["method"], re.compile(pattern + "$"), name))
    return [(method, regex, name) for _, method, regex, name in sorted(routes, key=lambda r: r[0])]


def identify(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Call:
    """Service, protocol, operation and region of a botocore request."""
    scope = _SCOPE.search(headers.get("Authorization", ""))
    access_key, region, signing = scope.groups() if scope else ("", "", "")
    service = SIGNING_NAMES.get(signing, signing)
    invocation = headers.get("amz-sdk-invocation-id", "")
    url_path = urllib.parse.urlsplit(path).path
    if headers.get("smithy-protocol") == "rpc-v2-cbor":
        protocol, operation = "cbor", url_path.rsplit("/", 1)[-1]
    elif headers.get("X-Amz-Target"):
        protocol, operation = "json", headers["X-Amz-Target"].rsplit(".", 1)[-1]
    elif url_path.startswith("/v2/"):
        service, protocol = "sesv2", "rest-json"
        operation = next(
            (name for m, regex, name in _sesv2_routes() if m == method and regex.match(url_path)),
            "",
        )
    else:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        protocol, operation = "query", form.get("Action", [""])[0]
    return Call(service, protocol, operation, region, access_key, invocation)


# --- answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _request_id() -> str:
    return str(uuid.uuid4())


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    if n < 65536:
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + n.to_bytes(4, "big")


def _cbor_map(items: Mapping[str, str]) -> bytes:
    def text(s: str) -> bytes:
        data = s.encode()
        return _cbor_head(3, len(data)) + data

    return _cbor_head(5, len(items)) + b"".join(text(k) + text(v) for k, v in items.items())


def error_reply(call: Call, error: AwsError, message: str) -> Reply:
    """``error`` in ``call``'s protocol, as AWS sends it."""
    rid = _request_id()
    if call.protocol == "rest-json":
        rest = (
            ("x-amzn-ErrorType", f"{error.rest_code}:http://internal.amazon.com/coral/"),
            ("x-amzn-RequestId", rid),
            ("Content-Type", "application/json"),
        )
        return Reply(error.status, rest, json.dumps({"message": message}).encode())
    if call.protocol in ("json", "cbor"):
        kind = "Sender" if error.sender else "Receiver"
        # Query-compatible: __type names the JSON error shape, the header the query code,
        # which botocore reports (as CloudWatch's own JSON errors do).
        fields = {"__type": f"com.amazonaws.{call.service}#{error.rest_code}", "message": message}
        common = (("x-amzn-RequestId", rid), ("x-amzn-query-error", f"{error.code};{kind}"))
        if call.protocol == "cbor":
            cbor = (("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"))
            return Reply(error.status, common + cbor, _cbor_map(fields))
        json_type = (("Content-Type", "application/x-amz-json-1.0"),)
        return Reply(error.status, common + json_type, json.dumps(fields).encode())
    namespace = QUERY_NAMESPACES.get(call.service, QUERY_NAMESPACES["ses"])
    body = (
        f'<ErrorResponse xmlns="{namespace}">\n'
        f"  <Error>\n    <Type>{'Sender' if error.sender else 'Receiver'}</Type>\n"
        f"    <Code>{escape(error.code)}</Code>\n    <Message>{escape(message)}</Message>\n"
        f"  </Error>\n  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n"
    )
    query = (("x-amzn-RequestId", rid), ("Content-Type", "text/xml"))
    return Reply(error.status, query, body.encode())


def malformed_reply(call: Call) -> Reply:
    """A 200 whose body breaks off in the middle of the first value."""
    if call.protocol == "query":
        namespace = QUERY_NAMESPACES.get(call.service, QUERY_NAMESPACES["ses"])
        body = f'<{call.operation}Response xmlns="{namespace}"><{call.operation}Result><'
        return Reply(200, (("Content-Type", "text/xml"),), body.encode())
    if call.protocol == "cbor":
        return Reply(200, (("Content-Type", "application/cbor"),), b"\xbf\x61")
    content_type = (
        "application/json" if call.protocol == "rest-json" else "application/x-amz-json-1.0"
    )
    return Reply(200, (("Content-Type", content_type),), b'{"SendQuota": {"Max24HourSend": ')


def query_reply(call: Call, result: str) -> Reply:
    namespace = QUERY_NAMESPACES.get(call.service, QUERY_NAMESPACES["ses"])
    rid = _request_id()
    body = (
        f'<{call.operation}Response xmlns="{namespace}">\n'
        f"  <{call.operation}Result>{result}</{call.operation}Result>\n"
        f"  <ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>\n"
        f"</{call.operation}Response>\n"
    )
    return Reply(200, (("x-amzn-RequestId", rid), ("Content-Type", "text/xml")), body.encode())


def json_reply(answer: Mapping[str, Any]) -> Reply:
    headers = (("x-amzn-RequestId", _request_id()), ("Content-Type", "application/json"))
    return Reply(200, headers, json.dumps(answer).encode())


HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)


# --- the proxy ------------------------------------------------------------------------


@dataclass
class _CallStats:
    operation: str
    region: str
    first_seen: float
    attempts: int = 0


class FaultProxy:
    """Forwards to ``moto_url``; per operation (and optionally region) injects a ``Fault``."""

    def __init__(self, moto_url: str, capture: frozenset[str] = frozenset()):
        parts = urllib.parse.urlsplit(moto_url)
        self._moto = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._capture = capture
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], Fault] = {}
        self._seen: dict[tuple[str, str], int] = defaultdict(int)
        self._calls: dict[str, _CallStats] = {}
        self._captured: dict[str, list[bytes]] = defaultdict(list)
        self._access_keys: dict[str, set[str]] = defaultdict(set)
        self.accounts: dict[str, dict[str, Any]] = {}  # GetAccount answer per region
        self.sending_enabled: dict[str, bool] = {}
        self._rewrites: dict[str, Callable[[bytes], bytes]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.port = 0
        self.closing = False

    # lifecycle

    def start(self) -> Self:
        """Listens (again) on 127.0.0.1; the first start picks a free port, later ones reuse it."""
        self.closing = False
        self._server = _Server(("127.0.0.1", self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop_listening(self) -> None:
        """Closes the listening socket and every open connection: new connections are refused."""
        self.closing = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    close = stop_listening

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # faults

    def fault(self, operation: str, kind: Fault, region: str | None = None) -> None:
        with self._lock:
            self._faults[(operation, region or ANY_REGION)] = kind

    def clear(self, operation: str | None = None, region: str | None = None) -> None:
        """Clears the faults of ``operation`` (every one if None) in ``region`` (or all)."""
        with self._lock:
            for op, where in list(self._faults):
                if operation in (None, op) and region in (None, where):
                    del self._faults[(op, where)]

    def fault_for(self, call: Call) -> Fault | None:
        with self._lock:
            return self._faults.get((call.operation, call.region)) or self._faults.get(
                (call.operation, ANY_REGION)
            )

    # what was seen

    def seen(self, operation: str, region: str | None = None) -> int:
        """HTTP requests (attempts) seen for ``operation``, in ``region`` or in all regions."""
        with self._lock:
            return sum(
                n
                for (op, where), n in self._seen.items()
                if op == operation and region in (None, where)
            )

    def calls(
        self, operation: str, region: str | None = None, since: float = 0.0, until: float = math.inf
    ) -> list[int]:
        """Attempts per API call of ``operation`` first seen in [since, until] (time.time())."""
        with self._lock:
            return [
                c.attempts
                for c in self._calls.values()
                if c.operation == operation
                and region in (None, c.region)
                and since <= c.first_seen <= until
            ]

    def rewrite(self, operation: str, change: Callable[[bytes], bytes] | None) -> None:
        """Pass the answers to ``operation`` through ``change`` (None: stop)."""
        with self._lock:
            if change is None:
                self._rewrites.pop(operation, None)
            else:
                self._rewrites[operation] = change

    def captured(self, operation: str) -> list[bytes]:
        """Bodies of the answers to ``operation`` (only for operations named in ``capture``)."""
        with self._lock:
            return list(self._captured[operation])

    def access_keys(self, region: str | None = None) -> set[str]:
        """Access key ids the requests were signed with."""
        with self._lock:
            return set().union(*(k for r, k in self._access_keys.items() if region in (None, r)))

    def _record(self, call: Call) -> Fault | None:
        with self._lock:
            self._seen[(call.operation, call.region)] += 1
            self._access_keys[call.region].add(call.access_key)
            stats = self._calls.get(call.invocation)
            if stats is None:
                stats = self._calls[call.invocation or _request_id()] = _CallStats(
                    call.operation, call.region, time.time()
                )
            stats.attempts += 1
        return self.fault_for(call)

    # answers

    def answer(
        self, call: Call, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """What AWS (moto, or this proxy for what moto lacks) answers when nothing goes wrong."""
        if call.operation == "GetAccount" and call.service == "sesv2":
            return json_reply(self.accounts.get(call.region, GET_ACCOUNT))
        if call.operation == "GetAccountSendingEnabled":
            enabled = self.sending_enabled.get(call.region, True)
            return query_reply(call, f"<Enabled>{str(enabled).lower()}</Enabled>")
        reply = self._forward(method, path, headers, body)
        with self._lock:
            change = self._rewrites.get(call.operation)
        if change is not None:
            reply = Reply(reply.status, reply.headers, change(reply.body))
        if call.operation in self._capture:
            with self._lock:
                self._captured[call.operation].append(reply.body)
        return reply

    def _forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        conn = http.client.HTTPConnection(*self._moto, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(method, path, body=body or None, headers=sent)
            response = conn.getresponse()
            data = response.read()
            kept = tuple((k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP)
            return Reply(response.status, kept, data)
        finally:
            conn.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], proxy: FaultProxy
    ):
        self.proxy = proxy
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # client went away (timeouts, resets): expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.proxy._lock:
            self.server.proxy._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.proxy._lock:
            self.server.proxy._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _handle(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        call = identify(self.command, self.path, headers, body)
        fault = proxy._record(call)
        if fault is Fault.RESET:
            self._reset()
            return
        if fault is Fault.HANG:
            while proxy.fault_for(call) is Fault.HANG and not proxy.closing:
                time.sleep(0.05)
            if proxy.closing:
                self._reset()
                return
            fault = proxy.fault_for(call)
        if fault in ERRORS:
            error = ERRORS[fault]
            message = error.message.format(
                action=f"{call.service}:{call.operation}",
                authorization=headers.get("Authorization", ""),
                token=headers.get("X-Amz-Security-Token", ""),
                body=body.decode("utf-8", "replace"),
            )
            self._send(error_reply(call, error, message))
        elif fault is Fault.HTTP_503:
            self._send(Reply(503, (("Content-Type", "text/html"),), LOAD_BALANCER_503))
        elif fault is Fault.MALFORMED:
            self._send(malformed_reply(call))
        else:
            reply = proxy.answer(call, self.command, self.path, headers, body)
            if fault is Fault.CUT_SHORT:
                reply = Reply(reply.status, reply.headers, reply.body[:-16])
            self._send(reply, truncate=fault is Fault.TRUNCATED)

    def _send(self, reply: Reply, truncate: bool = False) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body[: len(reply.body) // 2] if truncate else reply.body)
        if truncate:
            self.wfile.flush()
            self.close_connection = True

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the client gets a TCP RST, not a clean end of stream."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass


# --- moto in a child process, and the world in it -------------------------------------


class _Child:
    proc: subprocess.Popen[bytes]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> int | None:
        return stop_process(self.proc)


class MotoServer(_Child):
    """moto's ThreadedMotoServer in a child process on a free port of 127.0.0.1."""

    def __init__(self, *args: str, module: str = "tests.faultproxy") -> None:
        """``module`` (run with ``args``) prints "ready PORT" once it listens."""
        # werkzeug logs every request to stderr: a file, read only if the start fails.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=fake_aws_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()
        if line[:1] != ["ready"]:
            self.stop()
            self._stderr.seek(0)
            tail = self._stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{module} did not start:\n{tail}")
        self.url = f"http://127.0.0.1:{line[1]}"

    def client(self, service: str, region: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # moto's server fails on botocore's gzip-compressed PutMetricData bodies.
            config=Config(disable_request_compression=True, retries={"max_attempts": 1}),
        )


CONFIGURATION_SETS = ("transactional", "marketing")
SENDER = "sender@example.com"


class World:
    """Seeds moto directly (not through the proxy) and keeps mail flowing every ``every`` s."""

    def __init__(self, moto: MotoServer, regions: tuple[str, ...]):
        self.moto = moto
        self.regions = regions
        self._clients = {
            region: {s: moto.client(s, region) for s in ("ses", "sesv2", "cloudwatch")}
            for region in regions
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    def seed(self) -> Self:
        for clients in self._clients.values():
            for name in CONFIGURATION_SETS:
                clients["sesv2"].create_configuration_set(
                    ConfigurationSetName=name,
                    ReputationOptions={"ReputationMetricsEnabled": True},
                )
            clients["ses"].verify_email_identity(EmailAddress=SENDER)
        self.tick()
        return self

    def tick(self) -> None:
        """One email per region, and its Send / Delivery datapoints, account-wide and per set."""
        now = datetime.now(UTC)
        for clients in self._clients.values():
            clients["ses"].send_email(
                Source=SENDER,
                Destination={"ToAddresses": ["someone@example.com"]},
                Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "hello"}}},
            )
            data: list[dict[str, Any]] = []
            for dimensions in (
                [],
                *([{"Name": "ses:configuration-set", "Value": s}] for s in CONFIGURATION_SETS),
            ):
                data += [
                    {"MetricName": m, "Dimensions": dimensions, "Timestamp": now, "Value": v}
                    for m, v in (("Send", 1.0), ("Delivery", 1.0), ("Reputation.BounceRate", 0.01))
                ]
            clients["cloudwatch"].put_metric_data(Namespace="AWS/SES", MetricData=data)
        self.ticks += 1

    def start_traffic(self, every: float = 1.0) -> None:
        def run() -> None:
            while not self._stop.wait(every):
                try:
                    self.tick()
                except Exception:  # moto hiccups must not end the traffic
                    continue

        self._thread = threading.Thread(target=run, daemon=True, name="world-traffic")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def serve_moto() -> None:
    """moto's server in this process (a ``MotoServer`` child), GetMetricData as CloudWatch
    answers it, until the parent closes stdin or terminates it; the caller may patch moto
    first (``tests.accounts_world``)."""
    from moto.server import ThreadedMotoServer

    from tests import cloudwatch_like

    cloudwatch_like.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print("ready", server.get_host_and_port()[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sys.stdin.read()  # until the parent closes our stdin, or terminates us
    finally:
        server.stop()


if __name__ == "__main__":
    serve_moto()
